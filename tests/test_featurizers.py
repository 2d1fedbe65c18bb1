"""Behaviour of TorchFeaturizer on tiny seeded models built here (offline)."""

import pickle

import joblib
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from torch import nn

from sktransfer.featurizers import TorchFeaturizer
from sktransfer.metrics import LogME, TransRate

torch.set_num_threads(1)
RTOL, ATOL = 1e-5, 1e-6  # float32 round-off between batchings / hand code


# ---------------------------------------------------------------- models
class MLP(nn.Module):
    """4 -> 8 -> 3 with a tanh; ``calls`` counts forward passes."""

    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(4, 8)
        self.act = nn.Tanh()
        self.head = nn.Linear(8, 3)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.head(self.act(self.hidden(x)))


class CNN(nn.Module):
    """(n, 3, 8, 8) images -> conv, relu, strided conv, relu -> GAP -> linear."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(4, 6, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        self.head = nn.Linear(6, 5)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.head(self.body(x).mean(dim=(2, 3)))


class Encoder(nn.Module):
    """Token ids (n, n_tokens) -> embeddings -> linear, a 3-D output."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 5)
        self.proj = nn.Linear(5, 4)

    def forward(self, input_ids, attention_mask=None):
        return self.proj(self.embed(input_ids))


def make_mlp(seed=0):
    torch.manual_seed(seed)
    return MLP()


def make_cnn(seed=0):
    torch.manual_seed(seed)
    return CNN()


def mlp_features(net, X):
    """Hand-written forward pass of MLP up to the head's input."""
    with torch.no_grad():
        x = torch.as_tensor(X, dtype=torch.float32)
        return torch.tanh(x @ net.hidden.weight.T + net.hidden.bias).numpy()


def cnn_maps(net, X, upto):
    """Hand-written forward pass of CNN.body up to module index ``upto``."""
    with torch.no_grad():
        h = torch.as_tensor(X, dtype=torch.float32)
        conv0, conv2 = net.body[0], net.body[2]
        h = F.conv2d(h, conv0.weight, conv0.bias, padding=1)
        if upto >= 1:
            h = F.relu(h)
        if upto >= 2:
            h = F.conv2d(h, conv2.weight, conv2.bias, stride=2, padding=1)
        if upto >= 3:
            h = F.relu(h)
        return h.numpy()


@pytest.fixture
def X2d():
    return np.random.default_rng(0).normal(size=(23, 4))


@pytest.fixture
def images():
    return np.random.default_rng(1).normal(size=(19, 3, 8, 8)).astype(np.float32)


def assert_no_hooks(net):
    for name, module in net.named_modules():
        assert not module._forward_hooks, f"forward hook left on {name!r}"
        assert not module._forward_pre_hooks, f"pre-hook left on {name!r}"


# ------------------------------------------------------- what is returned
def test_features_equal_hand_written_forward(X2d):
    net = make_mlp()
    fz = TorchFeaturizer(model=net, device="cpu").fit(X2d)
    assert fz.layers_ == ["head"]  # the input of the last nn.Linear
    Z = fz.transform(X2d)
    assert Z.dtype == np.float32 and Z.flags.c_contiguous and Z.shape == (23, 8)
    np.testing.assert_allclose(Z, mlp_features(net, X2d), rtol=RTOL, atol=ATOL)


def test_logits_and_probabilities(X2d):
    net = make_mlp()
    with torch.no_grad():
        logits = net(torch.as_tensor(X2d, dtype=torch.float32)).numpy()
    L = TorchFeaturizer(model=net, output="logits").fit_transform(X2d)
    np.testing.assert_allclose(L, logits, rtol=RTOL, atol=ATOL)
    P = TorchFeaturizer(model=net, output="probabilities").fit_transform(X2d)
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(P, expected, rtol=RTOL, atol=ATOL)
    assert P.dtype == np.float32


def test_model_without_linear_returns_its_output(images):
    torch.manual_seed(0)
    body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten())
    fz = TorchFeaturizer(model=body).fit(images)
    assert fz.layers_ == [""]
    with torch.no_grad():
        expected = body(torch.from_numpy(images)).numpy()
    np.testing.assert_allclose(fz.transform(images), expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("upto", [0, 1, 2, 3])
def test_cnn_layers_avg_pooling(images, upto):
    net = make_cnn()
    fz = TorchFeaturizer(model=net, layer=f"body.{upto}").fit(images)
    expected = cnn_maps(net, images, upto).mean(axis=(2, 3))
    np.testing.assert_allclose(fz.transform(images), expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize(
    "pooling, reduce",
    [
        ("max", lambda m: m.max(axis=(2, 3))),
        ("flatten", lambda m: m.reshape(len(m), -1)),
        (lambda t: t[:, :, 0, 0], lambda m: m[:, :, 0, 0]),
    ],
    ids=["max", "flatten", "callable"],
)
def test_pooling_modes(images, pooling, reduce):
    net = make_cnn()
    fz = TorchFeaturizer(model=net, layer="body.1", pooling=pooling).fit(images)
    expected = reduce(cnn_maps(net, images, 1))
    np.testing.assert_allclose(fz.transform(images), expected, rtol=RTOL, atol=ATOL)


class ListDataset(torch.utils.data.Dataset):
    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def _token_data():
    lengths = [3, 5, 1, 4, 2, 5]
    gen = torch.Generator().manual_seed(0)
    seqs = [torch.randint(1, 20, (n,), generator=gen) for n in lengths]
    return ListDataset([{"input_ids": s} for s in seqs])


def pad_collate(items):
    n_tokens = max(len(item["input_ids"]) for item in items)
    ids = torch.zeros(len(items), n_tokens, dtype=torch.long)
    mask = torch.zeros(len(items), n_tokens, dtype=torch.long)
    for i, item in enumerate(items):
        ids[i, : len(item["input_ids"])] = item["input_ids"]
        mask[i, : len(item["input_ids"])] = 1
    return {"input_ids": ids, "attention_mask": mask}


@pytest.mark.parametrize("pooling", ["avg", "max"])
def test_token_sequences_pool_over_the_mask(pooling):
    torch.manual_seed(0)
    enc = Encoder()
    data = _token_data()
    fz = TorchFeaturizer(model=enc, layer="", pooling=pooling, collate_fn=pad_collate)
    Z = fz.set_params(batch_size=4).fit_transform(data)  # batches pad differently
    with torch.no_grad():
        per_seq = [enc(item["input_ids"][None])[0] for item in data]
    reduce = (lambda h: h.mean(0)) if pooling == "avg" else (lambda h: h.amax(0))
    expected = torch.stack([reduce(h) for h in per_seq]).numpy()
    np.testing.assert_allclose(Z, expected, rtol=RTOL, atol=ATOL)


def test_token_sequences_without_mask_average_all_tokens():
    torch.manual_seed(0)
    enc = Encoder()
    ids = torch.randint(0, 20, (7, 6))  # integer tensor passed unchanged
    Z = TorchFeaturizer(model=enc, layer="proj").fit_transform(ids)
    with torch.no_grad():
        expected = enc(ids).mean(dim=1).numpy()
    np.testing.assert_allclose(Z, expected, rtol=RTOL, atol=ATOL)


def test_first_tensor_of_tuple_and_dict_outputs(X2d):
    class TupleOut(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 3)

        def forward(self, x):
            z = self.lin(x)
            return {"logits": z, "extra": z * 2}, z

    net = TupleOut()
    with torch.no_grad():
        expected = net.lin(torch.as_tensor(X2d, dtype=torch.float32)).numpy()
    Z = TorchFeaturizer(model=net, output="logits").fit_transform(X2d)
    np.testing.assert_allclose(Z, expected, rtol=RTOL, atol=ATOL)


def test_module_called_twice_is_read_at_first_call(X2d):
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 4)
            self.out = nn.Linear(4, 2)

        def forward(self, x):
            return self.out(self.lin(self.lin(x)))

    torch.manual_seed(0)
    net = Twice()
    with torch.no_grad():
        expected = net.lin(torch.as_tensor(X2d, dtype=torch.float32)).numpy()
    Z = TorchFeaturizer(model=net, layer="lin").fit_transform(X2d)
    np.testing.assert_allclose(Z, expected, rtol=RTOL, atol=ATOL)


# ------------------------------------------------------------- batching
@pytest.mark.parametrize("batch_size", [1, 3, 7, 64])
def test_batch_size_does_not_change_the_result(images, batch_size):
    net = make_cnn()
    reference = TorchFeaturizer(model=net, batch_size=19).fit_transform(images)
    Z = TorchFeaturizer(model=net, batch_size=batch_size).fit_transform(images)
    np.testing.assert_allclose(Z, reference, rtol=RTOL, atol=ATOL)


def test_hooks_are_removed_after_every_call(images):
    net = make_cnn()
    fz = TorchFeaturizer(model=net, layer=["body.1", "body.3"], batch_size=4)
    fz.fit(images)
    assert_no_hooks(net)
    fz.transform(images)
    assert_no_hooks(net)
    fz.transform_layers(images)
    assert_no_hooks(net)
    bad = images.copy()
    bad[:, :, :4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fz.transform(bad)
    assert_no_hooks(net)
    with pytest.raises(RuntimeError, match="batch 0"):
        fz.transform(images[:, :2])  # wrong number of channels
    assert_no_hooks(net)
    # the same features as a fresh featurizer: nothing leaked across calls
    again = TorchFeaturizer(model=net, layer=["body.1", "body.3"]).fit(images)
    np.testing.assert_array_equal(fz.transform(images), again.transform(images))


def test_forward_stops_after_the_last_requested_layer(images):
    net = make_cnn()
    head_calls = []
    handle = net.head.register_forward_hook(lambda *args: head_calls.append(1))
    try:
        TorchFeaturizer(model=net, layer="body.1", batch_size=5).fit_transform(images)
        assert head_calls == []
        TorchFeaturizer(model=net, output="logits", batch_size=5).fit_transform(images)
        assert len(head_calls) == 1 + 4  # fit's probe + 4 batches
    finally:
        handle.remove()


# ----------------------------------------------------------- layer lists
def test_layer_list_concatenates_in_list_order(images):
    net = make_cnn()
    layers = ["body.3", "body.0"]
    fz = TorchFeaturizer(model=net, layer=layers).fit(images)
    assert fz.layers_ == layers
    assert fz.feature_slices_ == {"body.3": slice(0, 6), "body.0": slice(6, 10)}
    Z = fz.transform(images)
    expected = np.hstack(
        [
            cnn_maps(net, images, 3).mean(axis=(2, 3)),
            cnn_maps(net, images, 0).mean(axis=(2, 3)),
        ]
    )
    np.testing.assert_allclose(Z, expected, rtol=RTOL, atol=ATOL)
    per_layer = fz.transform_layers(images)
    assert list(per_layer) == layers
    for name in layers:
        np.testing.assert_array_equal(per_layer[name], Z[:, fz.feature_slices_[name]])
    names = fz.get_feature_names_out()
    assert names[0] == "body.3__0" and names[-1] == "body.0__3" and len(names) == 10


def test_feature_names_for_one_layer(X2d):
    fz = TorchFeaturizer(model=make_mlp()).fit(X2d)
    names = fz.get_feature_names_out()
    assert list(names) == [f"torchfeaturizer{i}" for i in range(8)]
    pd = pytest.importorskip("pandas")
    frame = fz.set_output(transform="pandas").transform(pd.DataFrame(X2d))
    assert list(frame.columns) == list(names)


# ---------------------------------------------------------------- inputs
def test_input_kinds_give_the_same_features(images):
    from skorch.helper import SliceDataset

    net = make_cnn()
    fz = TorchFeaturizer(model=net, layer="body.3", batch_size=4)
    reference = fz.fit_transform(images)
    tensor = torch.from_numpy(images)
    labels = torch.arange(len(images))
    pairs = torch.utils.data.TensorDataset(tensor, labels)  # (x, y) items
    for X in [
        tensor,
        images.tolist(),
        images.astype(np.float64),
        np.asfortranarray(images),
        pairs,
        SliceDataset(pairs, idx=0),
    ]:
        Z = clone(fz).fit(X).transform(X)
        np.testing.assert_allclose(Z, reference, rtol=RTOL, atol=ATOL)


def test_slice_dataset_stays_lazy_in_cross_validation(images):
    from skorch.helper import SliceDataset

    class Counting(torch.utils.data.Dataset):
        def __init__(self, data):
            self.data, self.reads = data, []

        def __len__(self):
            return len(self.data)

        def __getitem__(self, i):
            self.reads.append(int(i))
            return torch.from_numpy(self.data[i]), 0

    ds = Counting(images)
    X = SliceDataset(ds)
    fz = TorchFeaturizer(model=make_cnn(), layer="body.3").fit(X[np.arange(10)])
    assert ds.reads == [0]  # fit reads one sample
    Z = fz.transform(X[np.arange(10, 19)])
    assert ds.reads[1:] == list(range(10, 19))
    np.testing.assert_allclose(
        Z,
        TorchFeaturizer(model=fz.model_, layer="body.3").fit_transform(images[10:]),
        rtol=RTOL,
        atol=ATOL,
    )


def test_uint8_arrays_are_converted_to_float32(images):
    net = make_cnn()
    raw = (np.abs(images) * 40).astype(np.uint8)
    Z = TorchFeaturizer(model=net).fit_transform(raw)
    ref = TorchFeaturizer(model=net).fit_transform(raw.astype(np.float32))
    np.testing.assert_array_equal(Z, ref)


def test_memmap_input_is_read_batch_by_batch(images, tmp_path):
    path = tmp_path / "images.npy"
    np.save(path, images)
    mm = np.load(path, mmap_mode="r")  # read-only memmap
    net = make_cnn()
    Z = TorchFeaturizer(model=net, batch_size=4).fit_transform(mm)
    ref = TorchFeaturizer(model=net).fit_transform(images)
    np.testing.assert_allclose(Z, ref, rtol=RTOL, atol=ATOL)


def test_preprocess_is_applied_per_batch(images):
    net = make_cnn()
    sizes = []

    def scale(batch):
        sizes.append(batch.shape[0])
        return (batch - 0.5) * 2.0

    Z = TorchFeaturizer(model=net, preprocess=scale, batch_size=8).fit_transform(images)
    ref = TorchFeaturizer(model=net).fit_transform((images - 0.5) * 2.0)
    np.testing.assert_allclose(Z, ref, rtol=RTOL, atol=ATOL)
    assert sizes == [1, 8, 8, 3]  # fit's probe, then the batches


def test_preprocess_can_return_model_kwargs():
    torch.manual_seed(0)
    enc = Encoder()
    ids = torch.randint(1, 20, (5, 4))
    mask = torch.ones_like(ids)
    mask[:, 2:] = 0

    def to_kwargs(batch):
        return {"input_ids": batch, "attention_mask": mask[: len(batch)]}

    Z = TorchFeaturizer(model=enc, layer="proj", preprocess=to_kwargs).fit_transform(
        ids
    )
    with torch.no_grad():
        expected = enc(ids[:, :2]).mean(dim=1).numpy()
    np.testing.assert_allclose(Z, expected, rtol=RTOL, atol=ATOL)


# ---------------------------------------------------------------- output
def test_memmap_output(images, tmp_path):
    net = make_cnn()
    fz = TorchFeaturizer(model=net, layer=["body.1", "body.3"], memmap_dir=tmp_path)
    fz.set_params(batch_size=4).fit(images)
    assert list(tmp_path.iterdir()) == []  # fit's probe stays in memory
    Z = fz.transform(images)
    assert isinstance(Z, np.memmap) and Z.dtype == np.float32
    ref = clone(fz).set_params(memmap_dir=None).fit_transform(images)
    np.testing.assert_array_equal(Z, ref)
    np.testing.assert_array_equal(np.load(Z.filename, mmap_mode="r"), ref)
    Z2 = fz.transform(images[:5])  # a new file: Z is not overwritten
    assert Z2.filename != Z.filename
    np.testing.assert_array_equal(Z, ref)
    layers = fz.transform_layers(images)
    assert all(isinstance(a, np.memmap) for a in layers.values())
    assert len(list(tmp_path.iterdir())) == 4
    cached = clone(fz).set_params(memory=tmp_path / "cache").fit(images)
    for _ in range(2):  # computed, then read from the cache
        Z = cached.transform(images)
        assert isinstance(Z, np.memmap)
        np.testing.assert_array_equal(Z, ref)


# --------------------------------------------------------------- caching
def test_memory_second_run_does_not_call_the_model(images, tmp_path):
    net = make_cnn()
    memory = joblib.Memory(str(tmp_path), verbose=0)
    fz = TorchFeaturizer(model=net, layer="body.3", memory=memory, batch_size=5)
    Z = fz.fit_transform(images)
    assert net.calls == 1 + 4  # fit's probe + 4 batches
    net.calls = 0
    Z2 = clone(fz).fit_transform(images)
    assert net.calls == 0
    np.testing.assert_array_equal(Z, Z2)
    # a path works as well as a Memory, and gives the same cache
    Z3 = clone(fz).set_params(memory=str(tmp_path)).fit_transform(images)
    assert net.calls == 0
    np.testing.assert_array_equal(Z, Z3)
    # the data key depends on the values, not on the memory layout
    clone(fz).fit_transform(np.asfortranarray(images))
    assert net.calls == 0


def test_memory_a_layer_list_fills_each_layer(images, tmp_path):
    net = make_cnn()
    fz = TorchFeaturizer(model=net, layer=["body.1", "body.3"], memory=tmp_path)
    both = fz.fit(images).transform_layers(images)
    assert net.calls == 2  # one pass for both layers
    net.calls = 0
    for name in ["body.3", "body.1"]:  # a grid over layer reads the cache
        Z = TorchFeaturizer(model=net, layer=name, memory=tmp_path).fit_transform(
            images
        )
        np.testing.assert_array_equal(Z, both[name])
    assert net.calls == 0
    Z = TorchFeaturizer(model=net, layer=["body.3", "body.0"], memory=tmp_path)
    Z.fit_transform(images)
    assert net.calls == 2  # only body.0 is missing: probe + one pass


@pytest.mark.parametrize(
    "change",
    ["data", "weights", "layer", "output", "pooling", "preprocess", "model_class"],
)
def test_memory_key_changes(images, tmp_path, change):
    net = make_cnn()
    layer = "head" if change == "output" else "body.3"
    params = {"model": net, "layer": layer, "memory": tmp_path}
    TorchFeaturizer(**params).fit_transform(images)
    X = images
    if change == "data":
        X = images.copy()
        X[3, 0, 0, 0] += 1.0
    elif change == "weights":
        with torch.no_grad():
            net.body[0].bias += 1.0
    elif change == "layer":
        params["layer"] = "body.2"
    elif change == "output":
        params["output"] = "probabilities"
    elif change == "pooling":
        params["pooling"] = "max"
    elif change == "preprocess":
        params["preprocess"] = lambda b: b * 2.0
    elif change == "model_class":
        other = CNN()
        other.load_state_dict(net.state_dict())
        other.head = nn.Sequential(other.head)  # same weights, other structure
        params["model"] = net = other
    net.calls = 0
    Z = TorchFeaturizer(**params).fit_transform(X)
    # extracted again: fit's probe (on the first sample, unchanged for "data")
    # and the one batch
    assert net.calls == (1 if change == "data" else 2)
    ref = TorchFeaturizer(**{**params, "memory": None}).fit_transform(X)
    np.testing.assert_allclose(Z, ref, rtol=RTOL, atol=ATOL)


def test_memory_keys_lambdas_by_code(images, tmp_path):
    net = make_cnn()
    fz = TorchFeaturizer(model=net, preprocess=lambda b: b + 1.0, memory=tmp_path)
    a = fz.fit_transform(images)
    b = clone(fz).set_params(preprocess=lambda b: b - 1.0).fit_transform(images)
    assert not np.allclose(a, b)
    net.calls = 0
    c = clone(fz).set_params(preprocess=lambda b: b + 1.0).fit_transform(images)
    assert net.calls == 0
    np.testing.assert_array_equal(a, c)


# --------------------------------------------------------- clone, pickle
def test_clone_shares_a_module_instance_and_keeps_factories(X2d):
    net = make_mlp()
    fz = TorchFeaturizer(model=net, layer="act").fit(X2d)
    copy = clone(fz)
    assert copy.model is net and not hasattr(copy, "model_")
    assert copy.get_params()["layer"] == "act"
    fz.set_output(transform="pandas")
    assert clone(fz)._sklearn_output_config == {"transform": "pandas"}
    factory = TorchFeaturizer(model=MLP)
    assert clone(factory).model is MLP


def test_factory_is_seeded_by_random_state(X2d):
    a = TorchFeaturizer(model=MLP, random_state=0).fit_transform(X2d)
    b = TorchFeaturizer(model=MLP, random_state=0).fit_transform(X2d)
    c = TorchFeaturizer(model=MLP, random_state=1).fit_transform(X2d)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    state = torch.random.get_rng_state()
    TorchFeaturizer(model=MLP, random_state=0).fit(X2d)
    assert torch.equal(state, torch.random.get_rng_state())  # forked, not consumed


def test_adopted_model_is_put_in_eval_mode_and_not_trained(X2d):
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Dropout(0.5), nn.Linear(6, 2)
    )
    net.train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    fz = TorchFeaturizer(model=net).fit(X2d)
    assert fz.model_ is net and not net.training
    np.testing.assert_array_equal(fz.transform(X2d), fz.transform(X2d))
    net.train()  # switched back by the user: transform still runs in eval mode
    Z = fz.transform(X2d)
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k
    np.testing.assert_array_equal(Z, fz.transform(X2d))


def test_pickle_roundtrip(X2d):
    fz = TorchFeaturizer(model=make_mlp(), layer=["hidden", "act"]).fit(X2d)
    restored = pickle.loads(pickle.dumps(fz))
    assert restored.model is restored.model_  # identity survives
    assert restored.device_ == torch.device("cpu")
    np.testing.assert_array_equal(restored.transform(X2d), fz.transform(X2d))
    unfitted = pickle.loads(pickle.dumps(TorchFeaturizer(model=MLP)))
    assert unfitted.model is MLP


def test_pickle_from_an_absent_cuda_device_restores_on_cpu(X2d):
    if torch.cuda.is_available():
        pytest.skip("simulates a machine without CUDA")
    fz = TorchFeaturizer(model=make_mlp()).fit(X2d)
    expected = fz.transform(X2d)
    fz.device_ = torch.device("cuda", 0)  # as if fitted on a GPU
    blob = pickle.dumps(fz)
    with pytest.warns(UserWarning, match="stays on the CPU"):
        restored = pickle.loads(blob)
    assert restored.device_ == torch.device("cpu")
    np.testing.assert_array_equal(restored.transform(X2d), expected)


# ---------------------------------------------------------------- errors
def test_unknown_layer_lists_valid_names(images):
    fz = TorchFeaturizer(model=make_cnn(), layer=["body.1", "body.9"])
    with pytest.raises(
        ValueError, match=r"Unknown layer 'body\.9'.*'body', 'body\.0'.*'head'"
    ):
        fz.fit(images)


def test_failing_batch_reports_index_and_shape(X2d):
    class Fragile(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 2)

        def forward(self, x):
            if (x[:, 0] > 100).any():
                raise ValueError("boom")
            return self.lin(x)

    X = X2d.copy()
    X[10, 0] = 1000.0
    net = Fragile()
    fz = TorchFeaturizer(model=net, batch_size=4).fit(X)
    msg = (
        r"failed on batch 2 \(samples 8 to 11\) with input shape \(4, 4\) and dtype "
        r"torch.float32: ValueError: boom"
    )
    with pytest.raises(RuntimeError, match=msg) as info:
        fz.transform(X)
    assert isinstance(info.value.__cause__, ValueError)
    assert_no_hooks(net)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is present")
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_cuda_requested_but_absent(X2d, device):
    with pytest.raises(ValueError, match="requests CUDA, but CUDA is not available"):
        TorchFeaturizer(model=MLP, device=device).fit(X2d)
    assert TorchFeaturizer(model=MLP, device="auto").fit(X2d).device_.type == "cpu"


@pytest.mark.parametrize(
    "params, X, error, match",
    [
        ({"model": None}, "2d", ValueError, "requires a model"),
        ({"model": lambda: 3}, "2d", TypeError, "must return a torch.nn.Module"),
        ({"device": "nonsense"}, "2d", ValueError, "not a valid torch device"),
        ({"layer": []}, "2d", ValueError, "non-empty"),
        ({"layer": ["act", "act"]}, "2d", ValueError, "twice"),
        (
            {"layer": "body.1", "output": "logits"},
            "img",
            ValueError,
            "needs 2-D logits",
        ),
        ({"layer": "body.1", "pooling": lambda t: t}, "img", ValueError, "2-D tensor"),
    ],
)
def test_documented_errors(X2d, images, params, X, error, match):
    model = make_mlp() if X == "2d" else make_cnn()
    params = {"model": model, **params}
    with pytest.raises(error, match=match):
        TorchFeaturizer(**params).fit(X2d if X == "2d" else images)


def test_transform_checks_its_input(X2d, images):
    fz = TorchFeaturizer(model=make_mlp()).fit(X2d)
    with pytest.raises(ValueError, match="X has 3 features, but TorchFeaturizer is"):
        fz.transform(X2d[:, :3])
    with pytest.raises(ValueError, match="Input X contains NaN"):
        fz.transform(np.full((2, 4), np.nan))
    with pytest.raises(ValueError, match="NaN or infinity"):
        fz.transform(torch.full((2, 4), float("inf")))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        fz.transform(torch.ones(4))
    with pytest.raises(ValueError, match="0 sample"):
        fz.transform(np.empty((0, 3, 8, 8)))

    class Stream(torch.utils.data.IterableDataset):
        def __iter__(self):
            return iter([])

    with pytest.raises(TypeError, match="map-style"):
        fz.transform(Stream())
    flat = TorchFeaturizer(model=make_cnn(), layer="body.1", pooling="flatten")
    flat.fit(images)
    with pytest.raises(ValueError, match="gives 144 features on this input but 256"):
        flat.transform(images[:, :, :6, :6])


def test_non_finite_features_are_reported(images):
    X = images.copy()
    X[6, 0, 0, 0] = np.nan  # N-D input: reported through the features
    fz = TorchFeaturizer(model=make_cnn(), batch_size=4).fit(images)
    msg = r"input of layer 'head' on batch 1 \(samples 4 to 7\) contain NaN"
    with pytest.raises(ValueError, match=msg):
        fz.transform(X)

    class Log(nn.Module):  # finite input, non-finite output
        def forward(self, x):
            return torch.log(x)

    with pytest.raises(ValueError, match="the model on batch 0.*overflowed"):
        TorchFeaturizer(model=Log()).fit(-np.ones((3, 2)))


def test_layer_that_is_not_called_is_reported(X2d):
    net = make_mlp()
    net.unused = nn.Linear(2, 2)
    with pytest.raises(RuntimeError, match="'unused' was not called"):
        TorchFeaturizer(model=net, layer="unused").fit(X2d)


# -------------------------------------------------------------- options
def test_verbose_shows_samples_per_second(X2d, capsys):
    TorchFeaturizer(model=make_mlp(), verbose=1, batch_size=5).fit_transform(X2d)
    err = capsys.readouterr().err
    assert "samples/s" in err and "23/23" in err


def test_mixed_precision_on_cpu_is_close(images):
    net = make_cnn()
    Z = TorchFeaturizer(model=net, mixed_precision="bfloat16").fit_transform(images)
    ref = TorchFeaturizer(model=net).fit_transform(images)
    assert Z.dtype == np.float32
    np.testing.assert_allclose(Z, ref, rtol=0.05, atol=0.05)


# ------------------------------------------------------ with the metrics
@pytest.fixture
def task():
    X, y = make_classification(
        n_samples=120, n_features=4, n_informative=3, n_redundant=0, random_state=0
    )
    return X, y


def test_pipeline_with_a_metric_scores(task):
    X, y = task
    net = make_mlp()
    pipe = Pipeline([("features", TorchFeaturizer(model=net)), ("metric", TransRate())])
    pipe.fit(X, y)
    expected = TransRate().fit(mlp_features(net, X), y).score_
    assert isinstance(pipe.score(X, y), float)
    assert pipe.score(X, y) == pytest.approx(expected, rel=1e-5)
    assert pipe["metric"].score_ == pytest.approx(expected, rel=1e-5)


def test_grid_search_over_layers_in_sample(task):
    X, y = task
    net = make_mlp()
    pipe = Pipeline([("features", TorchFeaturizer(model=net)), ("metric", LogME())])
    everything = np.arange(len(y))
    layers = ["hidden", "act", "head"]
    search = GridSearchCV(
        pipe, {"features__layer": layers}, cv=[(everything, everything)]
    )
    search.fit(X, y)
    direct = {
        name: LogME()
        .fit(TorchFeaturizer(model=net, layer=name).fit_transform(X), y)
        .score_
        for name in layers
    }
    scores = dict(zip(layers, search.cv_results_["mean_test_score"], strict=True))
    for name in layers:
        assert scores[name] == pytest.approx(direct[name], rel=1e-5)
    assert search.best_params_["features__layer"] == max(direct, key=direct.get)
    assert search.best_estimator_["features"].model is net  # shared, not copied


def test_grid_search_over_layers_stratified_cv_with_slice_dataset(task):
    from skorch.helper import SliceDataset

    X, y = task
    net = make_mlp()
    ds = SliceDataset(
        torch.utils.data.TensorDataset(torch.tensor(X, dtype=torch.float32))
    )
    pipe = Pipeline([("features", TorchFeaturizer(model=net)), ("metric", TransRate())])
    search = GridSearchCV(
        pipe,
        {"features__layer": ["hidden", "act"]},
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
    )
    search.fit(ds, y)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    array_search = clone(search).fit(X, y)
    np.testing.assert_allclose(
        search.cv_results_["mean_test_score"],
        array_search.cv_results_["mean_test_score"],
        rtol=1e-5,
    )


# ------------------------------------------------------------------- gpu
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_placement_matches_cpu(images, tmp_path):
    net = make_cnn()
    cpu = TorchFeaturizer(model=make_cnn(), layer=["body.1", "body.3"], device="cpu")
    ref = cpu.fit_transform(images)
    fz = TorchFeaturizer(model=net, layer=["body.1", "body.3"], device="auto")
    Z = fz.fit_transform(images)
    assert fz.device_.type == "cuda"
    assert all(p.device.type == "cuda" for p in fz.model_.parameters())
    assert isinstance(Z, np.ndarray) and Z.dtype == np.float32
    np.testing.assert_allclose(Z, ref, rtol=1e-4, atol=1e-5)
    Zt = fz.transform(torch.from_numpy(images).cuda())  # a CUDA tensor input
    np.testing.assert_allclose(Zt, ref, rtol=1e-4, atol=1e-5)
    half = clone(fz).set_params(mixed_precision="float16").fit_transform(images)
    np.testing.assert_allclose(half, ref, rtol=0.02, atol=0.02)
    restored = pickle.loads(pickle.dumps(fz))
    assert restored.device_.type == "cuda"
    assert all(p.device.type == "cuda" for p in restored.model_.parameters())
    np.testing.assert_allclose(restored.transform(images), Z, rtol=1e-6, atol=1e-6)
