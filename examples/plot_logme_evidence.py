"""
===================================================
What LogME measures: the evidence of a linear model
===================================================

LogME (You et al., ICML 2021) asks: *how probable are the target labels under
a Bayesian linear model on top of these features?* For each class ``c`` it
fits ``y_c = X w + noise`` with a Gaussian prior on the weights, of precision
``alpha``, and Gaussian noise of precision ``beta``, integrates the weights
out, and keeps the **log-evidence** ``log p(y_c | X, alpha, beta)`` at its
maximum over ``alpha`` and ``beta``. LogME is that maximum, divided by the
number of samples and averaged over the classes.

Integrating the weights out penalises complexity automatically: features that
explain the labels with small weights (``alpha`` large, ``beta`` large) get a
high evidence, features that need large weights or leave a large residual get
a low one. No hyper-parameter is tuned and nothing is cross-validated.

This example evaluates the evidence on a grid of ``(alpha, beta)`` for a good
and a poor source, and shows that :class:`~sktransfer.metrics.LogME` finds the
top of that surface.
"""

# %%
# Two sources, one good and one poor
# ----------------------------------
#
# :func:`~sktransfer.datasets.make_source_pool` builds synthetic features
# whose signal-to-noise ratio decreases from ``source_0`` to the last source.

import matplotlib.pyplot as plt
import numpy as np

from sktransfer.datasets import make_source_pool
from sktransfer.metrics import LogME

pool = make_source_pool(n_samples=400, n_sources=5, random_state=0)
y = pool.target
sources = {"source_0 (strong signal)": "source_0", "source_4 (weak signal)": "source_4"}

# %%
# The evidence as a function of alpha and beta
# --------------------------------------------
#
# With ``m = beta A^{-1} X^T y`` the posterior mean of the weights and
# ``A = alpha I + beta X^T X``, the log-evidence of one target column is
#
# .. math::
#
#    \mathcal{L}(\alpha, \beta) = \frac{D}{2}\log\alpha + \frac{N}{2}\log\beta
#    - \frac{N}{2}\log 2\pi - \frac{\beta}{2}\lVert y - Xm\rVert^2
#    - \frac{\alpha}{2} m^\top m - \frac{1}{2}\log\lvert A\rvert .
#
# One eigen-decomposition of ``X^T X`` makes every grid point cheap: in the
# eigenbasis, ``A`` is diagonal.


def log_evidence(X, y_c, alphas, betas):
    """Log-evidence per sample of target column ``y_c`` on an alpha x beta grid."""
    n, d = X.shape
    sigma, V = np.linalg.eigh(X.T @ X)
    sigma = np.clip(sigma, 0.0, None)
    z = V.T @ (X.T @ y_c)  # X^T y in the eigenbasis
    a = alphas[:, None, None]
    b = betas[None, :, None]
    m = b * z / (a + b * sigma)  # posterior mean, eigen-coordinates
    m2 = (m**2).sum(-1)
    res2 = y_c @ y_c - 2 * (m * z).sum(-1) + (sigma * m**2).sum(-1)
    logdet = np.log(a + b * sigma).sum(-1)
    a, b = a[..., 0], b[..., 0]
    total = (
        0.5 * d * np.log(a)
        + 0.5 * n * np.log(b)
        - 0.5 * n * np.log(2 * np.pi)
        - 0.5 * b * res2
        - 0.5 * a * m2
        - 0.5 * logdet
    )
    return total / n


alphas = np.logspace(-3, 4, 120)
betas = np.logspace(-1, 2, 120)
c = 0  # the first class: y_c is its one-hot indicator column

fig, axes = plt.subplots(1, 2, figsize=(10, 4), layout="constrained", sharey=True)
for ax, (title, name) in zip(axes, sources.items(), strict=True):
    X = pool.features[name].astype(np.float64)
    y_c = (y == c).astype(np.float64)
    surface = log_evidence(X, y_c, alphas, betas)
    est = LogME().fit(X, y)
    levels = np.linspace(surface.max() - 1.0, surface.max(), 11)
    cs = ax.contourf(alphas, betas, surface.T, levels=levels, extend="min")
    i, j = np.unravel_index(np.argmax(surface), surface.shape)
    ax.plot(alphas[i], betas[j], "w+", ms=14, mew=2, label="grid maximum")
    ax.plot(
        est.alpha_[c], est.beta_[c], "rx", ms=10, mew=2, label="LogME().alpha_, beta_"
    )
    ax.set(xscale="log", yscale="log", xlabel="alpha (prior precision)", title=title)
    ax.legend(loc="lower left", fontsize="small")
    fig.colorbar(cs, ax=ax, label="log-evidence / N")
    print(
        f"{name}: grid maximum {surface.max():.4f}, "
        f"LogME evidence_[{c}] = {est.evidence_[c]:.4f} "
        f"at alpha={est.alpha_[c]:.3g}, beta={est.beta_[c]:.3g}"
    )
axes[0].set_ylabel("beta (noise precision)")
plt.show()

# %%
# The fixed-point iteration of LogME lands on the top of the surface (the
# grid is coarse, so the grid maximum is a little lower). The strong source
# reaches a higher evidence, with a larger ``beta``: its features explain the
# class indicator with a smaller residual.
#
# Where does the evidence come from?
# ----------------------------------
#
# At the optimum, the evidence trades the fit (``-beta/2 ||y - Xm||^2``, and
# ``N/2 log beta``) against the complexity of the weights (``-alpha/2 m^T m``
# and the log-determinant). We follow one source's evidence along ``beta``,
# keeping ``alpha`` at its optimum: too small a ``beta`` calls the labels
# noise, too large a ``beta`` demands a fit the features cannot give.

fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
for title, name in sources.items():
    X = pool.features[name].astype(np.float64)
    y_c = (y == c).astype(np.float64)
    est = LogME().fit(X, y)
    curve = log_evidence(X, y_c, np.array([est.alpha_[c]]), betas)[0]
    ax.plot(betas, curve, label=title)
    ax.axvline(est.beta_[c], color=ax.lines[-1].get_color(), ls=":")
ax.set(xscale="log", xlabel="beta (noise precision)", ylabel="log-evidence / N")
ax.set_ylim(curve.max() - 1.5, None)
ax.legend()
plt.show()

# %%
# LogME over all classes and all sources
# --------------------------------------
#
# ``score_`` averages the per-class maxima ``evidence_``. It decreases with the
# signal strength of the source, as a transferability metric should.

names = list(pool.features)
scores = [LogME().fit(pool.features[name], y).score_ for name in names]
fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
ax.plot([pool.signal[name] for name in names], scores, "o-")
for name, s, v in zip(names, [pool.signal[n] for n in names], scores, strict=True):
    ax.annotate(name, (s, v), textcoords="offset points", xytext=(4, -10))
ax.set(xscale="log", xlabel="signal strength of the source", ylabel="LogME")
plt.show()
