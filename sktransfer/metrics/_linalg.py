"""Dense linear-algebra kernels shared by the Gram-based metrics (private)."""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from scipy.linalg import blas, eigh, lapack
from scipy.sparse.linalg import (
    ArpackError,
    ArpackNoConvergence,
    LinearOperator,
    eigsh,
)

__all__ = []


def eigh_projected(gram, B):
    """Eigen-decomposition of a symmetric matrix, applied to ``B`` only.

    Returns the eigenvalues of ``gram`` (ascending, as ``numpy.linalg.eigh``),
    ``V.T @ B`` and a function ``apply_basis(M)`` that returns ``V @ M``, where
    ``V`` holds the eigenvectors, without forming ``V``.

    ``numpy.linalg.eigh`` spends about half of its time (at D = 2048) on
    turning the eigenvectors of the tridiagonal form back into those of
    ``gram`` (``2 D^3`` flops). Metrics that only need ``V.T @ B`` and
    ``V @ M`` for a few columns (LogME: one per class) skip it: the
    Householder reduction to tridiagonal form (LAPACK ``dsytrd``, the cost of
    ``eigvalsh``), the tridiagonal eigenvectors by relatively robust
    representations (``dstemr``, ``O(D^2)``), and the reflectors applied to
    ``B`` and ``M`` (``dormqr``, ``O(D^2 K)``). Falls back to ``eigh`` if
    LAPACK reports a failure.

    Parameters
    ----------
    gram : ndarray of shape (d, d)
        Symmetric matrix (only its lower triangle is read); not modified.
    B : ndarray of shape (d, k)
        Columns to project.

    Returns
    -------
    evals : ndarray of shape (d,)
    VtB : ndarray of shape (d, k)
    apply_basis : callable
        ``apply_basis(M)`` is ``V @ M`` for ``M`` of shape (d, m).
    """
    d = gram.shape[0]
    if d > 1:
        lwork = int(lapack.dsytrd_lwork(d, lower=1)[0])
        packed, diag, off, tau, info = lapack.dsytrd(gram, lower=1, lwork=lwork)
        if info == 0:
            m, evals, Z, info = lapack.dstemr(
                diag, np.append(off, 0.0), 0, 0.0, 0.0, 0, 0, compute_v=1
            )
        if info == 0 and m == d:
            # Q = H(1) ... H(d-1): the reflectors of dsytrd(uplo="L") are those
            # of a QR factorisation of packed[1:, :-1] (what LAPACK's dormtr
            # passes to dormqr).
            reflectors = packed[1:, :-1]

            def apply_q(M, trans):
                out = np.array(M, dtype=np.float64, order="F")
                if out.shape[1] == 0:
                    return out
                rows, _, info = lapack.dormqr(
                    "L", trans, reflectors, tau, out[1:], lwork=64 * out.shape[1]
                )
                if info != 0:  # pragma: no cover - argument error only
                    raise np.linalg.LinAlgError(f"dormqr failed (info={info})")
                out[1:] = rows
                return out

            def apply_basis(M):
                return apply_q(Z @ M, "N")

            return evals, Z.T @ apply_q(B, "T"), apply_basis
    evals, V = np.linalg.eigh(gram)
    return evals, V.T @ B, V.__matmul__


# The uncentred Gram minus n m m^T loses about log10(ratio) digits, where ratio
# is ||sqrt(n) m||^2 over the trace of the centred scatter. Up to this ratio
# (4 digits lost, 1e-12 relative error left) it is used; above it, the rows
# are centred block by block first.
_MAX_MEAN_DOMINANCE = 1e4
# Rows centred at once by the fallback (about 32 MB).
_BLOCK_ELEMENTS = 1 << 22


def centred_scatter(X, mean):
    """Scatter matrix ``(X - mean)^T (X - mean)`` without a centred copy of ``X``.

    ``X^T X - n mean mean^T``: one syrk pass over ``X``, the cost of the floor
    itself. When the mean dominates the spread so much that the subtraction
    would lose more than 4 digits, the rows are centred by blocks instead
    (an extra pass, no N x D copy either).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Data; not modified.
    mean : ndarray of shape (n_features,)
        Its column means.

    Returns
    -------
    scatter : ndarray of shape (n_features, n_features)
    """
    n, d = X.shape
    scatter = X.T @ X
    mass = n * float(mean @ mean)
    scatter -= n * np.outer(mean, mean)
    if mass <= _MAX_MEAN_DOMINANCE * np.trace(scatter):
        return scatter
    scatter = np.zeros((d, d))
    step = max(1, _BLOCK_ELEMENTS // d)
    for start in range(0, n, step):
        block = X[start : start + step] - mean
        scatter += block.T @ block
    return scatter


def top_eigh(S, k):
    """The ``k`` largest eigenvalues (descending) and eigenvectors of a symmetric ``S``.

    A full ``eigh`` costs a tridiagonal reduction of ``S`` (``O(D^3)``, about
    one second at D = 2048 on one core) even for a few vectors. For ``k`` at
    most ``D / 8`` (and ``D >= 256``), the implicitly restarted Lanczos method (ARPACK,
    ``O(D^2 k)`` per restart, converged to machine precision from a fixed
    start vector, so deterministic) is used instead, with ``eigh`` as the
    fallback when it does not converge. Its products with ``S`` read only the
    lower triangle (BLAS ``dsymv``): they are bound by memory traffic, which
    this halves (0.25 s instead of 0.49 s for k = 64 at D = 2048; 0.016 s
    against 0.026 s for LAPACK's ``dsyevr`` at D = 512).

    Returns
    -------
    evals : ndarray of shape (k,)
    vecs : ndarray of shape (D, k)
    """
    d = S.shape[0]
    if d >= 256 and 8 * k <= d:
        v0 = np.random.default_rng(0).standard_normal(d)
        # dsymv wants Fortran order; S is symmetric, so S.T is the same matrix.
        if S.flags.f_contiguous:
            lower = S
        elif S.flags.c_contiguous:
            lower = S.T
        else:
            lower = np.asfortranarray(S)
        operator = LinearOperator(
            (d, d),
            matvec=lambda v: blas.dsymv(1.0, lower, np.ravel(v), lower=1),
            dtype=np.float64,
        )
        try:
            evals, vecs = eigsh(operator, k=k, which="LA", v0=v0, tol=0)
        except (ArpackError, ArpackNoConvergence):  # pragma: no cover - fallback
            pass
        else:
            order = np.argsort(evals)[::-1]
            return evals[order], vecs[:, order]
    evals, vecs = eigh(S, subset_by_index=[d - k, d - 1])
    return evals[::-1], vecs[:, ::-1]
