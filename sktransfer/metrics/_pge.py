"""PGE: Principal Gradient Expectation, a task embedding compared across tasks."""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils._param_validation import HasMethods, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from sktransfer._base import _check_magnitude

__all__ = ["PGE", "pge_distances"]

_NORMALIZE = {"unit_l2", "global_l2", "none"}
_DISTANCE = {"l2", "cosine"}
_AGGREGATE = {"mean", "concat"}


def _unit_bounds(unit_sizes, n_features, name="PGE"):
    """Column boundaries ``[0, s_1, s_1 + s_2, ..., n_features]`` of the units."""
    if unit_sizes is None:
        return np.array([0, n_features])
    sizes = np.asarray(unit_sizes, dtype=np.int64).reshape(-1)
    if sizes.size == 0 or np.any(sizes < 1) or sizes.sum() != n_features:
        raise ValueError(
            f"{name}: unit_sizes must be positive integers summing to the number "
            f"of columns of G ({n_features}); got {sizes.tolist()[:8]} "
            f"(sum {int(sizes.sum())})."
        )
    return np.concatenate([[0], np.cumsum(sizes)])


def _principal_gradient(G, bounds, normalize):
    """Mean of the rows of ``G``, normalised per unit, globally or not at all."""
    pg = G.mean(axis=0)
    if normalize == "global_l2":
        norm = np.linalg.norm(pg)
        return pg / norm if norm > 0 else pg
    if normalize == "unit_l2":
        pg = pg.copy()
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=False):
            norm = np.linalg.norm(pg[lo:hi])
            if norm > 0:
                pg[lo:hi] /= norm
    return pg


def _cosine_distance(a, b):
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 and nb == 0:
        return 0.0
    if na == 0 or nb == 0:
        return 1.0
    return float(1.0 - np.clip(a @ b / (na * nb), -1.0, 1.0))


def _pge_distance(a, b, bounds, distance, aggregate):
    """Distance between two principal gradients (per unit and averaged, or whole)."""
    if distance == "l2":
        diff = a - b
        if aggregate == "concat":
            return float(np.linalg.norm(diff))
        return float(
            np.mean(
                [
                    np.linalg.norm(diff[lo:hi])
                    for lo, hi in zip(bounds, bounds[1:], strict=False)
                ]
            )
        )
    if aggregate == "concat":
        return _cosine_distance(a, b)
    return float(
        np.mean(
            [
                _cosine_distance(a[lo:hi], b[lo:hi])
                for lo, hi in zip(bounds, bounds[1:], strict=False)
            ]
        )
    )


class PGE(BaseEstimator):
    """Principal Gradient Expectation: distance between two tasks' mean gradients.

    PGE embeds a task as its *principal gradient*: the expectation of the
    loss gradient of a shared probe network over mini-batches and restarts,
    normalised per weight unit. The transferability from a source task to a
    target task is minus the distance between their principal gradients. Each
    task's embedding is computed once and reused against every other task
    (see :func:`pge_distances`).

    ``fit(G)`` takes a task's gradient record ``G``: one row per batch
    gradient (all restarts stacked), one column per flattened parameter, as
    produced by :class:`~sktransfer.featurizers.GradientFeaturizer`. The
    source task travels as a pre-fitted ``PGE`` given to ``__init__``, never
    as fit parameters.

    .. warning::
       No reference code and no full paper text were available: this is a
       **reconstruction** from the paper's abstracts (see Notes for the
       choices that are ours).

    Parameters
    ----------
    source : PGE or None, default=None
        A fitted ``PGE`` holding the source task's principal gradient. If
        None, ``fit`` only embeds the task (``principal_gradient_``), and
        ``score`` is unavailable. Its ``unit_sizes`` and ``normalize`` must
        match this estimator's.
    unit_sizes : array-like of int or None, default=None
        Number of columns of each weight unit, in column order (e.g. the
        featurizer's ``unit_sizes_``). None makes all columns one unit.
    normalize : {"unit_l2", "global_l2", "none"}, default="unit_l2"
        Normalisation of the mean gradient: each unit to unit L2 norm (so that
        layers with large gradients do not dominate), the whole vector, or
        none.
    distance : {"l2", "cosine"}, default="l2"
        Distance between the two normalised principal gradients.
    aggregate : {"mean", "concat"}, default="mean"
        Average the distance over the units, or compute it on the
        concatenated vector.

    Attributes
    ----------
    principal_gradient_ : ndarray of shape (`n_features_in_`,)
        The task's normalised principal gradient.
    distance_ : float
        Distance between the source's and this task's principal gradients
        (only with a ``source``).
    score_ : float
        ``-distance_``; higher means more transferable (only with a
        ``source``).
    n_gradients_ : int
        Number of gradient rows averaged (restarts times batches).
    n_features_in_ : int
        Number of columns of ``G`` (flattened parameters).

    See Also
    --------
    pge_distances : Task-by-task distance matrix, each task embedded once.
    sktransfer.featurizers.GradientFeaturizer : Produces the gradient record.

    Notes
    -----
    With ``g_{r,m}`` the gradient of the loss on batch ``m`` of restart ``r``,
    the principal gradient of a task is, per weight unit ``u``,

    .. math::

        \\mathrm{PG}[u] = \\frac{1}{RM}\\sum_{r,m} g_{r,m}[u], \\qquad
        \\widetilde{\\mathrm{PG}}[u] = \\mathrm{PG}[u] / \\|\\mathrm{PG}[u]\\|_2,

    and ``d(s, t) = mean_u ||PG~_s[u] - PG~_t[u]||_2``. Cost: ``O(RM P)`` per
    task to average, ``O(P)`` per pair of tasks; the gradient record itself
    costs ``R M`` backward passes of the probe network.

    Choices that are ours (the abstracts leave them open): "principal" means
    the plain mean of the gradients (the abstract: "take the average of all
    the gradients to get the expectation"), not a leading singular vector;
    per-unit L2 normalisation and the L2 distance averaged over units by
    default; a unit of zero norm stays zero (two zero units are at L2 and
    cosine distance 0, a zero and a non-zero unit at cosine distance 1). The
    restart scheme (what is reset, how many SGD steps) belongs to the
    featurizer.

    ``score(X, y)`` reuses the fitted source: it embeds the gradient record
    ``X`` and returns minus its distance to the source's principal gradient
    (``y`` is ignored), so ``fit(G).score(G) == score_``.

    References
    ----------
    .. [1] H. Qi, J. Chen, L. Cheng, et al., "Transferability Estimation Based
       On Principal Gradient Expectation", arXiv:2211.16299, 2022. No
       reference code.

    Examples
    --------
    >>> import numpy as np
    >>> from sktransfer.metrics import PGE
    >>> rng = np.random.default_rng(0)
    >>> direction = rng.normal(size=6)
    >>> G_source = direction + 0.1 * rng.normal(size=(20, 6))
    >>> G_close = 3 * direction + 0.1 * rng.normal(size=(20, 6))
    >>> G_far = rng.normal(size=(20, 6))
    >>> source = PGE(unit_sizes=[4, 2]).fit(G_source)
    >>> pge = PGE(source=source, unit_sizes=[4, 2])
    >>> bool(pge.fit(G_close).score_ > pge.fit(G_far).score_)
    True
    >>> round(PGE(source=source, unit_sizes=[4, 2]).fit(G_source).distance_, 6)
    0.0
    """

    _parameter_constraints: dict = {
        "source": [HasMethods(["fit"]), None],
        "unit_sizes": ["array-like", None],
        "normalize": [StrOptions(_NORMALIZE)],
        "distance": [StrOptions(_DISTANCE)],
        "aggregate": [StrOptions(_AGGREGATE)],
    }

    def __init__(
        self,
        *,
        source=None,
        unit_sizes=None,
        normalize="unit_l2",
        distance="l2",
        aggregate="mean",
    ):
        self.source = source
        self.unit_sizes = unit_sizes
        self.normalize = normalize
        self.distance = distance
        self.aggregate = aggregate

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        return tags

    def _embed(self, G):
        return _principal_gradient(G, self._bounds, self.normalize)

    def _source_gradient(self):
        name = type(self).__name__
        if self.source is None:
            raise ValueError(
                f"{name} has no source: pass source=PGE().fit(G_source) to compare "
                "a task with a source task."
            )
        check_is_fitted(self.source, "principal_gradient_")
        pg = self.source.principal_gradient_
        if pg.shape[0] != self.n_features_in_:
            raise ValueError(
                f"{name}: the source has {pg.shape[0]} gradient columns, G has "
                f"{self.n_features_in_}; embed both tasks with the same probe "
                "network and units."
            )
        for param in ("normalize",):
            if getattr(self.source, param, None) != getattr(self, param):
                raise ValueError(
                    f"{name}: the source was fitted with {param}="
                    f"{getattr(self.source, param, None)!r}, this estimator has "
                    f"{param}={getattr(self, param)!r}."
                )
        return pg

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Embed the task as its principal gradient; compare it with the source.

        Parameters
        ----------
        X : array-like of shape (n_gradients, n_parameters)
            The task's gradient record ``G``: one row per batch gradient (restarts
            stacked), one column per flattened parameter.
        y : None
            Ignored. The labels enter earlier, when the gradients are computed
            (``GradientFeaturizer.fit_transform(X, y)``).

        Returns
        -------
        self : object
            Fitted estimator.
        """
        G = validate_data(self, X, reset=True, dtype=np.float64)
        _check_magnitude(G, "PGE")
        self._bounds = _unit_bounds(self.unit_sizes, G.shape[1])
        self.n_gradients_ = G.shape[0]
        self.principal_gradient_ = self._embed(G)
        if self.source is not None:
            self.distance_ = _pge_distance(
                self._source_gradient(),
                self.principal_gradient_,
                self._bounds,
                self.distance,
                self.aggregate,
            )
            self.score_ = -self.distance_
        return self

    def score(self, X, y=None):
        """Return minus the distance between the source's and ``G``'s embedding.

        Parameters
        ----------
        X : array-like of shape (n_gradients, n_parameters)
            A task's gradient record ``G``.
        y : None
            Ignored.

        Returns
        -------
        score : float
            ``-d(source, task)``; higher means more transferable.
        """
        check_is_fitted(self)
        G = validate_data(self, X, reset=False, dtype=np.float64)
        _check_magnitude(G, "PGE")
        return -_pge_distance(
            self._source_gradient(),
            self._embed(G),
            self._bounds,
            self.distance,
            self.aggregate,
        )


def pge_distances(
    gradients,
    *,
    unit_sizes=None,
    normalize="unit_l2",
    distance="l2",
    aggregate="mean",
):
    """Compute the PGE distance between every pair of tasks, embedding each once.

    Parameters
    ----------
    gradients : sequence of array-like of shape (n_gradients_i, n_parameters)
        One gradient record per task (same probe network and columns; the
        number of rows may differ).
    unit_sizes : array-like of int or None, default=None
        Number of columns of each weight unit; None makes one unit.
    normalize : {"unit_l2", "global_l2", "none"}, default="unit_l2"
        Normalisation of each principal gradient.
    distance : {"l2", "cosine"}, default="l2"
        Distance between principal gradients.
    aggregate : {"mean", "concat"}, default="mean"
        Average the distance over units, or use the concatenation.

    Returns
    -------
    distances : ndarray of shape (n_tasks, n_tasks)
        Symmetric matrix with a zero diagonal; ``-distances[s, t]`` is the PGE
        score of source ``s`` for target ``t``.

    See Also
    --------
    PGE : Estimator form, for one source and one target.

    Notes
    -----
    Each task is averaged once (``O(n_tasks R M P)``); the matrix then costs
    ``O(n_tasks^2 P)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sktransfer.metrics import pge_distances
    >>> rng = np.random.default_rng(0)
    >>> tasks = [rng.normal(loc=i, size=(10, 5)) for i in range(3)]
    >>> D = pge_distances(tasks)
    >>> D.shape, bool(np.allclose(D, D.T)), bool(np.allclose(np.diag(D), 0))
    ((3, 3), True, True)
    """
    if normalize not in _NORMALIZE or distance not in _DISTANCE:
        raise ValueError(
            f"normalize must be one of {sorted(_NORMALIZE)} and distance one of "
            f"{sorted(_DISTANCE)}; got {normalize!r} and {distance!r}."
        )
    if aggregate not in _AGGREGATE:
        raise ValueError(f"aggregate must be one of {sorted(_AGGREGATE)}.")
    embeddings = [
        PGE(unit_sizes=unit_sizes, normalize=normalize).fit(G).principal_gradient_
        for G in gradients
    ]
    if len({e.shape[0] for e in embeddings}) > 1:
        raise ValueError("All gradient records must have the same number of columns.")
    bounds = _unit_bounds(unit_sizes, embeddings[0].shape[0] if embeddings else 0)
    n = len(embeddings)
    D = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            D[i, j] = D[j, i] = _pge_distance(
                embeddings[i], embeddings[j], bounds, distance, aggregate
            )
    return D
