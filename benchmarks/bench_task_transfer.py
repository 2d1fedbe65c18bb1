"""Time TaskTransferBound at n=5,000, d=512, C=10 on one CPU thread.

Synthetic source and target tasks of ``--n`` samples, ``--d`` features and
``--n-classes`` classes: class means ``mu_c ~ N(0, 0.3^2 I)`` plus unit
Gaussian noise; the target relabels the classes by a fixed permutation and
moves the features by a near-identity linear map and a shift, so the
transforms have something to learn. The reference task (``ReferenceTask``
with its default 500 full-batch Adam steps of the penalised head) is fitted
once and timed on its own.

For each ``solver`` (exact EMD, Sinkhorn) and ``transforms`` setting the
script runs ``TaskTransferBound.fit`` with ``--n-iter`` alternating steps
(minibatch plan + Adam step; ``batch_size=500`` as by default) and reports,
in CPU seconds of the process (``time.process_time``) and wall seconds:

- ``opt``: the transform optimisation (``--n-iter`` steps) and ``ms/step``;
- ``eval``: the final bound (class-conditional exact EMD on all points, for
  the learned and the identity feature maps, and the Lipschitz constant);
- ``est@1000``: ``eval + 1000 * ms/step``, the cost of a default fit
  (``n_iter=1000``), extrapolated when ``--n-iter`` is smaller.

The final EMD is slower when the label map is still soft (all source points
carry mass for every target class), so ``eval`` after few steps overstates it.

Run from the repository root (CPU time is the figure to compare on a shared
machine; wall time includes waiting for the cores)::

    python benchmarks/bench_task_transfer.py                 # 50 steps each
    python benchmarks/bench_task_transfer.py --n-iter 1000   # full default fits
    python benchmarks/bench_task_transfer.py --quick         # n=1000, d=64
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from sktransfer.metrics import ReferenceTask, TaskTransferBound  # noqa: E402


def make_tasks(n, d, n_classes, seed=0):
    rng = np.random.default_rng(seed)
    mu = 0.3 * rng.normal(size=(n_classes, d))
    ys = rng.permutation(np.arange(n) % n_classes)
    yt = rng.permutation(np.arange(n) % n_classes)
    perm = rng.permutation(n_classes)
    Zs = mu[ys] + rng.normal(size=(n, d))
    mixing = np.eye(d) + 0.05 * rng.normal(size=(d, d)) / np.sqrt(d)
    Zt = (mu[yt] + rng.normal(size=(n, d))) @ mixing + 0.5
    return Zs, ys, Zt, perm[yt]


class _Timer:
    def __init__(self):
        self.cpu = self.wall = 0.0

    def wrap(self, func):
        def timed(*args, **kwargs):
            cpu, wall = time.process_time(), time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                self.cpu += time.process_time() - cpu
                self.wall += time.perf_counter() - wall

        return timed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--d", type=int, default=512)
    parser.add_argument("--n-classes", type=int, default=10)
    parser.add_argument("--n-iter", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--solvers", default="emd,sinkhorn")
    parser.add_argument("--transforms", default="all,feature,none")
    parser.add_argument("--quick", action="store_true", help="n=1000, d=64, 20 steps")
    args = parser.parse_args()
    if args.quick:
        args.n, args.d, args.n_iter = 1000, 64, 20
    torch.set_num_threads(1)
    Zs, ys, Zt, yt = make_tasks(args.n, args.d, args.n_classes)
    print(
        f"# n={args.n} d={args.d} C={args.n_classes} batch_size={args.batch_size} "
        f"n_iter={args.n_iter}; torch {torch.__version__}, threads=1"
    )
    with threadpool_limits(1):
        cpu, wall = time.process_time(), time.perf_counter()
        ref = ReferenceTask(random_state=0).fit(Zs, ys)
        print(
            f"# ReferenceTask.fit (500 Adam steps): cpu {time.process_time() - cpu:.1f}"
            f" s, wall {time.perf_counter() - wall:.1f} s"
        )
        print(
            "| solver | transforms | opt cpu_s | ms/step | eval cpu_s | fit cpu_s "
            "| fit wall_s | est@1000 cpu_s | bound | W | tau |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for solver in args.solvers.split(","):
            for transforms in args.transforms.split(","):
                est = TaskTransferBound(
                    reference=ref,
                    transforms=transforms,
                    solver=solver,
                    n_iter=args.n_iter,
                    batch_size=args.batch_size,
                    random_state=0,
                )
                opt, ev = _Timer(), _Timer()
                est._optimise = opt.wrap(est._optimise)
                est._bound = ev.wrap(est._bound)
                cpu, wall = time.process_time(), time.perf_counter()
                est.fit(Zt, yt)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                steps = args.n_iter if transforms != "none" else 0
                per_step = opt.cpu / steps if steps else 0.0
                est1000 = cpu - opt.cpu + 1000 * per_step
                print(
                    f"| {solver} | {transforms} | {opt.cpu:.1f} | {1e3 * per_step:.0f} "
                    f"| {ev.cpu:.1f} | {cpu:.1f} | {wall:.1f} | {est1000:.0f} "
                    f"| {est.bound_:.3f} | {est.distribution_mismatch_:.3f} "
                    f"| {est.lipschitz_:.3f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
