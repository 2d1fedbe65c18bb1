"""Where the time of a metric goes: cProfile next to the floor, on the benchmark's data.

``bench_metrics.py`` says *how far* a metric is from its floor (``X.T @ X``, or
one pass over the probabilities); this script says *why*: it fits each metric
once under :mod:`cProfile` on the same synthetic data (same generator, same
seed, one thread) and prints the functions with the most own time, each as a
multiple of the floor timed in the same run. Use it to find what bounds a
metric that misses its goal::

    python benchmarks/profile_metrics.py --sizes 50000x2048x100 --metrics HScore,GBC
    python benchmarks/profile_metrics.py --sizes 5000x2048x10 --metrics LogME --top 8

With ``--out PATH`` the tables are also written to a Markdown file.
cProfile adds a small overhead per Python call; the total is printed next to
the unprofiled CPU time of the same fit so that the overhead is visible.
"""

# SPDX-License-Identifier: BSD-3-Clause

import argparse
import cProfile
import pathlib
import pstats
import sys

# bench_metrics pins every BLAS/OpenMP pool to one thread before it imports
# numpy: import it before anything that loads numpy.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from bench_metrics import (  # noqa: E402, I001
    METRICS,
    best_of,
    configs,
    fit_metric,
    floor_op,
    input_kind,
    make_data,
    make_probabilities,
    metric_input,
    parse_metrics,
    parse_sizes,
    pass_op,
    warm_up,
)
from threadpoolctl import threadpool_limits  # noqa: E402


def _where(func):
    """``file:line(name)`` shortened to the package-relative path."""
    filename, line, name = func
    if filename == "~":  # a builtin: "<method 'reduce' ...>"
        return name
    parts = pathlib.Path(filename).parts
    for root in ("sktransfer", "sklearn", "scipy", "numpy"):
        if root in parts:
            filename = "/".join(parts[parts.index(root) :])
            break
    else:
        filename = pathlib.Path(filename).name
    return f"{filename}:{line}({name})"


def profile_fit(name, X, y, top):
    """Return ``(total_s, rows)``: the top ``top`` functions by own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    fit_metric(name, X, y)
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt
    rows = sorted(
        (
            (tottime, cumtime, calls, _where(func))
            for func, (_, calls, tottime, cumtime, _) in stats.stats.items()
        ),
        reverse=True,
    )[:top]
    return total, rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        required=True,
        metavar="NxD[xC],...",
        help="configurations, e.g. 50000x2048x100 (C left out: 10 and 100)",
    )
    parser.add_argument(
        "--metrics",
        type=parse_metrics,
        default=parse_metrics("HScore,GBC"),
        metavar="NAME,...",
        help=f"'all' or a comma list among {', '.join(METRICS)}",
    )
    parser.add_argument("--top", type=int, default=10, help="functions shown")
    parser.add_argument("--seed", type=int, default=0, help="data seed")
    parser.add_argument("--out", metavar="PATH", help="also write Markdown here")
    args = parser.parse_args(argv)

    lines = []

    def emit(line=""):
        print(line, flush=True)
        lines.append(line)

    with threadpool_limits(1):
        warm_up(args.metrics, references=False)
        for n, d, c in configs(args.sizes, ((), (), (10, 100))):
            X, y = make_data(n, d, c, args.seed)
            needs_p = any(input_kind(m) == "probabilities" for m in args.metrics)
            P = make_probabilities(y, args.seed) if needs_p else None
            for name in args.metrics:
                data = metric_input(name, X, P)
                kind = input_kind(name)
                floor, label = (pass_op, "P.sum") if data is P else (floor_op, "X.T@X")
                floor_s = best_of(floor, (data,), 3, 30)[1]
                plain_s = best_of(fit_metric, (name, data, y), 2, 30)[1]
                total, rows = profile_fit(name, data, y, args.top)
                emit(f"## {name} at N={n}, D={d}, C={c} ({kind})")
                emit()
                emit(
                    f"floor {label}: {floor_s:.4g} s; fit: {plain_s:.4g} s CPU "
                    f"({plain_s / floor_s:.2f}x floor); under cProfile "
                    f"{total:.4g} s"
                )
                emit()
                emit("| own s | x floor | cum s | calls | function |")
                emit("|---:|---:|---:|---:|---|")
                for tottime, cumtime, calls, where in rows:
                    emit(
                        f"| {tottime:.4g} | {tottime / floor_s:.2f} | {cumtime:.4g} "
                        f"| {calls} | `{where}` |"
                    )
                emit()
    if args.out:
        pathlib.Path(args.out).write_text("\n".join(lines) + "\n")
        print(f"# wrote {args.out}")


if __name__ == "__main__":
    main()
