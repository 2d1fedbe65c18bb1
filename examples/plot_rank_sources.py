"""
===============================================
Rank a pool of sources with LogME and TransRate
===============================================

Given a labelled target task and several candidate sources (pretrained models,
source tasks or layers), a transferability metric predicts which source will
transfer best without fine-tuning them all. Here the sources are synthetic:
:func:`~sktransfer.datasets.make_source_pool` builds feature matrices whose
signal-to-noise ratio decreases from ``source_0`` to the last source, so the
ground-truth order is known.

We score every source with :class:`~sktransfer.metrics.LogME` and
:class:`~sktransfer.metrics.TransRate`, measure its linear-probe accuracy (a
cheap stand-in for fine-tuning), and check that the metrics rank the sources
as the probe does.
"""

# %%
# A target task and a pool of sources
# -----------------------------------
#
# ``pool.features`` maps each source name to its features on the target data
# (float32, as a torch model would return them); ``pool.target`` holds the
# labels and ``pool.signal`` the true signal strength of each source.

import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import kendalltau
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sktransfer.datasets import make_source_pool
from sktransfer.metrics import LogME, TransRate

pool = make_source_pool(random_state=0)
y = pool.target
names = list(pool.features)
print(f"{len(names)} sources, {y.shape[0]} samples, {np.unique(y).size} classes")

# %%
# Score every source
# ------------------
#
# Each metric is an estimator: ``fit(X, y)`` stores the metric in ``score_``,
# and higher means more transferable. The linear probe is a standardised
# logistic regression, scored by 5-fold cross-validated accuracy.

cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))

logme, transrate, accuracy = {}, {}, {}
for name, X in pool.features.items():
    logme[name] = LogME().fit(X, y).score_
    transrate[name] = TransRate().fit(X, y).score_
    accuracy[name] = cross_val_score(probe, X, y, cv=cv).mean()

print(f"{'source':>9} {'signal':>7} {'LogME':>8} {'TransRate':>10} {'probe acc.':>11}")
for name in names:
    print(
        f"{name:>9} {pool.signal[name]:7.3f} {logme[name]:8.4f} "
        f"{transrate[name]:10.4f} {accuracy[name]:11.3f}"
    )

# %%
# How well does each metric rank the sources?
# -------------------------------------------
#
# Kendall's tau between a metric and the probe accuracy is 1 when the metric
# orders the sources exactly as the probe does.

acc = np.array([accuracy[name] for name in names])
for label, scores in (("LogME", logme), ("TransRate", transrate)):
    values = np.array([scores[name] for name in names])
    tau = kendalltau(values, acc).statistic
    best = names[int(np.argmax(values))]
    print(f"{label:>9}: picks {best}, Kendall tau vs probe accuracy = {tau:.3f}")

# %%
# Metric score against probe accuracy
# -----------------------------------
#
# Each point is one source. A good metric increases with the probe accuracy.

fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), layout="constrained")
metrics = {"LogME": logme, "TransRate": transrate}
for ax, (label, scores) in zip(axes, metrics.items(), strict=True):
    values = [scores[name] for name in names]
    ax.scatter(acc, values)
    for name, a, v in zip(names, acc, values, strict=True):
        ax.annotate(name, (a, v), textcoords="offset points", xytext=(4, 4))
    ax.margins(x=0.2, y=0.1)
    ax.set_xlabel("linear-probe accuracy (5-fold CV)")
    ax.set_ylabel(f"{label} score")
    ax.set_title(label)
plt.show()
