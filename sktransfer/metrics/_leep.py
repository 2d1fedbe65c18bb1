"""LEEP: the log expected empirical prediction of a source classifier."""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils._param_validation import StrOptions, validate_params
from sklearn.utils.validation import check_is_fitted

from sktransfer._base import TransferabilityMixin
from sktransfer.metrics._stats import JointCounts, _StreamingMixin

__all__ = ["LEEP", "leep_score"]

# Rows of P reduced at a time in the EEP pass: about 1 MiB of float64, so the
# block and its gathered conditional rows stay in cache.
_BLOCK_BYTES = 2**20


def _joint_counts(P, y, n_classes):
    """``counts[c, j] = sum_{i: y_i = c} P[i, j]``: one read of ``P``.

    A sparse one-hot (C_t, N) times ``P``: scipy's CSR kernel adds each row
    of ``P`` to its class's row of the (cache-resident) result, a segment sum
    in compiled code, where a dense one-hot product would cost ``2 N C_s C_t``
    flops and per-class gathers would copy ``P``.
    """
    n_samples = y.shape[0]
    onehot = sparse.csr_array(
        (np.ones(n_samples), y, np.arange(n_samples + 1)), shape=(n_samples, n_classes)
    )
    return np.asarray(onehot.T @ P)


def _expected_predictions(P, y, conditional_t):
    """``EEP_i = sum_j P[i, j] conditional_t[y_i, j]`` in cache-sized row blocks."""
    n_samples, n_source = P.shape
    eep = np.empty(n_samples)
    step = max(1, _BLOCK_BYTES // (8 * max(n_source, 1)))
    for start in range(0, n_samples, step):
        stop = min(start + step, n_samples)
        np.einsum(
            "ij,ij->i",
            P[start:stop],
            conditional_t[y[start:stop]],
            out=eep[start:stop],
        )
    return eep


def _leep(P, y, n_classes, *, compat):
    """LEEP kernel on validated float64 probabilities ``P`` (N, C_s) and labels ``y``.

    Returns ``(score, joint, conditional)``, the last two of shape (C_s, C_t).
    Two reads of ``P``: the joint, then the expected empirical predictions,
    which need the final ``P(y | z)``.
    """
    n_samples, n_source = P.shape
    counts = _joint_counts(P, y, n_classes).T  # N P(z=j, y=c) at [j, c]
    mass = counts.sum(axis=1)  # N P(z=j)
    empty = mass == 0
    _check_source_mass(mass, compat)
    # Zero-mass source classes: uniform P(y|z) by default, 0 in stable_transfer
    # (its divide_no_nan). Either way they meet only zero probabilities below.
    fill = 0.0 if compat == "stable_transfer" else 1.0 / n_classes
    conditional_t = np.full((n_classes, n_source), fill)  # P(y=c | z=j) at [c, j]
    np.divide(counts.T, mass, out=conditional_t, where=~empty)
    eep = _expected_predictions(P, y, conditional_t)
    if compat == "stable_transfer":
        # The reference's fallback for EEP = 0 (uniform prediction); it cannot
        # trigger on valid probabilities, for which EEP_i > 0.
        log_eep = np.log(eep, out=np.full(n_samples, -np.log(n_classes)), where=eep > 0)
    else:
        log_eep = np.log(eep)
    conditional = np.ascontiguousarray(conditional_t.T)
    return float(log_eep.mean()), counts / n_samples, conditional


def _check_source_mass(mass, compat):
    """The ValueError of ``compat="thuml"`` for zero-mass source classes."""
    empty = mass == 0
    if compat == "thuml" and np.any(empty):
        columns = np.flatnonzero(empty)
        shown = ", ".join(map(str, columns[:5])) + (", ..." if columns.size > 5 else "")
        raise ValueError(
            f"LEEP(compat='thuml') is undefined here: {columns.size} source "
            f"class(es) (columns {shown} of X) have zero "
            "total probability, for which the reference implementation "
            "(thuml/LogME, Transfer-Learning-Library) returns NaN (0/0 in "
            "P(y|z)). Use compat=None: those classes do not contribute and the "
            "score is finite."
        )


class LEEP(_StreamingMixin, TransferabilityMixin, BaseEstimator):
    """Log Expected Empirical Prediction (LEEP) of a source classifier.

    LEEP scores a pretrained source classifier on a labelled target task from
    its predicted probabilities over the source classes ``z`` on the target
    samples. It estimates the empirical conditional distribution ``P(y | z)``
    of the target labels given the source classes, builds the "expected
    empirical predictor" that maps source probabilities to target-label
    probabilities through it, and returns that predictor's mean
    log-likelihood of the true labels. ``LEEP <= 0``; higher means more
    transferable (0 means a perfect predictor).

    Parameters
    ----------
    compat : {"thuml", "stable_transfer"} or None, default=None
        Reproduce a reference implementation exactly. All of them compute the
        same formula; they differ only for source classes that receive zero
        total probability on the target data (``P(z=j) = 0``):

        - ``None``: such classes get a uniform row in ``conditional_``; they
          do not contribute to the score, which is always finite;
        - ``"thuml"``: thuml/LogME's ``LEEP.py`` (identical to
          Transfer-Learning-Library's ``tllib/ranking/leep.py``), whose 0/0
          in ``P(y|z)`` makes the whole score NaN when a source class has zero
          mass. We then raise a ``ValueError`` saying so instead of returning
          NaN (a NaN ranks first under ``np.argmax`` and silently corrupts a
          model ranking); otherwise the value is the reference's;
        - ``"stable_transfer"``: the google-research port (``divide_no_nan``:
          zero rows in ``conditional_``; an expected empirical prediction of
          zero would count as ``-log C_t``, which cannot happen on valid
          probabilities), computed in float64 where the port uses float32.

    Attributes
    ----------
    score_ : float
        LEEP on the training data.
    joint_ : ndarray of shape (n_source_classes, n_classes)
        Empirical joint distribution ``P(z=j, y=c)`` (sums to one).
    conditional_ : ndarray of shape (n_source_classes, n_classes)
        Empirical conditional ``P(y=c | z=j)``; each row sums to one (zero-mass
        source classes: uniform, or zero with ``compat="stable_transfer"``).
    statistics_ : JointCounts
        The sufficient statistics accumulated by :meth:`partial_fit` or
        given to :meth:`fit_statistics` (``fit`` does not keep any). See
        :ref:`streaming`.
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Number of source classes (columns of ``X``) seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the columns of ``X`` seen during ``fit``, when ``X`` has
        string column names.

    See Also
    --------
    leep_score : Function form of this estimator.
    NCE : Negative conditional entropy of the hard source labels.
    LogME : Evidence-based transferability of features.

    Notes
    -----
    ``X`` holds the source model's softmax probabilities ``theta`` (N x C_s)
    on the N target samples: rows must be non-negative and sum to one (within
    1e-3). With target labels ``y_i`` in ``C_t`` classes,

    .. math::

        \\hat P(z=j, y=c) = \\frac{1}{N}\\sum_{i: y_i = c} \\theta_{ij}, \\quad
        \\hat P(y=c \\mid z=j) = \\frac{\\hat P(z=j, y=c)}{\\sum_{c'}
        \\hat P(z=j, y=c')},

    .. math::

        \\mathrm{LEEP} = \\frac{1}{N}\\sum_{i=1}^N \\log \\sum_{j=1}^{C_s}
        \\theta_{ij} \\hat P(y_i \\mid z=j).

    The expected empirical prediction of sample ``i`` is at least
    ``max_j theta_ij^2 / (N P(z=j)) > 0``, so LEEP is always finite.

    Cost: ``O(N C_s)`` time (two passes over ``X``, gathered class by class
    in cache-sized blocks: the joint, then each sample's dot product with the
    column of ``P(y|z)`` of its own label) and ``O(C_s C_t)`` extra memory.
    Labels are encoded first, so any label values work (the references assume
    ``0..C_t-1``).

    ``score(X, y)`` recomputes LEEP on ``(X, y)``, re-estimating ``P(y|z)``
    from them; it does not reuse the fitted ``conditional_``, which describes
    the training data only.

    References
    ----------
    .. [1] C. V. Nguyen, T. Hassner, M. Seeger, C. Archambeau, "LEEP: A New
       Measure to Evaluate Transferability of Learned Representations", ICML
       2020. Reference code (unofficial): thuml/LogME (``LEEP.py``),
       Transfer-Learning-Library (``tllib/ranking/leep.py``), google-research
       (``stable_transfer/transferability/leep.py``).

    Examples
    --------
    >>> import numpy as np
    >>> from sktransfer.metrics import LEEP
    >>> X = np.array([[0.9, 0.1], [0.8, 0.2], [0.2, 0.8], [0.1, 0.9]])
    >>> y = ["cat", "cat", "dog", "dog"]
    >>> est = LEEP().fit(X, y)
    >>> est.conditional_.round(3)
    array([[0.85, 0.15],
           [0.15, 0.85]])
    >>> round(est.score_, 4)  # EEP: 0.9 * 0.85 + 0.1 * 0.15 = 0.78, then 0.71
    -0.2955
    """

    _input_kind = "probabilities"
    _parameter_constraints: dict = {
        "compat": [StrOptions({"thuml", "stable_transfer"}), None],
    }

    def __init__(self, *, compat=None):
        self.compat = compat

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Compute LEEP of the source probabilities ``X`` for the labels ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_source_classes)
            Source-model probabilities (softmax outputs) on the target data.
        y : array-like of shape (n_samples,)
            Target class labels (any values).

        Returns
        -------
        self : object
            Fitted estimator.
        """
        fitted, X, y = self._device_fit(X, y)
        if fitted is not None:
            return fitted
        X, y = self._validate_input(X, y, reset=True)
        self.score_, self.joint_, self.conditional_ = _leep(
            X, y, self.classes_.shape[0], compat=self.compat
        )
        return self

    _statistics_class = JointCounts
    _n_passes = 2

    def _second_pass_fill(self, stats):
        _check_source_mass(stats.counts_.sum(axis=1), self.compat)
        return 0.0 if self.compat == "stable_transfer" else None

    def partial_fit(self, X, y, classes=None, *, second_pass=False):
        """Add a batch of one of the two streaming passes.

        LEEP needs two passes over the data: the first (``second_pass=False``)
        accumulates the joint table ``P(z, y)``, which fixes ``P(y | z)``; the
        second (``second_pass=True``, the same samples, in any batches)
        accumulates the log expected empirical predictions. ``score_`` is NaN
        until the second pass has covered as many samples as the first; it
        then equals ``fit`` on the stacked batches (up to roundoff).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_source_classes)
            Source probabilities of a batch (numpy or array-API array).
        y : array-like of shape (n_samples,)
            Labels of the batch.
        classes : array-like of shape (n_classes,) or None, default=None
            The labels the stream may contain; labels outside it raise a
            ValueError.
        second_pass : bool, default=False
            Whether the batch belongs to the second pass.

        Returns
        -------
        self : LEEP
            The estimator, with ``statistics_``, ``joint_``, ``conditional_``
            and ``score_``.
        """
        if not second_pass:
            if getattr(self, "statistics_", None) is not None and getattr(
                self.statistics_, "n_second_pass_", 0
            ):
                raise ValueError(
                    "LEEP.partial_fit: the second pass has started; call fit, or a "
                    "new estimator, to start a new stream."
                )
            return super().partial_fit(X, y, classes=classes)
        check_is_fitted(self, "statistics_")
        if self.statistics_ is None:
            raise ValueError("LEEP.partial_fit(second_pass=True) needs a first pass.")
        X, y = self._validate_batch(X, y, reset=False)
        stats = self.statistics_
        stats.update_second_pass(X, y, fill=self._second_pass_fill(stats))
        return self._finish(stats, raise_error=False)

    def _fit_statistics(self, stats):
        n = stats.n_samples_
        self.joint_ = stats.counts_ / n
        mass = stats.counts_.sum(axis=1)
        fill = 0.0 if self.compat == "stable_transfer" else None
        self.conditional_ = stats.conditional(fill)
        done = getattr(stats, "n_second_pass_", 0)
        if done > n:
            raise ValueError(
                f"LEEP's second pass has {done} samples, more than the {n} of the "
                "first pass."
            )
        if done == n:
            _check_source_mass(mass, self.compat)
            self.score_ = stats.log_eep_sum_ / n
        else:
            self.score_ = float("nan")

    def _compute_score(self, X, y):
        return _leep(X, y, int(y.max()) + 1, compat=self.compat)[0]


@validate_params(
    {"X": ["array-like"], "y": ["array-like"]},
    prefer_skip_nested_validation=False,
)
def leep_score(X, y, *, compat=None):
    """Compute LEEP, the log expected empirical prediction of a source model.

    Function form of :class:`LEEP`; see it for the maths and the parameters.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_source_classes)
        Source-model probabilities on the target data (rows sum to one).
    y : array-like of shape (n_samples,)
        Target class labels.
    compat : {"thuml", "stable_transfer"} or None, default=None
        Reproduce a reference implementation exactly.

    Returns
    -------
    score : float
        LEEP, at most 0; higher means more transferable.

    See Also
    --------
    LEEP : Estimator form, with the fitted ``joint_`` and ``conditional_``.

    Examples
    --------
    >>> import numpy as np
    >>> from sktransfer.metrics import leep_score
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, size=300)
    >>> logits = 3.0 * np.eye(3, 6)[y] + rng.normal(size=(300, 6))
    >>> P = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    >>> bool(leep_score(P, y) > leep_score(P, rng.permutation(y)))
    True
    """
    return LEEP(compat=compat).fit(X, y).score_
