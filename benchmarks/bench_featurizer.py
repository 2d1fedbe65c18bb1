"""Throughput of TorchFeaturizer against a bare ``torch.no_grad()`` loop, on one core.

Run ``python benchmarks/bench_featurizer.py`` (about a minute) or
``python benchmarks/bench_featurizer.py --quick`` (seconds). It prints a markdown
table: for each batch size, the samples per second of

- a bare loop over the model's full forward pass (what a user writes by hand:
  batches of a tensor, ``model(xb)`` under ``torch.no_grad()``, ``torch.cat``,
  ``.numpy()``) and of ``TorchFeaturizer(output="logits").transform``;
- the same loop up to the penultimate features (``model.forward_features``) and
  ``TorchFeaturizer().transform`` (``layer=None``: the input of the last
  ``nn.Linear``, read with a forward pre-hook, the rest of the pass skipped);

and the featurizer's overhead over the bare loop in the same run (goal: < 5 %).
Both start from the same float32 numpy array and return a float32 numpy array.

The model is a small CNN (three 3x3 convolutions, 16-32-64 channels, global
average pooling, a 10-class linear head) on 3x32x32 inputs: a few milliseconds
per batch of 32, so the featurizer's fixed cost per batch weighs more than with
any real network. Times are CPU seconds of the process (torch runs on one
thread), after ``gc.collect()`` (except for the null model); each repeat runs
the four variants back to back, in an order that alternates between repeats.

- ``samples/s`` is from the fastest repeat of each variant (the least disturbed
  by other load on a shared machine);
- ``overhead`` is the median over repeats of the ratio featurizer / bare loop
  within the repeat (the two run under the same load). On a loaded machine it
  still moves by several percent from run to run, either way;
- ``cost/batch`` isolates the featurizer's own work per batch (validation and
  conversion of the input batch, hooks, copies into the output): the same two
  comparisons on a *null model* (``x[:, :, 0, 0]`` and a 3x10 linear head, no
  compute), fastest of many repeats, in microseconds per batch; ``% of batch``
  divides it by the small CNN's bare time per batch. This is the overhead
  measured with little noise.
"""

# SPDX-License-Identifier: BSD-3-Clause

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import gc  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from sktransfer.featurizers import TorchFeaturizer  # noqa: E402


class SmallCNN(nn.Module):
    """Three 3x3 convolutions (16-32-64 channels), global average pooling, head."""

    def __init__(self, n_classes=10):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        self.head = nn.Linear(64, n_classes)

    def forward_features(self, x):
        return self.body(x).mean(dim=(2, 3))

    def forward(self, x):
        return self.head(self.forward_features(x))


class NullModel(nn.Module):
    """No compute: the first pixel of each channel, then a 3 -> 10 linear head."""

    def __init__(self):
        super().__init__()
        self.head = nn.Linear(3, 10)

    def forward_features(self, x):
        return x[:, :, 0, 0]

    def forward(self, x):
        return self.head(self.forward_features(x))


def bare_loop(forward, X, batch_size):
    """The hand-written baseline: batches of a tensor under no_grad, to numpy."""
    X = torch.from_numpy(X)
    outputs = []
    with torch.no_grad():
        for start in range(0, X.shape[0], batch_size):
            outputs.append(forward(X[start : start + batch_size]))
    return torch.cat(outputs).numpy()


def timed(func, collect=True):
    """Return ``(result, cpu_s)``: CPU time of the process (one thread), which
    is less sensitive than wall time to other load on a shared machine."""
    if collect:
        gc.collect()
    start = time.process_time()
    result = func()
    return result, time.process_time() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=768)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument(
        "--batch-sizes", default="32,64,128,256,512", help="comma-separated"
    )
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="256 samples, 1 repeat")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_samples, args.repeat = 256, 1
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = SmallCNN().eval()
    size = args.image_size
    X = np.random.default_rng(0).normal(size=(args.n_samples, 3, size, size))
    X = X.astype(np.float32)

    print(
        f"# torch {torch.__version__}, {platform.processor() or platform.machine()}, "
        f"torch threads={torch.get_num_threads()}, N={args.n_samples}, "
        f"input 3x{size}x{size}, {args.repeat} repeat(s) in CPU time"
    )
    # Warm-up: first calls allocate and pick convolution kernels.
    bare_loop(model, X[:64], 32)
    TorchFeaturizer(model=model, device="cpu").fit(X).transform(X[:64])

    print(
        "| batch | bare logits (samples/s) | featurizer logits (samples/s) "
        "| overhead | bare penultimate (samples/s) | featurizer features "
        "(samples/s) | overhead | cost/batch, logits / features (µs) "
        "| % of batch, logits / features |"
    )
    print("|" + "---|" * 9)
    null = NullModel().eval()
    for batch_size in batch_sizes:
        times, results = compare(model, X, batch_size, args.repeat)
        null_times, _ = compare(null, X, batch_size, 5 * args.repeat, collect=False)
        n_batches = -(-args.n_samples // batch_size)
        best = {k: v.min() for k, v in times.items()}
        rate = {k: args.n_samples / v for k, v in best.items()}
        over, cost, share = {}, {}, {}
        for kind in ("logits", "features"):
            ratio = times[f"fz_{kind}"] / times[f"bare_{kind}"]
            over[kind] = np.median(ratio) - 1.0
            extra = null_times[f"fz_{kind}"].min() - null_times[f"bare_{kind}"].min()
            cost[kind] = 1e6 * extra / n_batches
            share[kind] = extra / best[f"bare_{kind}"]
        print(
            f"| {batch_size} | {rate['bare_logits']:,.0f} | {rate['fz_logits']:,.0f} "
            f"| {over['logits']:+.1%} | {rate['bare_features']:,.0f} "
            f"| {rate['fz_features']:,.0f} | {over['features']:+.1%} "
            f"| {cost['logits']:.0f} / {cost['features']:.0f} "
            f"| {share['logits']:.1%} / {share['features']:.1%} |",
            flush=True,
        )


def compare(model, X, batch_size, repeat, collect=True):
    """CPU times of the four variants over ``repeat`` alternating repeats."""
    logits = TorchFeaturizer(
        model=model, output="logits", batch_size=batch_size, device="cpu"
    ).fit(X)
    features = TorchFeaturizer(model=model, batch_size=batch_size, device="cpu")
    features.fit(X)
    variants = {
        "bare_logits": lambda: bare_loop(model, X, batch_size),
        "fz_logits": lambda: logits.transform(X),
        "bare_features": lambda: bare_loop(model.forward_features, X, batch_size),
        "fz_features": lambda: features.transform(X),
    }
    times = {name: [] for name in variants}
    results = {}
    for r in range(repeat):
        order = list(variants) if r % 2 == 0 else list(variants)[::-1]
        for name in order:
            results[name], seconds = timed(variants[name], collect)
            times[name].append(seconds)
    for kind in ("logits", "features"):
        np.testing.assert_allclose(
            results[f"fz_{kind}"], results[f"bare_{kind}"], rtol=1e-5, atol=1e-6
        )
    return {k: np.array(v) for k, v in times.items()}, results


if __name__ == "__main__":
    main()
