"""Tests of finetune_accuracy: skorch ground truth on tiny seeded networks."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from torch import nn  # noqa: E402

from sktransfer.evaluation import finetune_accuracy  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _data(seed=0, n=240):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    y = np.where(X[:, 0] + X[:, 1] > 0, "pos", "neg")
    return X[: n * 3 // 4], y[: n * 3 // 4], X[n * 3 // 4 :], y[n * 3 // 4 :]


def _backbone(seed=0, batch_norm=False):
    torch.manual_seed(seed)
    layers = [nn.Linear(6, 16)]
    if batch_norm:
        layers.append(nn.BatchNorm1d(16))
    layers.append(nn.Tanh())
    return nn.Sequential(*layers)


def _state(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_linear_mode_recovers_a_separable_task_and_freezes_the_backbone():
    X_train, y_train, X_test, y_test = _data()
    backbone = _backbone(batch_norm=True)
    before = _state(backbone)
    result = finetune_accuracy(
        backbone,
        X_train,
        y_train,
        X_test,
        y_test,
        mode="linear",
        seeds=[0, 1],
        max_epochs=30,
        lr=5e-2,
    )
    assert result.accuracy_mean > 0.9
    assert result.accuracies.shape == (2,)
    np.testing.assert_array_equal(result.seeds, [0, 1])
    assert result.accuracy_std == pytest.approx(result.accuracies.std())
    # The model passed in is never modified (it is copied per seed).
    assert _same(before, _state(backbone))
    assert all(p.requires_grad for p in backbone.parameters())


def test_linear_mode_keeps_the_backbone_fixed_during_training():
    # A frozen backbone stays in eval mode: its batch-norm statistics and its
    # weights do not change, so the learned network is backbone + linear head.
    from sktransfer.evaluation._ground_truth import _make_module

    backbone = _backbone(batch_norm=True)
    before = _state(backbone)
    module = _make_module(backbone, 16, 2, frozen=True).train()
    assert not module.backbone.training and module.head.training
    optimizer = torch.optim.Adam(module.parameters(), lr=0.1)
    loss = module(torch.randn(32, 6)).sum()
    loss.backward()
    optimizer.step()
    assert _same(before, _state(module.backbone))


def test_full_mode_trains_and_seeds_reproduce():
    X_train, y_train, X_test, y_test = _data(1)
    kwargs = {
        "mode": "full",
        "seeds": [3, 4],
        "max_epochs": 15,
        "lr": 1e-2,
        "batch_size": 32,
    }
    first = finetune_accuracy(_backbone(), X_train, y_train, X_test, y_test, **kwargs)
    again = finetune_accuracy(_backbone(), X_train, y_train, X_test, y_test, **kwargs)
    assert first.accuracy_mean > 0.85
    np.testing.assert_array_equal(first.accuracies, again.accuracies)


def test_full_mode_beats_linear_on_a_bad_backbone():
    # A backbone that hides the label direction: only fine-tuning can fix it.
    X_train, y_train, X_test, y_test = _data(2)
    torch.manual_seed(0)
    backbone = nn.Linear(6, 2)
    with torch.no_grad():
        backbone.weight.copy_(
            torch.tensor([[0, 0, 1.0, 0, 0, 0], [0, 0, 0, 1.0, 0, 0]])
        )
        backbone.bias.zero_()
    common = {"seeds": [0], "max_epochs": 30, "lr": 5e-2}
    linear = finetune_accuracy(backbone, X_train, y_train, X_test, y_test, **common)
    full = finetune_accuracy(
        backbone, X_train, y_train, X_test, y_test, mode="full", **common
    )
    assert linear.accuracy_mean < 0.7
    assert full.accuracy_mean > 0.85


def test_convolutional_backbone_outputs_are_flattened():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(96, 1, 6, 6)).astype(np.float32)
    y = (X[:, 0, :3].mean(axis=(1, 2)) > X[:, 0, 3:].mean(axis=(1, 2))).astype(int)
    torch.manual_seed(0)
    backbone = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU())
    result = finetune_accuracy(
        backbone,
        X[:72],
        y[:72],
        X[72:],
        y[72:],
        mode="full",
        seeds=[0],
        max_epochs=5,
    )
    assert 0.0 <= result.accuracy_mean <= 1.0


def test_finetune_accuracy_validates():
    X_train, y_train, X_test, y_test = _data()
    with pytest.raises(ValueError, match="not in y_train"):
        finetune_accuracy(_backbone(), X_train, y_train, X_test, np.full(60, "x"))
    with pytest.raises(ValueError, match="at least 2 classes"):
        finetune_accuracy(
            _backbone(), X_train, np.full(180, "a"), X_test, np.full(60, "a")
        )
    with pytest.raises(ValueError, match="mode"):
        finetune_accuracy(_backbone(), X_train, y_train, X_test, y_test, mode="head")
    with pytest.raises(ValueError, match="seed"):
        finetune_accuracy(_backbone(), X_train, y_train, X_test, y_test, seeds=[])
