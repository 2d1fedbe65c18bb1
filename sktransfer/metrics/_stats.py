"""Mergeable sufficient statistics, for streaming and sharded metrics."""

# SPDX-License-Identifier: BSD-3-Clause

import copy
import numbers

import numpy as np
from sklearn.base import _fit_context, clone
from sklearn.externals import array_api_compat
from sklearn.utils._available_if import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from sktransfer._base import _PROBABILITY_ATOL, _check_probabilities

__all__ = ["ClassStatistics", "JointCounts"]


# ------------------------------------------------------------------ arrays
def _is_device_array(X):
    """Whether ``X`` is an array-API array other than a numpy array.

    Such arrays (torch tensors, CuPy arrays, ...) are reduced on their own
    device by :class:`ClassStatistics` and :class:`JointCounts`.
    """
    return (
        not isinstance(X, np.ndarray)
        and array_api_compat.is_array_api_obj(X)
        and not array_api_compat.is_numpy_array(X)
    )


def _to_numpy(a):
    """Host numpy copy of an array-API array (labels and small statistics)."""
    if isinstance(a, np.ndarray) or not array_api_compat.is_array_api_obj(a):
        return np.asarray(a)
    if array_api_compat.is_torch_array(a):
        return a.detach().cpu().numpy()
    if array_api_compat.is_cupy_array(a):  # pragma: no cover - no CuPy in CI
        return a.get()
    return np.asarray(array_api_compat.to_device(a, "cpu"))


def _as_float64(X, name):
    """``X`` as a float64 array of its own namespace, validated (2-D, finite)."""
    xp = array_api_compat.array_namespace(X)
    if X.ndim != 2:
        raise ValueError(
            f"{name} expects a 2-D array of shape (n_samples, n_features); got an "
            f"array of shape {tuple(X.shape)}."
        )
    if X.shape[0] == 0:
        raise ValueError(
            f"Found array with 0 sample(s) (shape={tuple(X.shape)}) while a "
            f"minimum of 1 is required by {name}."
        )
    if not xp.isdtype(X.dtype, ("real floating", "integral", "bool")):
        raise ValueError(f"{name} expects a numeric array; got dtype {X.dtype}.")
    X = xp.astype(X, xp.float64, copy=False)
    if not bool(xp.all(xp.isfinite(X))):
        raise ValueError(f"Input X contains NaN or infinity ({name}).")
    return X, xp


def _encode_labels(y, n_samples, name):
    """Host labels of a batch: ``(classes, codes)`` of its distinct values."""
    y = _to_numpy(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1 or y.shape[0] != n_samples:
        raise ValueError(
            f"{name}: y must be 1-D with one label per sample of X; got shape "
            f"{y.shape} for {n_samples} samples."
        )
    check_classification_targets(y)
    classes, codes = np.unique(y, return_inverse=True)
    return classes, codes.reshape(-1).astype(np.int64, copy=False)


def _union(old, new):
    """Sorted union of two label arrays and the positions of each in it."""
    if old is None:
        return new, None, np.arange(new.shape[0])
    try:
        if (old.dtype.kind in "OUS") != (new.dtype.kind in "OUS"):
            raise TypeError("strings and numbers do not compare")
        union = np.union1d(old, new)
    except TypeError as exc:
        raise TypeError(
            f"The labels of this batch ({new.dtype}) cannot be compared with the "
            f"labels seen before ({old.dtype}): {exc}"
        ) from exc
    return union, np.searchsorted(union, old), np.searchsorted(union, new)


# ------------------------------------------------------------- statistics
class ClassStatistics:
    """Per-class sufficient statistics of features, mergeable across shards.

    Accumulates, in float64, what the Gram-based metrics (:class:`LogME`,
    :class:`TransRate`, :class:`HScore`, :class:`ShrinkageHScore`,
    :class:`GBC`) need from features ``X`` and labels ``y``: the class counts
    and means, the pooled within-class scatter matrix, optionally each
    class's scatter matrix, and two moments of the centred rows (for the
    Ledoit-Wolf shrinkage). No row of ``X`` is kept: memory is ``O(C D + D^2)``,
    or ``O(C D^2)`` with ``class_scatter=True``.

    Batches are added with :meth:`update`; statistics computed on different
    workers combine with :meth:`merge` or ``+`` (the classes are the union of
    both sides'), in any order and grouping, to the statistics of the whole
    data up to roundoff. A metric is then computed with its
    ``fit_statistics`` method.

    Parameters
    ----------
    class_scatter : bool, default=False
        Also keep the D x D scatter matrix of every class (needed by
        :class:`TransRate` and :class:`GBC`, whose score depends on each class's
        covariance).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Sorted labels seen so far.
    counts_ : ndarray of shape (n_classes,)
        Number of samples of each class (float64).
    means_ : ndarray of shape (n_classes, n_features)
        Mean of each class.
    within_scatter_ : ndarray of shape (n_features, n_features)
        ``sum_c sum_{i in c} (x_i - mu_c)(x_i - mu_c)^T``.
    class_scatter_ : ndarray of shape (n_classes, n_features, n_features) or None
        The terms of ``within_scatter_``, one per class (``class_scatter=True``).
    n_features_in_ : int
        Number of features.
    n_samples_ : float
        Total number of samples.
    mean_ : ndarray of shape (n_features,)
        Mean of all samples.

    See Also
    --------
    JointCounts : The statistics of the probability-input metrics (LEEP, NCE).

    Notes
    -----
    Each batch is centred on its own class means before its scatter is
    formed (one ``D x D`` product per batch, ``O(n_b D^2)``); batches and
    shards are combined with the pairwise update of Chan, Golub and LeVeque,
    ``S = S_a + S_b + n_a n_b / n (mu_b - mu_a)(mu_b - mu_a)^T`` per class,
    which does not lose accuracy to large feature means. The global scatter
    ``S = W + sum_c n_c (mu_c - mu)(mu_c - mu)^T`` (:meth:`scatter`) and the
    uncentred Gram ``X^T X = S + n mu mu^T`` (:meth:`gram`) are derived from
    them; the sum of ``||x_i - mu||^4`` (:meth:`fourth_moment`) is merged by
    the same shift of centre.

    Inputs that are not numpy arrays but follow the array API (torch tensors,
    CuPy arrays) are reduced on their own device, in float64; only the
    ``D x D`` and ``C x D`` results are copied to the host. float32 inputs are
    converted to float64 batch by batch before any product.

    Examples
    --------
    >>> import numpy as np
    >>> from sktransfer.metrics import ClassStatistics, LogME
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(100, 4)), rng.integers(0, 3, size=100)
    >>> a = ClassStatistics().update(X[:60], y[:60])
    >>> b = ClassStatistics().update(X[60:], y[60:])
    >>> merged = a + b
    >>> merged.classes_.tolist(), int(merged.n_samples_)
    ([0, 1, 2], 100)
    >>> streamed = LogME().fit_statistics(merged).score_
    >>> bool(np.isclose(streamed, LogME().fit(X, y).score_, rtol=1e-10))
    True
    """

    def __init__(self, *, class_scatter=False):
        self.class_scatter = class_scatter

    def __repr__(self):
        n = 0 if getattr(self, "classes_", None) is None else self.classes_.shape[0]
        samples = int(self.n_samples_) if n else 0
        return f"ClassStatistics(n_classes={n}, n_samples={samples})"

    # Per-class scatter products are deferred: the class-centred rows of each
    # class wait until they number n_features, then one product adds them
    # (a small product per class and batch is bound by writing D x D). The
    # waiting rows stay below n_features per class, within O(C D^2).
    @property
    def class_scatter_(self):
        self._flush()
        return self._class_scatter

    @class_scatter_.setter
    def class_scatter_(self, value):
        self._class_scatter = value

    def __getstate__(self):
        self._flush()
        state = dict(self.__dict__)
        state.pop("_blocks", None)
        return state

    def _pend(self, part, corrections=None):
        """Queue the class-centred rows of a batch for the class scatters.

        ``corrections[i]`` is the row ``sqrt(w) delta`` whose outer product is
        the pairwise-merge term of class ``i``: queued with the rows, it is
        added by the same product.
        """
        xp, blocks = part._blocks
        pending = self.__dict__.setdefault("_pending", {})
        for i, (label, R) in enumerate(
            zip(part.classes_.tolist(), blocks, strict=True)
        ):
            rows, n_rows = pending.get(label, ([], 0))
            rows.append(xp.asarray(R, copy=True))  # not a view of the batch
            if corrections is not None and np.any(corrections[i]):
                device = array_api_compat.device(R)
                rows.append(xp.asarray(corrections[i : i + 1], device=device))
                n_rows += 1
            pending[label] = (rows, n_rows + R.shape[0])
            if pending[label][1] >= self.n_features_in_:
                self._flush_label(label)

    def _flush_label(self, label):
        rows, _ = self._pending.pop(label)
        xp = array_api_compat.array_namespace(rows[0])
        R = rows[0] if len(rows) == 1 else xp.concat(rows, axis=0)
        position = int(np.searchsorted(self.classes_, label))
        if array_api_compat.is_numpy_namespace(xp):
            self._class_scatter[position] += R.T @ R
        else:
            self._class_scatter[position] += _to_numpy(xp.matmul(R.T, R))

    def _flush(self):
        for label in list(self.__dict__.get("_pending", {})):
            self._flush_label(label)

    # ----------------------------------------------------------- derived
    @property
    def n_samples_(self):
        """Total number of samples."""
        return float(self.counts_.sum())

    @property
    def mean_(self):
        """Mean of all samples, shape (n_features,)."""
        return self._mean

    def between(self):
        """Return the between-class factor ``B`` of the scatter matrix.

        Returns
        -------
        B : ndarray of shape (n_features, n_classes)
            Column ``c`` is ``sqrt(n_c) (mu_c - mu)``, so that the between-class
            scatter is ``B @ B.T``.
        """
        return ((self.means_ - self._mean) * np.sqrt(self.counts_)[:, None]).T

    def scatter(self):
        """Return the scatter matrix of the centred features.

        Returns
        -------
        S : ndarray of shape (n_features, n_features)
            ``sum_i (x_i - mu)(x_i - mu)^T = within_scatter_ + B B^T``.
        """
        B = self.between()
        return self.within_scatter_ + B @ B.T

    def gram(self):
        """Return the uncentred Gram matrix.

        Returns
        -------
        G : ndarray of shape (n_features, n_features)
            ``X^T X = S + n mu mu^T``.
        """
        return self.scatter() + self.n_samples_ * np.outer(self._mean, self._mean)

    def fourth_moment(self):
        """Return ``sum_i ||x_i - mu||^4`` (for the Ledoit-Wolf shrinkage).

        Returns
        -------
        m4 : float
            Sum of the fourth powers of the norms of the centred rows.
        """
        return float(self._fourth)

    # ------------------------------------------------------------- update
    def update(self, X, y):
        """Add a batch of samples.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features: a numpy array (or anything ``numpy.asarray`` accepts) or
            an array-API array (e.g. a torch tensor), reduced on its device.
        y : array-like of shape (n_samples,)
            Class labels (any values); a batch may miss some classes.

        Returns
        -------
        self : ClassStatistics
            The updated statistics.
        """
        if not _is_device_array(X):
            X = np.asarray(X)
        X, xp = _as_float64(X, type(self).__name__)
        classes, codes = _encode_labels(y, X.shape[0], type(self).__name__)
        if getattr(self, "n_features_in_", X.shape[1]) != X.shape[1]:
            raise ValueError(
                f"X has {X.shape[1]} features, but these statistics have "
                f"{self.n_features_in_} features."
            )
        self._merge_in(self._from_batch(X, xp, classes, codes))
        return self

    def _from_batch(self, X, xp, classes, codes):
        n_classes = classes.shape[0]
        counts = np.bincount(codes, minlength=n_classes).astype(np.float64)
        order = np.argsort(codes, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(counts).astype(np.int64)])
        device = array_api_compat.device(X)
        Xs = xp.take(X, xp.asarray(order, device=device), axis=0)
        mean = xp.sum(Xs, axis=0) / Xs.shape[0]
        U = Xs - mean
        sq = xp.sum(U * U, axis=1)
        fourth = float(xp.sum(sq * sq))
        third = _to_numpy(xp.matmul(sq, U))
        means_dev = xp.stack(
            [
                xp.sum(Xs[int(bounds[c]) : int(bounds[c + 1])], axis=0)
                / float(counts[c])
                for c in range(n_classes)
            ]
        )
        repeated = xp.take(means_dev, xp.asarray(np.sort(codes), device=device), axis=0)
        R = Xs - repeated
        part = ClassStatistics(class_scatter=self.class_scatter)
        part.classes_ = classes
        part.counts_ = counts
        part.means_ = _to_numpy(means_dev)
        part.within_scatter_ = _to_numpy(xp.matmul(R.T, R))
        # The class scatter matrices are added straight into the accumulator
        # by _merge_in (no (C, D, D) temporary per batch).
        part.class_scatter_ = None
        if self.class_scatter:
            part._blocks = (
                xp,
                [R[int(bounds[c]) : int(bounds[c + 1])] for c in range(n_classes)],
            )
        part.n_features_in_ = X.shape[1]
        part._mean = _to_numpy(mean)
        part._third = third
        part._fourth = fourth
        return part

    # -------------------------------------------------------------- merge
    def merge(self, other):
        """Return the statistics of the union of both sides' samples.

        Parameters
        ----------
        other : ClassStatistics
            Statistics of other samples, with the same number of features.

        Returns
        -------
        merged : ClassStatistics
            A new object; neither side is modified. It keeps per-class scatter
            matrices only if both sides do.
        """
        if not isinstance(other, ClassStatistics):
            raise TypeError(
                f"Can only merge ClassStatistics with ClassStatistics; got "
                f"{type(other).__name__}."
            )
        if getattr(other, "classes_", None) is None:
            return copy.deepcopy(self)
        merged = copy.deepcopy(self)
        merged.class_scatter = self.class_scatter and other.class_scatter
        if not merged.class_scatter:
            merged._class_scatter = None
        if getattr(merged, "classes_", None) is None:
            return copy.deepcopy(other)
        merged._merge_in(other)
        return merged

    def __add__(self, other):
        if not isinstance(other, ClassStatistics):
            return NotImplemented
        return self.merge(other)

    def __radd__(self, other):
        if isinstance(other, numbers.Number) and other == 0:  # sum(shards)
            return copy.deepcopy(self)
        return NotImplemented

    def _merge_in(self, other):
        """Add ``other`` (same or different classes) to ``self`` in place."""
        if getattr(self, "classes_", None) is None:
            for key, value in vars(other).items():
                if key not in ("class_scatter", "_blocks", "_pending"):
                    setattr(self, key, value)
            if self.class_scatter and hasattr(other, "_blocks"):
                d = other.n_features_in_
                self._class_scatter = np.zeros((other.classes_.shape[0], d, d))
                self._pend(other)
            elif not self.class_scatter:
                self._class_scatter = None
            return
        if other.n_features_in_ != self.n_features_in_:
            raise ValueError(
                f"Cannot merge statistics of {other.n_features_in_} features into "
                f"statistics of {self.n_features_in_} features."
            )
        d = self.n_features_in_
        union, pos_a, pos_b = _union(self.classes_, other.classes_)
        k = union.shape[0]
        n_a, n_b = self.n_samples_, other.n_samples_
        n = n_a + n_b
        # Global moments first (they need both sides' global scatter).
        mean = self._mean + (other._mean - self._mean) * (n_b / n)
        third, fourth = 0.0, 0.0
        for side in (self, other):
            shift = mean - side._mean
            S = side.scatter()
            S_shift = S @ shift
            tr = np.trace(S)
            c = shift @ shift
            fourth += (
                side._fourth
                + 4.0 * shift @ S_shift
                + side.n_samples_ * c**2
                - 4.0 * shift @ side._third
                + 2.0 * c * tr
            )
            third = (
                third
                + side._third
                - tr * shift
                - 2.0 * S_shift
                - side.n_samples_ * c * shift
            )
        counts = np.zeros(k)
        means = np.zeros((k, d))
        counts[pos_a] = self.counts_
        means[pos_a] = self.means_
        new_counts = counts.copy()
        new_counts[pos_b] += other.counts_
        delta = other.means_ - means[pos_b]
        weight = counts[pos_b] * other.counts_ / new_counts[pos_b]
        means[pos_b] += delta * (other.counts_ / new_counts[pos_b])[:, None]
        D = delta * np.sqrt(weight)[:, None]
        within = self.within_scatter_ + other.within_scatter_ + D.T @ D
        blocks = hasattr(other, "_blocks")
        pend = False
        if self.class_scatter and (blocks or other.class_scatter_ is not None):
            if k == self.classes_.shape[0]:  # no new class: update in place
                class_scatter = self._class_scatter
            else:
                class_scatter = np.zeros((k, d, d))
                class_scatter[pos_a] = self._class_scatter
            # One class at a time: no (C, D, D) temporaries. A batch's own
            # scatter products and merge terms are queued (see _pend).
            if blocks:
                pend = True
            else:
                for i, c in enumerate(pos_b):
                    class_scatter[c] += other.class_scatter_[i]
                    class_scatter[c] += weight[i] * np.outer(delta[i], delta[i])
            self._class_scatter = class_scatter
        else:
            self._flush()
            self.class_scatter = False
            self._class_scatter = None
            self.__dict__.pop("_pending", None)
        self.classes_ = union
        self.counts_ = new_counts
        self.means_ = means
        self.within_scatter_ = within
        self._mean = mean
        self._third = third
        self._fourth = fourth
        if pend:
            self._pend(other, corrections=D)


class JointCounts:
    """Joint table of source and target classes, mergeable across shards.

    The statistics of the probability-input metrics: for :class:`NCE`, the
    counts ``n_jc`` of samples whose hard source label is ``j`` and target
    label ``c``; for :class:`LEEP`, the soft counts ``sum_{i: y_i = c}
    theta_ij`` of the source probabilities ``theta``. LEEP's score also needs
    a second pass over the data with the final ``P(y | z)`` (see
    :meth:`update_second_pass`).

    Parameters
    ----------
    soft : bool, default=True
        Accumulate the probabilities themselves (LEEP) rather than the
        counts of their argmax (NCE).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Sorted target labels seen so far.
    source_classes_ : ndarray of shape (n_source_classes,)
        Source classes: column indices for probabilities, or the sorted hard
        source labels seen so far.
    counts_ : ndarray of shape (n_source_classes, n_classes)
        The (soft) joint counts, float64.
    n_samples_ : int
        Number of samples of the first pass.
    log_eep_sum_ : float
        Sum over the samples of the second pass of ``log sum_j theta_ij P(y_i
        | z=j)`` (LEEP only).
    n_second_pass_ : int
        Number of samples of the second pass.

    See Also
    --------
    ClassStatistics : The statistics of the feature-input metrics.

    Examples
    --------
    >>> import numpy as np
    >>> from sktransfer.metrics import JointCounts, NCE
    >>> z, y = np.array([0, 0, 1, 1]), np.array(["a", "a", "a", "b"])
    >>> stats = JointCounts(soft=False).update(z[:2], y[:2]) + JointCounts(
    ...     soft=False
    ... ).update(z[2:], y[2:])
    >>> stats.counts_
    array([[2., 0.],
           [1., 1.]])
    >>> round(NCE().fit_statistics(stats).score_, 4)
    -0.3466
    """

    def __init__(self, *, soft=True):
        self.soft = soft

    def __repr__(self):
        n = int(getattr(self, "n_samples_", 0))
        return f"JointCounts(soft={self.soft}, n_samples={n})"

    def _source_codes(self, X, xp, n_samples):
        """``(source_classes or None, codes or probabilities)`` of a batch."""
        if X.ndim == 1:
            if self.soft:
                raise ValueError(
                    "JointCounts(soft=True) needs 2-D source probabilities; got "
                    "1-D hard labels (use soft=False for NCE)."
                )
            labels = _to_numpy(X)
            source, codes = np.unique(labels, return_inverse=True)
            return source, codes.reshape(-1)
        X, xp = _as_float64(X, type(self).__name__)
        return None, X

    def update(self, X, y):
        """Add a batch (first pass).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_source_classes) or (n_samples,)
            Source probabilities (numpy or array-API array, reduced on its
            device), or hard source labels (1-D, ``soft=False`` only).
        y : array-like of shape (n_samples,)
            Target labels.

        Returns
        -------
        self : JointCounts
            The updated statistics.
        """
        if getattr(self, "n_second_pass_", 0):
            raise ValueError(
                "The second pass has started: the joint table is frozen. Merge "
                "first-pass statistics before the second pass."
            )
        if not _is_device_array(X):
            X = np.asarray(X)
        n = X.shape[0]
        classes, codes = _encode_labels(y, n, type(self).__name__)
        source, Z = self._source_codes(X, None, n)
        if source is None:
            xp = array_api_compat.array_namespace(Z)
            n_source = Z.shape[1]
            if self.soft:
                # Rows gathered class by class: one sum per class, no
                # N x C_t indicator matrix.
                order = np.argsort(codes, kind="stable")
                bounds = np.cumsum(np.bincount(codes, minlength=classes.shape[0]))
                Zs = xp.take(
                    Z, xp.asarray(order, device=array_api_compat.device(Z)), axis=0
                )
                starts = np.concatenate([[0], bounds[:-1]])
                counts = _to_numpy(
                    xp.stack(
                        [
                            xp.sum(Zs[int(lo) : int(hi)], axis=0)
                            for lo, hi in zip(starts, bounds, strict=True)
                        ],
                        axis=1,
                    )
                )
            else:
                z = _to_numpy(xp.argmax(Z, axis=1)).astype(np.int64)
                counts = self._hard_counts(z, codes, n_source, classes.shape[0])
            source = np.arange(n_source)
        else:
            counts = self._hard_counts(Z, codes, source.shape[0], classes.shape[0])
        part = JointCounts(soft=self.soft)
        part.classes_ = classes
        part.source_classes_ = source
        part.counts_ = counts
        part.n_samples_ = n
        part._labels = source is not None and X.ndim == 1
        self._merge_in(part)
        return self

    @staticmethod
    def _hard_counts(z, y, n_source, n_classes):
        counts = np.bincount(z * n_classes + y, minlength=n_source * n_classes)
        return counts.reshape(n_source, n_classes).astype(np.float64)

    def conditional(self, fill=None):
        """``P(y=c | z=j)`` of shape (n_source_classes, n_classes).

        Parameters
        ----------
        fill : float or None, default=None
            Row of the source classes with zero mass (``1 / n_classes`` when
            None).

        Returns
        -------
        conditional : ndarray of shape (n_source_classes, n_classes)
            Rows of the joint table divided by their sums.
        """
        mass = self.counts_.sum(axis=1)
        k = self.classes_.shape[0]
        out = np.full_like(self.counts_, 1.0 / k if fill is None else fill)
        np.divide(self.counts_, mass[:, None], out=out, where=mass[:, None] > 0)
        return out

    def update_second_pass(self, X, y, *, fill=None):
        """Add a batch of LEEP's second pass, with the final ``P(y | z)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_source_classes)
            Source probabilities, the same samples as in the first pass.
        y : array-like of shape (n_samples,)
            Target labels; each must have been seen in the first pass.
        fill : float or None, default=None
            Row of ``P(y | z)`` of zero-mass source classes (see
            :meth:`conditional`).

        Returns
        -------
        self : JointCounts
            The updated statistics.
        """
        if not self.soft:
            raise ValueError("Only JointCounts(soft=True) (LEEP) has a second pass.")
        if not _is_device_array(X):
            X = np.asarray(X)
        X, xp = _as_float64(X, type(self).__name__)
        if X.shape[1] != self.source_classes_.shape[0]:
            raise ValueError(
                f"X has {X.shape[1]} columns, but the first pass had "
                f"{self.source_classes_.shape[0]}."
            )
        labels = _to_numpy(y).reshape(-1)
        codes = np.searchsorted(self.classes_, labels)
        codes = np.clip(codes, 0, self.classes_.shape[0] - 1)
        if labels.shape[0] != X.shape[0] or np.any(self.classes_[codes] != labels):
            raise ValueError(
                "The second pass has labels that the first pass did not see (or "
                "the wrong number of labels)."
            )
        device = array_api_compat.device(X)
        cond_t = xp.asarray(self.conditional(fill).T, device=device)  # (C_t, C_s)
        rows = xp.take(cond_t, xp.asarray(codes, device=device), axis=0)
        eep = xp.sum(X * rows, axis=1)
        if fill == 0.0:  # stable_transfer's fallback for EEP = 0
            log_eep = xp.where(
                eep > 0,
                xp.log(xp.where(eep > 0, eep, 1.0)),
                -float(np.log(self.classes_.shape[0])),
            )
        else:
            log_eep = xp.log(eep)
        self.log_eep_sum_ = getattr(self, "log_eep_sum_", 0.0) + float(xp.sum(log_eep))
        self.n_second_pass_ = getattr(self, "n_second_pass_", 0) + X.shape[0]
        return self

    def merge(self, other):
        """Return the statistics of the union of both sides' samples.

        First-pass statistics add their tables; second-pass statistics (which
        must share the same first-pass table) add their log-EEP sums.

        Parameters
        ----------
        other : JointCounts
            Statistics of other samples.

        Returns
        -------
        merged : JointCounts
            A new object; neither side is modified.
        """
        if not isinstance(other, JointCounts) or other.soft != self.soft:
            raise TypeError(
                "Can only merge JointCounts with JointCounts of the same soft=."
            )
        merged = copy.deepcopy(self)
        if getattr(other, "n_second_pass_", 0) or getattr(self, "n_second_pass_", 0):
            if not (
                np.array_equal(self.classes_, other.classes_)
                and np.array_equal(self.counts_, other.counts_)
            ):
                raise ValueError(
                    "Second-pass statistics can only be merged when they share "
                    "the same (merged) first-pass joint table."
                )
            merged.log_eep_sum_ = getattr(self, "log_eep_sum_", 0.0) + getattr(
                other, "log_eep_sum_", 0.0
            )
            merged.n_second_pass_ = getattr(self, "n_second_pass_", 0) + getattr(
                other, "n_second_pass_", 0
            )
            return merged
        merged._merge_in(other)
        return merged

    def __add__(self, other):
        if not isinstance(other, JointCounts):
            return NotImplemented
        return self.merge(other)

    def __radd__(self, other):
        if isinstance(other, numbers.Number) and other == 0:
            return copy.deepcopy(self)
        return NotImplemented

    def _merge_in(self, other):
        if getattr(other, "classes_", None) is None:
            return
        if getattr(self, "classes_", None) is None:
            for key, value in vars(other).items():
                if key != "soft":
                    setattr(self, key, copy.deepcopy(value))
            return
        if self._labels != other._labels:
            raise ValueError(
                "Cannot merge statistics of hard source labels with statistics of "
                "source probabilities."
            )
        if self._labels:
            source, sa, sb = _union(self.source_classes_, other.source_classes_)
        else:
            if other.source_classes_.shape[0] != self.source_classes_.shape[0]:
                raise ValueError(
                    f"X has {other.source_classes_.shape[0]} columns, but these "
                    f"statistics have {self.source_classes_.shape[0]}."
                )
            source = self.source_classes_
            sa = sb = np.arange(source.shape[0])
        classes, ca, cb = _union(self.classes_, other.classes_)
        counts = np.zeros((source.shape[0], classes.shape[0]))
        counts[np.ix_(sa, ca)] += self.counts_
        counts[np.ix_(sb, cb)] += other.counts_
        self.classes_ = classes
        self.source_classes_ = source
        self.counts_ = counts
        self.n_samples_ = self.n_samples_ + other.n_samples_


# ------------------------------------------------------------------ mixin
def _check_device_probabilities(P, name):
    """:func:`_check_probabilities` on the device: only two scalars move."""
    xp = array_api_compat.array_namespace(P)
    P64 = xp.astype(P, xp.float64)
    negative = bool(xp.any(P64 < 0))
    worst = float(xp.max(xp.abs(xp.sum(P64, axis=1) - 1.0)))
    if negative or worst > _PROBABILITY_ATOL:
        # The same ValueError as for numpy input, worded by the host check on
        # the offending rows only.
        bad = xp.any(P64 < 0, axis=1) | (
            xp.abs(xp.sum(P64, axis=1) - 1.0) > _PROBABILITY_ATOL
        )
        _check_probabilities(_to_numpy(P64[bad]), name)


class _StreamingMixin:
    """``partial_fit``, ``fit_statistics`` and the device path of a metric.

    A subclass sets ``_statistics_params`` (keyword arguments of its
    statistics class) and implements ``_check_streamable()`` (raise
    NotImplementedError for parameter values that cannot be computed from the
    statistics) and ``_fit_statistics(stats)``, which sets ``score_`` and the
    metric's fitted attributes from the statistics. Its ``fit`` starts with
    ``fitted, X, y = self._device_fit(X, y)`` and returns ``fitted`` unless it
    is None.
    """

    _statistics_class = ClassStatistics
    _statistics_params: dict = {}
    _n_passes = 1

    def _new_statistics(self):
        return self._statistics_class(**self._statistics_params)

    def _check_streamable(self):
        """Raise NotImplementedError if the current parameters cannot stream."""

    def _streamable(self):
        """``available_if`` check of ``partial_fit`` and ``fit_statistics``."""
        try:
            self._check_streamable()
        except NotImplementedError as exc:
            raise AttributeError(str(exc)) from exc
        return True

    def _validate_batch(self, X, y, *, reset):
        name = type(self).__name__
        if _is_device_array(X):
            if X.ndim == 1 and reset:
                self.n_features_in_ = 1
            if X.ndim == 2:
                n_features = X.shape[1]
                if reset:
                    self.n_features_in_ = n_features
                    self.__dict__.pop("feature_names_in_", None)
                elif n_features != self.n_features_in_:
                    raise ValueError(
                        f"X has {n_features} features, but {name} is expecting "
                        f"{self.n_features_in_} features as input."
                    )
                if self._input_kind == "probabilities":
                    _check_device_probabilities(X, name)
            return X, y
        if np.ndim(X) == 1 and self._statistics_class is JointCounts:
            from sktransfer.metrics._nce import _check_source_labels

            X, y = np.asarray(X), np.asarray(y)
            _check_source_labels(X)
            validate_data(
                self, np.ones((X.shape[0], 1)), y, reset=reset, dtype=np.float64
            )
            return X, y
        probabilities = self._input_kind == "probabilities"
        X, y = validate_data(
            self,
            X,
            y,
            reset=reset,
            dtype=[np.float64, np.float32],
            # _check_probabilities catches NaN and inf in its own read of X.
            ensure_all_finite=not probabilities,
        )
        if probabilities:
            _check_probabilities(X, name)
        return X, y

    def _check_statistics(self, stats, *, raise_error):
        """Whether ``stats`` define the score (two classes, enough samples)."""
        name = type(self).__name__
        classes = stats.classes_
        if classes.shape[0] < 2:
            if raise_error:
                raise ValueError(
                    f"{name} requires at least 2 classes in y; got "
                    f"{classes.shape[0]} class. Transferability is undefined for a "
                    "single class."
                )
            return False
        if isinstance(stats, ClassStatistics):
            counts = stats.counts_
            if counts.min() < self._min_samples_per_class:
                small = classes[counts < self._min_samples_per_class].tolist()[:5]
                if raise_error:
                    raise ValueError(
                        f"{name} requires at least {self._min_samples_per_class} "
                        f"samples per class; class(es) {small!r} have fewer "
                        f"(smallest class size: {int(counts.min())})."
                    )
                return False
        return True

    def _finish(self, stats, *, raise_error):
        self.classes_ = stats.classes_
        if self._check_statistics(stats, raise_error=raise_error):
            self._fit_statistics(stats)
        else:
            self.score_ = float("nan")
        return self

    @available_if(_streamable)
    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None):
        """Add a batch of samples and update the score.

        After any sequence of calls, ``score_`` equals the score that ``fit``
        gives on all the batches stacked (up to roundoff; see
        ``statistics_`` and the streaming user guide). Nothing of ``X`` is
        kept but the sufficient statistics.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            A batch: a numpy array, or an array-API array (e.g. a torch tensor
            on a GPU), reduced on its own device.
        y : array-like of shape (n_samples,)
            Labels of the batch. A batch may miss some classes: the classes
            grow as new labels arrive (``classes_`` is the sorted union).
        classes : array-like of shape (n_classes,) or None, default=None
            The labels the stream may contain. Optional: if given, labels
            outside it raise a ValueError; it does not add classes that never
            occur.

        Returns
        -------
        self : object
            The estimator, with ``statistics_``, ``score_`` (NaN until two
            classes have been seen) and the metric's fitted attributes.
        """
        self._check_streamable()
        first = not hasattr(self, "statistics_")
        if not first and self.statistics_ is None:
            first = True
        X, y = self._validate_batch(X, y, reset=first)
        if classes is not None:
            unknown = np.setdiff1d(_to_numpy(y), np.asarray(classes))
            if unknown.size:
                raise ValueError(
                    f"y has labels {unknown.tolist()[:5]!r} that are not in "
                    f"classes={np.asarray(classes).tolist()!r}."
                )
        stats = self._new_statistics() if first else self.statistics_
        stats.update(X, y)
        self.statistics_ = stats
        return self._finish(stats, raise_error=False)

    @available_if(_streamable)
    def fit_statistics(self, statistics):
        """Compute the metric from sufficient statistics.

        Parameters
        ----------
        statistics : ClassStatistics or JointCounts
            Statistics of the target data, e.g. merged from shards computed on
            different workers.

        Returns
        -------
        self : object
            The fitted estimator; ``statistics_`` is a copy of ``statistics``.
        """
        self._validate_params()
        self._check_streamable()
        if not isinstance(statistics, self._statistics_class):
            raise TypeError(
                f"{type(self).__name__}.fit_statistics expects a "
                f"{self._statistics_class.__name__}; got {type(statistics).__name__}."
            )
        wanted = self._new_statistics()
        if isinstance(statistics, JointCounts):
            mismatch = statistics.soft != wanted.soft
        else:
            mismatch = wanted.class_scatter and not statistics.class_scatter
        if mismatch or getattr(statistics, "classes_", None) is None:
            params = ", ".join(f"{k}={v}" for k, v in self._statistics_params.items())
            raise ValueError(
                f"{type(self).__name__} needs {self._statistics_class.__name__}"
                f"({params}) with at least one batch; got {statistics!r}."
            )
        self.statistics_ = copy.deepcopy(statistics)
        if isinstance(statistics, ClassStatistics):
            self.n_features_in_ = statistics.n_features_in_
        else:
            self.n_features_in_ = (
                1 if statistics._labels else statistics.source_classes_.shape[0]
            )
        self.__dict__.pop("feature_names_in_", None)
        return self._finish(self.statistics_, raise_error=True)

    def _device_supported(self, X):
        """Whether ``fit`` computes array-API input ``X`` through the statistics.

        Not when the parameters cannot stream, nor, for features, when
        ``n_samples <= n_features`` (``fit`` then works on the sample side,
        which the statistics do not give): those inputs are copied to the
        host.
        """
        try:
            self._check_streamable()
        except NotImplementedError:
            return False
        if self._statistics_class is ClassStatistics:
            return X.ndim == 2 and X.shape[0] > X.shape[1]
        return True

    def _device_fit(self, X, y):
        """Start of ``fit``: ``(fitted, X, y)``.

        ``fitted`` is the estimator when array-API input ``X`` was computed on
        its device, else None and ``(X, y)`` are host arrays for the numpy
        path (numpy input is returned as is). ``fit`` always ends a stream.
        """
        self.__dict__.pop("statistics_", None)
        if not _is_device_array(X):
            return None, X, y
        if self._device_supported(X):
            return self._fit_device(X, y), X, y
        return None, _to_numpy(X), _to_numpy(y)

    def _fit_device(self, X, y):
        """``fit`` for array-API (non-numpy) inputs, through the statistics."""
        X, y = self._validate_batch(X, y, reset=True)
        stats = self._new_statistics().update(X, y)
        if self._n_passes == 2:
            self._check_statistics(stats, raise_error=True)
            self.classes_ = stats.classes_
            stats.update_second_pass(X, y, fill=self._second_pass_fill(stats))
        return self._finish(stats, raise_error=True)

    def score(self, X, y):
        """Return the transferability of ``X`` for the target labels ``y``.

        Same as :meth:`sktransfer.TransferabilityMixin.score`; array-API (non-numpy)
        inputs are computed on their device, through the statistics.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input of the metric.
        y : array-like of shape (n_samples,)
            Target labels.

        Returns
        -------
        score : float
            The transferability score.
        """
        if not _is_device_array(X):
            return super().score(X, y)
        check_is_fitted(self)
        if X.ndim == 2 and X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is "
                f"expecting {self.n_features_in_} features as input."
            )
        return float(clone(self).fit(X, y).score_)
