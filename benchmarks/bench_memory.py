"""Peak memory of each metric on a large float32 ``X``, one fresh process each.

For every metric, a child process builds ``X`` (``n_samples x n_features``,
float32, low-rank class structure plus noise; probabilities for LEEP/NCE) and
the labels, records its resident memory, runs ``Metric().fit(X, y)`` and
reports:

- ``rss_peak_mb``: peak resident memory during ``fit`` (``VmHWM``, reset
  through ``/proc/self/clear_refs`` once ``X`` and ``y`` exist) minus the
  resident memory at that point, i.e. what the metric added at its peak
  (BLAS/LAPACK workspaces included; Linux only);
- ``traced_peak_mb``: peak of the allocations that ``tracemalloc`` sees
  (numpy arrays and Python objects) during ``fit``;
- ``copies``: ``rss_peak_mb`` in units of a float64 copy of ``X``
  (``8 N D`` bytes). Validation converts float32 input to float64 once, so
  one copy is the floor for float32 input; float64 C-ordered input is used
  without a copy.

Usage::

    python benchmarks/bench_memory.py                  # 200000 x 4096 (3.3 GB)
    python benchmarks/bench_memory.py --quick          # 20000 x 1024, seconds
    python benchmarks/bench_memory.py --size 50000x2048 --metrics LogME,HScore
    python benchmarks/bench_memory.py --quick --csv docs/peak_memory.csv

The default size needs about 3.3 GB for ``X``, 6.6 GB for its float64 copy
and what each metric adds: run it on a machine with 24 GB or more, alone.
Every child is pinned to one BLAS thread.
"""

# SPDX-License-Identifier: BSD-3-Clause

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402

# Metrics and the parameters they are run with (defaults unless noted).
# KNNScore's leave-one-out search is O(N^2 D): PCA to 64 dims first.
METRICS = {
    "LogME": {},
    "TransRate": {},
    "HScore": {},
    "ShrinkageHScore": {},
    "GBC": {},
    "SFDA": {},
    "PARC": {},
    "NCTI": {},
    "ETran": {},
    "NLEEP": {},
    "KNNScore": {"n_components": 64},
    "LEEP": {},
    "NCE": {},
}
PROBABILITY_METRICS = {"LEEP", "NCE"}


def _reset_peak():
    """Reset the kernel's peak-RSS counter (Linux >= 4.0); False if impossible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:  # pragma: no cover - not Linux
        return False


def _status_mb(field):
    """``VmRSS`` or ``VmHWM`` (peak) of this process in MB, from /proc."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise OSError(field)  # pragma: no cover


def _make_data(name, n, d, n_classes, seed=0, chunk=8192):
    """float32 X built chunk by chunk (no float64 temporary of full size)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    rng.shuffle(y)
    rank = 32
    centers = rng.normal(size=(n_classes, rank)).astype(np.float32)
    W = rng.normal(size=(rank, d)).astype(np.float32) / np.sqrt(rank)
    X = np.empty((n, d), dtype=np.float32)
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        Z = centers[y[lo:hi]] + rng.normal(size=(hi - lo, rank)).astype(np.float32)
        block = Z @ W + 0.3 * rng.standard_normal((hi - lo, d), dtype=np.float32)
        if name in PROBABILITY_METRICS:
            block = 3 * block
            block -= block.max(axis=1, keepdims=True)
            np.exp(block, out=block)
            block /= block.sum(axis=1, keepdims=True)
        X[lo:hi] = block
    return X, y


def _child(name, n, d, n_classes):
    """Run one metric and print its figures as JSON on the last line."""
    from threadpoolctl import threadpool_limits

    from sktransfer import metrics

    X, y = _make_data(name, n, d, n_classes)
    estimator = getattr(metrics, name)(**METRICS[name])
    if not _reset_peak():
        raise SystemExit("needs Linux /proc/self/clear_refs to reset the peak RSS")
    base_rss = _status_mb("VmRSS")
    tracemalloc.start()
    start = time.perf_counter()
    with threadpool_limits(1):
        estimator.fit(X, y)
    wall = time.perf_counter() - start
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    added = _status_mb("VmHWM") - base_rss
    print(
        json.dumps(
            {
                "metric": name,
                "x_mb": X.nbytes / 2**20,
                "rss_peak_mb": added,
                "traced_peak_mb": traced_peak / 2**20,
                "wall_s": wall,
                "score": float(estimator.score_),
            }
        )
    )


def _parse_size(text):
    n, d = (int(v) for v in text.lower().split("x"))
    return n, d


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="200000x4096", help="NxD (float32)")
    parser.add_argument("--quick", action="store_true", help="20000x1024")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--metrics", default="all")
    parser.add_argument("--timeout", type=float, default=1800, help="per metric, s")
    parser.add_argument("--csv", help="also write the table as CSV")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    n, d = _parse_size("20000x1024" if args.quick else args.size)
    if args.child:
        _child(args.child, n, d, args.classes)
        return 0

    names = list(METRICS) if args.metrics == "all" else args.metrics.split(",")
    f64_mb = 8 * n * d / 2**20
    print(  # noqa: T201
        f"X: {n} x {d} float32 = {4 * n * d / 2**20:.0f} MB "
        f"(float64 copy {f64_mb:.0f} MB), {args.classes} classes, one thread"
    )
    header = ("metric", "rss_peak_mb", "traced_peak_mb", "copies", "wall_s")
    print("{:16s} {:>12s} {:>15s} {:>7s} {:>8s}".format(*header))  # noqa: T201
    rows = []
    for name in names:
        cmd = [sys.executable, __file__, "--child", name, "--size", f"{n}x{d}"]
        cmd += ["--classes", str(args.classes)]
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=args.timeout, check=False
            )
        except subprocess.TimeoutExpired:
            print(f"{name:16s} timed out after {args.timeout:.0f}s")  # noqa: T201
            continue
        if proc.returncode != 0:
            last = proc.stderr.strip().splitlines()[-1:] or ["?"]
            print(f"{name:16s} failed: {last[0]}")  # noqa: T201
            continue
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        res["copies"] = res["rss_peak_mb"] / f64_mb
        rows.append(res)
        print(  # noqa: T201
            f"{name:16s} {res['rss_peak_mb']:12.0f} {res['traced_peak_mb']:15.0f} "
            f"{res['copies']:7.2f} {res['wall_s']:8.1f}",
            flush=True,
        )
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(
                [
                    "Metric",
                    f"Peak above X, MB ({n} x {d} float32)",
                    "Traced peak, MB",
                    "Float64 copies of X",
                ]
            )
            for r in rows:
                writer.writerow(
                    [
                        r["metric"],
                        f"{r['rss_peak_mb']:.0f}",
                        f"{r['traced_peak_mb']:.0f}",
                        f"{r['copies']:.2f}",
                    ]
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
