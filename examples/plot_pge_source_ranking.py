"""
=================================================
Rank source tasks for a target task with PGE
=================================================

PGE (principal gradient expectation) embeds every task as the mean loss
gradient of a shared probe network, normalised per weight unit, and scores a
source task for a target task by minus the distance between the two
embeddings. Each task is embedded **once**; comparing a new target with every
source then costs one vector distance per source.

.. note::
   PGE is a **reconstruction**: no reference code or full paper text was
   available (see :class:`~sktransfer.metrics.PGE` for the choices that are
   ours).

The data are scikit-learn's handwritten digits (bundled, no download). The
target task separates the digits 3, 5 and 8 on one half of the images; the ten
source tasks are pairs of digits on the other half. The ground truth is the
transfer accuracy of each source: a small network is trained on the source
task, frozen, and a logistic regression on its features is fitted to a few
target samples and tested on the rest.
"""

# %%
# Tasks, the shared probe network and the ground truth
# -----------------------------------------------------
#
# The probe network is a deliberately narrow body (64 pixels to 4 tanh units),
# so that what it learns from a source matters for the target.

import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from torch import nn

from sktransfer.evaluation import kendall_tau
from sktransfer.featurizers import GradientFeaturizer
from sktransfer.metrics import PGE, pge_distances

torch.set_num_threads(1)
start_time = time.perf_counter()

X, y = load_digits(return_X_y=True)
X = (X / 16).astype(np.float32)
order = np.random.default_rng(0).permutation(y.shape[0])
X, y = X[order], y[order]
half = y.shape[0] // 2
X_source, y_source = X[:half], y[:half]
is_target = np.isin(y[half:], [3, 5, 8])
X_target, y_target = X[half:][is_target], y[half:][is_target]
pairs = [(0, 6), (1, 7), (2, 4), (3, 9), (5, 8), (3, 5), (8, 9), (0, 1), (4, 7), (2, 6)]
names = [f"{a}-{b}" for a, b in pairs]


def make_probe(seed):
    """The shared probe network: one seeded initialisation, used for every task."""

    def factory():
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(64, 4), nn.Tanh())

    return factory


def transfer_accuracy(probe, classes, n_epochs=100):
    """Train probe + head on a source task, then linear-probe the target."""
    mask = np.isin(y_source, classes)
    Xs = torch.as_tensor(X_source[mask])
    ys = torch.as_tensor(np.searchsorted(classes, y_source[mask]))
    body, head = probe(), nn.Linear(4, len(classes))
    optimizer = torch.optim.Adam([*body.parameters(), *head.parameters()], lr=1e-2)
    for _ in range(n_epochs):
        optimizer.zero_grad()
        nn.functional.cross_entropy(head(body(Xs)), ys).backward()
        optimizer.step()
    with torch.no_grad():
        F = body(torch.as_tensor(X_target)).numpy()
    n = y_target.shape[0] // 2
    probe_clf = LogisticRegression(max_iter=1000).fit(F[:n], y_target[:n])
    return probe_clf.score(F[n:], y_target[n:])


# %%
# Embed every task once, then score the sources
# ---------------------------------------------
#
# :class:`~sktransfer.featurizers.GradientFeaturizer` records the per-batch
# gradients of each task (4 restarts, each with a freshly seeded head);
# :func:`~sktransfer.metrics.pge_distances` embeds every record once and
# returns the task-by-task distance matrix. The last row is the target.


def pge_scores(probe):
    featurizer = {"model": probe, "n_restarts": 4, "batch_size": 32, "random_state": 0}
    records = []
    for classes in pairs:
        mask = np.isin(y_source, classes)
        gf = GradientFeaturizer(**featurizer)
        records.append(gf.fit_transform(X_source[mask], y_source[mask]))
    records.append(GradientFeaturizer(**featurizer).fit_transform(X_target, y_target))
    D = pge_distances(records, unit_sizes=gf.unit_sizes_)
    return -D[:-1, -1]


probe_seeds = [0, 1, 2, 3]
results = {}
for seed in probe_seeds:
    probe = make_probe(seed)
    accuracy = np.array([transfer_accuracy(probe, np.array(c)) for c in pairs])
    results[seed] = (accuracy, pge_scores(probe))
    print(f"probe seed {seed}: Kendall's tau = {kendall_tau(*results[seed]):+.2f}")
taus = [kendall_tau(*results[s]) for s in probe_seeds]
print(f"mean tau over {len(taus)} probe networks: {np.mean(taus):+.2f}")

# %%
# The same score with the estimator
# ---------------------------------
#
# For one source and one target, the source's embedding is a fitted ``PGE``
# given to ``__init__``; ``score_`` is minus the distance.

probe = make_probe(0)
featurizer = GradientFeaturizer(
    model=probe, n_restarts=4, batch_size=32, random_state=0
)
mask = np.isin(y_source, (5, 8))
source = PGE(unit_sizes=featurizer.fit(X_source[mask], y_source[mask]).unit_sizes_)
source.fit(featurizer.gradients_)
pge = PGE(source=source, unit_sizes=featurizer.unit_sizes_)
pge.fit(featurizer.fit_transform(X_target, y_target))
print(f"PGE score of source 5-8: {pge.score_:.4f} (matrix: {results[0][1][4]:.4f})")

# %%
# PGE scores against transfer accuracy
# ------------------------------------

accuracy, scores = results[0]
fig, ax = plt.subplots(figsize=(5, 4))
ax.scatter(scores, accuracy)
for name, s, a in zip(names, scores, accuracy, strict=False):
    ax.annotate(name, (s, a), textcoords="offset points", xytext=(3, 3))
ax.set_xlabel("PGE score (- distance to the target)")
ax.set_ylabel("transfer accuracy on 3-5-8")
ax.set_title(f"probe seed 0, Kendall's tau = {kendall_tau(accuracy, scores):+.2f}")
fig.tight_layout()
print(f"run time: {time.perf_counter() - start_time:.1f} s")

# %%
# Closing note
# ------------
#
# On one CPU thread this script runs in about 7 s. The measured Kendall's tau
# between PGE's ranking of the ten sources and their transfer accuracy is
# +0.39, +0.29, +0.63 and +0.45 for probe seeds 0 to 3 (mean +0.44): positive
# on every probe network, far from perfect. The two sources containing target
# digits (5-8 and 3-5) transfer best and are ranked among the top sources by
# PGE. With a 32-unit body the sources all transfer almost equally well
# (accuracies 0.91 to 0.98) and the correlation falls to about +0.1.
