"""Ground truth for transferability: linear probes and fine-tuning accuracy."""

# SPDX-License-Identifier: BSD-3-Clause

import copy
from numbers import Integral, Real

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import LabelEncoder, StandardScaler
from sklearn.utils import Bunch
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.validation import check_array, column_or_1d

__all__ = ["finetune_accuracy", "linear_probe_accuracy"]


@validate_params(
    {
        "features": ["array-like"],
        "y": ["array-like"],
        "C": [Interval(Real, 0, None, closed="neither")],
        "cv": [Interval(Integral, 2, None, closed="left"), "cv_object"],
        "random_state": ["random_state"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [Integral, None],
    },
    prefer_skip_nested_validation=True,
)
def linear_probe_accuracy(
    features, y, *, C=1.0, cv=5, random_state=0, max_iter=1000, n_jobs=None
):
    """Cross-validated accuracy of a logistic-regression probe on fixed features.

    The cheap ground-truth protocol: a linear classifier on frozen features,
    as in the "frozen backbone" column of Agostinelli et al. and the linear
    evaluations of LogME and SFDA, with scikit-learn only.

    Parameters
    ----------
    features : array-like of shape (n_samples, n_features)
        Features of the target data from one source model.
    y : array-like of shape (n_samples,)
        Target labels (any values).
    C : float, default=1.0
        Inverse L2 regularisation strength of the logistic regression.
    cv : int or cross-validation splitter, default=5
        An int is the number of folds of a ``StratifiedKFold`` with shuffling,
        seeded with ``random_state``; a splitter is used as is.
    random_state : int, RandomState instance or None, default=0
        Seed of the fold assignment (when ``cv`` is an int).
    max_iter : int, default=1000
        Iterations of the L-BFGS solver.
    n_jobs : int or None, default=None
        Folds fitted in parallel (``cross_val_score``).

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        ``accuracy_mean`` (float), ``accuracy_std`` (float, the standard
        deviation over folds, a noise floor for comparing sources) and
        ``accuracies`` (ndarray of shape (n_folds,)).

    See Also
    --------
    finetune_accuracy : Ground truth by training a network with skorch.

    Notes
    -----
    Protocol: ``make_pipeline(StandardScaler(), LogisticRegression(C=C,
    max_iter=max_iter))``, scored by accuracy on each held-out fold. The
    scaler is fitted on the training folds only. Use the same ``cv`` and
    ``random_state`` for every source so that all sources see the same folds.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sktransfer.evaluation import linear_probe_accuracy
    >>> X, y = make_classification(n_samples=200, random_state=0)
    >>> result = linear_probe_accuracy(X, y)
    >>> round(result.accuracy_mean, 2), result.accuracies.shape
    (0.9..., (5,))
    """
    features = check_array(features, dtype=np.float64)
    y = column_or_1d(y, warn=True)
    if features.shape[0] != y.shape[0]:
        raise ValueError(
            f"features and y have different numbers of samples: "
            f"{features.shape[0]} and {y.shape[0]}."
        )
    if isinstance(cv, Integral):
        cv = StratifiedKFold(n_splits=cv, shuffle=True, random_state=random_state)
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
    accuracies = cross_val_score(
        probe, features, y, cv=cv, scoring="accuracy", n_jobs=n_jobs
    )
    return Bunch(
        accuracy_mean=float(accuracies.mean()),
        accuracy_std=float(accuracies.std()),
        accuracies=accuracies,
    )


def _as_input(X):
    """Float arrays go to float32 (torch's default dtype); other inputs as is."""
    if isinstance(X, np.ndarray) and np.issubdtype(X.dtype, np.floating):
        return X.astype(np.float32, copy=False)
    return X


def _make_module(backbone, n_features, n_classes, frozen):
    import torch
    from torch import nn

    class BackboneWithHead(nn.Module):
        """``backbone`` followed by a new linear head; a frozen backbone stays
        in eval mode (batch-norm statistics and dropout are not trained)."""

        def __init__(self):
            super().__init__()
            self.backbone = backbone
            self.head = nn.Linear(n_features, n_classes)

        def train(self, mode=True):
            super().train(mode)
            if frozen:
                self.backbone.eval()
            return self

        def forward(self, X):
            features = self.backbone(X)
            return self.head(torch.flatten(features, 1))

    if frozen:
        for param in backbone.parameters():
            param.requires_grad_(False)
    return BackboneWithHead()


def _n_features(backbone, X, device):
    import torch

    sample = X[:2]
    if isinstance(sample, np.ndarray):
        sample = torch.as_tensor(sample)
    backbone.to(device)
    was_training = backbone.training
    backbone.eval()
    with torch.no_grad():
        out = backbone(sample.to(device))
    backbone.train(was_training)
    return int(torch.flatten(out, 1).shape[1])


@validate_params(
    {
        "model": "no_validation",
        "X_train": "no_validation",
        "y_train": ["array-like"],
        "X_test": "no_validation",
        "y_test": ["array-like"],
        "mode": [StrOptions({"linear", "full"})],
        "seeds": ["array-like"],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "optimizer": [callable, None],
        "device": [str],
        "net_params": [dict, None],
    },
    prefer_skip_nested_validation=True,
)
def finetune_accuracy(
    model,
    X_train,
    y_train,
    X_test,
    y_test,
    *,
    mode="linear",
    seeds=(0, 1, 2),
    max_epochs=10,
    lr=1e-3,
    batch_size=64,
    optimizer=None,
    device="cpu",
    net_params=None,
):
    """Test accuracy after training a new head (and the backbone) with skorch.

    The ground truth that transferability metrics try to predict: the source
    model ``model`` (a backbone returning features) gets a new linear head for
    the target classes, is trained on ``(X_train, y_train)`` with a skorch
    ``NeuralNetClassifier`` and a cross-entropy loss on logits, and is scored
    on ``(X_test, y_test)``; once per seed.

    Parameters
    ----------
    model : torch.nn.Module
        The pretrained backbone: maps a batch of inputs to features of shape
        (n, n_features) (higher-rank outputs are flattened). It is deep-copied
        for every seed and never modified.
    X_train, X_test : ndarray or torch.Tensor
        Target training and test inputs; float numpy arrays are cast to
        float32.
    y_train, y_test : array-like of shape (n_samples,)
        Target labels (any values); encoded to 0..K-1 from ``y_train``. Test
        labels must occur in ``y_train``.
    mode : {"linear", "full"}, default="linear"
        ``"linear"``: the backbone is frozen (no gradients, kept in eval mode)
        and only the head is trained. ``"full"``: every parameter is trained.
    seeds : array-like of int, default=(0, 1, 2)
        One training run per seed (``torch.manual_seed(seed)`` before the head
        is built: head initialisation and batch order).
    max_epochs : int, default=10
        Passes over the training data.
    lr : float, default=1e-3
        Learning rate.
    batch_size : int, default=64
        Batch size (training and prediction).
    optimizer : torch optimizer class or None, default=None
        None: ``torch.optim.Adam`` (as in Agostinelli et al.).
    device : str, default="cpu"
        Torch device.
    net_params : dict or None, default=None
        Extra keyword arguments of ``skorch.NeuralNetClassifier`` (e.g.
        ``callbacks``, ``optimizer__weight_decay``); they override the
        defaults above.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        ``accuracy_mean`` (float), ``accuracy_std`` (float, standard deviation
        over seeds: the noise floor of this ground truth), ``accuracies``
        (ndarray of shape (n_seeds,)) and ``seeds`` (ndarray).

    See Also
    --------
    linear_probe_accuracy : The cheap protocol, on fixed features.

    Notes
    -----
    The network is ``Linear(n_features, n_classes)(flatten(model(X)))``,
    trained with ``criterion=torch.nn.CrossEntropyLoss`` (skorch's default
    loss expects probabilities, and would train a module that returns logits
    to chance without an error), ``train_split=None`` (all of ``X_train`` is
    used for training; no internal validation split) and shuffled batches.
    Hyper-parameters are not tuned here: for a sweep, call it for each
    setting and keep the best, as the papers do.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from sktransfer.evaluation import finetune_accuracy
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 5)).astype(np.float32)
    >>> y = (X[:, 0] > 0).astype(int)
    >>> backbone = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU())
    >>> result = finetune_accuracy(
    ...     backbone, X[:150], y[:150], X[150:], y[150:],
    ...     mode="full", seeds=[0, 1], max_epochs=20, lr=1e-2,
    ... )
    >>> result.accuracies.shape, bool(result.accuracy_mean > 0.8)
    ((2,), True)
    """
    import torch
    from skorch import NeuralNetClassifier

    encoder = LabelEncoder().fit(column_or_1d(y_train))
    y_train = encoder.transform(column_or_1d(y_train)).astype(np.int64)
    y_test = column_or_1d(y_test)
    unknown = np.setdiff1d(np.unique(y_test), encoder.classes_)
    if unknown.size:
        raise ValueError(
            f"y_test has labels that are not in y_train: {unknown.tolist()}."
        )
    y_test = encoder.transform(y_test)
    n_classes = len(encoder.classes_)
    if n_classes < 2:
        raise ValueError("y_train must have at least 2 classes.")
    X_train, X_test = _as_input(X_train), _as_input(X_test)
    seeds = np.asarray(seeds, dtype=np.int64).ravel()
    if seeds.size == 0:
        raise ValueError("seeds must contain at least one seed.")

    n_features = _n_features(copy.deepcopy(model), X_train, device)
    accuracies = []
    for seed in seeds:
        torch.manual_seed(int(seed))
        module = _make_module(
            copy.deepcopy(model), n_features, n_classes, frozen=mode == "linear"
        )
        params = {
            "criterion": torch.nn.CrossEntropyLoss,
            "optimizer": torch.optim.Adam if optimizer is None else optimizer,
            "lr": lr,
            "max_epochs": max_epochs,
            "batch_size": batch_size,
            "train_split": None,
            "iterator_train__shuffle": True,
            "device": device,
            "verbose": 0,
        }
        params.update(net_params or {})
        net = NeuralNetClassifier(module, **params)
        net.fit(X_train, y_train)
        accuracies.append(float(np.mean(net.predict(X_test) == y_test)))
    accuracies = np.asarray(accuracies)
    return Bunch(
        accuracy_mean=float(accuracies.mean()),
        accuracy_std=float(accuracies.std()),
        accuracies=accuracies,
        seeds=seeds,
    )
