"""Base classes and the estimator contract shared by every transferability metric."""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import assert_all_finite, check_is_fitted, validate_data

__all__ = ["TransferabilityMixin", "is_transferability_estimator"]


class TransferabilityMixin:
    """Mixin class for all transferability estimators in sktransfer.

    A transferability estimator measures how well the input ``X`` (features,
    source-model probabilities or gradients, depending on the metric) is suited
    to a labelled target task ``y``. It follows the contract below:

    - ``fit(X, y)`` validates the input, encodes the labels to ``0..K-1`` (any
      label values work, strings included), computes the metric in float64,
      stores it as ``score_`` together with metric-specific fitted attributes,
      and returns ``self``;
    - ``score(X, y)`` returns the metric as a Python float, **higher = more
      transferable**, so that ``est.fit(X, y).score(X, y) == est.score_``.
      What ``score`` computes on new data is stated in each metric's docstring.

    This mixin provides ``score`` and the input validation. Subclasses
    implement ``fit`` (which calls :meth:`_validate_input`) and
    ``_compute_score(X, y)``, which receives validated float64 ``X`` and the
    encoded labels (or real-valued targets).

    Class attributes that subclasses may override:

    - ``_input_kind``: ``"features"``, ``"probabilities"`` or ``"gradients"``,
      the kind of ``X`` the metric expects (read by selectors and featurizers).
      With ``"probabilities"``, rows must be non-negative and sum to one
      within 1e-3, else ``_validate_input`` raises a ``ValueError`` that
      suggests a softmax;
    - ``_min_samples_per_class``: the smallest class size the metric accepts.

    Examples
    --------
    A toy metric, the between-class share of the total variance:

    >>> import numpy as np
    >>> from sklearn.base import BaseEstimator
    >>> from sktransfer import TransferabilityMixin
    >>> class VarianceRatio(TransferabilityMixin, BaseEstimator):
    ...     def fit(self, X, y):
    ...         X, y = self._validate_input(X, y, reset=True)
    ...         self.score_ = self._compute_score(X, y)
    ...         return self
    ...     def _compute_score(self, X, y):
    ...         means = np.array([X[y == c].mean(axis=0) for c in range(y.max() + 1)])
    ...         return float(means[y].var(axis=0).sum() / X.var(axis=0).sum())
    >>> X = np.array([[0.0], [0.2], [1.0], [1.2]])
    >>> est = VarianceRatio().fit(X, ["a", "a", "b", "b"])
    >>> round(est.score_, 4), est.classes_.tolist()
    (0.9615, ['a', 'b'])
    """

    _input_kind = "features"
    _min_samples_per_class = 1

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        if self._input_kind == "probabilities":
            tags.input_tags.positive_only = True
        return tags

    def _is_classification(self):
        """Whether ``y`` holds class labels (``True``) or real-valued targets."""
        return True

    def _validate_input(self, X, y, *, reset, argmax=False):
        """Validate ``X`` and ``y`` and encode the labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input of the metric.
        y : array-like of shape (n_samples,)
            Class labels; for regression metrics, real targets of shape
            (n_samples,) or (n_samples, n_outputs).
        reset : bool
            Whether to set ``n_features_in_``, ``feature_names_in_`` and
            ``classes_`` (in ``fit``) or to check against them (in ``score``).
        argmax : bool, default=False
            For probabilities: also return the row argmax of ``X``, computed
            in the validation's single read of ``X``.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features), dtype float64
            Validated input (a copy whenever validation had to convert it; the
            caller's array is never modified).
        y : ndarray
            Encoded labels in ``0..K-1`` (int64), or float64 targets.
        z : ndarray of shape (n_samples,)
            Only with ``argmax=True``: the row argmax of the probabilities.
        """
        classification = self._is_classification()
        probabilities = self._input_kind == "probabilities"
        X, y = validate_data(
            self,
            X,
            y,
            reset=reset,
            dtype=np.float64,
            y_numeric=not classification,
            multi_output=not classification,
            # _check_probabilities and _check_magnitude catch NaN and inf in
            # their own single read of X.
            ensure_all_finite=False,
        )
        z = None
        if probabilities:
            # Non-negative rows summing to one are bounded by one: the
            # magnitude check would be two more passes over X for nothing.
            z = _check_probabilities(X, type(self).__name__, argmax=argmax)
        else:
            _check_magnitude(X, type(self).__name__)
        if not classification:
            y = np.asarray(y, dtype=np.float64)
            return X, y
        if not (isinstance(y, np.ndarray) and y.ndim == 1 and y.dtype.kind in "iub"):
            # A 1-D integer or boolean array is always binary or multiclass:
            # type_of_target (a few unique() passes) is only needed otherwise.
            check_classification_targets(y)
        classes, y_encoded = np.unique(y, return_inverse=True)
        y_encoded = y_encoded.astype(np.int64, copy=False).reshape(-1)
        name = type(self).__name__
        if classes.shape[0] < 2:
            raise ValueError(
                f"{name} requires at least 2 classes in y; got 1 class "
                f"({classes.tolist()[0]!r}). Transferability is undefined for a "
                "single class."
            )
        counts = np.bincount(y_encoded)
        if counts.min() < self._min_samples_per_class:
            small = classes[counts < self._min_samples_per_class]
            raise ValueError(
                f"{name} requires at least {self._min_samples_per_class} samples "
                f"per class; class(es) {small.tolist()[:5]!r} have fewer "
                f"(smallest class size: {counts.min()})."
            )
        if reset:
            self.classes_ = classes
        if argmax:
            return X, y_encoded, z
        return X, y_encoded

    def score(self, X, y):
        """Return the transferability of ``X`` for the target labels ``y``.

        Higher means more transferable. On the data given to ``fit`` this is
        exactly ``score_``; see the metric's docstring for what it computes on
        new data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input of the metric (features, probabilities or gradients).
        y : array-like of shape (n_samples,)
            Target labels (or targets for regression metrics).

        Returns
        -------
        score : float
            The transferability score.
        """
        check_is_fitted(self)
        X, y = self._validate_input(X, y, reset=False)
        return float(self._compute_score(X, y))


_PROBABILITY_ATOL = 1e-3
# Largest magnitude accepted in X: Gram matrices sum N products of features,
# which overflow float64 (1.8e308) long before the features themselves do.
_MAX_ABS = 1e100


def _is_private_copy(validated, original):
    """Whether ``validated`` is a new array that the caller cannot see.

    True when validation converted ``original`` (a dtype change, a list) into
    an array sharing no memory with it: a metric may then work in place on
    ``validated`` instead of making a second copy. False for any input whose
    memory is not known to be separate (e.g. a DataFrame's blocks).
    """
    if validated is original:
        return False
    if isinstance(original, np.ndarray):
        return not np.may_share_memory(validated, original)
    return isinstance(original, list | tuple)


# Rows of X reduced at a time by the single-read checks below: about 1 MiB,
# so that every reduction of a block (minimum, maximum, row sums, argmax)
# reads it from cache, and the whole check reads X from memory once.
_SCAN_BYTES = 2**20


def _check_magnitude(X, name):
    """Raise a ValueError unless ``X`` is finite with entries within ``_MAX_ABS``.

    NaN and infinity get scikit-learn's message, so callers may skip
    ``check_array``'s finiteness pass: the minimum and the maximum of each
    cache-sized block of rows are taken while it is in cache, one read of
    ``X`` from memory for the whole check, no copy.
    """
    if X.size == 0:
        return
    # Blocks along the memory order (rows of X, or of X.T for Fortran order).
    A = X.T if X.flags.f_contiguous and not X.flags.c_contiguous else X
    step = max(1, _SCAN_BYTES // (A.itemsize * A.shape[1]))
    low, high = np.inf, -np.inf
    for start in range(0, A.shape[0], step):
        block = A[start : start + step]
        # np.minimum, not min(): a NaN must propagate.
        low = np.minimum(low, np.minimum.reduce(block, axis=None))
        high = np.maximum(high, np.maximum.reduce(block, axis=None))
        if not (-_MAX_ABS <= low and high <= _MAX_ABS):  # also NaN and inf
            break
    if -_MAX_ABS <= low and high <= _MAX_ABS:
        return
    assert_all_finite(X, input_name="X", estimator_name=name)
    big = max(-float(X.min()), float(X.max()))  # all of X: the scan stopped early
    raise ValueError(
        f"{name}: X has values of magnitude up to {big:.3g}, too large for "
        f"float64 arithmetic (products of features overflow beyond "
        f"{_MAX_ABS:.0e}); rescale X, e.g. with StandardScaler."
    )


def _check_probabilities(P, name, *, argmax=False):
    """Raise a ValueError unless every row of ``P`` is a probability vector.

    Rows must be finite, non-negative and sum to one within ``1e-3`` (softmax
    outputs in float16 or float32 pass; logits or unnormalised scores do
    not). NaN and infinity are caught here too (with scikit-learn's wording),
    so callers may skip ``check_array``'s finiteness pass.

    ``P`` is read in cache-sized row blocks and every reduction of a block
    (minimum, row sums and, with ``argmax=True``, the row argmax) runs while
    the block is in cache: one read of ``P`` from memory instead of one per
    reduction. Returns the row argmax (ties to the lowest column, as
    ``np.argmax``) if ``argmax`` else None.
    """
    n_rows, n_columns = P.shape
    step = max(1, _SCAN_BYTES // (P.itemsize * max(n_columns, 1)))
    sums = np.empty(n_rows, dtype=P.dtype)
    labels = np.empty(n_rows, dtype=np.intp) if argmax else None
    ones = np.ones(n_columns, dtype=P.dtype)
    if n_columns == 0:
        sums[:] = 0.0
    else:
        _scan_blocks(P, name, step, ones, sums, labels)
    bad = ~(np.abs(sums - 1.0) <= _PROBABILITY_ATOL)  # NaN and inf rows are bad
    if np.any(bad):
        row = int(np.flatnonzero(bad)[0])
        if not np.isfinite(sums[row]):
            # NaN or infinity (check_array's message); else finite entries
            # whose sum overflowed, reported below.
            assert_all_finite(P, input_name="X", estimator_name=name)
        raise ValueError(
            f"{name} expects source-model probabilities whose rows sum to one, "
            f"but {int(bad.sum())} row(s) do not (row {row} sums to "
            f"{sums[row]:.6g}); apply a softmax to the logits first."
        )
    return labels


def _scan_blocks(P, name, step, ones, sums, labels):
    """The block loop of :func:`_check_probabilities` (fills ``sums``, ``labels``)."""
    n_rows = P.shape[0]
    # Finite entries may still overflow in a row sum: reported as a bad sum.
    with np.errstate(over="ignore"):
        for start in range(0, n_rows, step):
            stop = min(start + step, n_rows)
            block = P[start:stop]
            # Row sums as a BLAS matrix-vector product (faster than
            # add.reduce(axis=1)), first: it streams the block into cache.
            np.dot(block, ones, out=sums[start:stop])
            # A ufunc method: no per-call dispatch through np.min.
            if not np.minimum.reduce(block, axis=None) >= 0:  # <0, -inf, NaN
                _raise_negative(P, name)
            if labels is not None:
                block.argmax(axis=1, out=labels[start:stop])


def _raise_negative(P, name):
    """Raise the error for a negative (or NaN, or -inf) entry of ``P``."""
    # A NaN or an infinity anywhere takes precedence, as with check_array.
    assert_all_finite(P, input_name="X", estimator_name=name)
    raise ValueError(
        f"Negative values in data passed to {name}: {name} expects "
        "source-model probabilities, but X has negative values; apply a "
        "softmax to the logits first."
    )


def is_transferability_estimator(estimator):
    """Return True if ``estimator`` is a transferability estimator.

    Parameters
    ----------
    estimator : object
        Estimator instance or class to test.

    Returns
    -------
    out : bool
        True if ``estimator`` follows the sktransfer metric contract (it
        inherits :class:`TransferabilityMixin`).

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sktransfer import is_transferability_estimator
    >>> from sktransfer.metrics import LogME
    >>> is_transferability_estimator(LogME())
    True
    >>> is_transferability_estimator(LogisticRegression())
    False
    """
    if isinstance(estimator, type):
        return issubclass(estimator, TransferabilityMixin)
    return isinstance(estimator, TransferabilityMixin)
