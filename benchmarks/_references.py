"""Baselines for ``bench_metrics.py``: the public reference algorithms, re-written.

Each function re-implements, in plain numpy/scipy/scikit-learn, the algorithm
of a public reference implementation *as that implementation computes it*
(the same decompositions, the same per-class Python loops, the same temporary
arrays), written from the published formulas and the algorithm descriptions
in ``shared/research/metrics-logme-family.md``, ``metrics-seeds.md`` and
``performance-anchors.md`` (sections 5 and 7, which profile the originals).
No code was copied from the reference repositories. They exist only to be
timed next to sktransfer in the same run on the same data; they are not part
of the package.

Two deliberate differences from the originals, both in the references' favour:
numba-compiled Gram products of thuml/LogME become numpy's (syrk, about twice
as fast as numba's general product), and TensorFlow/torch code becomes numpy
(no eager-dispatch overhead). So a ratio "ours / reference" measured here is
a lower bound of the speed-up over the original code.

``tests/test_bench_references.py`` checks that each function gives the same
score as the sktransfer metric in the matching ``compat=`` mode (or default)
on small data, so that the baselines compute the same thing.

Every function takes ``(X, y)`` with ``y`` holding labels ``0..C-1`` (and,
for LEEP and NCE, ``X`` the N x C_s source probabilities) and returns a float.
"""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
import scipy.linalg
from scipy.stats import spearmanr
from sklearn.covariance import LedoitWolf
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler

__all__ = [
    "REFERENCES",
    "gbc_stable_transfer",
    "hscore_official",
    "leep_thuml",
    "logme_thuml",
    "nce_thuml",
    "nleep_stable_transfer",
    "parc_reference",
    "sfda_repo",
    "shrinkage_hscore_tllib",
    "transrate_tllib",
]


# ------------------------------------------------------------------------ LogME
def logme_thuml(X, y):
    """thuml/LogME ``LogME.fit`` (default fixed point, JMLR Algorithm 3).

    N > D: SVD of the D x D Gram matrix (a full ``svd``, not ``eigh``), the
    components with ``s > 1e-10`` kept, then the N x k float64 ``u = X V / s``
    formed explicitly; N <= D: thin SVD of ``X``. Then one fixed-point loop
    per class (``eps = 1e-5``, ``tol = 1e-3``, 11 iterations), each starting
    with a pass ``u.T @ y_c`` over ``u``. Score: the mean evidence / N.
    """
    f = np.asarray(X, dtype=np.float64)
    n, d = f.shape
    if n > d:
        _, e, vh = np.linalg.svd(f.T @ f)  # the Gram's SVD: e are its eigenvalues
        s = np.sqrt(e)
        k = int(np.sum(s > 1e-10))
        s, vh = s[:k], vh[:k]
        u = f @ vh.T / s
    else:
        u, s, vh = np.linalg.svd(f, full_matrices=False)
    sigma = s**2
    evidences = []
    for c in range(int(y.max()) + 1):
        y_c = (y == c).astype(np.float64)
        x = u.T @ y_c
        x2 = x**2
        res_x2 = y_c @ y_c - x2.sum()
        alpha, beta = 1.0, 1.0
        for _ in range(11):
            t = alpha / beta
            gamma = (sigma / (sigma + t)).sum()
            m2 = (sigma * x2 / (t + sigma) ** 2).sum()
            res2 = (x2 / (1 + sigma / t) ** 2).sum() + res_x2
            alpha = gamma / (m2 + 1e-5)
            beta = (n - gamma) / (res2 + 1e-5)
            if abs(alpha / beta - t) / t <= 1e-3:
                break
        evidence = (
            d / 2.0 * np.log(alpha)
            + n / 2.0 * np.log(beta)
            - 0.5 * np.sum(np.log(alpha + beta * sigma))
            - beta / 2.0 * res2
            - alpha / 2.0 * m2
            - n / 2.0 * np.log(2 * np.pi)
        )
        evidences.append(evidence / n)
    return float(np.mean(evidences))


# -------------------------------------------------------------------- TransRate
def _coding_rate_slogdet(Z, eps):
    n, d = Z.shape
    _, logdet = np.linalg.slogdet(np.eye(d) + (1.0 / (n * eps)) * (Z.T @ Z))
    return 0.5 * logdet


def transrate_tllib(X, y, eps=1e-4):
    """Transfer-Learning-Library ``tllib.ranking.transrate``.

    Centre ``X``; ``R(Z) = 1/2 slogdet(I + Z^T Z / (n eps))`` (LU), and the
    same per class on its rows (a D x D Gram and an LU per class, whatever
    ``n_c``); score ``R(Z) - (1/C) sum_c R(Z_c)``.
    """
    Z = np.asarray(X, dtype=np.float64)
    Z = Z - Z.mean(axis=0, keepdims=True)
    rate = _coding_rate_slogdet(Z, eps)
    n_classes = int(y.max()) + 1
    conditional = 0.0
    for c in range(n_classes):
        conditional += _coding_rate_slogdet(Z[(y == c).flatten()], eps)
    return float(rate - conditional / n_classes)


# ---------------------------------------------------------------------- H-score
def _get_cov(X):
    Xc = X - np.mean(X, axis=0, keepdims=True)
    return Xc.T @ Xc / (X.shape[0] - 1)


def hscore_official(X, y):
    """YaojieBao's H-score snippet (``getCov`` / ``getHscore``).

    ``g`` (N x D) holds each sample's class mean; both covariances are formed
    from centred N x D copies, and ``tr(pinv(cov_f, rcond=1e-15) @ cov_g)`` is
    taken with a full D x D product.
    """
    f = np.asarray(X, dtype=np.float64)
    cov_f = _get_cov(f)
    g = np.zeros_like(f)
    for c in np.unique(y):
        rows = y == c
        g[rows] = np.mean(f[rows], axis=0)
    cov_g = _get_cov(g)
    return float(np.trace(np.dot(np.linalg.pinv(cov_f, rcond=1e-15), cov_g)))


def shrinkage_hscore_tllib(X, y):
    """Transfer-Learning-Library ``regularized_h_score`` (Ledoit-Wolf).

    Centre ``X``; ``LedoitWolf(assume_centered=False)`` gives the shrinkage
    ``a`` and the shrunk covariance; ``cov_g = np.cov(g)`` of the N x D matrix
    of class means; score ``tr(pinv(cov_a, rcond=1e-15) @ ((1 - a) cov_g))``.
    """
    f = np.asarray(X, dtype=np.float64)
    f = f - np.mean(f, axis=0, keepdims=True)
    lw = LedoitWolf(assume_centered=False).fit(f)
    shrinkage, cov_f = lw.shrinkage_, lw.covariance_
    g = np.zeros_like(f)
    for c in np.unique(y):
        rows = y == c
        g[rows] = np.mean(f[rows], axis=0)
    cov_g = (1.0 - shrinkage) * np.cov(g, rowvar=False)
    return float(np.trace(np.dot(np.linalg.pinv(cov_f, rcond=1e-15), cov_g)))


# -------------------------------------------------------------------------- GBC
def gbc_stable_transfer(X, y, n_components=64, svd_solver="auto"):
    """google-research ``stable_transfer`` GBC (spherical, after PCA to 64).

    ``sklearn.decomposition.PCA`` (the reference uses ``svd_solver="full"``, a
    thin SVD of X; ``"auto"``, the default here, lets scikit-learn pick a
    cheaper solver, as the torch port does), float32 output; per class the
    mean and the ddof=0 variance floored at 1e-4, averaged to a scalar; then a
    Python loop over the ordered class pairs with the reference's distance
    (its log term not multiplied by the dimension). Score ``-sum exp(-D_B)``.
    """
    f = np.asarray(X, dtype=np.float64)
    if n_components is not None:
        f = PCA(n_components=n_components, svd_solver=svd_solver).fit_transform(f)
        f = f.astype(np.float32)
    classes = np.unique(y)
    stats = {}
    for c in classes:
        rows = f[y == c].astype(np.float64)
        mean = rows.mean(axis=0)
        var = np.maximum(rows.var(axis=0), 1e-4).mean()
        stats[c] = (mean, var)
    score = 0.0
    for c1 in classes:
        for c2 in classes:
            if c1 == c2:
                continue
            m1, v1 = stats[c1]
            m2, v2 = stats[c2]
            avg = 0.5 * (v1 + v2)
            dist = 0.125 * np.sum((m1 - m2) ** 2 / avg) + 0.5 * (
                np.log(avg) - 0.5 * np.log(v1) - 0.5 * np.log(v2)
            )
            score -= np.exp(-dist)
    return float(score)


# ------------------------------------------------------------------------- SFDA
def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _power_rho(S):
    """``iterative_A``: 3 normalised power steps from the row sums of ``S``."""
    iterates = [S.sum(axis=1)]
    for _ in range(3):
        iterates.append(S @ (iterates[-1] / np.linalg.norm(iterates[-1])))
    a = iterates[-2] / np.linalg.norm(iterates[-2])
    b = iterates[-1] / np.linalg.norm(iterates[-1])
    return float(a @ S @ b)


def _shrunk(S, lam):
    return (1 - lam) * S + lam * np.trace(S) / S.shape[0] * np.eye(S.shape[0])


def _sfda_fit(X, y, n_classes, lam):
    """One Fisher model of the SFDA repository; returns ``(proba, means, lam)``."""
    n, d = X.shape
    priors = np.bincount(y, minlength=n_classes) / n
    means = np.stack([X[y == c].mean(axis=0) for c in range(n_classes)])
    S_w = np.zeros((d, d))
    for c in range(n_classes):
        S_w += priors[c] * np.atleast_2d(np.cov(X[y == c].T, bias=1))
    if lam is None:
        lam = max(np.exp(-5.0 * _power_rho(S_w)), 1e-10)
    S_t = _shrunk(np.atleast_2d(np.cov(X.T, bias=1)), lam)
    S_w = _shrunk(S_w, lam)
    S_b = S_t - S_w
    evals, evecs = scipy.linalg.eigh(S_b, S_w)
    evecs = evecs[:, np.argsort(evals)[::-1]]
    coef = means @ evecs @ evecs.T
    intercept = -0.5 * np.diag(means @ coef.T) + np.log(priors)
    return _softmax(X @ coef.T + intercept), means, lam


def sfda_repo(X, y):
    """TencentARC/SFDA ``SFDA_Score``: two Fisher (shrinkage LDA) fits.

    Stage 1 fits class means, the prior-weighted biased class covariances
    (``np.cov`` per class), the shrinkage ``max(exp(-5 rho), 1e-10)`` from 3
    power steps, and the generalised eigenproblem ``S_b v = e S_w v`` (all D
    vectors, ``scipy.linalg.eigh``). ConfMix softens the posteriors with a
    second softmax and moves each sample towards the mean of the other
    classes' means; stage 2 refits with the same shrinkage. Score: the mean
    true-class probability. Works on a copy (the original mixes in place).
    """
    f = np.array(X, dtype=np.float64)
    n_classes = int(y.max()) + 1
    proba, means, lam = _sfda_fit(f, y, n_classes, None)
    proba = _softmax(proba)
    for c in range(n_classes):
        rows = np.flatnonzero(y == c)
        p = proba[rows, c][:, None]
        outer = (means.sum(axis=0) - means[c]) / (n_classes - 1)
        f[rows] = p * f[rows] + (1 - p) * outer
    proba, _, _ = _sfda_fit(f, y, n_classes, lam)
    return float(np.mean(proba[np.arange(y.shape[0]), y]))


# -------------------------------------------------------------------- LEEP, NCE
def leep_thuml(P, y):
    """thuml/LogME ``LEEP.py`` (= tllib ``leep``).

    ``P / N`` copied whole, the joint gathered with one boolean mask per
    class, the conditional table, then the full N x C_t product ``P @ p(y|z)``
    of which one entry per row is kept (a Python list comprehension).
    """
    n, n_source = P.shape
    n_classes = int(y.max()) + 1
    normalized = P / float(n)
    joint = np.zeros((n_classes, n_source), dtype=float)
    for c in range(n_classes):
        joint[c] = np.sum(normalized[y == c], axis=0)
    p_target_given_source = (joint / joint.sum(axis=0, keepdims=True)).T
    prediction = P @ p_target_given_source
    eep = np.array([pred[label] for pred, label in zip(prediction, y, strict=True)])
    return float(np.mean(np.log(eep)))


def nce_thuml(P, y):
    """thuml/LogME ``NCE.py`` (= tllib ``nce``) on ``argmax`` source labels.

    The joint of counts / N filled by a Python loop over the samples; source
    classes without mass dropped; ``-H(Y|Z)`` with ``1e-20`` in the log.
    """
    z = np.argmax(P, axis=1)
    n = z.shape[0]
    n_source, n_classes = int(z.max()) + 1, int(y.max()) + 1
    joint = np.zeros((n_source, n_classes), dtype=float)
    for s, t in zip(z, y, strict=True):
        joint[s, t] += 1.0 / n
    p_z = joint.sum(axis=1, keepdims=True)
    keep = p_z.ravel() != 0
    joint, p_z = joint[keep], p_z[keep]
    p_t_given_s = joint / p_z
    return float(np.sum(joint * np.log(p_t_given_s + 1e-20)))


# ----------------------------------------------------------------------- N-LEEP
def nleep_stable_transfer(X, y, pca_variance=0.8, components_per_class=5):
    """google-research ``stable_transfer`` N-LEEP.

    ``PCA(n_components=0.8, svd_solver="full")`` (a thin SVD of X), float32
    output; ``GaussianMixture(5 C, random_state=123)`` with scikit-learn's
    defaults (full covariances); float32 posteriors; their LEEP with
    ``divide_no_nan`` (empty components) and ``-log C`` for ``EEP = 0``.
    """
    f = PCA(n_components=pca_variance, svd_solver="full").fit_transform(X)
    f = f.astype(np.float32)
    n_classes = int(y.max()) + 1
    gmm = GaussianMixture(
        n_components=components_per_class * n_classes, random_state=123
    ).fit(f)
    P = gmm.predict_proba(f).astype(np.float32).astype(np.float64)
    joint = np.stack([P[y == c].sum(axis=0) for c in range(n_classes)]) / len(y)
    marginal = joint.sum(axis=0)
    cond = np.divide(joint, marginal, out=np.zeros_like(joint), where=marginal > 0)
    eep = np.einsum("ij,ji->i", P, cond[y].T)
    logs = np.where(eep > 0, np.log(np.where(eep > 0, eep, 1.0)), -np.log(n_classes))
    return float(np.mean(logs))


# ------------------------------------------------------------------------- PARC
def parc_reference(X, y, n_dims=32):
    """dbolya/parc ``PARC`` (f=32): the literal O(N^2) computation.

    Randomized ``PCA(32, iterated_power=1, random_state=1919)``,
    ``StandardScaler``, ``1 - corrcoef`` of the samples' features and of the
    one-hot labels (two N x N matrices), then 100 x Spearman's correlation of
    their strict upper triangles (``scipy.stats.spearmanr``).
    """
    f = np.asarray(X, dtype=np.float64)
    if n_dims is not None:
        f = PCA(
            n_components=min(n_dims, *f.shape),
            svd_solver="randomized",
            random_state=1919,
            iterated_power=1,
        ).fit_transform(f)
    f = StandardScaler().fit_transform(f)
    dist_features = 1 - np.corrcoef(f)
    dist_labels = 1 - np.corrcoef(np.eye(int(y.max()) + 1)[y])
    upper = np.triu_indices(f.shape[0], k=1)
    rho = spearmanr(dist_features[upper], dist_labels[upper])[0]
    return float(100.0 * rho)


# Benchmark name -> (reference function, what it re-writes). The names are the
# keys of ``bench_metrics.METRICS``.
REFERENCES = {
    "LogME": (logme_thuml, "thuml/LogME fixed point, per-class loop"),
    "TransRate": (transrate_tllib, "TLlib transrate (slogdet per class)"),
    "HScore": (hscore_official, "official H-score snippet (pinv)"),
    "ShrinkageHScore": (shrinkage_hscore_tllib, "TLlib regularized_h_score"),
    "GBC": (gbc_stable_transfer, "numpy port of stable_transfer GBC (PCA 64)"),
    "SFDA": (sfda_repo, "SFDA repo, two LDA fits"),
    "LEEP": (leep_thuml, "thuml LEEP"),
    "NCE": (nce_thuml, "thuml NCE (argmax + loop)"),
    "NLEEP": (nleep_stable_transfer, "stable_transfer N-LEEP (PCA 0.8, full GMM)"),
    "PARC": (parc_reference, "dbolya/parc, O(N^2) on all samples"),
}
