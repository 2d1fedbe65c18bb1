"""Time sktransfer's metrics against the hardware floor and the public references.

Run ``python benchmarks/bench_metrics.py --suite issue9`` (the performance
goals of issue 9: every metric, its reference re-run side by side, the full
grid; tens of minutes) or ``python benchmarks/bench_metrics.py --suite issue9
--quick`` (the same on small sizes, about a minute). Without ``--suite`` it
times LogME and TransRate on a smaller grid, without references.
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
import datetime  # noqa: E402
import gc  # noqa: E402
import itertools  # noqa: E402
import math  # noqa: E402
import pathlib  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import scipy  # noqa: E402
import sklearn  # noqa: E402
from threadpoolctl import threadpool_info, threadpool_limits  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _references import REFERENCES  # noqa: E402

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
# it becomes selectable with ``--metrics``.
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
    # N-LEEP's documented faster option: diagonal covariances (K N d per EM
    # step instead of K N d^2); not the reference's score.
    "NLEEP-diag": lambda: NLEEP(covariance_type="diag"),
}
# Metrics timed against another metric's reference.
REFERENCE_OF = {"NLEEP-diag": "NLEEP"}
DEFAULT_METRICS = ("LogME", "TransRate")
N_SOURCE_CLASSES = 1000

GRID_N = (10_000, 50_000)
GRID_D = (512, 2048)
GRID_C = (10, 100)
QUICK_SIZES = ((10_000, 512, None),)

# The issue-9 suite: its metrics (each with its re-written reference), grid and
# goals. A goal is (kind, bound): "gram" = ratio to X.T @ X at most bound;
# "pass" = ratio to one pass over the probabilities at most bound; "speedup" =
# reference time / our time at least bound; "seconds" = our time at most bound.
SUITE_METRICS = (
    "LogME",
    "TransRate",
    "HScore",
    "ShrinkageHScore",
    "GBC",
    "SFDA",
    "LEEP",
    "NCE",
    "NLEEP",
    "NLEEP-diag",
    "PARC",
)
SUITE_N = (5_000, 20_000, 50_000)
SUITE_D = (512, 2048)
SUITE_C = (10, 100)
SUITE_QUICK = ((5_000, 512, 10), (5_000, 512, 100), (20_000, 512, 10))
GOALS = {
    "LogME": ("gram", 1.5),
    "TransRate": ("gram", 1.5),
    "HScore": ("gram", 1.2),
    "ShrinkageHScore": ("gram", 1.5),
    "GBC": ("gram", 1.2),
    "SFDA": ("gram", 3.0),
    "LEEP": ("pass", 1.0),
    "NCE": ("pass", 1.0),
    "NLEEP": ("speedup", 5.0),
    "NLEEP-diag": ("speedup", 5.0),
    "PARC": ("seconds", 5.0),
}
# References that hold N x N arrays: run only up to this N.
REFERENCE_MAX_N = {"PARC": 5_000}
# Metrics whose cost is set by an iterative model (N-LEEP's full-covariance
# Gaussian mixture with 5 C components, K N d^2 per EM step, like its
# reference): the suite runs them, and their reference, only where N D C is
# at most this (5000 x 512 x 10, the smallest configuration).
SUITE_MAX_NDC = {"NLEEP": 5_000 * 512 * 10, "NLEEP-diag": 5_000 * 512 * 10}
RESULTS_DIR = pathlib.Path(__file__).resolve().parent / "results"


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


def make_probabilities(y, seed, n_source=N_SOURCE_CLASSES):
    """Source-model "probabilities" for LEEP and NCE: N x 1000, float64.

    Each target class favours 5 source classes (as in performance-anchors.md
    section 3); rows are a softmax of noisy logits. Built once per
    configuration, outside the timing.
    """
    rng = np.random.default_rng([seed, y.shape[0], n_source])
    favoured = rng.integers(0, n_source, size=(int(y.max()) + 1, 5))
    P = rng.standard_normal((y.shape[0], n_source))
    rows = np.arange(y.shape[0])[:, None]
    P[rows, favoured[y]] += 3.0
    P -= P.max(axis=1, keepdims=True)
    np.exp(P, out=P)
    P /= P.sum(axis=1, keepdims=True)
    return P


# ------------------------------------------------------------------------- timing
def timed(func, *args):
    """Return ``(result, cpu_s, wall_s)`` of one call ``func(*args)``."""
    gc.collect()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = func(*args)
    return result, time.process_time() - cpu0, time.perf_counter() - wall0


def best_of(func, args, repeat, budget, trace=False):
    """Best (minimum) CPU and wall time of up to ``repeat`` calls.

    Stops early once the calls have used ``budget`` CPU seconds (at least one
    call is made). With ``trace``, the first call runs under ``tracemalloc``
    and its peak is returned (numpy reports its array allocations to
    tracemalloc, so this is the most memory the call held at once on top of
    its inputs). Returns ``(result, cpu_s, wall_s, n_calls, peak_mib)``.
    """
    cpu, wall, result, peak = [], [], None, None
    for i in range(repeat):
        if trace and i == 0:
            gc.collect()
            tracemalloc.start()
            try:
                result, c, w = timed(func, *args)
                peak = tracemalloc.get_traced_memory()[1] / 2**20
            finally:
                tracemalloc.stop()
        else:
            result, c, w = timed(func, *args)
        cpu.append(c)
        wall.append(w)
        if sum(cpu) >= budget:
            break
    return result, min(cpu), min(wall), len(cpu), peak


def floor_op(X):
    # numpy dispatches X.T @ X to syrk (N * D^2 flops).
    return X.T @ X


def pass_op(P):
    # One read of every probability: the floor of LEEP and NCE.
    return P.sum(axis=0)


def input_kind(name):
    return METRICS[name]()._input_kind


def metric_input(name, X, P):
    return P if input_kind(name) == "probabilities" else X


def fit_metric(name, X, y):
    with warnings.catch_warnings():
        # e.g. NLEEP's "too few samples per component" on the grid's sizes.
        warnings.simplefilter("ignore", UserWarning)
        return METRICS[name]().fit(X, y).score_


def run_reference(name, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return REFERENCES[REFERENCE_OF.get(name, name)][0](X, y)


def warm_up(metric_names, references):
    """Pay one-time costs (lazy imports, first BLAS/LAPACK calls) outside timing."""
    X, y = make_data(400, 96, 3, seed=12345)
    P = make_probabilities(y, 12345, n_source=20)
    floor_op(X)
    pass_op(P)
    for name in metric_names:
        fit_metric(name, metric_input(name, X, P), y)
        if references and REFERENCE_OF.get(name, name) in REFERENCES:
            run_reference(name, metric_input(name, X, P), y)


class Skipper:
    """Skip a method at configurations that dominate one where it was too slow."""

    def __init__(self, max_seconds, ref_max_seconds):
        self.max_seconds = max_seconds
        self.ref_max_seconds = ref_max_seconds
        self.slow = {}

    def skip(self, key, config):
        slow = self.slow.get(key, ())
        return any(all(a >= b for a, b in zip(config, s, strict=True)) for s in slow)

    def record(self, key, config, seconds):
        cap = self.ref_max_seconds if key.startswith("ref:") else self.max_seconds
        if seconds > cap:
            self.slow.setdefault(key, []).append(config)


def bench_config(config, names, args, skipper):
    """Time the floors, each metric and each reference on one configuration."""
    n_samples, n_features, n_classes = config
    X, y = make_data(n_samples, n_features, n_classes, args.seed)
    needs_p = any(input_kind(n) == "probabilities" for n in names)
    P = make_probabilities(y, args.seed) if needs_p else None
    floors = {"gram": [], "pass": []}

    def time_floors(X, P):
        budget = args.repeat_budget / 2
        floors["gram"].append(best_of(floor_op, (X,), args.repeat, budget)[1])
        if P is not None:
            floors["pass"].append(best_of(pass_op, (P,), args.repeat, budget)[1])

    time_floors(X, P)
    rows = []
    for name in names:
        data = metric_input(name, X, P)
        row = {"N": n_samples, "D": n_features, "C": n_classes, "metric": name}
        row["peak_mib"] = None
        for who, func, key in (
            ("ours", fit_metric, name),
            ("ref", run_reference, f"ref:{name}"),
        ):
            has_ref = REFERENCE_OF.get(name, name) in REFERENCES
            wanted = who == "ours" or (args.references and has_ref)
            too_big = who == "ref" and n_samples > REFERENCE_MAX_N.get(name, n_samples)
            if args.suite == "issue9" and name in SUITE_MAX_NDC:
                too_big = too_big or math.prod(config) > SUITE_MAX_NDC[name]
            if not wanted or too_big or skipper.skip(key, config):
                row[f"{who}_cpu_s"] = row[f"{who}_wall_s"] = row[f"{who}_score"] = None
                row[f"{who}_note"] = "skip" if wanted else ""
                continue
            try:
                score, cpu, wall, calls, peak = best_of(
                    func,
                    (name, data, y),
                    args.repeat,
                    args.repeat_budget,
                    trace=args.memory and who == "ours",
                )
            except Exception as exc:  # keep the run going, report the failure
                print(
                    f"# {who} {name} failed at N={n_samples} D={n_features} "
                    f"C={n_classes}: {type(exc).__name__}: {exc}",
                    file=sys.stderr,
                    flush=True,
                )
                row[f"{who}_cpu_s"] = row[f"{who}_wall_s"] = row[f"{who}_score"] = None
                row[f"{who}_note"] = "err"
                skipper.record(key, config, float("inf"))
                continue
            skipper.record(key, config, cpu)
            print(
                f"#   {config} {who} {name}: {cpu:.3g} s cpu, {wall:.3g} s wall",
                file=sys.stderr,
                flush=True,
            )
            row[f"{who}_cpu_s"], row[f"{who}_wall_s"] = cpu, wall
            row[f"{who}_score"], row[f"{who}_note"] = score, f"x{calls}"
            if who == "ours":
                row["peak_mib"] = peak
        rows.append(row)
    time_floors(X, P)  # again at the end: the minimum covers drift within the config
    floor_gram = min(floors["gram"])
    floor_pass = min(floors["pass"]) if floors["pass"] else None
    input_mib = X.nbytes / 2**20
    del X, y, P
    gc.collect()
    for row in rows:
        kind = GOALS.get(row["metric"], ("gram", None))[0]
        floor = floor_pass if kind == "pass" else floor_gram
        row["floor"] = "P.sum" if kind == "pass" else "X.T@X"
        row["floor_cpu_s"] = floor
        row["gram_cpu_s"] = floor_gram
        row["input_mib"] = input_mib
        ours, ref = row["ours_cpu_s"], row["ref_cpu_s"]
        row["ratio"] = ours / floor if ours is not None else None
        row["ref_ratio"] = ref / floor if ref is not None else None
        row["speedup"] = ref / ours if ours and ref is not None else None
        row["goal"], row["met"] = goal_status(row)
    return rows


def goal_status(row):
    """``(goal text, "yes"/"no"/"")`` of a result row."""
    kind, bound = GOALS.get(row["metric"], (None, None))
    if kind is None:
        return "", ""
    value = {
        "gram": row["ratio"],
        "pass": row["ratio"],
        "speedup": row["speedup"],
        "seconds": row["ours_cpu_s"],
    }[kind]
    text = {
        "gram": f"<= {bound}x X.T@X",
        "pass": f"<= {bound}x pass",
        "speedup": f">= {bound}x ref",
        "seconds": f"<= {bound} s",
    }[kind]
    if value is None:
        return text, ""
    ok = value >= bound if kind == "speedup" else value <= bound
    if row["speedup"] is not None and row["speedup"] < 1.0:
        ok = False  # behind the reference
    return text, "yes" if ok else "no"


# ------------------------------------------------------------------------- output
COLUMNS = [
    ("N", "N"),
    ("D", "D"),
    ("C", "C"),
    ("metric", "metric"),
    ("floor", "floor"),
    ("floor_cpu_s", "floor s"),
    ("ours_cpu_s", "ours s"),
    ("ratio", "ratio"),
    ("peak_mib", "peak MiB"),
    ("ref_cpu_s", "ref s"),
    ("ref_ratio", "ref ratio"),
    ("speedup", "ref/ours"),
    ("goal", "goal"),
    ("met", "met"),
]


def fmt(value, column, row=None):
    if value is None:
        if row is not None and column.startswith(("ours", "ref")):
            return row.get(column.split("_")[0] + "_note") or "-"
        return "-"
    if isinstance(value, int | str):
        return str(value)
    if column in ("ratio", "ref_ratio", "speedup"):
        return f"{value:.2f}"
    if column == "peak_mib":
        return f"{value:.0f}"
    return f"{value:#.3g}" if value < 10 else f"{value:.1f}"


class Table:
    """Markdown table printed row by row (widths fixed by the header)."""

    def __init__(self, columns, stream=sys.stdout):
        self.columns = columns
        self.widths = [max(len(title), 6) for _, title in columns]
        self.widths[3] = max(self.widths[3], max(map(len, METRICS)))
        self.widths[-2] = 15
        self.stream = stream

    def _line(self, cells):
        body = " | ".join(c.rjust(w) for c, w in zip(cells, self.widths, strict=True))
        return f"| {body} |"

    def header(self):
        rule = "|" + "|".join("-" * (w + 1) + ":" for w in self.widths) + "|"
        return [self._line([t for _, t in self.columns]), rule]

    def row(self, row):
        return self._line([fmt(row[key], key, row) for key, _ in self.columns])

    def emit(self, line):
        print(line, file=self.stream, flush=True)


def summary_lines(rows):
    """Per metric: the worst value against its goal, and the C=100 / C=10 ratios."""
    lines = [
        "| metric | goal | worst over sizes | at (N, D, C) | met everywhere | "
        "ratio C=100 / C=10 (per N, D) | slower than ref at |",
        "|---|---|---:|---|---|---|---|",
    ]
    for name in dict.fromkeys(r["metric"] for r in rows):
        mine = [r for r in rows if r["metric"] == name and r["ours_cpu_s"] is not None]
        if not mine:
            continue
        kind, bound = GOALS.get(name, ("gram", None))
        key = {"gram": "ratio", "pass": "ratio", "speedup": "speedup"}.get(
            kind, "ours_cpu_s"
        )
        valued = [r for r in mine if r[key] is not None]
        if valued:
            pick = min if kind == "speedup" else max
            worst = pick(valued, key=lambda r, key=key: r[key])
            worst_text = fmt(worst[key], key)
            at = f"({worst['N']}, {worst['D']}, {worst['C']})"
        else:
            worst_text, at = "-", "-"
        verdicts = [r["met"] for r in mine if r["met"]]
        met = "yes" if all(v == "yes" for v in verdicts) else "no"
        met = met if verdicts else "-"
        growth = []
        for n, d in dict.fromkeys((r["N"], r["D"]) for r in mine):
            by_c = {r["C"]: r["ratio"] for r in mine if (r["N"], r["D"]) == (n, d)}
            if by_c.get(10) and by_c.get(100):
                growth.append(f"{by_c[100] / by_c[10]:.2f}")
        behind = [
            f"({r['N']},{r['D']},{r['C']})"
            for r in mine
            if r["speedup"] is not None and r["speedup"] < 1
        ]
        goal = goal_status(
            {"metric": name, "ratio": None, "speedup": None, "ours_cpu_s": None}
        )[0]
        lines.append(
            f"| {name} | {goal} | {worst_text} | {at} | {met} | "
            f"{' '.join(growth) or '-'} | {' '.join(behind) or 'none'} |"
        )
    return lines


def environment_lines(args):
    lines = [
        f"- date (UTC): {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M}",
        f"- command: `python benchmarks/bench_metrics.py {' '.join(args.argv)}`",
        f"- CPU: {cpu_model()}, {os.cpu_count()} logical CPUs; "
        f"load average at start {args.load_start}, at end {load_average()}",
        f"- python {platform.python_version()}, numpy {np.__version__}, "
        f"scipy {scipy.__version__}, scikit-learn {sklearn.__version__}",
    ]
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if var in os.environ:
            lines.append(f"- {var}={os.environ[var]}")
    for lib in threadpool_info():
        lines.append(
            f"- {lib['user_api']}: {lib['internal_api']} "
            f"{lib.get('version') or ''} {lib.get('architecture') or ''} "
            f"(threads={lib['num_threads']}) from {pathlib.Path(lib['filepath']).name}"
        )
    lines.append(
        f"- one thread for every BLAS/OpenMP pool; float64 data; times are CPU "
        f"seconds (user+sys), best of up to {args.repeat} call(s) (fewer once "
        f"{args.repeat_budget:g} s are spent); our metrics slower than "
        f"{args.max_seconds:g} s and references slower than "
        f"{args.ref_max_seconds:g} s are skipped at larger (N, D, C)"
    )
    return lines


LEGEND = """\
Columns: `floor` is the op the ratio divides by, timed in the same run on the
same data (best of k, before and after the configuration's metrics): `X.T@X`
(syrk, N D^2 flops) for feature metrics, `P.sum` (one pass over the N x 1000
probabilities) for LEEP and NCE. `ratio` = ours / floor. `peak MiB`: the
largest memory our metric held at once (tracemalloc, which sees numpy's
allocations), to compare with the input (`X` is N D 8 bytes: 19.5 MiB at
5k x 512, 781 MiB at 50k x 2048). `ref s`: the reference algorithm re-written
from its published description (`benchmarks/_references.py`, which says how
each one computes; numba/TF/torch code became numpy, which favours the
reference), `ref ratio` its ratio to the same floor, `ref/ours` the speed-up.
`skip`: not run (the method exceeded the time cap at a smaller size; PARC's
reference holds N x N matrices and runs at N <= 5000 only; N-LEEP, ours and
the reference, fits a 5 C-component full-covariance Gaussian mixture, minutes
per fit beyond these sizes, and runs at 5000 x 512 x 10 only).
`err`: the call raised (message on stderr). Scores of ours and the reference
are in the CSV next to this file."""


def write_markdown(path, rows, args):
    table = Table(COLUMNS)
    lines = ["# sktransfer metrics vs X.T @ X and the public references", ""]
    lines += environment_lines(args) + ["", LEGEND, ""]
    lines += table.header() + [table.row(r) for r in rows]
    lines += ["", "## Goals", ""] + summary_lines(rows)
    path.write_text("\n".join(lines) + "\n")


CSV_COLUMNS = [
    "N",
    "D",
    "C",
    "metric",
    "floor",
    "floor_cpu_s",
    "gram_cpu_s",
    "ours_cpu_s",
    "ours_wall_s",
    "ratio",
    "peak_mib",
    "input_mib",
    "ref_cpu_s",
    "ref_wall_s",
    "ref_ratio",
    "speedup",
    "ours_score",
    "ref_score",
    "goal",
    "met",
]


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


def configs(sizes, grid):
    """Expand ``sizes`` (or the full grid when None) into (N, D, C) triples."""
    grid_n, grid_d, grid_c = grid
    if sizes is None:
        return list(itertools.product(grid_n, grid_d, grid_c))
    out = []
    for n, d, c in sizes:
        out += [(n, d, cc) for cc in ((c,) if c is not None else grid_c)]
    return out


def build_parser():
    parser = argparse.ArgumentParser(
        description=(
            "Single-core CPU time of sktransfer metrics vs the floor X.T @ X and "
            "vs the public reference algorithms (re-written in numpy)."
        )
    )
    parser.add_argument(
        "--suite",
        choices=["issue9"],
        help="issue9: every metric with a goal, its reference side by side, the "
        f"grid N={SUITE_N}, D={SUITE_D}, C={SUITE_C}, a Markdown table written "
        "to benchmarks/results/",
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--quick",
        action="store_true",
        help="small sizes only (suite: 5000x512 and 20000x512x10; otherwise 10000x512)",
    )
    group.add_argument(
        "--sizes",
        type=parse_sizes,
        metavar="NxD[xC],...",
        help="configurations to run, e.g. 50000x2048 or 10000x512x10,50000x512x100 "
        "(C left out: all of the grid's C)",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="calls per method (best reported)"
    )
    parser.add_argument(
        "--repeat-budget",
        type=float,
        default=20.0,
        help="stop repeating a method once its calls took this many CPU s",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=120.0,
        help="a method slower than this is skipped at larger (N, D, C)",
    )
    parser.add_argument(
        "--ref-max-seconds",
        type=float,
        default=30.0,
        help="a reference slower than this is skipped at larger (N, D, C)",
    )
    parser.add_argument(
        "--metrics",
        type=parse_metrics,
        metavar="NAME,...",
        help=f"'all' or a comma list among {', '.join(METRICS)} (default: "
        f"{','.join(DEFAULT_METRICS)}; the suite's: {','.join(SUITE_METRICS)})",
    )
    parser.add_argument(
        "--references",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also time the re-written references (default: on with --suite)",
    )
    parser.add_argument(
        "--memory",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="trace our peak memory (tracemalloc) during the first call of each "
        "metric (default: on with --suite)",
    )
    parser.add_argument("--csv", metavar="PATH", help="also write the results here")
    parser.add_argument(
        "--out",
        metavar="PATH",
        help="Markdown file to write (suite default: "
        "benchmarks/results/<suite>[-quick]-<date>.md, plus a .csv next to it)",
    )
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


def load_average():
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover - not on every platform
        return "n/a"


def main(argv=None):
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    args.load_start = load_average()
    if args.repeat < 1:
        raise SystemExit("--repeat must be >= 1")
    suite = args.suite == "issue9"
    names = args.metrics or list(SUITE_METRICS if suite else DEFAULT_METRICS)
    if args.references is None:
        args.references = suite
    if args.memory is None:
        args.memory = suite
    if args.quick:
        sizes = SUITE_QUICK if suite else QUICK_SIZES
    else:
        sizes = args.sizes
    grid = (SUITE_N, SUITE_D, SUITE_C) if suite else (GRID_N, GRID_D, GRID_C)
    todo = configs(sizes, grid)
    out = args.out
    if out is None and suite:
        stamp = f"{datetime.datetime.now(datetime.UTC):%Y%m%d-%H%M}"
        out = RESULTS_DIR / f"{args.suite}{'-quick' if args.quick else ''}-{stamp}.md"
    csv_path = args.csv or (pathlib.Path(out).with_suffix(".csv") if out else None)

    table = Table(COLUMNS)
    skipper = Skipper(args.max_seconds, args.ref_max_seconds)
    rows = []
    with threadpool_limits(limits=1):
        for line in environment_lines(args):
            print(f"# {line[2:]}", flush=True)
        warm_up(names, args.references)
        for line in table.header():
            table.emit(line)
        for config in todo:
            for row in bench_config(config, names, args, skipper):
                table.emit(table.row(row))
                rows.append(row)
            # Rewritten after every configuration: a long run stopped early
            # still leaves its results.
            write_results(rows, args, out, csv_path)
    print("", flush=True)
    for line in summary_lines(rows):
        print(line, flush=True)
    for path in (out, csv_path):
        if path:
            print(f"# wrote {path}", flush=True)


def write_results(rows, args, out, csv_path):
    if out:
        pathlib.Path(out).parent.mkdir(parents=True, exist_ok=True)
        write_markdown(pathlib.Path(out), rows, args)
    if csv_path:
        with open(csv_path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
