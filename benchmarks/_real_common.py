"""Shared helpers of the real-data benchmarks ``real_layers.py`` and ``real_zoo.py``.

Command line, skipping when optional data is missing, the JSON cache of the
ground truth (keyed by a hash of the configuration), scoring every applicable
metric of :mod:`sktransfer.metrics`, the evaluation measures per target, and
the Markdown report with its plots.
"""

# SPDX-License-Identifier: BSD-3-Clause

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import hashlib  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

from sktransfer import evaluation  # noqa: E402
from sktransfer.utils.discovery import all_estimators  # noqa: E402

#: Bumped when the meaning of a cached ground truth changes.
CACHE_VERSION = 1

#: The measures reported per (metric, target), all scikit-learn ordered
#: ``(accuracies, scores)``; the pick of Rel@1 and regret is the top-scored one.
MEASURES = {
    "weighted_tau": evaluation.weighted_kendall_tau,
    "tau": evaluation.kendall_tau,
    "pearson": evaluation.pearson,
    "rel@1": evaluation.relative_top_k,
    "regret": evaluation.regret,
}


class Skipped(Exception):
    """Raised when optional data or packages are missing; the script exits 0."""


def parse_args(argv, description, default_out):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--quick", action="store_true", help="the small CI configuration"
    )
    parser.add_argument(
        "--out",
        default=str(default_out),
        help=f"results folder (default: {default_out})",
    )
    parser.add_argument(
        "--refit",
        action="store_true",
        help="recompute the ground truth even when it is cached",
    )
    parser.add_argument(
        "--no-plots", action="store_true", help="write the report without figures"
    )
    return parser.parse_args(argv)


def run_main(main, argv=None):
    """Run ``main(argv)``; a :class:`Skipped` prints its message and returns 0."""
    try:
        return main(argv)
    except Skipped as exc:
        print(f"skipped: {exc}")
        return 0


@contextlib.contextmanager
def one_thread():
    """torch and the BLAS libraries on one thread, restored afterwards."""
    from threadpoolctl import threadpool_limits

    try:
        import torch
    except ImportError:  # pragma: no cover - the scripts check torch first
        torch = None
    previous = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        if torch is not None:
            torch.set_num_threads(previous)


def require(loader, **kwargs):
    """Call a loader of :mod:`sktransfer.datasets`; missing data -> Skipped."""
    try:
        return loader(**kwargs)
    except (ImportError, FileNotFoundError) as exc:
        raise Skipped(str(exc)) from None


def require_torch():
    try:
        import torch  # noqa: F401
    except ImportError:
        raise Skipped(
            "this benchmark needs torch: pip install torch (CPU wheel)"
        ) from None
    try:
        import skorch  # noqa: F401
    except ImportError:
        raise Skipped("this benchmark needs skorch: pip install skorch") from None


def to_float_images(images):
    """uint8 (n, 28, 28) -> float32 (n, 1, 28, 28) in [0, 1] (a new array)."""
    return (np.asarray(images, dtype=np.float32) / 255.0)[:, None]


def digits_images(size=28):
    """scikit-learn's 8 x 8 digits upsampled (bilinear) to ``size``, in [0, 1]."""
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.as_tensor(digits.images / 16.0, dtype=torch.float32)[:, None]
    x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    return x.clamp(0, 1).numpy(), digits.target.astype(np.int64)


def stratified_indices(y, n, rng, exclude=None):
    """``n`` indices of ``y`` (not in ``exclude``), classes as balanced as possible.

    Each class gets ``n // n_classes`` images or all it has; what a small class
    cannot give goes to the others, in turn. Shuffled.
    """
    y = np.asarray(y)
    available = np.ones(len(y), dtype=bool)
    if exclude is not None:
        available[exclude] = False
    if n > available.sum():
        raise ValueError(f"{n} images requested, {available.sum()} available")
    classes = np.unique(y[available])
    per_class = [rng.permutation(np.flatnonzero(available & (y == c))) for c in classes]
    take = np.zeros(len(classes), dtype=int)
    while take.sum() < n:
        room = [i for i, idx in enumerate(per_class) if take[i] < len(idx)]
        share, extra = divmod(n - int(take.sum()), len(room))
        for j, i in enumerate(room):
            take[i] = min(len(per_class[i]), take[i] + share + (1 if j < extra else 0))
    chosen = [idx[:k] for idx, k in zip(per_class, take, strict=True)]
    return rng.permutation(np.concatenate(chosen))


def relabel(y, classes):
    """Keep the rows of ``y`` in ``classes``; labels re-coded to 0..K-1."""
    y = np.asarray(y)
    mask = np.isin(y, classes)
    codes = {c: i for i, c in enumerate(classes)}
    return mask, np.array([codes[v] for v in y[mask]], dtype=np.int64)


# --------------------------------------------------------------------------
# Ground-truth cache
# --------------------------------------------------------------------------


def config_key(config):
    """Short hash of a JSON-serialisable configuration."""
    text = json.dumps({"cache_version": CACHE_VERSION, **config}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cached(out, name, config, compute, *, refit):
    """``compute()`` once per configuration: its JSON lives in ``out/cache``.

    Returns ``(value, from_cache)``. The file name holds the configuration's
    hash and the file the configuration itself, checked on reading.
    """
    path = Path(out) / "cache" / f"{name}_{config_key(config)}.json"
    if path.is_file() and not refit:
        stored = json.loads(path.read_text())
        if stored.get("config") == config:
            return stored["value"], True
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"config": config, "value": value}, indent=1))
    tmp.replace(path)
    return value, False


# --------------------------------------------------------------------------
# Metrics and measures
# --------------------------------------------------------------------------


def metric_factories(kind):
    """Every default-constructible sktransfer metric taking ``kind`` inputs."""
    found = {}
    for name, cls in all_estimators("transferability"):
        if getattr(cls, "_input_kind", "features") != kind:
            continue
        try:
            cls()
        except TypeError:  # needs a required argument (e.g. TaskTransferBound)
            continue
        found[name] = cls
    return found


def score_metrics(factories, X, y, errors, seconds):
    """``{name: score}`` of each metric on ``(X, y)``; NaN (logged) on error.

    Adds each metric's CPU seconds to ``seconds[name]``.
    """
    scores = {}
    for name, cls in factories.items():
        start = time.process_time()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scores[name] = float(cls().fit(X, y).score_)
        except Exception as exc:  # a metric failing must not stop the benchmark
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
            scores[name] = float("nan")
        seconds[name] = seconds.get(name, 0.0) + time.process_time() - start
    return scores


def measures_of(accuracies, scores):
    """The :data:`MEASURES` of one (metric, target); NaN if a score is not finite."""
    accuracies = np.asarray(accuracies, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    if not np.all(np.isfinite(scores)):
        return dict.fromkeys(MEASURES, float("nan"))
    out = {}
    for name, func in MEASURES.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # constant input of pearson/tau
            out[name] = float(func(accuracies, scores))
    return out


def evaluate(ground_truth, scores, candidates=None):
    """``{metric: {target: {measure: value}}}`` over a pool of candidates.

    ``ground_truth[target]`` and ``scores[metric][target]`` are lists aligned
    with the full candidate list; ``candidates`` (indices) restricts the pool.
    """
    result = {}
    for metric, per_target in scores.items():
        result[metric] = {}
        for target, values in per_target.items():
            acc = np.asarray(ground_truth[target], dtype=np.float64)
            sco = np.asarray(values, dtype=np.float64)
            if candidates is not None:
                acc, sco = acc[candidates], sco[candidates]
            result[metric][target] = measures_of(acc, sco)
    return result


def rank_stability(runs):
    """Mean Kendall tau between the candidate rankings of pairs of runs.

    ``runs`` has shape (n_runs, n_candidates): one accuracy per candidate in
    each seed (or fold). The ceiling a metric can reach against a ground truth
    that is itself this noisy.
    """
    runs = np.asarray(runs, dtype=np.float64)
    taus = [
        stats.kendalltau(runs[i], runs[j]).statistic
        for i, j in itertools.combinations(range(runs.shape[0]), 2)
    ]
    taus = [t for t in taus if np.isfinite(t)]
    return float(np.mean(taus)) if taus else float("nan")


def environment():
    import sklearn

    import sktransfer

    parts = [
        f"python {platform.python_version()}",
        f"numpy {np.__version__}",
        f"scikit-learn {sklearn.__version__}",
        f"sktransfer {sktransfer.__version__}",
    ]
    with contextlib.suppress(ImportError):
        import torch

        parts.append(f"torch {torch.__version__} ({torch.get_num_threads()} thread)")
    return ", ".join(parts) + f", {platform.machine()}, {os.cpu_count()} CPU(s)"


class Timer:
    """Wall and CPU seconds of named stages."""

    def __init__(self):
        self.stages = {}

    @contextlib.contextmanager
    def __call__(self, name):
        wall, cpu = time.perf_counter(), time.process_time()
        yield
        self.stages[name] = {
            "wall_s": round(time.perf_counter() - wall, 1),
            "cpu_s": round(time.process_time() - cpu, 1),
        }


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def fmt(value, digits=3):
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines.extend("| " + " | ".join(str(c) for c in row) + " |" for row in rows)
    return "\n".join(lines)


def measure_table(measures, targets, measure, digits=2):
    """Metrics x targets table of one measure, with the mean over targets."""
    rows = []
    for metric, per_target in measures.items():
        values = [per_target[t][measure] for t in targets]
        finite = [v for v in values if np.isfinite(v)]
        mean = float(np.mean(finite)) if len(finite) == len(values) else float("nan")
        rows.append((metric, values, mean))
    rows.sort(key=lambda r: -r[2] if np.isfinite(r[2]) else np.inf)
    if measure == "regret":  # lower is better
        rows.sort(key=lambda r: r[2] if np.isfinite(r[2]) else np.inf)
    return table(
        ["metric", *targets, "mean"],
        [
            [m, *(fmt(v, digits) for v in values), f"**{fmt(mean, digits)}**"]
            for m, values, mean in rows
        ],
    )


def agreement_section(title, measures, targets, unit):
    """Markdown lines of one "Agreement" section: the four measures per target.

    ``unit`` names what is ranked ("candidate", "member") in the row labels.
    """
    return [
        f"## Agreement {title}",
        "",
        "Weighted Kendall tau (higher is better):",
        "",
        measure_table(measures, targets, "weighted_tau"),
        "",
        f"Rel@1 (accuracy of the top-scored {unit} / best accuracy):",
        "",
        measure_table(measures, targets, "rel@1", 3),
        "",
        "Kendall tau:",
        "",
        measure_table(measures, targets, "tau"),
        "",
        f"Regret (best accuracy minus accuracy of the top-scored {unit}, lower "
        "is better):",
        "",
        measure_table(measures, targets, "regret", 3),
        "",
    ]


def save_figures(
    out, prefix, ground_truth, scores, measures, targets, labels, scatter_targets
):
    """Scatter plots of ``scatter_targets`` and the tau heat map of ``targets``.

    Returns the file names (none when matplotlib is missing).
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return []
    files = []
    for target in scatter_targets:
        fig = evaluation.plot_scores_vs_accuracy(
            ground_truth[target],
            {
                m: scores[m][target]
                for m in scores
                if np.all(np.isfinite(scores[m][target]))
            },
            labels=labels,
            n_cols=4,
        )
        fig.suptitle(f"{prefix}: {target}")
        name = f"{prefix}_scatter_{target}.png"
        fig.savefig(Path(out) / name, dpi=70)
        files.append(name)
    return files + save_heatmap(out, prefix, measures, targets)


def save_heatmap(out, prefix, measures, targets):
    """The metric x target heat map of the weighted tau; returns its file name."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return []
    metrics = list(measures)
    values = [[measures[m][t]["weighted_tau"] for t in targets] for m in metrics]
    fig = evaluation.plot_tau_heatmap(
        values, metrics=metrics, targets=targets, title=f"{prefix}: weighted tau"
    )
    name = f"{prefix}_tau_heatmap.png"
    fig.savefig(Path(out) / name, dpi=90)
    return [name]


def run_section(payload, unit):
    """The report's closing lines: run times, metric times, environment, errors.

    ``unit`` names what the metric times are summed over besides the targets
    ("candidates" or "members").
    """
    lines = [
        "",
        "## Run",
        "",
        table(
            ["stage", "wall s", "CPU s"],
            [[k, v["wall_s"], v["cpu_s"]] for k, v in payload["timings"].items()],
        ),
        "",
        f"Metric CPU seconds, summed over targets and {unit}: "
        + ", ".join(f"{k} {v:.1f}" for k, v in payload["metric_seconds"].items())
        + ".",
        "",
        f"Environment: {payload['environment']}. One thread (torch and BLAS).",
        "",
    ]
    if payload["errors"]:
        lines += ["Metric errors (scored n/a):", ""]
        lines += [f"- {e}" for e in sorted(set(payload["errors"]))]
        lines.append("")
    return lines


def write_json(path, payload):
    def default(obj):
        if isinstance(obj, np.integer):
            return int(obj)
        if isinstance(obj, np.floating):
            return float(obj)
        if isinstance(obj, np.ndarray):
            return obj.tolist()
        raise TypeError(type(obj).__name__)

    text = json.dumps(payload, indent=1, default=default, allow_nan=True)
    Path(path).write_text(text + "\n")


def command_line(script, quick, out, default_out):
    parts = [f"python benchmarks/{script}"]
    if quick:
        parts.append("--quick")
    if Path(out).resolve() != Path(default_out).resolve():
        parts.append(f"--out {out}")
    return " ".join(parts)


def print_flush(*args):
    print(*args, flush=True)
    sys.stdout.flush()
