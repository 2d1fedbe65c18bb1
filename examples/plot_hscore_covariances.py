"""
=============================================================
What H-score measures: between-class against total covariance
=============================================================

H-score (Bao et al., ICIP 2019) asks how much of the variance of the features
is explained by the class means. With ``cov(f)`` the covariance of the
features and ``cov(E[f | y])`` the covariance of the class means (each sample
replaced by the mean of its class),

.. math::

   H = \\mathrm{tr}\\left(\\mathrm{cov}(f)^{+}\\,\\mathrm{cov}(\\mathbb{E}[f \\mid y])
   \\right) \\in [0,\\ \\min(C - 1, D)].

It is the sum of the squared canonical correlations between the features and
the labels: each direction in which the class means differ a lot relative to
the spread of the features adds up to 1. It is the Fisher criterion behind
linear discriminant analysis, and the (asymptotic) error exponent of the best
linear classifier on the features.

We draw three classes in two dimensions, plot the two covariances as
ellipses, and recompute :class:`~sktransfer.metrics.HScore` with numpy. Then
we show the pitfall of the plain H-score on small, wide targets and how
:class:`~sktransfer.metrics.ShrinkageHScore` avoids it.
"""

# %%
# Two covariances
# ---------------

import warnings

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Ellipse

from sktransfer.metrics import HScore, ShrinkageHScore

rng = np.random.default_rng(0)
y = np.repeat([0, 1, 2], 100)
means = np.array([[-2.0, 0.0], [0.0, 0.5], [2.0, -0.5]])
noise = rng.normal(size=(y.size, 2)) @ np.array([[0.8, 0.0], [0.5, 0.6]])


def ellipse(cov, centre, **kwargs):
    """The 2-sigma ellipse of a 2 x 2 covariance matrix."""
    evals, evecs = np.linalg.eigh(cov)
    angle = np.degrees(np.arctan2(evecs[1, 1], evecs[0, 1]))
    w, h = 4 * np.sqrt(np.clip(evals[::-1], 1e-12, None))
    return Ellipse(centre, w, h, angle=angle, fill=False, **kwargs)


def h_score_by_hand(X, y):
    """tr(pinv(cov(f)) @ cov(E[f | y])), straight from the definition."""
    class_means = np.array([X[y == c].mean(axis=0) for c in np.unique(y)])
    g = class_means[np.searchsorted(np.unique(y), y)]  # each row: its class mean
    cov_f = np.cov(X, rowvar=False)
    cov_g = np.cov(g, rowvar=False)
    return np.trace(np.linalg.pinv(cov_f) @ cov_g), cov_f, cov_g


fig, axes = plt.subplots(1, 2, figsize=(10, 4.5), layout="constrained")
for ax, scale in zip(axes, [1.0, 0.3], strict=True):
    X = scale * means[y] + noise
    est = HScore().fit(X, y)
    by_hand, cov_f, cov_g = h_score_by_hand(X, y)
    for c in range(3):
        ax.scatter(*X[y == c].T, s=6, alpha=0.4)
    centre = X.mean(axis=0)
    ax.add_patch(ellipse(cov_f, centre, color="k", lw=2, label="cov(f): total"))
    ax.add_patch(
        ellipse(cov_g, centre, color="r", lw=2, label="cov(E[f|y]): between classes")
    )
    ax.set(aspect="equal", xlim=(-5, 5), ylim=(-4, 4))
    ax.set_title(
        f"class means x {scale}: H = {est.score_:.3f} (by hand {by_hand:.3f})",
        fontsize="medium",
    )
axes[0].legend(loc="lower left", fontsize="small")
plt.show()

# %%
# The red ellipse (the covariance of the class means) is flat: with three
# classes it spans at most two directions, and here mostly one. When it fills
# a large part of the black one (the total covariance) in the direction where
# the classes differ, H approaches 1 for that direction; the maximum with
# three classes is ``C - 1 = 2``. H-score is invariant to any invertible
# linear map of the features, so only this ratio matters, not the scale or the
# orientation.
#
# The pitfall: saturation when ``D >= N - 1``
# -------------------------------------------
#
# ``cov(f)`` is estimated from ``N`` samples. When the features are as wide as
# the number of samples, the centred features span every direction in which
# the samples differ, the class means are "explained" perfectly, and ``H =
# C - 1`` whatever the features: pure noise scores as well as the best
# features. :class:`~sktransfer.metrics.HScore` warns then. The shrinkage
# H-score (Ibrahim et al., 2022) replaces ``cov(f)`` by its Ledoit-Wolf
# shrinkage estimate and keeps ranking informative features above noise.

n_samples = 60
y_small = np.arange(n_samples) % 3
signal = 1.5 * means[y_small] @ rng.normal(size=(2, 200)) / np.sqrt(2)
widths = [2, 5, 10, 20, 40, 59, 80, 120, 200]
curves = {("HScore", "signal"): [], ("HScore", "noise"): []}
curves |= {("ShrinkageHScore", "signal"): [], ("ShrinkageHScore", "noise"): []}
for d in widths:
    features = {
        "signal": signal[:, :d] + rng.normal(size=(n_samples, d)),
        "noise": rng.normal(size=(n_samples, d)),
    }
    for kind, X in features.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the saturation warning
            curves["HScore", kind].append(HScore().fit(X, y_small).score_)
        curves["ShrinkageHScore", kind].append(ShrinkageHScore().fit(X, y_small).score_)

fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
for ax, metric in zip(axes, ["HScore", "ShrinkageHScore"], strict=True):
    for kind, marker in (("signal", "o-"), ("noise", "s--")):
        ax.plot(widths, curves[metric, kind], marker, label=f"{kind} features")
    ax.axvline(n_samples - 1, color="grey", ls=":", label="D = N - 1")
    ax.axhline(2, color="k", lw=0.8, label="C - 1")
    ax.set(xscale="log", xlabel="feature dimension D", title=metric)
    ax.legend(fontsize="small")
axes[0].set_ylabel(f"score (N = {n_samples} samples, 3 classes)")
plt.show()

# %%
# Both scores cost ``O(N D^2 + D^3)``. Use the plain H-score when there are
# many more samples than features; otherwise use the shrinkage H-score (or
# reduce the features first, e.g. with PCA).
