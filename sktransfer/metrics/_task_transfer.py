"""Task transfer analysis: a bound on the target loss from a transformed source task."""

# SPDX-License-Identifier: BSD-3-Clause

from numbers import Integral, Real

import numpy as np
from scipy.special import log_softmax, softmax
from sklearn.base import BaseEstimator, _clone_parametrized, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from sktransfer._base import TransferabilityMixin

__all__ = ["ReferenceTask", "TaskTransferBound"]


def _standardize(X):
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale == 0] = 1.0
    return mean, scale


def _train_head(Z, y, n_classes, *, tau, penalty, n_iter, lr, device, seed):
    """Linear head on ``Z`` by full-batch Adam on CE + gradient-norm penalty."""
    import torch

    torch.manual_seed(seed)
    Zt = torch.as_tensor(Z, dtype=torch.float64, device=device)
    Y = torch.nn.functional.one_hot(torch.as_tensor(y, device=device), n_classes).to(
        torch.float64
    )
    W = torch.zeros(n_classes, Z.shape[1], dtype=torch.float64, device=device)
    b = torch.zeros(n_classes, dtype=torch.float64, device=device)
    W.requires_grad_(True)
    b.requires_grad_(True)
    opt = torch.optim.Adam([W, b], lr=lr)
    for _ in range(n_iter):
        opt.zero_grad()
        P = torch.softmax(Zt @ W.T + b, dim=1)
        ce = -(Y * torch.log(P + 1e-300)).sum(dim=1).mean()
        # Input gradient of the CE of a linear head: W^T (p - e_y), analytic.
        grad_norm = torch.linalg.norm((P - Y) @ W, dim=1)
        loss = ce + penalty * torch.relu(grad_norm - tau).pow(2).mean()
        loss.backward()
        opt.step()
    return W.detach().cpu().numpy(), b.detach().cpu().numpy()


class ReferenceTask(BaseEstimator):
    """Reference (source) task of :class:`TaskTransferBound`, fitted once.

    Holds the source features, their labels and a linear head ``h_S`` on
    them. Pass the fitted object to ``TaskTransferBound(reference=...)``; the
    source data thus never travels as fit parameters (which cross-validation
    would slice). A fitted reference task is not re-fitted by ``clone``: clones
    share it, as with :class:`~sklearn.frozen.FrozenEstimator`.

    Parameters
    ----------
    head : object with ``coef_`` and ``intercept_``, default=None
        A fitted linear classifier on the source features (standardised ones
        when ``standardize=True``), e.g. a ``LogisticRegression`` whose
        ``classes_`` are the sorted source labels. If None, a linear head is
        trained with the gradient-norm penalty of Mehra et al. (torch, imported
        only here).
    standardize : bool, default=True
        Standardise the source features (mean 0, variance 1 per feature), as
        the reference code does for both tasks.
    tau : float, default=1.0
        Input-gradient norm above which the penalty acts: the head is kept
        roughly ``tau``-Lipschitz. The paper uses 0.02 (large scale) or 0.2
        (small scale) for its features.
    penalty : float, default=1e4
        Weight of ``mean(relu(||grad_z CE|| - tau)^2)`` (the large-scale value).
    n_iter : int, default=500
        Full-batch Adam steps of the head training.
    learning_rate : float, default=1e-2
        Adam learning rate of the head training.
    device : str, default="cpu"
        Torch device of the head training.
    random_state : int, RandomState instance or None, default=None
        Seed of the head training (the head starts at zero, so it is
        deterministic on the CPU).

    Attributes
    ----------
    features_ : ndarray of shape (n_samples, n_features)
        Source features (standardised when ``standardize=True``), float64.
    labels_ : ndarray of shape (n_samples,)
        Source labels encoded to ``0..C_S-1``.
    classes_ : ndarray of shape (C_S,)
        Source class labels.
    coef_ : ndarray of shape (C_S, n_features)
        Weights of the linear head.
    intercept_ : ndarray of shape (C_S,)
        Biases of the linear head.
    mean_, scale_ : ndarray of shape (n_features,)
        Standardisation statistics (zeros and ones without standardisation).
    class_prior_ : ndarray of shape (C_S,)
        Source class frequencies.
    class_loss_ : ndarray of shape (C_S,)
        Mean cross-entropy of the head on each source class.
    n_features_in_ : int
        Number of source features.

    See Also
    --------
    TaskTransferBound : The bound that uses this reference task.

    Examples
    --------
    >>> import numpy as np
    >>> from sktransfer.metrics import ReferenceTask
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, size=150)
    >>> Z = 3 * np.eye(3)[y] + rng.normal(size=(150, 3))
    >>> ref = ReferenceTask(n_iter=200).fit(Z, y)
    >>> ref.coef_.shape, bool(ref.class_loss_.max() < np.log(3))
    ((3, 3), True)
    """

    _parameter_constraints: dict = {
        "head": "no_validation",
        "standardize": ["boolean"],
        "tau": [Interval(Real, 0, None, closed="neither")],
        "penalty": [Interval(Real, 0, None, closed="left")],
        "n_iter": [Interval(Integral, 0, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "device": [str],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        *,
        head=None,
        standardize=True,
        tau=1.0,
        penalty=1e4,
        n_iter=500,
        learning_rate=1e-2,
        device="cpu",
        random_state=None,
    ):
        self.head = head
        self.standardize = standardize
        self.tau = tau
        self.penalty = penalty
        self.n_iter = n_iter
        self.learning_rate = learning_rate
        self.device = device
        self.random_state = random_state

    def __sklearn_clone__(self):
        # A fitted reference is shared by clones (as FrozenEstimator does), so
        # that cloning TaskTransferBound (GridSearchCV, cross_val_score) keeps it.
        if hasattr(self, "coef_"):
            return self
        return _clone_parametrized(self)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Store the source task and train (or take) its linear head.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Source features.
        y : array-like of shape (n_samples,)
            Source labels (at least 2 classes).

        Returns
        -------
        self : object
            Fitted reference task.
        """
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_, labels = np.unique(y, return_inverse=True)
        n_classes = self.classes_.shape[0]
        if n_classes < 2:
            raise ValueError("ReferenceTask requires at least 2 source classes.")
        if self.standardize:
            self.mean_, self.scale_ = _standardize(X)
        else:
            self.mean_, self.scale_ = np.zeros(X.shape[1]), np.ones(X.shape[1])
        self.features_ = (X - self.mean_) / self.scale_
        self.labels_ = labels.astype(np.int64).reshape(-1)
        if self.head is None:
            seed = check_random_state(self.random_state).randint(2**31 - 1)
            self.coef_, self.intercept_ = _train_head(
                self.features_,
                self.labels_,
                n_classes,
                tau=self.tau,
                penalty=self.penalty,
                n_iter=self.n_iter,
                lr=self.learning_rate,
                device=self.device,
                seed=seed,
            )
        else:
            coef = np.atleast_2d(np.asarray(self.head.coef_, dtype=np.float64))
            intercept = np.atleast_1d(
                np.asarray(self.head.intercept_, dtype=np.float64)
            )
            if coef.shape[0] == 1 and n_classes == 2:  # binary sklearn head
                coef = np.vstack([np.zeros_like(coef), coef])
                intercept = np.concatenate([[0.0], intercept])
            if coef.shape != (n_classes, X.shape[1]):
                raise ValueError(
                    f"head.coef_ has shape {coef.shape}; expected "
                    f"({n_classes}, {X.shape[1]}) for the source task."
                )
            self.coef_, self.intercept_ = coef, intercept
        logp = log_softmax(self.features_ @ self.coef_.T + self.intercept_, axis=1)
        losses = -logp[np.arange(labels.shape[0]), self.labels_]
        counts = np.bincount(self.labels_, minlength=n_classes)
        self.class_prior_ = counts / counts.sum()
        self.class_loss_ = np.bincount(self.labels_, losses, n_classes) / np.maximum(
            counts, 1
        )
        return self


def _pair_cost(X, Y, cost):
    sq = (X * X).sum(1)[:, None] + (Y * Y).sum(1)[None, :] - 2.0 * X @ Y.T
    np.clip(sq, 0.0, None, out=sq)
    return sq if cost == "sqeuclidean" else np.sqrt(sq)


def _label_entropy(B, D):
    """``H_D(Y_T | Y_S) = -sum_j D_j sum_i B_ij log B_ij``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(B > 0, B * np.log(B), 0.0)
    return float(-(D * plogp.sum(axis=0)).sum()) + 0.0  # no -0.0


def _class_wasserstein(Xs, ws_by_class, Zt, yt, prior_t):
    """``sum_c p_T(c) W_1(source weighted for c, target class c)``, exact EMD."""
    import ot

    total = 0.0
    for c in range(prior_t.shape[0]):
        Zc = Zt[yt == c]
        w = ws_by_class[c]
        if Zc.shape[0] == 0 or w.max() <= 0:
            continue
        keep = w > 1e-12 * w.max()
        a = w[keep] / w[keep].sum()
        b = np.full(Zc.shape[0], 1.0 / Zc.shape[0])
        M = _pair_cost(Xs[keep], Zc, "euclidean")
        total += prior_t[c] * float(ot.emd2(a, b, M, numItermax=10_000_000))
    return total


class TaskTransferBound(TransferabilityMixin, BaseEstimator):
    """Task transfer analysis: an upper bound on the target loss (Mehra et al.).

    When only the last linear layer is trained on the frozen features ``Z_t``
    of a target task, its cross-entropy is bounded by what a *reference*
    (source) task with a trained linear head ``h_S`` achieves after being
    transformed into the target task: a class-prior transform ``D``, a label
    transform ``B`` (``B_ij ~ P(y_T = i | y_S = j)``) and an affine feature map
    ``z -> A z + b`` (with an approximate inverse ``A_bar``). ``fit`` learns the
    transforms that make the bound tight. Lower bound = more transferable, so
    ``score_ = -bound_``.

    Parameters
    ----------
    reference : ReferenceTask
        Fitted reference task (source features, labels and linear head).
    transforms : {"all", "feature", "none"}, default="all"
        Which transforms are learned: ``"all"`` (LearnedAll: ``D``, ``B``,
        ``A``, ``A_bar``, ``b``), ``"feature"`` (LearnedA: only the feature map;
        ``B`` is the identity map between the sorted source and target classes
        and ``D = B^T p_T``) or ``"none"`` (FixedAll: additionally ``A = I``,
        ``b = 0``). The last two need as many target as source classes.
    standardize : bool, default=True
        Standardise the target features with their own statistics (stored in
        ``mean_`` and ``scale_``), as the reference code does.
    solver : {"emd", "sinkhorn"}, default="emd"
        Transport plan of each minibatch: exact (``ot.emd``) or entropic
        (``ot.sinkhorn`` on the cost divided by its maximum, with
        ``sinkhorn_reg``; Sinkhorn-Knopp, in the log domain when
        ``sinkhorn_reg < 0.01``).
    sinkhorn_reg : float, default=0.05
        Entropic regularisation relative to the largest minibatch cost.
    cost : {"sqeuclidean", "euclidean"}, default="sqeuclidean"
        Ground cost of the minibatch transport, used both for the plan and in
        the objective (the reference code mixes Euclidean plan and squared
        objective).
    n_iter : int, default=1000
        Alternating steps (plan, then one Adam step). The paper uses 2001.
    batch_size : int, default=500
        Source and target minibatch size of the transport.
    label_weight : float, default=1e3
        ``lambda_lab``, weight of the label distance ``||B e_ys - e_yt||`` in the
        transport cost (1e6 in the reference code, with float32).
    wd_weight, prior_weight, inverse_weight : float, default=2.0, 1.0, 1.0
        ``lambda_WD``, ``lambda_PM`` and ``lambda_IC`` of the objective.
    learning_rate : float, default=1e-2
        Adam learning rate of ``A``, ``A_bar``, ``b`` and ``B``.
    prior_learning_rate : float, default=1e-3
        Adam learning rate of ``D``.
    device : str, default="cpu"
        Torch device of the gradient steps.
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisation of ``B`` and of the minibatch sampling.

    Attributes
    ----------
    bound_ : float
        The bound ``reweighted_source_loss_ + label_mismatch_ + lipschitz_ *
        distribution_mismatch_``.
    score_ : float
        ``-bound_``.
    reweighted_source_loss_ : float
        ``sum_c D_c l_c``: the head's mean source cross-entropy per class,
        reweighted by the learned prior.
    label_mismatch_ : float
        Conditional entropy ``H_D(Y_T | Y_S)`` in nats.
    distribution_mismatch_ : float
        Class-conditional 1-Wasserstein distance (Euclidean cost, exact EMD on
        all points) between the transformed source and the target features.
    lipschitz_ : float
        Largest input-gradient norm of the transformed classifier's
        cross-entropy, over the target and transformed source points and all
        target labels.
    transformed_source_loss_ : float
        Cross-entropy of the transformed classifier on the transformed source
        distribution (soft labels ``B``); at most ``bound_`` when ``A_bar``
        inverts ``A``.
    prior_ : ndarray of shape (C_S,)
        Learned class prior ``D``.
    label_map_ : ndarray of shape (n_classes, C_S)
        Learned column-stochastic label transform ``B``.
    feature_map_ : ndarray of shape (n_features, C_S_features)
        ``A``; ``feature_inverse_`` is ``A_bar`` and ``feature_shift_`` is ``b``.
    feature_inverse_, feature_shift_ : ndarray
        See ``feature_map_``.
    mean_, scale_ : ndarray of shape (n_features,)
        Target standardisation statistics.
    classes_ : ndarray of shape (n_classes,)
        Target class labels.
    n_features_in_ : int
        Number of target features (may differ from the source's: ``A`` is
        rectangular then, initialised to the rectangular identity).
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when ``X`` has string column
        names.

    See Also
    --------
    ReferenceTask : The pre-fitted source side.
    LogME : Evidence of a linear model on the target features only.

    Notes
    -----
    With ``l_c`` the mean source cross-entropy of ``h_S`` on class ``c``,

    .. math::

        L_T \\lesssim \\sum_c D_c l_c + H_D(Y_T | Y_S)
        + \\tau\\, W_1\\big((A Z_S + b, B Y_S)_D,\\ (Z_T, Y_T)\\big),

    with the transformed classifier ``h_T(z) = B softmax(h_S(A_bar (z - b)))``
    (``predict_proba``). ``fit`` minimises, by alternating a minibatch
    transport plan ``gamma`` (source sampled with prior ``D``) and an Adam
    step,

    .. math::

        H_D(B) + \\sum_c D_c l_c + \\lambda_{WD} \\sum_{ij} \\gamma_{ij}
        (c(A z_i + b, z'_j) + \\lambda_{lab} c(B e_{y_i}, e_{y'_j}))
        + \\lambda_{PM} \\|p_T - B D\\|^2
        + \\lambda_{IC} (\\|A\\bar A - I\\|_F^2 + \\|\\bar A A - I\\|_F^2),

    with ``c`` the ``cost`` (the same in the plan and the objective).
    ``B`` and ``D`` are softmax-parameterised; ``D`` starts at the source
    prior, ``B``'s logits at seeded ``Uniform[0, 1)``. The reported
    distribution mismatch uses the Euclidean cost on all points: for each
    target class ``c``, the transformed source points weighted by
    ``D_j B_cj / n_j`` (the soft label map; the reference code uses the
    argmax of ``B`` and returns 1e10 for an unmatched class) against the
    target points of class ``c``, averaged with weights ``p_T(c)`` (the
    reference code: a plain average). Each step costs ``O(b^2 d + d^3)`` plus
    the minibatch EMD (``O(b^3 log b)``); the final distances cost one EMD of
    ``n_S x n_c`` per target class.

    ``score(X, y)`` reuses the fitted transforms and scaler and re-evaluates
    the bound (its distribution mismatch and Lipschitz constant) on
    ``(X, y)``; on the training data it equals ``score_``. The optimisation
    is seeded and deterministic on the CPU; the numbers agree with the
    reference code only statistically.

    References
    ----------
    .. [1] A. Mehra, Y. Zhang, J. Hamm, "Understanding the Transferability of
       Representations via Task-Relatedness", NeurIPS 2024 (earlier: "Analysis
       of Task Transferability in Large Pre-trained Classifiers",
       arXiv:2307.00823). Reference code: hammlab/TaskTransferAnalysis.

    Examples
    --------
    >>> import numpy as np
    >>> from sktransfer.metrics import ReferenceTask, TaskTransferBound
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, size=100)
    >>> Z = 3 * np.eye(2)[y] + rng.normal(size=(100, 2))
    >>> ref = ReferenceTask(n_iter=100).fit(Z, y)
    >>> est = TaskTransferBound(reference=ref, n_iter=50, batch_size=50,
    ...                         random_state=0).fit(Z, 1 - y)
    >>> bool(est.bound_ >= est.transformed_source_loss_)
    True
    >>> est.label_map_.argmax(axis=0).tolist()
    [1, 0]
    """

    _parameter_constraints: dict = {
        "reference": [HasMethods(["fit"])],
        "transforms": [StrOptions({"all", "feature", "none"})],
        "standardize": ["boolean"],
        "solver": [StrOptions({"emd", "sinkhorn"})],
        "sinkhorn_reg": [Interval(Real, 0, None, closed="neither")],
        "cost": [StrOptions({"sqeuclidean", "euclidean"})],
        "n_iter": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "label_weight": [Interval(Real, 0, None, closed="left")],
        "wd_weight": [Interval(Real, 0, None, closed="left")],
        "prior_weight": [Interval(Real, 0, None, closed="left")],
        "inverse_weight": [Interval(Real, 0, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "prior_learning_rate": [Interval(Real, 0, None, closed="neither")],
        "device": [str],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        *,
        reference,
        transforms="all",
        standardize=True,
        solver="emd",
        sinkhorn_reg=0.05,
        cost="sqeuclidean",
        n_iter=1000,
        batch_size=500,
        label_weight=1e3,
        wd_weight=2.0,
        prior_weight=1.0,
        inverse_weight=1.0,
        learning_rate=1e-2,
        prior_learning_rate=1e-3,
        device="cpu",
        random_state=None,
    ):
        self.reference = reference
        self.transforms = transforms
        self.standardize = standardize
        self.solver = solver
        self.sinkhorn_reg = sinkhorn_reg
        self.cost = cost
        self.n_iter = n_iter
        self.batch_size = batch_size
        self.label_weight = label_weight
        self.wd_weight = wd_weight
        self.prior_weight = prior_weight
        self.inverse_weight = inverse_weight
        self.learning_rate = learning_rate
        self.prior_learning_rate = prior_learning_rate
        self.device = device
        self.random_state = random_state

    # ------------------------------------------------------------ fitting
    def _plan(self, M):
        """Transport plan of a minibatch cost ``M`` (a detached torch tensor)."""
        import ot
        import torch

        n, m = M.shape
        if self.solver == "sinkhorn":
            M = M / M.max().clamp_min(1e-300)
            if self.sinkhorn_reg < 0.01:
                # Log domain, through POT's torch backend (torch.logsumexp).
                a = torch.full((n,), 1.0 / n, dtype=M.dtype, device=M.device)
                b = torch.full((m,), 1.0 / m, dtype=M.dtype, device=M.device)
                return ot.sinkhorn(
                    a, b, M, self.sinkhorn_reg, method="sinkhorn_log", warn=False
                )
        a, b, M_np = np.full(n, 1.0 / n), np.full(m, 1.0 / m), M.cpu().numpy()
        if self.solver == "emd":
            plan = ot.emd(a, b, M_np, numItermax=10_000_000)
        else:
            # The cost lies in [0, 1], so the kernel exp(-M / reg) stays above
            # exp(-100): plain Sinkhorn-Knopp runs the log-domain iterations
            # (same stopping rule; plans equal to ~1e-15) many times faster.
            plan = ot.sinkhorn(a, b, M_np, self.sinkhorn_reg, warn=False)
        return torch.as_tensor(plan, dtype=M.dtype, device=M.device)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Learn the transforms and compute the bound for the target ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Target features from the same (frozen) encoder as the reference.
        y : array-like of shape (n_samples,)
            Target labels (any values).

        Returns
        -------
        self : object
            Fitted estimator.
        """
        ref = self.reference
        check_is_fitted(ref, "coef_")
        X, yt = self._validate_input(X, y, reset=True)
        if self.standardize:
            self.mean_, self.scale_ = _standardize(X)
        else:
            self.mean_, self.scale_ = np.zeros(X.shape[1]), np.ones(X.shape[1])
        Zt = (X - self.mean_) / self.scale_
        Zs, ys = ref.features_, ref.labels_
        n_s_cls, n_t_cls = ref.coef_.shape[0], self.classes_.shape[0]
        d_t, d_s = Zt.shape[1], Zs.shape[1]
        prior_t = np.bincount(yt, minlength=n_t_cls) / yt.shape[0]
        rng = check_random_state(self.random_state)

        A, A_bar = np.eye(d_t, d_s), np.eye(d_s, d_t)
        shift = np.zeros(d_t)
        if self.transforms == "all":
            B_logits = 1e-3 * rng.uniform(size=(n_t_cls, n_s_cls))
            D_logits = np.log(np.maximum(ref.class_prior_, 1e-12))
        else:
            if n_t_cls != n_s_cls:
                raise ValueError(
                    f"transforms={self.transforms!r} needs as many target as "
                    f"source classes; got {n_t_cls} and {n_s_cls}. Use "
                    "transforms='all'."
                )
            B_logits = D_logits = None
        if self.transforms != "none" and self.n_iter > 0:
            A, A_bar, shift, B_logits, D_logits = self._optimise(
                Zs, ys, Zt, yt, prior_t, A, A_bar, shift, B_logits, D_logits, rng
            )
        if self.transforms == "all":
            B = softmax(B_logits, axis=0)
            D = softmax(D_logits)
        else:
            B = np.eye(n_t_cls)
            D = B.T @ prior_t
        self.label_map_, self.prior_ = B, D
        self.reweighted_source_loss_ = float(D @ ref.class_loss_)
        self.label_mismatch_ = _label_entropy(B, D)
        # The bound holds for any feature map: keep the tighter of the learned
        # one and the identity (minibatch transport biases A towards shrinking).
        best = None
        identity = (np.eye(d_t, d_s), np.eye(d_s, d_t), np.zeros(d_t))
        for maps in [(A, A_bar, shift), identity][: 1 + (self.transforms != "none")]:
            self.feature_map_, self.feature_inverse_, self.feature_shift_ = maps
            result = self._bound(Zt, yt)
            if best is None or result[0] < best[1][0]:
                best = (maps, result)
        (self.feature_map_, self.feature_inverse_, self.feature_shift_) = best[0]
        self.bound_, self.distribution_mismatch_, self.lipschitz_ = best[1]
        self.transformed_source_loss_ = self._transformed_source_loss()
        self.score_ = -self.bound_
        return self

    def _optimise(self, Zs, ys, Zt, yt, prior_t, A, A_bar, shift, B_log, D_log, rng):
        import torch

        ref = self.reference
        dev, f64 = self.device, torch.float64
        learn_labels = self.transforms == "all"

        def tensor(a, grad=True):
            return torch.tensor(a, dtype=f64, device=dev, requires_grad=grad)

        tA, tAb, tb = tensor(A), tensor(A_bar), tensor(shift)
        groups = [{"params": [tA, tAb, tb], "lr": self.learning_rate}]
        if learn_labels:
            tBl, tDl = tensor(B_log), tensor(D_log)
            groups += [
                {"params": [tBl], "lr": self.learning_rate},
                {"params": [tDl], "lr": self.prior_learning_rate},
            ]
        else:
            tB = torch.eye(prior_t.shape[0], dtype=f64, device=dev)
            tD = tB.T @ torch.as_tensor(prior_t, dtype=f64, device=dev)
        opt = torch.optim.Adam(groups)
        class_loss = torch.as_tensor(ref.class_loss_, dtype=f64, device=dev)
        p_t = torch.as_tensor(prior_t, dtype=f64, device=dev)
        I_t = torch.eye(A.shape[0], dtype=f64, device=dev)
        I_s = torch.eye(A.shape[1], dtype=f64, device=dev)
        counts_s = np.bincount(ys, minlength=ref.coef_.shape[0]).astype(float)
        bs_s = min(self.batch_size, Zs.shape[0])
        bs_t = min(self.batch_size, Zt.shape[0])
        sq = self.cost == "sqeuclidean"

        def dist(U, V):
            d2 = (U * U).sum(1)[:, None] + (V * V).sum(1)[None, :] - 2 * U @ V.T
            d2 = d2.clamp_min(0.0)
            return d2 if sq else torch.sqrt(d2 + 1e-12)

        for _ in range(self.n_iter):
            if learn_labels:
                tB, tD = torch.softmax(tBl, dim=0), torch.softmax(tDl, dim=0)
            D_np = tD.detach().cpu().numpy()
            p = D_np[ys] / counts_s[ys]
            i_s = rng.choice(Zs.shape[0], size=bs_s, p=p / p.sum())
            i_t = rng.choice(Zt.shape[0], size=bs_t, replace=False)
            zs = torch.as_tensor(Zs[i_s], dtype=f64, device=dev)
            zt = torch.as_tensor(Zt[i_t], dtype=f64, device=dev)
            ls = torch.as_tensor(ys[i_s], device=dev)
            lt = torch.as_tensor(yt[i_t], device=dev)
            feat = dist(zs @ tA.T + tb, zt)
            Bcols = tB[:, ls]  # (C_T, bs_s)
            lab2 = ((Bcols * Bcols).sum(0)[:, None] - 2 * Bcols[lt].T + 1).clamp_min(0)
            lab = lab2 if sq else torch.sqrt(lab2 + 1e-12)
            M = feat + self.label_weight * lab
            gamma = self._plan(M.detach())
            J = self.wd_weight * (gamma * M).sum() + self.inverse_weight * (
                ((tA @ tAb - I_t) ** 2).sum() + ((tAb @ tA - I_s) ** 2).sum()
            )
            if learn_labels:
                ent = -(tD * (tB * torch.log(tB)).sum(0)).sum()
                J = J + ent + tD @ class_loss
                J = J + self.prior_weight * ((p_t - tB @ tD) ** 2).sum()
            opt.zero_grad()
            J.backward()
            opt.step()

        def out(t):
            return t.detach().cpu().numpy()

        if learn_labels:
            return out(tA), out(tAb), out(tb), out(tBl), out(tDl)
        return out(tA), out(tAb), out(tb), None, None

    # --------------------------------------------------------- evaluation
    def _source_probs(self, Z):
        """``softmax(h_S(A_bar (z - b)))`` for standardised target-space ``Z``."""
        ref = self.reference
        U = (Z - self.feature_shift_) @ self.feature_inverse_.T
        return softmax(U @ ref.coef_.T + ref.intercept_, axis=1)

    def _transformed_source_loss(self):
        ref = self.reference
        Xs = ref.features_ @ self.feature_map_.T + self.feature_shift_
        Q = self._source_probs(Xs) @ self.label_map_.T  # (n_s, C_T)
        counts = np.bincount(ref.labels_, minlength=ref.coef_.shape[0])
        w = self.prior_[ref.labels_] / counts[ref.labels_]
        per_point = -(self.label_map_[:, ref.labels_].T * np.log(Q + 1e-300)).sum(1)
        return float(w @ per_point)

    def _lipschitz(self, Z):
        """Max over rows of ``Z`` and labels of ``||grad_z log q_y(z)||``."""
        ref = self.reference
        M = self.feature_inverse_.T @ ref.coef_.T  # (d_t, C_S)
        G = M.T @ M
        best = 0.0
        for lo in range(0, Z.shape[0], 1024):
            P = self._source_probs(Z[lo : lo + 1024])  # (m, C_S)
            Q = P @ self.label_map_.T  # (m, C_T)
            # d q_y / d s = (diag(p) - p p^T) B_y^T, per point and label y.
            PB = P[:, :, None] * self.label_map_.T[None]  # (m, C_S, C_T)
            V = PB - P[:, :, None] * Q[:, None, :]
            V /= np.maximum(Q, 1e-300)[:, None, :]
            norms = np.einsum("msy,st,mty->my", V, G, V)
            best = max(best, float(np.sqrt(np.clip(norms, 0, None)).max()))
        return best

    def _bound(self, Zt, yt):
        ref = self.reference
        Xs = ref.features_ @ self.feature_map_.T + self.feature_shift_
        n_t_cls = self.classes_.shape[0]
        prior_t = np.bincount(yt, minlength=n_t_cls) / yt.shape[0]
        counts = np.bincount(ref.labels_, minlength=ref.coef_.shape[0])
        base = self.prior_[ref.labels_] / counts[ref.labels_]
        ws = [base * self.label_map_[c, ref.labels_] for c in range(n_t_cls)]
        W = _class_wasserstein(Xs, ws, Zt, yt, prior_t)
        tau = max(self._lipschitz(Zt), self._lipschitz(Xs))
        bound = self.reweighted_source_loss_ + self.label_mismatch_ + tau * W
        return float(bound), float(W), float(tau)

    def _compute_score(self, X, y):
        Zt = (X - self.mean_) / self.scale_
        return -self._bound(Zt, y)[0]

    def predict_proba(self, X):
        """Target class probabilities of the transformed source classifier.

        ``B softmax(h_S(A_bar (z - b)))`` on the standardised ``X``: a target
        prediction without training on the target.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Target features.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities; columns follow ``classes_``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        Z = (X - self.mean_) / self.scale_
        return self._source_probs(Z) @ self.label_map_.T
