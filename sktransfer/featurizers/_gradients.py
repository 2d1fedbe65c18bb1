"""Per-batch loss gradients of a probe network, with restarts (input of PGE)."""

# SPDX-License-Identifier: BSD-3-Clause

import copy
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_random_state, validate_data
from torch import nn

__all__ = ["GradientFeaturizer"]


def _init_head(width, n_classes, seed):
    """Linear head with PyTorch's default uniform bound, from a seeded generator.

    Weights and bias are drawn from ``U(-1/sqrt(width), 1/sqrt(width))`` with a
    private ``torch.Generator`` (the global torch RNG is left untouched).
    """
    generator = torch.Generator().manual_seed(int(seed))
    bound = 1.0 / np.sqrt(width)
    head = nn.utils.skip_init(nn.Linear, width, n_classes)
    with torch.no_grad():
        for p in (head.weight, head.bias):
            p.copy_(torch.rand(p.shape, generator=generator) * (2 * bound) - bound)
    return head


class GradientFeaturizer(TransformerMixin, BaseEstimator):
    """Per-batch loss gradients of a probe network on a labelled task.

    The gradient record of a task is the input of
    :class:`~sktransfer.metrics.PGE`. The probe network (the shared body,
    e.g. a pretrained backbone) is followed by a linear task head sized to the
    task's classes. For each of ``n_restarts`` restarts, the featurizer resets
    the body to its starting weights, re-initialises the head with a seeded
    generator, reshuffles the data into mini-batches and records, for every
    batch, the gradient of the cross-entropy loss with respect to the body's
    weight units, flattened and concatenated.

    This is a separate class from :class:`TorchFeaturizer` because it needs
    the labels and does not map samples to rows: its output has one row per
    batch gradient. It therefore returns its output from
    ``fit_transform(X, y)``; ``transform(X)`` without labels is not defined.

    Parameters
    ----------
    model : torch.nn.Module or callable
        The probe network's body, mapping a float32 batch of shape
        (batch, n_features) to (batch, width) features; or a zero-argument
        factory returning one. An instance is deep-copied, never modified.
    n_restarts : int, default=3
        Number of restarts.
    batch_size : int, default=32
        Mini-batch size.
    n_steps : int, default=0
        SGD steps taken along each restart: the gradient of batch ``m`` is
        evaluated after ``min(m, n_steps)`` updates of body and head with the
        previous batches' gradients. 0 evaluates every gradient at the
        starting weights.
    learning_rate : float, default=0.01
        Learning rate of those SGD steps.
    units : list of str, callable or None, default=None
        Weight units of the body to record: a list of parameter names (as in
        ``model.named_parameters()``), or a predicate ``f(name, parameter)``.
        None records every parameter that requires a gradient. The head is
        never recorded, as its shape depends on the label set.
    random_state : int, RandomState instance or None, default=None
        Seeds the batch order and the head initialisations (restart ``r``
        uses the ``r``-th seed drawn from it).
    device : str, default="cpu"
        Torch device.

    Attributes
    ----------
    model_ : torch.nn.Module
        The body, at its starting weights.
    unit_names_ : list of str
        Names of the recorded weight units, in column order.
    unit_sizes_ : ndarray of shape (n_units,)
        Number of columns of each unit (pass to ``PGE(unit_sizes=...)``).
    gradients_ : ndarray of shape (n_restarts * n_batches, n_parameters)
        The gradient record of the data given to ``fit``: restart ``r``'s
        batches are rows ``r * n_batches`` to ``(r + 1) * n_batches - 1``.
    restart_seeds_ : ndarray of shape (n_restarts,)
        Seed of each restart (its batch order and head initialisation).
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Number of features of ``X``.

    See Also
    --------
    sktransfer.metrics.PGE : Principal gradient expectation on this record.
    TorchFeaturizer : Features, logits or probabilities of a model.

    Notes
    -----
    Cost: ``n_restarts * ceil(n / batch_size)`` forward and backward passes;
    memory ``8 * n_restarts * n_batches * P`` bytes for the float64 record,
    with ``P`` the number of recorded parameters (filled in place, no copy).
    The body runs in ``eval()`` mode (our choice: batch-norm layers use their
    running statistics and dropout is off, so that a gradient depends only on
    the weights and the batch).

    In a :class:`~sklearn.pipeline.Pipeline` ``[GradientFeaturizer,
    PGE(source=...)]``, ``y`` reaches the gradient step at fit time through
    ``fit_transform(X, y)``; read the score from ``pipe[-1].score_``.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from sktransfer.featurizers import GradientFeaturizer
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(40, 5)), np.arange(40) % 2
    >>> body = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh())
    >>> gf = GradientFeaturizer(model=body, n_restarts=2, batch_size=10,
    ...                         random_state=0)
    >>> G = gf.fit_transform(X, y)
    >>> G.shape, gf.unit_sizes_.tolist()
    ((8, 24), [20, 4])
    """

    _parameter_constraints: dict = {
        "model": [callable],
        "n_restarts": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "n_steps": [Interval(Integral, 0, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "units": [list, callable, None],
        "random_state": ["random_state"],
        "device": [str],
    }

    def __init__(
        self,
        *,
        model=None,
        n_restarts=3,
        batch_size=32,
        n_steps=0,
        learning_rate=0.01,
        units=None,
        random_state=None,
        device="cpu",
    ):
        self.model = model
        self.n_restarts = n_restarts
        self.batch_size = batch_size
        self.n_steps = n_steps
        self.learning_rate = learning_rate
        self.units = units
        self.random_state = random_state
        self.device = device

    def _build_model(self):
        if isinstance(self.model, nn.Module):
            return copy.deepcopy(self.model)
        model = self.model()
        if not isinstance(model, nn.Module):
            raise TypeError(
                f"{type(self).__name__}'s model factory must return a "
                f"torch.nn.Module; got {type(model).__name__}."
            )
        return model

    def _select_units(self, model):
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        if self.units is None:
            return named
        if callable(self.units):
            chosen = [(n, p) for n, p in named if self.units(n, p)]
        else:
            by_name = dict(named)
            missing = [u for u in self.units if u not in by_name]
            if missing:
                raise ValueError(
                    f"Unknown weight units {missing}; the model's are {list(by_name)}."
                )
            chosen = [(u, by_name[u]) for u in self.units]
        if not chosen:
            raise ValueError("units selects no parameter of the model.")
        return chosen

    def fit(self, X, y):
        """Record the per-batch gradients of the task ``(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input of the body.
        y : array-like of shape (n_samples,)
            Class labels (any values).

        Returns
        -------
        self : GradientFeaturizer
            The fitted featurizer, with ``gradients_``.
        """
        self._validate_params()
        if self.model is None:
            raise ValueError(f"{type(self).__name__} requires a model.")
        X, y = validate_data(self, X, y, reset=True, dtype=np.float32)
        check_classification_targets(y)
        self.classes_, y = np.unique(y, return_inverse=True)
        rng = check_random_state(self.random_state)
        seeds = rng.randint(np.iinfo(np.int32).max, size=self.n_restarts)
        device = torch.device(self.device)
        self.model_ = self._build_model().to(device).eval()
        Xt = torch.as_tensor(np.ascontiguousarray(X), device=device)
        yt = torch.as_tensor(y.astype(np.int64), device=device)
        with torch.no_grad():
            try:
                width = self.model_(Xt[:1]).reshape(1, -1).shape[1]
            except RuntimeError as exc:
                raise RuntimeError(
                    f"{type(self).__name__}: the model failed on the first sample, "
                    f"with input shape {tuple(Xt[:1].shape)} and dtype "
                    f"{Xt.dtype}: {exc}"
                ) from exc
        start = copy.deepcopy(self.model_.state_dict())
        units = self._select_units(self.model_)
        self.unit_names_ = [n for n, _ in units]
        self.unit_sizes_ = np.array([p.numel() for _, p in units])
        n = X.shape[0]
        n_batches = -(-n // self.batch_size)
        record = np.empty(
            (self.n_restarts * n_batches, int(self.unit_sizes_.sum())), np.float64
        )
        loss_fn = nn.CrossEntropyLoss()
        row = 0
        for seed in seeds:
            self.model_.load_state_dict(start)
            head = _init_head(width, self.classes_.shape[0], seed)
            head = head.to(device)
            params = [p for p in self.model_.parameters() if p.requires_grad]
            params += list(head.parameters())
            order = torch.as_tensor(np.random.RandomState(seed).permutation(n))
            for m in range(n_batches):
                idx = order[m * self.batch_size : (m + 1) * self.batch_size]
                for p in params:
                    p.grad = None
                out = head(self.model_(Xt[idx]).reshape(len(idx), -1))
                loss_fn(out, yt[idx]).backward()
                record[row] = torch.cat(
                    [
                        (p.grad if p.grad is not None else torch.zeros_like(p))
                        .reshape(-1)
                        .cpu()
                        for _, p in units
                    ]
                ).numpy()
                row += 1
                if m < self.n_steps:
                    with torch.no_grad():
                        for p in params:
                            if p.grad is not None:
                                p.sub_(self.learning_rate * p.grad)
        self.model_.load_state_dict(start)
        self.restart_seeds_ = seeds
        self.gradients_ = record
        return self

    def fit_transform(self, X, y):
        """Record the per-batch gradients of ``(X, y)`` and return them.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Input of the body.
        y : array-like of shape (n_samples,)
            Class labels.

        Returns
        -------
        G : ndarray of shape (n_restarts * n_batches, n_parameters)
            The gradient record, float64.
        """
        return self.fit(X, y).gradients_

    def transform(self, X):
        """Not defined: gradients need labels; use ``fit_transform(X, y)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Ignored.

        Raises
        ------
        ValueError
            Always.
        """
        raise ValueError(
            "GradientFeaturizer needs the labels: call fit_transform(X, y) (a "
            "Pipeline does so in fit) and read the score from the last step's "
            "score_."
        )
