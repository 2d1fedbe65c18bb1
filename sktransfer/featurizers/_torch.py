"""TorchFeaturizer: features, logits or probabilities of a PyTorch model."""

# SPDX-License-Identifier: BSD-3-Clause

import contextlib
import contextvars
import hashlib
import io
import os
import sys
import tempfile
import types
import warnings
from collections.abc import Mapping
from numbers import Integral

import joblib
import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import (
    _check_feature_names_in,
    check_is_fitted,
    check_memory,
    validate_data,
)
from torch import nn

__all__ = ["TorchFeaturizer"]


class _StopForward(Exception):
    """Raised by a hook once every requested layer is read: skips the rest."""


# Set while a cached extraction runs; the cached function asks it for features.
_PROVIDER = contextvars.ContextVar("sktransfer_featurizer_provider")


def _cached_layer_features(model_key, tap, settings_key, data_key):
    """Features of one layer, stored by ``joblib.Memory`` under its arguments.

    The arguments are the cache key only; the features come from the
    extraction that is running (one forward pass for every missing layer).
    """
    return _PROVIDER.get()(tap)


def _first_tensor(value, what):
    """The tensor in a module's output: itself, or the first entry of a tuple,
    list or dict (recursively), as in ``(logits, aux)`` or Hugging Face outputs.
    """
    found = value
    while isinstance(found, (tuple, list, Mapping)) and len(found) > 0:
        found = next(iter(found.values())) if isinstance(found, Mapping) else found[0]
    if torch.is_tensor(found):
        return found
    raise TypeError(
        f"{what} returned a {type(value).__name__} without a tensor as its first "
        "entry; read another layer, or wrap the model to return a tensor."
    )


def _pool(t, pooling, mask, what):
    """Reduce a layer's output ``t`` of shape (n, ...) to (n, n_features)."""
    n = t.shape[0]
    if callable(pooling):
        out = pooling(t)
        if not torch.is_tensor(out) or out.ndim != 2 or out.shape[0] != n:
            shape = tuple(out.shape) if torch.is_tensor(out) else type(out).__name__
            raise ValueError(
                f"pooling must map the output of {what} (shape {tuple(t.shape)}) to "
                f"a 2-D tensor with {n} rows; it returned {shape}."
            )
        return out
    if t.ndim == 1:
        return t.reshape(n, 1)
    if t.ndim == 2:
        return t
    if pooling == "flatten":
        return t.flatten(1)
    if t.ndim == 3:  # token sequences (n, n_tokens, n_features)
        if mask is not None:
            if tuple(mask.shape) != tuple(t.shape[:2]):
                raise ValueError(
                    f"the attention_mask has shape {tuple(mask.shape)}, but {what} "
                    f"returned token sequences of shape {tuple(t.shape)}; pass a "
                    "callable pooling for this layer."
                )
            keep = mask.to(torch.bool).unsqueeze(-1)
            if pooling == "avg":
                t = t.float()
                total = torch.where(keep, t, 0.0).sum(dim=1)
                return total / keep.sum(dim=1).clamp_min(1).to(total.dtype)
            return t.masked_fill(~keep, float("-inf")).amax(dim=1)
        return t.float().mean(dim=1) if pooling == "avg" else t.amax(dim=1)
    dims = tuple(range(2, t.ndim))  # feature maps (n, channels, *spatial)
    return t.float().mean(dim=dims) if pooling == "avg" else t.amax(dim=dims)


def _to_device(value, device):
    if torch.is_tensor(value):
        return value.to(device, non_blocking=True)
    if isinstance(value, Mapping):
        return {k: _to_device(v, device) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(_to_device(v, device) for v in value)
    return value


def _batch_len(batch):
    if isinstance(batch, Mapping):
        batch = next(iter(batch.values()))
    return len(batch)


def _describe_input(value):
    if torch.is_tensor(value):
        return f"shape {tuple(value.shape)} and dtype {value.dtype}"
    if isinstance(value, Mapping):
        parts = ", ".join(f"{k!r}: {_describe_input(v)}" for k, v in value.items())
        return "{" + parts + "}"
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(_describe_input(v) for v in value) + ")"
    return type(value).__name__


def _code_digest(code):
    parts = [code.co_code, code.co_names]
    for const in code.co_consts:
        parts.append(
            _code_digest(const) if isinstance(const, types.CodeType) else const
        )
    return joblib.hash(repr(parts))


def _callable_key(func):
    """A key identifying a callable across processes (name, code and state)."""
    if func is None:
        return None
    if isinstance(func, types.FunctionType):
        cells = []
        for cell in func.__closure__ or ():
            try:
                cells.append(joblib.hash(cell.cell_contents))
            except Exception:  # unpicklable closure content
                cells.append(repr(cell.cell_contents))
        return (
            func.__module__,
            func.__qualname__,
            _code_digest(func.__code__),
            repr(func.__defaults__),
            cells,
        )
    try:
        return joblib.hash(func)
    except Exception:  # not picklable: fall back to the type and repr
        return f"{type(func).__module__}.{type(func).__qualname__}:{func!r}"


def _array_digest(X):
    """Hash of the dtype, shape and values of an array or tensor.

    Independent of the strides (a view and its copy hash alike), and read in
    blocks of rows of about 64 MB, so a memmap or a CUDA tensor is never copied
    as a whole.
    """
    if isinstance(X, nn.parameter.UninitializedTensorMixin):
        return "uninitialized"
    hasher = hashlib.blake2b(digest_size=16)
    hasher.update(repr((str(X.dtype), tuple(X.shape))).encode())
    if X.ndim == 0:
        X = X.reshape(1)
    first = X[:1]
    row_bytes = (
        first.numel() * first.element_size() if torch.is_tensor(X) else first.nbytes
    )
    step = max(1, (64 << 20) // max(row_bytes, 1))
    for start in range(0, X.shape[0], step):
        block = X[start : start + step]
        if torch.is_tensor(block):
            block = block.detach().cpu().contiguous()
            if block.dtype == torch.bfloat16:
                block = block.view(torch.int16)
            block = block.numpy()
        hasher.update(np.ascontiguousarray(block))
    return hasher.hexdigest()


def _module_to_cpu(module):
    """A CPU copy of ``module``, made through a byte buffer (no second GPU copy)."""
    buffer = io.BytesIO()
    torch.save(module, buffer)
    buffer.seek(0)
    return torch.load(buffer, map_location="cpu", weights_only=False)


def _is_lazy(module):
    return any(
        isinstance(t, nn.parameter.UninitializedTensorMixin)
        for t in module.state_dict(keep_vars=True).values()
    )


def _is_slice_dataset(X):
    helper = sys.modules.get("skorch.helper")  # never imports skorch
    return helper is not None and isinstance(X, helper.SliceDataset)


class TorchFeaturizer(TransformerMixin, BaseEstimator):
    """Extract features, logits or probabilities from a PyTorch model.

    A scikit-learn transformer around a pretrained ``torch.nn.Module``: ``fit``
    builds (or adopts) the model, puts it in ``eval()`` mode on ``device`` and
    checks the requested layers; ``transform`` runs it under
    ``torch.no_grad()`` batch by batch and returns a float32 numpy array of
    shape (n_samples, n_features). The model is never trained. Put it first in
    a pipeline to score a model with a transferability metric::

        Pipeline([("features", TorchFeaturizer(model=net)), ("metric", LogME())])

    Parameters
    ----------
    model : torch.nn.Module or callable, default=None
        The pretrained network: a module instance, adopted as ``model_``
        without a copy, or a zero-argument factory (a module class or any
        callable returning a module), called in ``fit``. Required; the
        default ``None`` only makes the class default-constructible.
    layer : str, list of str or None, default=None
        Where to read the model, by module name (``dict(model.named_modules())``;
        ``""`` is the model itself). A named module is read with a forward
        hook: its output, or the first tensor of a tuple, list or dict output.
        ``None`` reads:

        - with ``output="features"``: the *input* of the last ``nn.Linear`` in
          ``named_modules()`` order, i.e. the penultimate features fed to the
          classification head; the model's output if it has no ``nn.Linear``;
        - with ``output="logits"`` or ``"probabilities"``: the model's output.

        A list reads several layers in one forward pass. ``transform``
        concatenates their features in the order of the list (columns
        ``feature_slices_[name]``); :meth:`transform_layers` returns them as a
        dict instead.
    output : {"features", "logits", "probabilities"}, default="features"
        What to return for each layer: ``"features"`` pools the tensor to
        (n_samples, n_features) with ``pooling``; ``"logits"`` returns it as
        is (it must be 2-D); ``"probabilities"`` applies a softmax over its
        last axis (for probability-input metrics such as LEEP and NCE).
    pooling : {"avg", "max", "flatten"} or callable, default="avg"
        How ``output="features"`` reduces a layer's tensor ``t`` to 2-D.
        2-D tensors are kept as they are. Feature maps ``(n, channels,
        *spatial)`` (4-D and higher) are averaged (``"avg"``) or maximised
        (``"max"``) over the spatial axes. 3-D tensors are read as token
        sequences ``(n, n_tokens, n_features)`` and reduced over the tokens,
        over the ``attention_mask`` of the batch when the model input is a
        dict that holds one. ``"flatten"`` keeps every value
        (``t.flatten(1)``). A callable maps ``t`` to a 2-D tensor with ``n``
        rows (e.g. ``lambda t: t[:, 0]`` for a class token, or
        ``lambda t: t.mean(-1)`` for ``Conv1d`` maps ``(n, channels, length)``).
    preprocess : callable or None, default=None
        Applied to every batch after it is moved to ``device``, before the
        model (e.g. the model's own resize and normalisation transforms). It
        may return a tensor, or a dict of keyword arguments for the model.
    collate_fn : callable or None, default=None
        The ``collate_fn`` of the ``DataLoader`` used for Dataset inputs
        (``torch.utils.data.default_collate`` when None). Ignored for arrays
        and tensors.
    batch_size : int, default=128
        Number of samples per forward pass. It bounds the memory used besides
        the output array; it does not change the result beyond float32
        round-off.
    device : str or torch.device, default="auto"
        Where the model runs: ``"auto"`` (CUDA when available, else the CPU),
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ... ``fit`` raises an error if a
        CUDA device is requested and CUDA is not available.
    mixed_precision : {"float16", "bfloat16"} or None, default=None
        Run the model under ``torch.autocast`` with this dtype (mainly useful
        on CUDA). The result is returned as float32 all the same.
    memory : str, path-like, joblib.Memory or None, default=None
        Cache of extracted features. A path creates a ``joblib.Memory`` there.
        Each layer is stored separately, keyed by the model's class, structure
        and weights (a hash of its ``state_dict``), the layer, ``output``,
        ``pooling``, ``preprocess``, ``collate_fn``, ``mixed_precision`` and
        the data (a hash of the values, dtype and shape of an array or tensor;
        for a Dataset, the hash of its pickle: its attributes, not the files
        it reads). A re-run, or a grid over ``layer`` after a multi-layer run,
        reads the cache instead of calling the model. Callables are keyed by
        name and code (and closure); clear the cache when you change what
        they read from elsewhere.
    memmap_dir : str, path-like or None, default=None
        If set, every call of ``transform`` writes its result to a new
        ``.npy`` file in this existing directory and returns it as a
        read-write ``numpy.memmap`` (reopen it with
        ``np.load(path, mmap_mode="r")``; the path is ``result.filename``).
        Memory then stays bounded by one batch, for outputs larger than RAM.
        The files are not deleted.
    verbose : int, default=0
        If positive, show a progress bar (tqdm) with the samples per second.
    random_state : int, RandomState instance or None, default=None
        Seeds torch's CPU random generator, in a forked state, while ``fit``
        calls the factory and runs the first forward pass (which initialises
        lazy modules such as ``nn.LazyLinear``), so that a factory gives the
        same weights on every fit. ``None`` uses torch's global generator.
        Inference itself is deterministic: the model is in ``eval()`` mode.

    Attributes
    ----------
    model_ : torch.nn.Module
        The model, in ``eval()`` mode on ``device_``: ``model`` itself when it
        is a module instance, else what the factory returned.
    device_ : torch.device
        The device the model runs on.
    layers_ : list of str
        The module read for each entry of ``layer``. For ``layer=None`` it is
        the last ``nn.Linear`` (whose input is read) or ``""`` (the model,
        whose output is read).
    feature_slices_ : dict
        Maps each entry of ``layer`` (a name, or None for ``layer=None``) to
        the ``slice`` of its columns in the output of ``transform``.
    n_features_in_ : int
        Number of features seen during ``fit``, for 2-D inputs only.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during ``fit``, when ``X`` has string column
        names.

    See Also
    --------
    sktransfer.metrics.LogME : Transferability from penultimate features.
    sktransfer.metrics.TransRate : Coding-rate transferability, comparable
        across layers of different widths.
    skorch.helper.SliceDataset : Make a torch Dataset sliceable by
        scikit-learn's cross-validation, lazily.

    Notes
    -----
    **Inputs.** ``X`` is one of

    - a 2-D array-like (numpy, pandas, lists): validated like any scikit-learn
      input (finite, numeric; ``n_features_in_`` is checked by ``transform``)
      and converted to float32;
    - an N-D numpy array of shape (n_samples, ...), e.g. images
      ``(n, channels, height, width)``, possibly a ``numpy.memmap``: each
      batch is converted to float32 when it is read, so a large array is
      never copied as a whole;
    - a ``torch.Tensor`` of shape (n_samples, ...): sliced as it is, with its
      dtype (integer token ids reach an embedding layer unchanged);
    - a map-style ``torch.utils.data.Dataset`` or a skorch ``SliceDataset``
      (which keeps cross-validation splits lazy), read with a ``DataLoader``
      in order. A batch that is a tuple or list is read as ``(X, y, ...)``
      and its first entry is the model input; a dict (any mapping) is passed
      as keyword arguments ``model(**batch)``.

    Besides the 2-D validation, the features of every batch are checked: NaN
    or infinity there (from the input, or from an overflow in the model)
    raises a ``ValueError`` naming the batch and its samples. This costs
    nothing next to a pass over the inputs.

    **Calls.** Each batch is moved to ``device_``, passed through
    ``preprocess``, then through the model under ``torch.no_grad()``. The
    forward hooks are registered for the duration of one ``transform`` and
    removed afterwards, even when the model raises. Once every requested
    layer is read, the rest of the forward pass is skipped, so reading an
    early block costs only the blocks before it. A module called several
    times in one forward pass is read at its first call. A failure of the
    model (or ``preprocess``) on a batch raises a ``RuntimeError`` naming the
    batch index, its samples and the input's shape and dtype.

    **Output.** A C-contiguous float32 array (whatever the model's dtype),
    hence ``preserves_dtype = ["float32"]``; the metrics upcast to float64.
    ``fit`` runs the model once on the first sample to learn the width of
    each layer (``feature_slices_``, ``get_feature_names_out``): one layer
    gives names ``torchfeaturizer0, ...``; a list gives ``"{layer}__{j}"``.
    Without ``memory`` the features are written in place into the output
    array (or memmap): memory stays bounded by one batch plus the output.
    With ``memory``, each layer's features are stored (and returned by the
    cache) as separate arrays and concatenated.

    **Clone and pickle.** ``clone`` shares a module instance passed as
    ``model`` instead of deep-copying it (the featurizer never changes the
    weights; it only moves the module to ``device`` and sets ``eval()``), so
    a grid search copies no weights; pass a factory to get independent
    models. Note that scikit-learn deep-copies the values of a parameter
    grid, so a grid over ``model`` should list factories. A fitted
    featurizer pickles with its model on the CPU and moves it back to its
    CUDA device when unpickled, or stays on the CPU, with a warning, where
    CUDA is not available.

    **Cost.** One forward pass per sample, in batches of ``batch_size``, up
    to the last requested layer; the per-batch work besides the model is one
    copy of the input batch and of the features.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from torch import nn
    >>> from sktransfer.featurizers import TorchFeaturizer
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> X = np.random.default_rng(0).normal(size=(10, 4))
    >>> featurizer = TorchFeaturizer(model=net, device="cpu").fit(X)
    >>> featurizer.layers_  # None: the input of the last nn.Linear
    ['2']
    >>> featurizer.transform(X).shape, featurizer.transform(X).dtype
    ((10, 8), dtype('float32'))
    >>> P = TorchFeaturizer(model=net, output="probabilities").fit_transform(X)
    >>> P.shape, bool(np.allclose(P.sum(axis=1), 1.0))
    ((10, 3), True)
    >>> both = TorchFeaturizer(model=net, layer=["0", "2"]).fit(X)
    >>> both.feature_slices_
    {'0': slice(0, 8, None), '2': slice(8, 11, None)}
    """

    _parameter_constraints: dict = {
        "model": [callable, None],
        "layer": [str, list, tuple, None],
        "output": [StrOptions({"features", "logits", "probabilities"})],
        "pooling": [StrOptions({"avg", "max", "flatten"}), callable],
        "preprocess": [callable, None],
        "collate_fn": [callable, None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str, torch.device],
        "mixed_precision": [StrOptions({"float16", "bfloat16"}), None],
        "memory": [str, os.PathLike, HasMethods(["cache"]), None],
        "memmap_dir": [str, os.PathLike, None],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        *,
        model=None,
        layer=None,
        output="features",
        pooling="avg",
        preprocess=None,
        collate_fn=None,
        batch_size=128,
        device="auto",
        mixed_precision=None,
        memory=None,
        memmap_dir=None,
        verbose=0,
        random_state=None,
    ):
        self.model = model
        self.layer = layer
        self.output = output
        self.pooling = pooling
        self.preprocess = preprocess
        self.collate_fn = collate_fn
        self.batch_size = batch_size
        self.device = device
        self.mixed_precision = mixed_precision
        self.memory = memory
        self.memmap_dir = memmap_dir
        self.verbose = verbose
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        tags.input_tags.three_d_array = True
        return tags

    def __sklearn_clone__(self):
        if not isinstance(self.model, nn.Module):
            return super().__sklearn_clone__()
        # Clone a proxy whose model is None, then share the module. (The proxy
        # is built from __dict__: copy.copy would pickle a CUDA model.)
        proxy = object.__new__(type(self))
        proxy.__dict__.update(self.__dict__, model=None)
        clone = super(TorchFeaturizer, proxy).__sklearn_clone__()
        clone.model = self.model
        return clone

    # ------------------------------------------------------------------ fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Build the model on its device, check the layers, read one sample.

        Parameters
        ----------
        X : array-like, torch.Tensor or torch Dataset of n_samples
            Input of the model (see Notes). Only the first sample is run, to
            learn the width of each layer.
        y : None
            Ignored.

        Returns
        -------
        self : TorchFeaturizer
            The fitted featurizer.
        """
        name = type(self).__name__
        if self.model is None:
            raise ValueError(
                f"{name} requires a model: pass model=<a torch.nn.Module instance "
                "or a zero-argument factory returning one>."
            )
        self.device_ = self._resolve_device()
        X, kind = self._validate_input(X, reset=True)

        with self._seeded():
            if isinstance(self.model, nn.Module):
                model = self.model
            else:
                model = self.model()
                if not isinstance(model, nn.Module):
                    raise TypeError(
                        f"{name}'s model factory must return a torch.nn.Module; "
                        f"{self.model!r} returned a {type(model).__name__}."
                    )
            self.model_ = model.to(self.device_).eval()
            self._resolve_layers()
            first = self._first_sample(X, kind)
            # Lazy modules are initialised by this first call, outside the cache.
            arrays = self._layer_arrays(
                first, kind, combine=False, probe=True, use_memory=not _is_lazy(model)
            )
        stop = 0
        self.feature_slices_ = {}
        for entry, _, _ in self._taps:
            width = arrays[entry].shape[1]
            self.feature_slices_[entry] = slice(stop, stop + width)
            stop += width
        self._n_features_out = stop
        return self

    def _seeded(self):
        if self.random_state is None:
            return contextlib.nullcontext()
        seed = int(
            check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        )
        stack = contextlib.ExitStack()
        stack.enter_context(torch.random.fork_rng(devices=[]))
        torch.random.default_generator.manual_seed(seed)  # CPU only, forked
        return stack

    def _resolve_device(self):
        device = self.device
        if isinstance(device, str) and device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            device = torch.device(device)
        except RuntimeError as exc:
            raise ValueError(
                f"device={self.device!r} is not a valid torch device: {exc}"
            ) from exc
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                f"device={self.device!r} requests CUDA, but CUDA is not available "
                f"(torch {torch.__version__}, torch.cuda.is_available() is False). "
                "Use device='cpu', or device='auto' to use CUDA only when present."
            )
        return device

    def _resolve_layers(self):
        """Set ``layers_`` and ``_taps``: (entry, module name, "output"|"input")."""
        modules = dict(self.model_.named_modules())
        if self.layer is None:
            linear = [n for n, m in modules.items() if isinstance(m, nn.Linear)]
            if self.output == "features" and linear:
                taps = [(None, linear[-1], "input")]
            else:
                taps = [(None, "", "output")]
        else:
            entries = [self.layer] if isinstance(self.layer, str) else self.layer
            if len(entries) == 0:
                raise ValueError("layer must be None, a name or a non-empty list.")
            bad = [e for e in entries if not isinstance(e, str)]
            if bad:
                raise TypeError(f"layer names must be strings; got {bad[0]!r}.")
            if len(set(entries)) != len(entries):
                raise ValueError(f"layer lists a name twice: {list(entries)!r}.")
            unknown = [e for e in entries if e not in modules]
            if unknown:
                valid = [n for n in modules if n]
                shown = ", ".join(repr(n) for n in valid[:100])
                more = f", ... ({len(valid) - 100} more)" if len(valid) > 100 else ""
                raise ValueError(
                    f"Unknown layer {unknown[0]!r} for model "
                    f"{type(self.model_).__name__}. Valid names (from "
                    f"model.named_modules(); '' is the model itself): {shown}{more}."
                )
            taps = [(e, e, "output") for e in entries]
        self._taps = taps
        self.layers_ = [module for _, module, _ in taps]

    # ----------------------------------------------------------- transform
    def transform(self, X):
        """Return the features of ``X``, the requested layers side by side.

        Parameters
        ----------
        X : array-like, torch.Tensor or torch Dataset of n_samples
            Input of the model (see Notes).

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features_out), dtype float32
            C-contiguous; a ``numpy.memmap`` when ``memmap_dir`` is set. The
            columns of layer ``name`` are ``X_new[:, feature_slices_[name]]``.
        """
        check_is_fitted(self)
        X, kind = self._validate_input(X, reset=False)
        return self._layer_arrays(X, kind, combine=True)

    def transform_layers(self, X):
        """Return the features of each requested layer, in one forward pass.

        Parameters
        ----------
        X : array-like, torch.Tensor or torch Dataset of n_samples
            Input of the model (see Notes).

        Returns
        -------
        features : dict
            Maps each entry of ``layer`` (None for ``layer=None``) to a float32
            array of shape (n_samples, n_features_of_that_layer).
        """
        check_is_fitted(self)
        X, kind = self._validate_input(X, reset=False)
        return self._layer_arrays(X, kind, combine=False)

    def get_feature_names_out(self, input_features=None):
        """Get output feature names for transformation.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Only checked against ``feature_names_in_``; not used.

        Returns
        -------
        feature_names_out : ndarray of str objects
            ``torchfeaturizer0, ...`` for one layer; ``"{layer}__{j}"`` for a
            list of layers.
        """
        check_is_fitted(self)
        _check_feature_names_in(self, input_features, generate_names=False)
        if isinstance(self.layer, (list, tuple)):
            names = [
                f"{entry}__{j}"
                for entry, cols in self.feature_slices_.items()
                for j in range(cols.stop - cols.start)
            ]
        else:
            prefix = type(self).__name__.lower()
            names = [f"{prefix}{j}" for j in range(self._n_features_out)]
        return np.asarray(names, dtype=object)

    # ------------------------------------------------------------- pickle
    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("_model_key_memo", None)
        model = state.get("model_")
        if model is not None and self.device_.type != "cpu":
            cpu_model = _module_to_cpu(model)
            state["model_"] = cpu_model
            if state.get("model") is model:
                state["model"] = cpu_model
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        device = self.__dict__.get("device_")
        if device is None or device.type == "cpu":
            return
        try:
            if device.type == "cuda" and not torch.cuda.is_available():
                raise RuntimeError("CUDA is not available")
            self.model_.to(device)
        except Exception as exc:  # no such device here: stay on the CPU
            self.model_.to("cpu")
            self.device_ = torch.device("cpu")
            warnings.warn(
                f"{type(self).__name__} was pickled with its model on {device}, "
                f"which cannot be used here ({exc}); the model stays on the CPU.",
                UserWarning,
                stacklevel=2,
            )

    # -------------------------------------------------------------- input
    def _validate_input(self, X, *, reset):
        """Return ``(X, kind)`` with kind in {"array", "tensor", "dataset"}."""
        name = type(self).__name__
        if isinstance(X, torch.utils.data.IterableDataset):
            raise TypeError(
                f"{name} needs a map-style Dataset (with __len__ and "
                "__getitem__); got an IterableDataset."
            )
        if isinstance(X, torch.utils.data.Dataset) or _is_slice_dataset(X):
            if not hasattr(X, "__len__"):
                raise TypeError(f"{name} needs a Dataset that defines __len__.")
            if len(X) == 0:
                raise ValueError("Found a Dataset with 0 sample(s) (len(X) == 0).")
            if reset:
                self._forget_input_features()
            return X, "dataset"
        if torch.is_tensor(X):
            if X.ndim < 2:
                raise ValueError(
                    f"Expected a tensor of shape (n_samples, ...) with at least 2 "
                    f"dimensions, got shape {tuple(X.shape)}; reshape it, e.g. "
                    "X.reshape(-1, 1) for a single feature."
                )
            if X.shape[0] == 0:
                raise ValueError(
                    f"Found array with 0 sample(s) (shape={tuple(X.shape)}) while a "
                    "minimum of 1 is required."
                )
            if X.ndim == 2:
                validate_data(self, X, reset=reset, skip_check_array=True)
            elif reset:
                self._forget_input_features()
            return X, "tensor"
        shape = getattr(X, "shape", None)
        ndim = len(shape) if shape is not None else None
        if ndim is None and not hasattr(X, "columns"):
            try:
                array = np.asarray(X)
            except ValueError:  # ragged: let check_array word the error
                array = None
            if array is not None and array.ndim > 2:
                X, ndim = array, array.ndim
        if ndim is not None and ndim > 2:
            X = np.asarray(X)
            if X.dtype.kind not in "biuf":
                raise ValueError(f"{name} needs a numeric array; got dtype {X.dtype}.")
            if X.shape[0] == 0:
                raise ValueError(
                    f"Found array with 0 sample(s) (shape={X.shape}) while a "
                    "minimum of 1 is required."
                )
            if reset:
                self._forget_input_features()
            return X, "array"
        X = validate_data(self, X, reset=reset, dtype=np.float32)
        return X, "array"

    def _forget_input_features(self):
        for attr in ("n_features_in_", "feature_names_in_"):
            self.__dict__.pop(attr, None)

    def _first_sample(self, X, kind):
        if kind == "dataset":
            if _is_slice_dataset(X):
                return X[np.arange(1)]
            return torch.utils.data.Subset(X, [0])
        return X[:1]

    def _batches(self, X, kind):
        """Yield ``(start, batch)``: the batches of the input, on the CPU."""
        bs = self.batch_size
        if kind == "dataset":
            loader = torch.utils.data.DataLoader(
                X,
                batch_size=bs,
                shuffle=False,
                collate_fn=self.collate_fn,
                pin_memory=self.device_.type == "cuda",
            )
            start = 0
            for batch in loader:
                if isinstance(batch, (tuple, list)):
                    batch = batch[0]  # (X, y, ...) items: the model reads X
                yield start, batch
                start += _batch_len(batch)
            return
        for start in range(0, X.shape[0], bs):
            batch = X[start : start + bs]
            if kind == "array":
                batch = np.ascontiguousarray(batch, dtype=np.float32)
                if not batch.flags.writeable:  # torch warns on read-only arrays
                    batch = batch.copy()
                batch = torch.from_numpy(batch)
            yield start, batch

    @staticmethod
    def _n_samples(X, kind):
        return len(X) if kind == "dataset" else X.shape[0]

    # --------------------------------------------------------- extraction
    def _layer_arrays(self, X, kind, *, combine, probe=False, use_memory=True):
        """Features of every layer: a dict, or one array if ``combine``.

        ``probe`` (in ``fit``): keep the result in RAM and do not check the
        widths against ``feature_slices_``.
        """
        n_samples = self._n_samples(X, kind)
        check = not probe

        def allocate(n_cols):
            if probe or self.memmap_dir is None:
                return np.empty((n_samples, n_cols), dtype=np.float32)
            return self._open_memmap(n_samples, n_cols)

        keys = None
        if self.memory is not None and use_memory:
            keys = self._cache_keys(X, kind)
        if keys is None:
            if not combine:
                return self._extract(
                    X,
                    kind,
                    self._taps,
                    lambda widths: {e: allocate(w) for e, w in widths.items()},
                    check,
                )
            out = allocate(self._n_features_out)
            slices = self.feature_slices_
            self._extract(
                X,
                kind,
                self._taps,
                lambda widths: {e: out[:, slices[e]] for e in widths},
                check,
            )
            return out

        # Cached: one entry per layer; the missing ones share one forward pass.
        memory = self.memory
        if isinstance(memory, os.PathLike):
            memory = os.fspath(memory)
        cached = check_memory(memory).cache(_cached_layer_features)
        model_key, settings_key, data_key = keys
        tap_ids = {
            f"{module}:{where}": (e, module, where) for e, module, where in self._taps
        }
        missing = [
            tap
            for tap_id, tap in tap_ids.items()
            if not cached.check_call_in_cache(model_key, tap_id, settings_key, data_key)
        ]
        computed, done = {}, set()

        def provider(tap_id):
            tap = tap_ids[tap_id]
            if tap[0] not in computed:
                todo = [t for t in missing if t[0] not in done]
                if tap not in todo:  # evicted since it was checked
                    todo.append(tap)
                done.update(t[0] for t in todo)
                in_ram = lambda widths: {  # noqa: E731
                    e: np.empty((n_samples, w), dtype=np.float32)
                    for e, w in widths.items()
                }
                computed.update(self._extract(X, kind, todo, in_ram, check))
            return computed.pop(tap[0])

        token = _PROVIDER.set(provider)
        try:
            arrays = {
                tap[0]: cached(model_key, tap_id, settings_key, data_key)
                for tap_id, tap in tap_ids.items()
            }
        finally:
            _PROVIDER.reset(token)
        if not combine:
            if probe or self.memmap_dir is None:
                return arrays
            return {e: self._copy_out(a, allocate) for e, a in arrays.items()}
        out = allocate(self._n_features_out)
        for entry, array in arrays.items():
            out[:, self.feature_slices_[entry]] = array
        return out

    @staticmethod
    def _copy_out(array, allocate):
        out = allocate(array.shape[1])
        out[...] = array
        return out

    def _open_memmap(self, n_rows, n_cols):
        fd, path = tempfile.mkstemp(
            prefix="features_", suffix=".npy", dir=os.fspath(self.memmap_dir)
        )
        os.close(fd)
        return np.lib.format.open_memmap(
            path, mode="w+", dtype=np.float32, shape=(n_rows, n_cols)
        )

    def _extract(self, X, kind, taps, allocate, check, on_device=False):
        """Run the model over ``X`` and write the features of ``taps``.

        ``allocate(widths)`` receives ``{entry: n_columns}`` after the first
        batch and returns ``{entry: array of shape (n_samples, n_columns)}``,
        which is filled batch by batch and returned. With ``on_device``, the
        features are written as float32 tensors on ``device_`` (for
        :func:`stream_score`'s sinks) instead of numpy arrays.
        """
        model = self.model_.eval()
        modules = dict(model.named_modules())
        captured = {}
        # Every tap is a hook; once all have fired, the forward pass stops
        # (unless the model's own output is read: then it has ended anyway).
        stop_early = all(module != "" for _, module, _ in taps)

        def record(entry, value):
            if entry not in captured:
                captured[entry] = value
                if stop_early and len(captured) == len(taps):
                    raise _StopForward

        def output_hook(entry):
            return lambda module, args, output: record(entry, output)

        def input_hook(entry):
            return lambda module, args: record(entry, args[0] if args else None)

        handles = []
        try:
            for entry, module, where in taps:
                if where == "input":
                    hook = modules[module].register_forward_pre_hook(input_hook(entry))
                else:
                    hook = modules[module].register_forward_hook(output_hook(entry))
                handles.append(hook)
            return self._run(X, kind, taps, allocate, check, captured, on_device)
        finally:
            for handle in handles:
                handle.remove()

    def _run(self, X, kind, taps, allocate, check, captured, on_device=False):
        """The batch loop of :meth:`_extract` (hooks in place)."""
        name = type(self).__name__
        model, device = self.model_, self.device_
        what = {
            entry: "the model" if module == "" else f"the {where} of layer {module!r}"
            for entry, module, where in taps
        }
        outputs = None
        progress = None
        if self.verbose:
            from tqdm.auto import tqdm

            progress = tqdm(total=self._n_samples(X, kind), unit="samples", desc=name)
        try:
            with torch.no_grad():
                for index, (start, batch) in enumerate(self._batches(X, kind)):
                    n_batch = _batch_len(batch)
                    samples = f"samples {start} to {start + n_batch - 1}"
                    captured.clear()
                    try:
                        inputs = _to_device(batch, device)
                        with self._autocast():
                            if self.preprocess is not None:
                                inputs = self.preprocess(inputs)
                            try:
                                if isinstance(inputs, Mapping):
                                    model(**inputs)
                                else:
                                    model(inputs)
                            except _StopForward:
                                pass
                    except Exception as exc:
                        raise RuntimeError(
                            f"{name}: the model failed on batch {index} ({samples}) "
                            f"with input {_describe_input(batch)}: "
                            f"{type(exc).__name__}: {exc}"
                        ) from exc
                    mask = (
                        inputs.get("attention_mask")
                        if isinstance(inputs, Mapping)
                        else None
                    )
                    features = {}
                    for entry, module, _ in taps:
                        if entry not in captured:
                            raise RuntimeError(
                                f"{name}: layer {module!r} was not called during the "
                                "forward pass, so it has no output to read."
                            )
                        value = _first_tensor(captured.pop(entry), what[entry])
                        f = self._postprocess(value, mask, what[entry], on_device)
                        finite = bool(torch.isfinite(f).all())
                        if not on_device:
                            f = f.numpy()
                        if not finite:
                            raise ValueError(
                                f"{name}: the features of {what[entry]} on batch "
                                f"{index} ({samples}) contain NaN or infinity: the "
                                "input holds NaN or infinity, or the model overflowed "
                                "(e.g. under mixed_precision='float16')."
                            )
                        features[entry] = f
                    if outputs is None:
                        widths = {e: f.shape[1] for e, f in features.items()}
                        if check:
                            self._check_widths(widths)
                        outputs = allocate(widths)
                    for entry, f in features.items():
                        target = outputs[entry]
                        if f.shape != (n_batch, target.shape[1]):
                            raise ValueError(
                                f"{name}: layer {entry!r} gave features of shape "
                                f"{f.shape} on batch {index} ({samples}); "
                                f"{target.shape[1]} columns were expected from the "
                                "first batch."
                            )
                        target[start : start + n_batch] = f
                    if progress is not None:
                        progress.update(n_batch)
        finally:
            if progress is not None:
                progress.close()
        return outputs

    def _autocast(self):
        if self.mixed_precision is None:
            return contextlib.nullcontext()
        return torch.autocast(
            self.device_.type, dtype=getattr(torch, self.mixed_precision)
        )

    def _postprocess(self, t, mask, what, on_device=False):
        if self.output == "features":
            t = _pool(t, self.pooling, mask, what)
        elif t.ndim != 2:
            raise ValueError(
                f"output={self.output!r} needs 2-D logits (n_samples, n_classes), "
                f"but {what} returned shape {tuple(t.shape)}; use "
                "output='features' with a pooling instead."
            )
        elif self.output == "probabilities":
            t = torch.softmax(t.float(), dim=1)
        return t.detach().to(self.device_ if on_device else "cpu", torch.float32)

    def _check_widths(self, widths):
        for entry, width in widths.items():
            cols = self.feature_slices_[entry]
            if width != cols.stop - cols.start:
                raise ValueError(
                    f"layer {entry!r} gives {width} features on this input but "
                    f"{cols.stop - cols.start} in fit (pooling={self.pooling!r} "
                    "with a different input size?); refit the featurizer."
                )

    # ---------------------------------------------------------------- cache
    def _model_key(self):
        """Hash of the model's class, structure and weights (memoised)."""
        state = self.model_.state_dict(keep_vars=True)
        fingerprint = tuple(
            (name, None)
            if isinstance(t, nn.parameter.UninitializedTensorMixin)
            else (name, t.data_ptr(), t._version, tuple(t.shape))
            for name, t in state.items()
        )
        memo = self.__dict__.get("_model_key_memo")
        if memo is not None and memo[0] == fingerprint:
            return memo[1]
        model = self.model_
        digest = joblib.hash(
            (
                f"{type(model).__module__}.{type(model).__qualname__}",
                repr(model),
                [(name, _array_digest(t)) for name, t in state.items()],
            )
        )
        self._model_key_memo = (fingerprint, digest)
        return digest

    def _cache_keys(self, X, kind):
        """``(model_key, settings_key, data_key)``, or None if X is unhashable."""
        try:
            if kind == "dataset":
                data_key = joblib.hash(X)  # its pickle: attributes and indices
            else:
                data_key = _array_digest(X)
        except Exception as exc:
            warnings.warn(
                f"{type(self).__name__}: memory is not used for this input, which "
                f"cannot be hashed ({type(exc).__name__}: {exc}).",
                UserWarning,
                stacklevel=3,
            )
            return None
        settings = (
            self.output,
            _callable_key(self.pooling) if callable(self.pooling) else self.pooling,
            _callable_key(self.preprocess),
            _callable_key(self.collate_fn) if kind == "dataset" else None,
            self.mixed_precision,
            kind,
        )
        return self._model_key(), joblib.hash(settings), data_key
