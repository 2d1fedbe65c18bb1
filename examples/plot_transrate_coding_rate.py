"""
===================================================================
What TransRate measures: coding rates of compact and spread classes
===================================================================

TransRate (Huang et al., ICML 2022) estimates the mutual information between
the features ``Z`` and the labels ``Y`` as a difference of *coding rates*:

.. math::

   \\mathrm{TransRate} = R(Z) - \\sum_c w_c\\, R(Z_c), \\qquad
   R(Z) = \\frac{1}{2}\\log\\det\\left(I + \\frac{Z^\\top Z}{n\\,\\epsilon}\\right).

The coding rate ``R(Z)`` is (half) the log-volume of the ellipsoid spanned by
the centred features, measured in cells of size ``epsilon``: roughly the
number of nats needed to encode the features up to that precision. TransRate
is high when the features as a whole span a large volume (**completeness**:
the classes are spread apart) while each class on its own spans a small one
(**compactness**).

We draw three classes in two dimensions with fixed centres and a growing
within-class spread, and read the two coding rates from
:class:`~sktransfer.metrics.TransRate`'s fitted attributes ``rate_`` and
``conditional_rate_``.
"""

# %%
# Compact and spread classes
# --------------------------

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Ellipse

from sktransfer.metrics import TransRate

rng = np.random.default_rng(0)
centres = np.array([[0.0, 2.0], [-1.8, -1.0], [1.8, -1.0]])
y = np.repeat([0, 1, 2], 150)
noise = rng.normal(size=(y.size, 2))


def make_features(spread):
    """Three classes around fixed centres, with isotropic spread ``spread``."""
    return centres[y] + spread * noise


def covariance_ellipse(Z, **kwargs):
    """The 2-sigma ellipse of the (globally centred) second moment of ``Z``."""
    cov = Z.T @ Z / len(Z)
    evals, evecs = np.linalg.eigh(cov)
    angle = np.degrees(np.arctan2(evecs[1, 1], evecs[0, 1]))
    w, h = 4 * np.sqrt(evals[::-1])
    return Ellipse(Z.mean(0) * 0, w, h, angle=angle, fill=False, **kwargs)


fig, axes = plt.subplots(1, 2, figsize=(10, 4.5), layout="constrained")
for ax, spread in zip(axes, [0.3, 1.2], strict=True):
    X = make_features(spread)
    est = TransRate().fit(X, y)
    Z = X - X.mean(axis=0)  # TransRate centres once, globally
    for c in range(3):
        ax.scatter(*Z[y == c].T, s=6, alpha=0.5, label=f"class {c}")
    ax.add_patch(covariance_ellipse(Z, color="k", lw=2))
    ax.set(aspect="equal", xlim=(-5, 5), ylim=(-5, 5))
    ax.set_title(
        f"spread {spread}: R(Z) = {est.rate_:.2f}, R(Z|Y) = "
        f"{est.conditional_rate_:.2f}\nTransRate = {est.score_:.2f}",
        fontsize="medium",
    )
axes[0].legend(loc="lower left", fontsize="small")
plt.show()

# %%
# The black ellipse is the second moment of all the features, whose volume
# ``R(Z)`` measures. When the classes are compact, the whole set is spread out
# but each class occupies a small region, so ``R(Z|Y)`` is small and
# TransRate is large.
#
# TransRate as the classes spread
# -------------------------------
#
# Moving from compact to spread classes, ``R(Z)`` grows only a little (the
# centres already spread the set) while ``R(Z|Y)`` grows quickly, and
# TransRate falls. A linear probe's accuracy falls with it.

from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import cross_val_score  # noqa: E402

spreads = np.geomspace(0.1, 3.0, 15)
rate, conditional, accuracy = [], [], []
for spread in spreads:
    X = make_features(spread)
    est = TransRate().fit(X, y)
    rate.append(est.rate_)
    conditional.append(est.conditional_rate_)
    accuracy.append(cross_val_score(LogisticRegression(), X, y, cv=5).mean())
rate, conditional = np.array(rate), np.array(conditional)

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
ax0.plot(spreads, rate, "o-", label="R(Z), all features")
ax0.plot(spreads, conditional, "s-", label="R(Z|Y), within classes")
ax0.plot(spreads, rate - conditional, "k^-", label="TransRate = difference")
ax0.set(xscale="log", xlabel="within-class spread", ylabel="nats")
ax0.legend(fontsize="small")
ax1.plot(rate - conditional, accuracy, "k^-")
ax1.set(xlabel="TransRate", ylabel="logistic-regression accuracy (5-fold CV)")
plt.show()

# %%
# The choice of ``epsilon``
# -------------------------
#
# ``eps`` is the size of the cells in which volumes are counted. Every
# eigenvalue of the covariance far above ``eps`` adds about
# ``0.5 log(lambda / eps)``: once ``eps`` is below every eigenvalue, a smaller
# ``eps`` adds the same constant to ``R(Z)`` and to each ``R(Z_c)``, and
# TransRate stops depending on it (it becomes half the log-ratio of the
# volumes). Directions of variance below ``eps`` are ignored, so a large
# ``eps`` hides the difference between the classes. TransRate's value
# therefore depends on ``eps`` and on the scale of the features
# (``row_normalize=True`` removes the scale); its ranking of candidates of the
# same width is usually stable.

X_compact, X_spread = make_features(0.3), make_features(1.2)
epsilons = np.geomspace(1e-6, 10, 15)
fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
for label, X in (("compact (0.3)", X_compact), ("spread (1.2)", X_spread)):
    values = [TransRate(eps=eps).fit(X, y).score_ for eps in epsilons]
    ax.plot(epsilons, values, "o-", label=f"classes {label}")
ax.axvline(TransRate().eps, color="grey", ls=":", label="default eps")
ax.set(xscale="log", xlabel="eps", ylabel="TransRate")
ax.legend(fontsize="small")
plt.show()
