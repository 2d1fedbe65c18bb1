"""ETran: energy and linear-classifier scores of pretrained features."""

# SPDX-License-Identifier: BSD-3-Clause

from numbers import Real

import numpy as np
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, _fit_context
from sklearn.utils._param_validation import Interval, validate_params

from sktransfer._base import TransferabilityMixin

__all__ = ["ETran", "etran_score"]

# Weights of the LDA and energy components in the zoo-level combination of the
# reference code (tw.py of mgholamikn/ETran).
_ZOO_WEIGHTS = {"lda": 0.85, "energy": 0.15}


def _energy_score(X, energy_fraction):
    """Mean of the lowest ``energy_fraction`` of the per-sample log-sum-exp.

    Returns the score and the number of samples it averages.
    """
    # In row blocks of about 2 MB: scipy's logsumexp makes several
    # temporaries of its input's size (5 copies of X at once otherwise).
    step = max(1, 2**18 // max(X.shape[1], 1))
    energy = np.concatenate(
        [logsumexp(X[i : i + step], axis=1) for i in range(0, X.shape[0], step)]
    )
    n_tail = max(1, int(np.floor(energy_fraction * X.shape[0])))
    return float(np.sort(energy)[:n_tail].mean()), n_tail


def _lda_score(X, y):
    """Mean posterior of the true class under an identity-covariance Gaussian model.

    The posterior of class ``c`` is ``softmax_c(x @ mu_c - ||mu_c||^2 / 2 +
    log pi_c)``, with ``mu_c`` the class means and ``pi_c`` the class
    frequencies.
    """
    n_samples = X.shape[0]
    counts = np.bincount(y)
    Y = np.zeros((n_samples, counts.shape[0]))
    Y[np.arange(n_samples), y] = 1.0
    means = (Y.T @ X) / counts[:, None]
    logits = X @ means.T - 0.5 * np.einsum("ij,ij->i", means, means)
    logits += np.log(counts / n_samples)
    log_proba = logits[np.arange(n_samples), y] - logsumexp(logits, axis=1)
    return float(np.exp(log_proba).mean())


def _etran(X, y, *, energy_fraction):
    """ETran kernel on validated float64 ``X`` and encoded labels ``y``.

    Returns ``(components, n_energy_samples)`` with ``components`` a dict with
    keys ``"energy"`` and ``"lda"``.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        energy, n_tail = _energy_score(X, energy_fraction)
        lda = _lda_score(X, y)
    if not (np.isfinite(energy) and np.isfinite(lda)):
        raise ValueError(
            "ETran is not finite: the features are too large in magnitude "
            "(their products overflow float64); rescale X."
        )
    return {"energy": energy, "lda": lda}, n_tail


def _min_max(values):
    """Scale ``values`` to [0, 1] across models; a constant vector maps to zeros."""
    values = np.asarray(values, dtype=np.float64)
    span = values.max() - values.min()
    if span == 0:
        return np.zeros_like(values)
    return (values - values.min()) / span


def _component_table(components, keys, name):
    """Stack the ``keys`` of a sequence of component dicts into an array."""
    components = list(components)
    if not components:
        raise ValueError(f"{name} needs the components of at least one model.")
    try:
        table = np.array([[c[key] for key in keys] for c in components], dtype=float)
    except (KeyError, TypeError) as exc:
        raise ValueError(
            f"{name} expects one dict per model with keys {list(keys)}, such as "
            "a fitted estimator's components_."
        ) from exc
    if not np.all(np.isfinite(table)):
        raise ValueError(f"{name}: the components must be finite.")
    return table


def _etran_combine(components):
    """Zoo-level ETran: min-max normalised components, weighted 0.85 / 0.15.

    For models ``m = 1..M`` with components ``S_lda(m)`` and ``S_en(m)``
    (``ETran().fit(X_m, y).components_``, ``X_m`` the features of model ``m``
    on the same target data),

    .. math::

        T(m) = 0.85\\,\\bar S_{lda}(m) + 0.15\\,\\bar S_{en}(m), \\qquad
        \\bar S(m) = \\frac{S(m) - \\min_k S(k)}{\\max_k S(k) - \\min_k S(k)},

    as in the reference code (``tw.py``). A component that is equal for every
    model (in particular with a single model) contributes 0 instead of the
    reference's division by zero. The values are relative to the pool: adding
    or removing a model changes every other model's value.

    Parameters
    ----------
    components : sequence of dict
        One dict per model with keys ``"lda"`` and ``"energy"``.

    Returns
    -------
    scores : ndarray of shape (n_models,)
        Combined score of each model, in ``[0, 1]``; higher is better.
    """
    lda, energy = _component_table(components, ("lda", "energy"), "_etran_combine").T
    return _ZOO_WEIGHTS["lda"] * _min_max(lda) + _ZOO_WEIGHTS["energy"] * _min_max(
        energy
    )


class ETran(TransferabilityMixin, BaseEstimator):
    """ETran: energy-based transferability, energy and classification scores.

    ETran scores pretrained features ``X`` of the target data with two
    components: an **energy** score, the mean log-sum-exp of the features over
    the least "in-distribution" samples (label-free), and an **LDA**
    classification score, the mean posterior probability of the true class
    under a Gaussian class model fitted to ``X``. Higher means more
    transferable for both.

    The paper's final score is **relative to a pool of models**: each component
    is min-max normalised across the candidate models, then combined as
    ``0.85 * lda + 0.15 * energy``. A single model has no such score, so
    ``score_`` is the LDA component alone, the component that carries the
    labels; ``components_`` holds both for a pool-level combination (done by a
    selector across models, not by this estimator).

    Parameters
    ----------
    energy_fraction : float in (0, 1], default=0.005
        Fraction of the samples, those of lowest energy, averaged by the
        energy component (the reference's ``percent=0.5``, in percent). At
        least one sample is used.

    Attributes
    ----------
    score_ : float
        The LDA component, the single-model score.
    components_ : dict
        ``{"energy": float, "lda": float}``, the two components on the
        training data.
    n_energy_samples_ : int
        Number of samples averaged by the energy component.
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when ``X`` has string column
        names.

    See Also
    --------
    etran_score : Function form of this estimator.
    NCTI : Another metric whose published score is relative to a model pool.
    LogME : Evidence of a Bayesian linear model on the same features.

    Notes
    -----
    The input is features (penultimate-layer activations, as in the reference,
    which hooks the input of the final fully-connected layer). With
    ``e_i = log sum_j exp(x_ij)`` the energy of sample ``i`` (over feature
    dimensions, not logits) and ``L`` the ``m = max(1, floor(f N))`` samples of
    lowest energy (``f = energy_fraction``),

    .. math::

        S_{en} = \\frac{1}{m}\\sum_{i \\in L} e_i, \\qquad
        S_{lda} = \\frac{1}{N}\\sum_{i=1}^N
        \\operatorname{softmax}_c\\left(x_i^\\top\\mu_c
        - \\tfrac{1}{2}\\lVert\\mu_c\\rVert^2 + \\log\\pi_c\\right)[y_i],

    with ``mu_c`` the mean and ``pi_c`` the frequency of class ``c``.

    The reference's "LDA" builds a shrunk within-class covariance ``S_w``,
    takes the eigenvectors ``V`` of ``inv(S_w) @ S_b`` with ``numpy.linalg.eigh``
    (which reads one triangle of that non-symmetric matrix and returns an
    orthonormal ``V``) and sets the class weights to ``mu @ V @ V.T``. As
    ``V @ V.T = I``, its posterior is exactly the identity-covariance Gaussian
    classifier above: the shrinkage and eigen-decomposition have no effect, and
    the closed form reproduces the reference to rounding error. This is not a
    within-class-whitened LDA (SFDA's first step is one).

    The reference averages ``floor(N / 200)`` samples, which is empty (a NaN
    score) for ``N < 200``; here at least one sample is used, which equals the
    reference whenever it is defined. The energy depends on the scale and the
    dimension of the features, which the pool-level min-max normalisation
    hides; the LDA component is scale-dependent as well (larger features give
    more confident posteriors). ETran's third, SVD-based regression component
    (for detection boxes) is not used for classification in the reference and
    is not implemented.

    Cost: ``O(N D C)`` for the posteriors, ``O(N D + N log N)`` for the
    energy; memory ``O(N C)``.

    There is no ``compat`` option: the default reproduces the reference's
    components wherever those are defined (``N >= 200``).

    ``score(X, y)`` recomputes the LDA component on ``(X, y)``; it does not
    reuse fitted state.

    References
    ----------
    .. [1] M. Gholami, M. Akbari, X. Wang, B. Kamranian, Y. Zhang, "ETran:
       Energy-Based Transferability Estimation", ICCV 2023, pp. 18613-18622.
       Reference code: mgholamikn/ETran (``metrics.py``: ``Energy_Score``,
       ``LDA_Score``; ``tw.py``: the pool-level combination).

    Examples
    --------
    >>> import numpy as np
    >>> from sktransfer.metrics import ETran
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, size=300)
    >>> X = np.eye(3)[y] + 0.1 * rng.normal(size=(300, 3))
    >>> est = ETran().fit(X, y)
    >>> sorted(est.components_)
    ['energy', 'lda']
    >>> est.score_ == est.components_["lda"]
    True
    >>> bool(est.score_ > 0.5)
    True
    """

    _parameter_constraints: dict = {
        "energy_fraction": [Interval(Real, 0, 1, closed="right")],
    }

    def __init__(self, *, energy_fraction=0.005):
        self.energy_fraction = energy_fraction

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Compute the ETran components of ``X`` for the labels ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features of the target data extracted by a pretrained model.
        y : array-like of shape (n_samples,)
            Class labels (any values).

        Returns
        -------
        self : object
            Fitted estimator.
        """
        X, y = self._validate_input(X, y, reset=True)
        self.components_, self.n_energy_samples_ = _etran(
            X, y, energy_fraction=self.energy_fraction
        )
        self.score_ = self.components_["lda"]
        return self

    def _compute_score(self, X, y):
        return _etran(X, y, energy_fraction=self.energy_fraction)[0]["lda"]


@validate_params(
    {"X": ["array-like"], "y": ["array-like"]},
    prefer_skip_nested_validation=False,
)
def etran_score(X, y, *, energy_fraction=0.005):
    """Compute ETran's single-model score, its LDA classification component.

    Function form of :class:`ETran`; see it for the maths, the energy
    component and the pool-level combination.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Features of the target data.
    y : array-like of shape (n_samples,)
        Class labels.
    energy_fraction : float in (0, 1], default=0.005
        Fraction of lowest-energy samples averaged by the energy component
        (computed, but not part of the returned score).

    Returns
    -------
    score : float
        Mean posterior of the true class, in ``(0, 1]``; higher means more
        transferable.

    See Also
    --------
    ETran : Estimator form, with both components in ``components_``.

    Examples
    --------
    >>> import numpy as np
    >>> from sktransfer.metrics import etran_score
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, size=300)
    >>> informative = np.eye(3)[y] + 0.1 * rng.normal(size=(300, 3))
    >>> noise = rng.normal(size=(300, 3))
    >>> bool(etran_score(informative, y) > etran_score(noise, y))
    True
    """
    return ETran(energy_fraction=energy_fraction).fit(X, y).score_
