"""Time sktransfer's metrics against the hardware floor ``X.T @ X`` on one core.

Run ``python benchmarks/bench_metrics.py`` (full grid, minutes) or
``python benchmarks/bench_metrics.py --quick --repeat 1`` (smoke run, seconds).
See ``benchmarks/README.md`` for what is measured and how to read the output.
"""

# SPDX-License-Identifier: BSD-3-Clause

import os

# Pin every BLAS/OpenMP pool to one thread *before* numpy is imported; the
# threadpoolctl limit in main() covers libraries that ignore the variables.
for _var in (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import csv  # noqa: E402
import gc  # noqa: E402
import itertools  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402

from sktransfer.metrics import (  # noqa: E402
    GBC,
    LEEP,
    NCE,
    NCTI,
    NLEEP,
    PARC,
    SFDA,
    ETran,
    HScore,
    KNNScore,
    LogME,
    ShrinkageHScore,
    TransRate,
)

# Name -> zero-argument factory of an unfitted estimator. Add a metric here and
# it becomes selectable with ``--metrics``. By default the grid times the
# foundation metrics; ``--metrics all`` times every one.
METRICS = {
    "LogME": LogME,
    "TransRate": TransRate,
    "HScore": HScore,
    "ShrinkageHScore": ShrinkageHScore,
    "GBC": GBC,
    "SFDA": SFDA,
    "PARC": PARC,
    "NLEEP": NLEEP,
    "KNNScore": KNNScore,
    "ETran": ETran,
    "NCTI": NCTI,
    "LEEP": LEEP,
    "NCE": NCE,
}
DEFAULT_METRICS = ("LogME", "TransRate")
N_SOURCE_CLASSES = 1000

GRID_N = (10_000, 50_000)
GRID_D = (512, 2048)
GRID_C = (10, 100)
QUICK_SIZES = ((10_000, 512, None),)


# --------------------------------------------------------------------------- data
def make_data(n_samples, n_features, n_classes, seed):
    """Synthetic class-dependent features (performance-anchors.md, section 3).

    ``X = 0.5 + mu[y] + noise * s`` with the power-law scale ``s_j = (j+1)^-0.5``,
    class means ``mu_c ~ N(0, (0.1 s)^2)`` and balanced, shuffled labels. Built in
    float64 in place, so the only large allocation is ``X`` itself.
    """
    rng = np.random.default_rng([seed, n_samples, n_features, n_classes])
    scale = (np.arange(n_features, dtype=np.float64) + 1.0) ** -0.5
    y = rng.permutation(np.arange(n_samples) % n_classes)
    mu = rng.standard_normal((n_classes, n_features)) * (0.1 * scale)
    X = np.empty((n_samples, n_features), dtype=np.float64)
    rng.standard_normal(out=X)
    X *= scale
    X += 0.5
    step = 4096  # add mu[y] by row blocks: no second N x D temporary
    for start in range(0, n_samples, step):
        rows = slice(start, start + step)
        X[rows] += mu[y[rows]]
    return X, y


# ------------------------------------------------------------------------- timing
def timed(func, *args):
    """Return ``(result, cpu_s, wall_s)`` of one call ``func(*args)``."""
    gc.collect()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = func(*args)
    return result, time.process_time() - cpu0, time.perf_counter() - wall0


def floor_op(X):
    # numpy dispatches X.T @ X to syrk (N * D^2 flops).
    return X.T @ X


def make_probabilities(X):
    """Source-model "probabilities" for LEEP and NCE, derived from ``X``.

    A softmax over the first ``min(D, 1000)`` columns (scaled so that the rows
    are peaked like a classifier's), i.e. N x 1000 source classes for D=2048.
    Built once per configuration, outside the timing.
    """
    logits = X[:, :N_SOURCE_CLASSES] * 10.0
    logits -= logits.max(axis=1, keepdims=True)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=1, keepdims=True)
    return logits


def metric_input(name, X, P):
    return P if METRICS[name]._input_kind == "probabilities" else X


def fit_metric(name, X, y):
    return METRICS[name]().fit(X, y)


def warm_up(metric_names):
    """Pay one-time costs (lazy imports, first BLAS/LAPACK calls) outside timing."""
    X, y = make_data(300, 32, 3, seed=12345)
    P = make_probabilities(X)
    floor_op(X)
    for name in metric_names:
        fit_metric(name, metric_input(name, X, P), y)


def bench_config(n_samples, n_features, n_classes, metric_names, repeat, seed):
    """Time the floor and each metric, interleaved, ``repeat`` times; medians."""
    X, y = make_data(n_samples, n_features, n_classes, seed)
    needs_p = any(METRICS[n]._input_kind == "probabilities" for n in metric_names)
    P = make_probabilities(X) if needs_p else None
    floor_cpu, floor_wall = [], []
    cpu = {name: [] for name in metric_names}
    wall = {name: [] for name in metric_names}
    score = {}
    failed = {}
    for _ in range(repeat):
        gram, c, w = timed(floor_op, X)
        del gram
        floor_cpu.append(c)
        floor_wall.append(w)
        for name in metric_names:
            if name in failed:
                continue
            try:
                est, c, w = timed(fit_metric, name, metric_input(name, X, P), y)
            except Exception as exc:  # keep the run going, report the failure
                failed[name] = f"{type(exc).__name__}: {exc}"
                print(
                    f"# {name} failed at N={n_samples} D={n_features} "
                    f"C={n_classes}: {failed[name]}",
                    file=sys.stderr,
                    flush=True,
                )
                continue
            cpu[name].append(c)
            wall[name].append(w)
            score[name] = float(getattr(est, "score_", float("nan")))
            del est
    del X, y, P
    gc.collect()

    row = {
        "N": n_samples,
        "D": n_features,
        "C": n_classes,
        "floor_cpu_s": statistics.median(floor_cpu),
        "floor_wall_s": statistics.median(floor_wall),
    }
    for name in metric_names:
        nan = float("nan")
        m_cpu = statistics.median(cpu[name]) if cpu[name] else nan
        m_wall = statistics.median(wall[name]) if wall[name] else nan
        row[f"{name}_cpu_s"] = m_cpu
        row[f"{name}_wall_s"] = m_wall
        row[f"{name}_ratio"] = m_cpu / row["floor_cpu_s"]
        row[f"{name}_score"] = score.get(name, nan)
    return row


# ------------------------------------------------------------------------- output
def table_columns(metric_names):
    cols = ["N", "D", "C", "floor_cpu_s"]
    for name in metric_names:
        cols += [f"{name}_cpu_s", f"{name}_wall_s", f"{name}_ratio"]
    return cols


LONG_COLUMNS = ["N", "D", "C", "metric", "floor_cpu_s", "cpu_s", "wall_s", "ratio"]


def long_rows(row, metric_names):
    """One row per metric of a configuration's wide row."""
    for name in metric_names:
        yield {
            **{k: row[k] for k in ("N", "D", "C", "floor_cpu_s")},
            "metric": name,
            **{k: row[f"{name}_{k}"] for k in ("cpu_s", "wall_s", "ratio")},
        }


def csv_columns(metric_names):
    cols = ["N", "D", "C", "floor_cpu_s", "floor_wall_s"]
    for name in metric_names:
        cols += [f"{name}_{k}" for k in ("cpu_s", "wall_s", "ratio", "score")]
    return cols


def fmt(value, column):
    if isinstance(value, int | str):
        return str(value)
    if value != value:  # NaN: the metric failed
        return "err"
    if column.endswith("ratio"):
        return f"{value:.2f}"
    return f"{value:#.3g}" if value < 10 else f"{value:.1f}"


class Table:
    """Markdown-compatible table printed row by row (widths fixed by the header)."""

    def __init__(self, columns, stream=sys.stdout):
        self.columns = columns
        longest_metric = max(map(len, METRICS))
        self.widths = [
            max(len(c), longest_metric if c == "metric" else 8) for c in columns
        ]
        self.stream = stream

    def _line(self, cells):
        body = " | ".join(c.rjust(w) for c, w in zip(cells, self.widths, strict=True))
        print(f"| {body} |", file=self.stream, flush=True)

    def header(self):
        self._line(self.columns)
        rule = "|" + "|".join("-" * (w + 1) + ":" for w in self.widths) + "|"
        print(rule, file=self.stream, flush=True)

    def row(self, row):
        self._line([fmt(row[c], c) for c in self.columns])


# --------------------------------------------------------------------------- CLI
def parse_sizes(text):
    """``"10000x512,50000x2048x100"`` -> ``[(10000, 512, None), (50000, 2048, 100)]``.

    ``C`` is optional; when left out, every C of the grid is run.
    """
    sizes = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        parts = item.lower().split("x")
        if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts):
            raise argparse.ArgumentTypeError(
                f"bad size {item!r}: expected NxD or NxDxC, e.g. 10000x512x10"
            )
        n, d, *c = (int(p) for p in parts)
        sizes.append((n, d, c[0] if c else None))
    if not sizes:
        raise argparse.ArgumentTypeError("--sizes is empty")
    return sizes


def parse_metrics(text):
    if text.strip() == "all":
        return list(METRICS)
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown metric(s) {unknown}; available: {', '.join(METRICS)}"
        )
    return names


def configs(sizes):
    """Expand ``sizes`` (or the full grid when None) into (N, D, C) triples."""
    if sizes is None:
        return list(itertools.product(GRID_N, GRID_D, GRID_C))
    out = []
    for n, d, c in sizes:
        out += [(n, d, cc) for cc in ((c,) if c is not None else GRID_C)]
    return out


def build_parser():
    parser = argparse.ArgumentParser(
        description=(
            "Single-core CPU time of sktransfer metrics vs the floor X.T @ X "
            f"(default grid N={GRID_N}, D={GRID_D}, C={GRID_C})."
        )
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--quick", action="store_true", help="smoke run: only N=10000, D=512"
    )
    group.add_argument(
        "--sizes",
        type=parse_sizes,
        metavar="NxD[xC],...",
        help="configurations to run, e.g. 50000x2048 or 10000x512x10,50000x512x100 "
        "(C left out: all of the grid's C)",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="repeats per config (median reported)"
    )
    parser.add_argument(
        "--metrics",
        type=parse_metrics,
        default=list(DEFAULT_METRICS),
        metavar="NAME,...",
        help=f"'all' or a comma list among {', '.join(METRICS)} "
        f"(default: {','.join(DEFAULT_METRICS)})",
    )
    parser.add_argument("--csv", metavar="PATH", help="also write the results here")
    parser.add_argument("--seed", type=int, default=0, help="data seed (default 0)")
    return parser


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_environment():
    print(
        f"# python {platform.python_version()}, numpy {np.__version__}, "
        f"{cpu_model()}, {os.cpu_count()} logical CPUs",
        flush=True,
    )
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if var in os.environ:
            print(f"# {var}={os.environ[var]}", flush=True)
    for lib in threadpool_info():
        print(
            f"# {lib['user_api']}: {lib['internal_api']} "
            f"{lib.get('version') or ''} {lib.get('architecture') or ''} "
            f"threads={lib['num_threads']}",
            flush=True,
        )


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.repeat < 1:
        raise SystemExit("--repeat must be >= 1")
    sizes = QUICK_SIZES if args.quick else args.sizes
    todo = configs(sizes)
    names = args.metrics

    with threadpool_limits(limits=1):
        describe_environment()
        print(
            f"# float64 data, seed {args.seed}, median of {args.repeat} "
            "interleaved repeat(s) (floor, then each metric); "
            "ratio = metric cpu_s / floor_cpu_s",
            flush=True,
        )
        warm_up(names)
        # Wide table (a column group per metric) for a few metrics; long table
        # (a row per configuration and metric) for more.
        long = len(names) > 2
        table = Table(LONG_COLUMNS if long else table_columns(names))
        table.header()
        rows = []
        for n, d, c in todo:
            row = bench_config(n, d, c, names, args.repeat, args.seed)
            for line in long_rows(row, names) if long else [row]:
                table.row(line)
            rows.append(row)

    if args.csv:
        with open(args.csv, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=csv_columns(names))
            writer.writeheader()
            writer.writerows(rows)
        print(f"# wrote {args.csv}", flush=True)


if __name__ == "__main__":
    main()
