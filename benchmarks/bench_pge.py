"""Time and peak memory of one PGE task embedding vs the number of restarts.

The probe network is an MLP 784 -> 1024 -> 256 (about 1.07M parameters, all
recorded); the task has ``--n-samples`` samples of 784 features and 10
classes, in batches of ``--batch-size``. For each ``n_restarts`` the script
times ``GradientFeaturizer.fit_transform`` plus ``PGE.fit`` (the whole
embedding of one task) and reports the peak of numpy/Python memory traced by
``tracemalloc`` (the float64 gradient record, ``n_restarts * n_batches * P``
values, dominates it) and the peak resident size of the process.

Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/bench_pge.py            # R = 1, 2, 4, 8
    OMP_NUM_THREADS=1 python benchmarks/bench_pge.py --quick    # R = 1, 2
"""

import argparse
import resource
import time
import tracemalloc

import numpy as np
import torch
from torch import nn

from sktransfer.featurizers import GradientFeaturizer
from sktransfer.metrics import PGE


def probe():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 256))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--restarts", default="1,2,4,8")
    parser.add_argument("--n-samples", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    restarts = [1, 2] if args.quick else [int(r) for r in args.restarts.split(",")]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.n_samples, 784)).astype(np.float32)
    y = rng.integers(0, 10, size=args.n_samples)
    n_params = sum(p.numel() for p in probe().parameters())
    n_batches = -(-args.n_samples // args.batch_size)
    print(
        f"probe: {n_params / 1e6:.2f}M parameters; task: {args.n_samples} samples, "
        f"{n_batches} batches of {args.batch_size}; torch threads: {args.threads}"
    )
    print(
        f"{'n_restarts':>10} {'rows':>6} {'wall_s':>8} {'ms/batch':>9} "
        f"{'record_MB':>10} {'traced_peak_MB':>15} {'maxrss_MB':>10}"
    )
    # Warm-up: the first backward passes allocate torch's buffers.
    GradientFeaturizer(model=probe, n_restarts=1, batch_size=args.batch_size).fit(
        X[: args.batch_size], y[: args.batch_size]
    )
    for n_restarts in restarts:
        featurizer = GradientFeaturizer(
            model=probe,
            n_restarts=n_restarts,
            batch_size=args.batch_size,
            random_state=0,
        )
        tracemalloc.start()
        start = time.perf_counter()
        G = featurizer.fit_transform(X, y)
        PGE(unit_sizes=featurizer.unit_sizes_).fit(G)
        wall = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"{n_restarts:>10} {G.shape[0]:>6} {wall:>8.2f} "
            f"{1e3 * wall / G.shape[0]:>9.1f} {G.nbytes / 2**20:>10.1f} "
            f"{peak / 2**20:>15.1f} {maxrss:>10.0f}"
        )
        del G, featurizer


if __name__ == "__main__":
    main()
