"""
===========================================================
What k-NN and PARC measure: neighbours and pairs of samples
===========================================================

Two metrics look at the *geometry between samples* instead of fitting a model
of each class:

- :class:`~sktransfer.metrics.KNNScore` is the leave-one-out accuracy of a
  k-nearest-neighbour classifier on the features: is each sample's
  neighbourhood made of its own class? It makes no assumption on the shape of
  the classes.
- :class:`~sktransfer.metrics.PARC` (Bolya et al., NeurIPS 2021) compares
  two *representational dissimilarity matrices*: the dissimilarity
  ``1 - corr(z_i, z_j)`` of every pair of samples in feature space, and the
  dissimilarity of their labels (0 for the same class, 1 + 1/(C - 1)
  otherwise). PARC is 100 times Spearman's correlation between the two:
  high when pairs of the same class are closer than pairs of different
  classes.

This example shows, with plots, when a local metric and a linear one
disagree, and what the matrices that PARC compares look like.
"""

# %%
# Local structure: k-NN against a linear metric
# ---------------------------------------------
#
# Two layouts of two classes in two dimensions. In the first, each class is
# one Gaussian and the classes overlap a little: a linear classifier does
# well. In the second ("XOR"), each class is made of two opposite clusters:
# every neighbourhood is pure, but no line separates the classes.
# :class:`~sktransfer.metrics.LogME` measures how well a *linear* model on the
# features explains the labels; k-NN does not care about linearity.

import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import spearmanr
from sklearn.decomposition import PCA

from sktransfer.datasets import make_source_pool
from sktransfer.metrics import PARC, KNNScore, LogME

rng = np.random.default_rng(0)
n = 200
noise = 0.45 * rng.normal(size=(n, 2))
y = np.repeat([0, 1], n // 2)
quadrant = rng.integers(0, 2, size=n)  # which of its two clusters
layouts = {
    "one Gaussian per class": np.array([[-1.0, 0.0], [1.0, 0.0]])[y] + 1.5 * noise,
    "XOR: two clusters per class": np.where(
        (y == 0)[:, None],
        np.array([[-1.5, -1.5], [1.5, 1.5]])[quadrant],
        np.array([[-1.5, 1.5], [1.5, -1.5]])[quadrant],
    )
    + noise,
}

fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), layout="constrained")
ks = [1, 3, 5, 10, 20, 40]
for (title, X), ax in zip(layouts.items(), axes[:2], strict=True):
    knn = KNNScore(n_neighbors=5).fit(X, y)
    logme = LogME().fit(X, y)
    for c in (0, 1):
        ax.scatter(*X[y == c].T, s=8, alpha=0.6, label=f"class {c}")
    ax.set(aspect="equal", xlim=(-4, 4), ylim=(-4, 4))
    ax.set_title(
        f"{title}\n5-NN score {knn.score_:.2f}, LogME {logme.score_:.3f}",
        fontsize="medium",
    )
    curve = [KNNScore(n_neighbors=k).fit(X, y).score_ for k in ks]
    axes[2].plot(ks, curve, "o-", label=title)
axes[0].legend(loc="lower left", fontsize="small")
axes[2].set(
    xscale="log",
    xlabel="n_neighbors",
    ylabel="leave-one-out k-NN accuracy",
    title="KNNScore as k grows",
)
axes[2].legend(fontsize="small")
plt.show()

# %%
# On the XOR layout the k-NN score is near 1 while LogME is far lower than on
# the Gaussian layout: a linear head cannot use these features, but a
# fine-tuned network (or a non-linear head) could. Which of the two matters
# depends on how the model will be transferred. ``n_neighbors=1`` is noisy
# where classes overlap; a larger ``k`` votes over a wider neighbourhood, and
# stays accurate on the XOR layout as long as it is smaller than a cluster
# (about 50 samples here). The cost is ``O(N^2 D)``: k-NN is for targets of
# moderate size.
#
# PARC: two dissimilarity matrices
# --------------------------------
#
# We take a strong and a weak source of
# :func:`~sktransfer.datasets.make_source_pool` (32 features, five classes),
# sort the samples by class and draw the dissimilarity of every pair of
# samples, computed as PARC does: a PCA (to 32 dimensions by default), each
# component standardised, then ``1 - r`` between the rows. Spearman's
# correlation between the two matrices, computed here with scipy, gives back
# PARC's score.

pool = make_source_pool(n_samples=300, n_sources=5, random_state=0)
order = np.argsort(pool.target, kind="stable")
y_pool = pool.target[order]
label_rdm = (y_pool[:, None] != y_pool[None, :]) * (1 + 1 / 4)

fig, axes = plt.subplots(2, 3, figsize=(12, 7.5), layout="constrained")
axes[0, 0].imshow(label_rdm, cmap="viridis")
axes[0, 0].set_title("label dissimilarity (sorted by class)", fontsize="medium")
same = y_pool[:, None] == y_pool[None, :]
upper = np.triu(np.ones_like(same), k=1)
for col, name in zip((1, 2), ("source_0", "source_4"), strict=True):
    X = pool.features[name][order].astype(np.float64)
    est = PARC().fit(X, y_pool)
    Z = PCA(n_components=est.n_components_).fit_transform(X)
    Z = (Z - Z.mean(axis=0)) / Z.std(axis=0)
    feature_rdm = 1 - np.corrcoef(Z)
    rho = spearmanr(feature_rdm[upper == 1], label_rdm[upper == 1]).statistic
    print(f"{name}: PARC {est.score_:.2f}, 100 x Spearman by hand {100 * rho:.2f}")
    axes[0, col].imshow(feature_rdm, cmap="viridis", vmin=0, vmax=2)
    axes[0, col].set_title(
        f"{name}: feature dissimilarity 1 - r\nPARC = {est.score_:.1f}",
        fontsize="medium",
    )
    ax = axes[1, col]
    bins = np.linspace(0, 2, 41)
    ax.hist(feature_rdm[same & (upper == 1)], bins=bins, alpha=0.6, density=True)
    ax.hist(feature_rdm[~same & (upper == 1)], bins=bins, alpha=0.6, density=True)
    ax.legend(["same-class pairs", "different-class pairs"], fontsize="small")
    ax.set(xlabel="1 - r (feature dissimilarity)", ylabel="density")
for ax in axes[0]:
    ax.set(xticks=[], yticks=[])
axes[1, 0].axis("off")
axes[1, 0].text(
    0.0,
    0.5,
    "PARC = 100 x Spearman correlation\nbetween the two matrices:\n"
    "it is high when same-class pairs\nare less dissimilar than\n"
    "different-class pairs.",
    fontsize="medium",
    va="center",
)
plt.show()

# %%
# The strong source shows a faint block structure that matches the label
# matrix: same-class pairs are, on average, less dissimilar than
# different-class pairs, and the two histograms are shifted. In the weak
# source they coincide and PARC is close to 0. Because the labels take only
# two dissimilarity values, PARC is a rank-biserial statistic: how often a
# same-class pair is less dissimilar than a different-class pair. Its cost
# is quadratic in the number of samples (``max_samples`` subsamples large
# targets).
#
# Standardising every principal component gives the noise directions as much
# weight as the signal directions, so the PCA size matters: these features
# carry their class signal in about five directions out of 32.

for k in (4, 8, 16, 32):
    values = [
        PARC(n_components=k).fit(pool.features[n], pool.target).score_
        for n in ("source_0", "source_4")
    ]
    print(f"n_components={k:>2}: source_0 {values[0]:5.1f}, source_4 {values[1]:5.1f}")
