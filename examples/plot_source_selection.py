"""
=================================================================
Select a source with SourceSelector or with GridSearchCV
=================================================================

"Here are my candidate models and my labelled target data: which one should I
fine-tune?" :class:`~sktransfer.selection.SourceSelector` answers it in one
estimator: it extracts each source's features, scores them with one or several
transferability metrics, ranks the sources and keeps the winner. The same
search also runs in plain scikit-learn, with
:class:`~sklearn.model_selection.GridSearchCV` over a
``Pipeline([("features", ...), ("metric", LogME())])``. This example does both
and explains when to use which.

The sources here are synthetic: :func:`~sktransfer.datasets.make_source_pool`
builds six feature matrices whose signal-to-noise ratio decreases from
``source_0`` to ``source_5``, so the right answer is known. We stack them side
by side in one matrix ``X`` and make each source a
:class:`~sklearn.preprocessing.FunctionTransformer` that takes its block of
columns; with real models, each source would be a
:class:`~sktransfer.featurizers.TorchFeaturizer` and ``X`` the target images.
"""

# %%
# A pool of six sources
# ---------------------

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from sktransfer.datasets import make_source_pool
from sktransfer.metrics import ETran, LogME, TransRate
from sktransfer.selection import SourceSelector

pool = make_source_pool(n_samples=600, n_sources=6, random_state=0)
X = np.hstack(list(pool.features.values()))
y = pool.target
WIDTH = 32  # every source of make_source_pool has 32 features


def take_block(X, i):
    """The features of source ``i``: its block of columns of ``X``."""
    return X[:, WIDTH * i : WIDTH * (i + 1)]


sources = [
    (name, FunctionTransformer(take_block, kw_args={"i": i}))
    for i, name in enumerate(pool.features)
]
print(f"X: {X.shape}, {len(sources)} sources, {np.unique(y).size} classes")

# %%
# Rank the pool with SourceSelector
# ---------------------------------
#
# ``estimator`` takes one metric or several. ``scores_`` is a table (a pandas
# DataFrame) with one row per source and one column per metric; ``ranking_``
# lists the sources best first, by the first metric unless ``combine`` says
# otherwise. ``combine="etran"`` adds the zoo-level ETran score, the min-max
# normalised ETran components over the pool: such scores are relative to the
# pool, which is why they live in the selector and not in a metric.

selector = SourceSelector(
    sources, estimator=[LogME(), TransRate(), ETran()], combine="etran"
)
selector.fit(X, y)
print(selector.scores_.round(4))
print("ranking:", selector.ranking_)
print("best source:", selector.best_source_name_)

# %%
# The selector is a transformer: ``transform`` gives the winner's features, so
# it can sit in front of a classifier (or take one as ``final_estimator``).

model = SourceSelector(sources, final_estimator=LogisticRegression(max_iter=1000))
model.fit(X, y)
print(f"winner's features: {model.transform(X).shape}")
print(f"training accuracy of the final model: {model.score(X, y):.3f}")

# %%
# Is the winner ahead by more than the noise?
# -------------------------------------------
#
# With ``cv``, every metric is computed on each validation fold and averaged;
# ``scores_std_`` holds the spread over folds. Neighbouring sources whose
# intervals overlap are within noise of each other on this much target data.

folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
noisy = SourceSelector(sources, estimator=LogME(), cv=folds).fit(X, y)
table = noisy.scores_.copy()
table["std"] = noisy.scores_std_["LogME"]
print(table.round(4))

fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
ax.errorbar(
    noisy.scores_.index,
    noisy.scores_["LogME"],
    yerr=noisy.scores_std_["LogME"],
    fmt="o",
    capsize=4,
)
ax.set_ylabel("LogME (mean ± std over 5 folds)")
ax.set_title("Transferability of each source")
plt.show()

# %%
# The same search with GridSearchCV
# ---------------------------------
#
# A ``Pipeline`` that ends in a metric scores transferability through
# ``Pipeline.score``, so ``GridSearchCV(..., scoring=None)`` searches sources
# with no glue: here over the source index, with real models over
# ``features__model`` and ``features__layer``.
#
# ``cv=[(all_samples, all_samples)]`` (one "split" that fits and scores on all
# of the data) reproduces the usual in-sample protocol of transferability
# estimation, which is what ``SourceSelector`` computes by default: the scores
# are the same.

search_pipe = Pipeline(
    [("features", FunctionTransformer(take_block)), ("metric", LogME())]
)
grid = {"features__kw_args": [{"i": i} for i in range(len(sources))]}
all_samples = np.arange(len(y))
in_sample = GridSearchCV(search_pipe, grid, cv=[(all_samples, all_samples)])
in_sample.fit(X, y)
print("GridSearchCV (in-sample) picks:", in_sample.best_params_)
print(
    "same LogME as SourceSelector:",
    np.allclose(in_sample.cv_results_["mean_test_score"], selector.scores_["LogME"]),
)

# %%
# With an ordinary splitter, ``GridSearchCV`` fits each source on the training
# folds and scores the metric on the held-out fold, the same protocol as
# ``SourceSelector(cv=...)``:

held_out = GridSearchCV(search_pipe, grid, cv=folds).fit(X, y)
print("GridSearchCV (held-out folds) picks:", held_out.best_params_)
print(
    "same LogME as SourceSelector(cv=folds):",
    np.allclose(held_out.cv_results_["mean_test_score"], noisy.scores_["LogME"]),
)

# %%
# Which one to use
# ----------------
#
# - **SourceSelector** when you want the transferability table itself: several
#   metrics side by side, pool-relative scores (``combine="etran"``,
#   ``"ncti"``, ``"mean_rank"``) that need every source at once, sources that
#   fail skipped with ``on_error="skip"``, features cached with ``memory`` and
#   extracted in parallel (``n_jobs``, or a Dask cluster through
#   ``joblib.parallel_backend("dask")``), and an estimator that then *is* the
#   winner (``transform``, ``final_estimator``). Its default protocol is
#   in-sample: every metric sees all the labelled target data, as in the
#   transferability literature.
# - **GridSearchCV** when the candidates are a grid of parameters of one
#   featurizer (models × layers × poolings) and one metric is enough: it scores
#   each candidate on its own, so it cannot compute pool-relative scores, but it
#   is the familiar tool, it supports randomised and successive-halving
#   searches, and with held-out folds its ``cv_results_`` show the spread of
#   each candidate. Use ``cv=[(all_samples, all_samples)]`` only to reproduce
#   the in-sample protocol deliberately: the split's training and test sets
#   overlap, which scikit-learn's splitters never do.
