"""The built-in model zoo and its digits target (sktransfer.datasets._zoo)."""

import hashlib
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sktransfer.datasets import (  # noqa: E402
    _zoo,
    load_digits_target,
    load_zoo,
    make_zoo_cnn,
)

NAMES = list(_zoo._MEMBERS)


@pytest.fixture(scope="module")
def zoo():
    return load_zoo()


@pytest.mark.parametrize("name", NAMES)
def test_shipped_weights_match_recorded_sha256(name):
    data = _zoo._weights_file(name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == _zoo._SHA256[name]


def test_weights_are_small_and_load_with_weights_only():
    total = 0
    for name in NAMES:
        path = _zoo._weights_file(name)
        total += len(path.read_bytes())
        state = torch.load(path, map_location="cpu", weights_only=True)
        floats = [v for v in state.values() if v.is_floating_point()]
        assert floats and all(v.dtype == torch.float16 for v in floats)
    assert total < 600_000  # "a few hundred KB" in all


def test_zoo_members_share_one_architecture(zoo):
    assert list(zoo.models) == NAMES
    assert zoo.feature_layer == "features" and zoo.head_layer == "classifier"
    assert zoo.input_shape == (1, 16, 16)
    x = torch.zeros(3, *zoo.input_shape)
    backbone_shapes = None
    for name, model in zoo.models.items():
        assert not model.training
        assert next(model.parameters()).dtype == torch.float32
        shapes = [tuple(p.shape) for p in model.features.parameters()]
        backbone_shapes = backbone_shapes or shapes
        assert shapes == backbone_shapes  # same capacity for every member
        with torch.no_grad():
            assert model.features(x).shape == (3, 48)
            out = model(x)
        assert out.shape == (3, zoo.sources[name]["n_classes"])
        assert len(zoo.sources[name]["classes"]) == zoo.sources[name]["n_classes"]
    assert zoo.sources["mnist04_8ep"]["classes"] == tuple("01234")
    assert zoo.sources["untrained"]["epochs"] == 0


def test_members_differ(zoo):
    # Different sources and budgets give different weights; the untrained
    # control is the common initialisation: every trained backbone moved away.
    conv = {n: m.features.conv1.weight.detach() for n, m in zoo.models.items()}
    for name in NAMES:
        if name != "untrained":
            assert not torch.allclose(conv[name], conv["untrained"], atol=1e-3)
    assert not torch.allclose(conv["mnist10_8ep"], conv["mnist10_1ep"], atol=1e-3)


def test_untrained_member_is_the_seeded_initialisation(zoo):
    torch.manual_seed(0)
    fresh = make_zoo_cnn(n_classes=10)
    loaded = zoo.models["untrained"].state_dict()
    assert list(loaded) == list(fresh.state_dict())
    for key, a in fresh.state_dict().items():
        if a.is_floating_point():  # stored in float16
            torch.testing.assert_close(loaded[key], a, atol=1e-3, rtol=1e-3)


def test_load_zoo_subset_and_errors(tmp_path, monkeypatch):
    small = load_zoo(["untrained", "mnist10_8ep"])
    assert list(small.models) == ["untrained", "mnist10_8ep"]
    with pytest.raises(ValueError, match="Unknown zoo member.*'nope'"):
        load_zoo(["nope"])
    damaged = bytearray(_zoo._weights_file("untrained").read_bytes())
    damaged[-100] ^= 1
    path = tmp_path / "zoo_untrained.pt"
    path.write_bytes(bytes(damaged))
    monkeypatch.setattr(_zoo, "_weights_file", lambda name: path)
    with pytest.raises(ValueError, match="SHA-256 .* reinstall"):
        load_zoo(["untrained"])


def test_make_zoo_cnn():
    model = make_zoo_cnn(n_classes=3)
    n_params = sum(p.numel() for p in model.parameters())
    assert 15_000 < n_params < 25_000
    assert model(torch.zeros(2, 1, 16, 16)).shape == (2, 3)
    with pytest.raises(ValueError, match="n_classes"):
        make_zoo_cnn(n_classes=0)


def test_upsample_matches_torch_bilinear():
    # Independent reference: torch's bilinear interpolation, align_corners=False.
    rng = np.random.default_rng(0)
    images = rng.random((3, 8, 8))
    expected = torch.nn.functional.interpolate(
        torch.as_tensor(images)[:, None], scale_factor=2, mode="bilinear"
    )[:, 0].numpy()
    np.testing.assert_allclose(_zoo._upsample2x(images), expected, atol=1e-12)


def test_digits_target_split():
    target = load_digits_target(n_train_per_class=5, random_state=3)
    assert target.X_train.shape == (50, 1, 16, 16)
    assert target.X_train.dtype == np.float32 and target.y_train.dtype == np.int64
    assert target.X_test.shape == (1797 - 50, 1, 16, 16)
    np.testing.assert_array_equal(np.bincount(target.y_train), [5] * 10)
    assert target.X_train.min() >= 0 and target.X_train.max() <= 1
    # Train and test are disjoint: every digits image is in exactly one of them.
    from sklearn.datasets import load_digits

    digits = load_digits()
    full = _zoo._upsample2x(digits.images / 16.0).astype(np.float32)
    rows = {full[i].tobytes() for i in range(len(full))}
    train = {x[0].tobytes() for x in target.X_train}
    test = {x[0].tobytes() for x in target.X_test}
    assert train | test <= rows and not train & test
    again = load_digits_target(n_train_per_class=5, random_state=3)
    np.testing.assert_array_equal(again.X_train, target.X_train)
    other = load_digits_target(n_train_per_class=5, random_state=4)
    assert not np.array_equal(other.y_train, target.y_train) or not np.array_equal(
        other.X_train, target.X_train
    )
    assert load_digits_target(test_size=0.1).X_test.shape[0] == 160


def test_digits_target_validates():
    with pytest.raises(ValueError, match="n_train_per_class=300 leaves none"):
        load_digits_target(n_train_per_class=300)
    with pytest.raises(ValueError, match="test_size"):
        load_digits_target(test_size=1.5)


def test_relevant_sources_beat_unrelated_ones(zoo):
    # The zoo is meaningful: on the digits target, a linear probe on the
    # features of the MNIST-trained CNN beats the Fashion-MNIST ones (measured:
    # 0.89 against 0.79-0.82 with 20 shots per class).
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    target = load_digits_target(test_size=0.5)

    def probe(name):
        backbone = zoo.models[name].features
        with torch.no_grad():
            F = backbone(torch.as_tensor(target.X_train)).numpy()
            F_test = backbone(torch.as_tensor(target.X_test)).numpy()
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        return clf.fit(F, target.y_train).score(F_test, target.y_test)

    mnist = probe("mnist10_8ep")
    assert mnist > probe("fashion10_8ep") + 0.04
    assert mnist > probe("fashion_shoesbags4_8ep") + 0.04


def test_importing_datasets_does_not_import_torch():
    code = (
        "import sys, sktransfer.datasets; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
