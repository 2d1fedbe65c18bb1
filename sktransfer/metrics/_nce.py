"""NCE: the negative conditional entropy of the target labels given source labels."""

# SPDX-License-Identifier: BSD-3-Clause

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils._param_validation import StrOptions, validate_params
from sklearn.utils.multiclass import type_of_target

from sktransfer._base import TransferabilityMixin
from sktransfer.metrics._stats import JointCounts, _StreamingMixin

__all__ = ["NCE", "nce_score"]

# PARC's additive smoothing of every cell of the joint and of the marginal.
_PARC_EPS = 1e-5


def _source_labels(X):
    """Hard source labels ``z`` (0..C_s-1) and ``C_s`` from validated ``X``.

    ``X`` is either probabilities (N, C_s), whose argmax is taken (ties go to
    the lowest column, as ``np.argmax``), or encoded labels (N,), all present.
    """
    if X.ndim == 2:
        return np.argmax(X, axis=1), X.shape[1]
    return X, int(X.max()) + 1


def _nce(z, y, n_source, n_classes, *, compat):
    """NCE kernel on encoded source labels ``z`` and target labels ``y``.

    Returns ``(score, joint)``, the joint of shape (C_s, C_t).
    """
    counts = np.bincount(z * n_classes + y, minlength=n_source * n_classes)
    counts = counts.reshape(n_source, n_classes).astype(np.float64)
    return _nce_from_counts(counts, compat=compat)


def _nce_from_counts(counts, *, compat):
    """NCE from the joint counts ``n_jc`` (C_s, C_t); ``(score, joint)``."""
    n_samples = counts.sum()
    mass = counts.sum(axis=1)
    if compat == "parc":
        # Every cell of the joint and of the marginal gets + 1e-5, absent
        # source classes included.
        joint = counts / n_samples + _PARC_EPS
        marginal = mass / n_samples + _PARC_EPS
        score = np.sum(joint * np.log(joint / marginal[:, None]))
    else:
        # -H(Y|Z) = (1/N) sum_{j,c} n_jc log(n_jc / n_j), with 0 log 0 = 0.
        j, c = np.nonzero(counts)
        cells = counts[j, c]
        score = np.sum(cells * np.log(cells / mass[j])) / n_samples
    return float(score), counts / n_samples


def _check_source_labels(labels):
    """Raise a ValueError unless the 1-D ``labels`` are hard class labels."""
    kind = labels.dtype.kind
    if kind in "biuUS":
        return
    if kind == "O" and type_of_target(labels) in ("binary", "multiclass"):
        return
    raise ValueError(
        "NCE: Expected 2D array of source probabilities, or a 1D array of hard "
        "source labels with an integer, boolean or string dtype; got a 1D array "
        f"of dtype {labels.dtype}. A 1D float array is ambiguous: convert labels "
        "with X.astype(int), or reshape a single probability column with "
        "X.reshape(-1, 1)."
    )


class NCE(_StreamingMixin, TransferabilityMixin, BaseEstimator):
    """Negative Conditional Entropy (NCE) of target labels given source labels.

    NCE scores a pretrained source classifier on a labelled target task from
    its hard predictions ``z`` (source classes) on the target samples: it is
    ``-H(Y | Z)``, the negative empirical conditional entropy of the target
    labels given the source labels. NCE lies in ``[-log C_t, 0]``; higher
    means more transferable (0 means the source label determines the target
    label).

    Parameters
    ----------
    compat : {"parc"} or None, default=None
        Reproduce a reference implementation exactly:

        - ``None``: the exact entropy with ``0 log 0 = 0``, as
          thuml/LogME's ``NCE.py`` and Transfer-Learning-Library's
          ``tllib/ranking/nce.py`` (their ``+1e-20`` inside the logarithm
          changes the value by less than ``1e-18``);
        - ``"parc"``: dbolya/parc's ``NegativeCrossEntropy``, which adds
          ``1e-5`` to every cell of the ``C_s x C_t`` joint and to every
          source marginal before the logarithms, absent source classes
          included. ``C_s`` is then the number of columns of ``X`` for
          probabilities, or the number of distinct source labels for hard
          labels (the reference takes both class counts from its dataset
          tables).

    Attributes
    ----------
    score_ : float
        NCE on the training data.
    joint_ : ndarray of shape (n_source_classes, n_classes)
        Empirical joint distribution ``P(z=j, y=c)`` of the hard source
        labels and the target labels (counts / N, without smoothing).
    source_classes_ : ndarray of shape (n_source_classes,)
        Source classes: the distinct hard source labels (1-D ``X``), or the
        column indices ``0..C_s-1`` (probabilities).
    statistics_ : JointCounts
        The sufficient statistics accumulated by :meth:`partial_fit` or
        given to :meth:`fit_statistics` (``fit`` does not keep any). See
        :ref:`streaming`.
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Number of source classes (columns of ``X``) seen during ``fit``; 1 for
        hard source labels.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the columns of ``X`` seen during ``fit``, when ``X`` has
        string column names.

    See Also
    --------
    nce_score : Function form of this estimator.
    LEEP : Log expected empirical prediction of the source probabilities.

    Notes
    -----
    ``X`` is either the source model's probabilities (a 2-D array of shape
    N x C_s, validated as such: non-negative rows summing to one within
    1e-3), whose argmax gives the hard source labels ``z_i`` (ties go to the
    lowest column index, as ``np.argmax``), or the hard source labels
    themselves: a 1-D array of integers, booleans or strings, of any values
    (they are encoded). A 1-D array of floats is rejected as ambiguous. So
    1-D means labels and 2-D means probabilities; scikit-learn's
    ``check_fit1d`` still passes, as it feeds 1-D floats.

    With ``n_jc`` the number of samples with ``z_i = j`` and ``y_i = c`` and
    ``n_j = sum_c n_jc``,

    .. math::

        \\mathrm{NCE} = -H(Y \\mid Z) = \\sum_{j,c} \\hat P(z=j, y=c)
        \\log \\hat P(y=c \\mid z=j)
        = \\frac{1}{N}\\sum_{j,c} n_{jc} \\log\\frac{n_{jc}}{n_j}.

    Cost: ``O(N)`` for the joint (one ``bincount``) plus ``O(C_s C_t)``; from
    probabilities, the validation and the argmax read ``X`` in ``O(N C_s)``.

    ``score(X, y)`` recomputes NCE on ``(X, y)``; it does not reuse the
    fitted ``joint_``, which describes the training data only.

    References
    ----------
    .. [1] A. T. Tran, C. V. Nguyen, T. Hassner, "Transferability and Hardness
       of Supervised Classification Tasks", ICCV 2019. Reference code
       (unofficial): thuml/LogME (``NCE.py``), Transfer-Learning-Library
       (``tllib/ranking/nce.py``), dbolya/parc (``methods.py``).

    Examples
    --------
    Hard source labels: source class 0 always means "a", source class 1 is a
    coin flip between "a" and "b", so ``H(Y|Z) = 0.5 * 0 + 0.5 * log 2``.

    >>> import numpy as np
    >>> from sktransfer.metrics import NCE
    >>> z = np.array([0, 0, 1, 1])
    >>> est = NCE().fit(z, ["a", "a", "a", "b"])
    >>> round(est.score_, 4)
    -0.3466
    >>> est.joint_
    array([[0.5 , 0.  ],
           [0.25, 0.25]])
    """

    _input_kind = "probabilities"
    _parameter_constraints: dict = {
        "compat": [StrOptions({"parc"}), None],
    }

    def __init__(self, *, compat=None):
        self.compat = compat

    def _validate_input(self, X, y, *, reset, argmax=False):
        """Validate probabilities (2-D) or hard source labels (1-D) and ``y``.

        Returns float64 probabilities, or the source labels encoded to
        ``0..C_s-1`` (int64); ``y`` is encoded by the mixin. With
        ``argmax=True`` also the hard source labels ``z`` (the row argmax of
        the probabilities, taken in the validation's read of ``X``).
        """
        if np.ndim(X) != 1:
            validated = super()._validate_input(X, y, reset=reset, argmax=argmax)
            if reset:
                self.source_classes_ = np.arange(validated[0].shape[1])
            return validated
        labels = np.asarray(X)
        _check_source_labels(labels)
        # y, its length and n_features_in_ (1) are validated by the mixin on a
        # one-column stand-in for X: a single source class, a valid
        # probability matrix.
        _, y = super()._validate_input(np.ones((labels.shape[0], 1)), y, reset=reset)
        source_classes, z = np.unique(labels, return_inverse=True)
        if reset:
            self.source_classes_ = source_classes
        z = z.astype(np.int64, copy=False).reshape(-1)
        return (z, y, z) if argmax else (z, y)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Compute NCE of the source predictions ``X`` for the labels ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_source_classes) or (n_samples,)
            Source-model probabilities on the target data (2-D), or hard
            source labels (1-D, integer, boolean or string values).
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
        X, y, z = self._validate_input(X, y, reset=True, argmax=True)
        n_source = X.shape[1] if X.ndim == 2 else int(z.max()) + 1
        self.score_, self.joint_ = _nce(
            z, y, n_source, self.classes_.shape[0], compat=self.compat
        )
        return self

    _statistics_class = JointCounts
    _statistics_params = {"soft": False}

    def _fit_statistics(self, stats):
        self.source_classes_ = stats.source_classes_
        self.score_, self.joint_ = _nce_from_counts(stats.counts_, compat=self.compat)

    def _compute_score(self, X, y):
        z, n_source = _source_labels(X)
        return _nce(z, y, n_source, int(y.max()) + 1, compat=self.compat)[0]


@validate_params(
    {"X": ["array-like"], "y": ["array-like"]},
    prefer_skip_nested_validation=False,
)
def nce_score(X, y, *, compat=None):
    """Compute NCE, the negative conditional entropy of target given source labels.

    Function form of :class:`NCE`; see it for the maths and the parameters.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_source_classes) or (n_samples,)
        Source-model probabilities (2-D, rows sum to one), or hard source
        labels (1-D, integer, boolean or string values).
    y : array-like of shape (n_samples,)
        Target class labels.
    compat : {"parc"} or None, default=None
        Reproduce a reference implementation exactly.

    Returns
    -------
    score : float
        NCE, in ``[-log C_t, 0]`` (without smoothing); higher means more
        transferable.

    See Also
    --------
    NCE : Estimator form, with the fitted ``joint_``.

    Examples
    --------
    >>> import numpy as np
    >>> from sktransfer.metrics import nce_score
    >>> y = np.array([0, 0, 1, 1, 2, 2])
    >>> nce_score(np.array([5, 5, 7, 7, 9, 9]), y)  # z determines y
    0.0
    >>> round(nce_score(np.zeros(6, dtype=int), y), 4)  # -log 3: z is constant
    -1.0986
    """
    return NCE(compat=compat).fit(X, y).score_
