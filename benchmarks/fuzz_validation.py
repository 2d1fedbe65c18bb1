"""Fuzz the validation layer of every metric and evaluation measure (hypothesis).

Each public metric (and the ranking measures of :mod:`sktransfer.evaluation`) is
fed arrays of random shape, dtype and content: NaN, infinities, huge and tiny
values, constant columns, duplicated rows, too few samples or classes, labels
of any type, mismatched lengths, probabilities that are almost (or not) valid.
An input *passes* when the call either returns a finite float or raises a
``ValueError``/``TypeError``, and leaves the caller's arrays unchanged. Anything
else is a *finding*: another exception type, a NaN or infinite score that
comes without a warning, a modified input. Findings are grouped by (target,
outcome, message prefix) and
printed with the smallest input that produced them.

Run outside CI, for at least ten minutes::

    python benchmarks/fuzz_validation.py --minutes 10
    python benchmarks/fuzz_validation.py --minutes 1 --targets LogME,LEEP

It uses one core (``OMP_NUM_THREADS=1``). The summary gives the number of
inputs tried per target and every finding.
"""

# SPDX-License-Identifier: BSD-3-Clause

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import collections  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
from hypothesis import HealthCheck, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from sktransfer import evaluation  # noqa: E402
from sktransfer import metrics as M  # noqa: E402

# Fast settings: the fuzz is about validation, not about the solvers.
_METRICS = {
    "ETran": lambda: M.ETran(),
    "GBC": lambda: M.GBC(n_components=8),
    "HScore": lambda: M.HScore(),
    "KNNScore": lambda: M.KNNScore(n_neighbors=3),
    "LEEP": lambda: M.LEEP(),
    "LogME": lambda: M.LogME(),
    "LogME_regression": lambda: M.LogME(regression=True),
    "NCE": lambda: M.NCE(),
    "NCTI": lambda: M.NCTI(n_components=8),
    "NLEEP": lambda: M.NLEEP(max_iter=20),
    "PARC": lambda: M.PARC(n_components=8),
    "SFDA": lambda: M.SFDA(),
    "ShrinkageHScore": lambda: M.ShrinkageHScore(),
    "TransRate": lambda: M.TransRate(),
    "PGE": lambda: M.PGE(),
}
_MEASURES = {
    name: getattr(evaluation, name)
    for name in (
        "kendall_tau",
        "weighted_kendall_tau",
        "pearson",
        "recall_at_k",
        "regret",
        "relative_top_k",
    )
}
_ACCEPTED = (ValueError, TypeError)

_SPECIALS = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-300, 1e300, 1e-8, 1e8, -1.0]


@st.composite
def _matrix(draw, probabilities):
    """A 2-D (sometimes 0-, 1- or 3-D) array of any dtype and content."""
    ndim = draw(st.sampled_from([2] * 12 + [0, 1, 3]))
    n = draw(st.integers(0, 40))
    d = draw(st.integers(0, 12))
    shape = {0: (), 1: (n,), 2: (n, d), 3: (n, d, 2)}[ndim]
    size = int(np.prod(shape))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    base = draw(st.sampled_from(["normal", "blobs", "constant", "integers", "softmax"]))
    if probabilities and draw(st.booleans()):
        base = "softmax"
    scale = draw(st.sampled_from([1.0, 1.0, 1.0, 1e-8, 1e8, 1e-300, 1e300, 1e30]))
    if base == "constant":
        values = np.full(size, draw(st.sampled_from([0.0, 1.0, -3.5])))
    elif base == "integers":
        values = rng.integers(-3, 4, size=size).astype(float)
    elif base == "softmax" and ndim == 2 and d > 0:
        logits = rng.normal(scale=draw(st.sampled_from([0.1, 3.0, 50.0])), size=shape)
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        values = (p / p.sum(axis=1, keepdims=True)).ravel()
        scale = 1.0
    else:
        values = rng.normal(size=size)
    values = values * scale
    # Sprinkle special values and duplicated rows.
    n_special = draw(st.sampled_from([0, 0, 0, 0, 0, 1, 2]))
    for _ in range(n_special):
        if size:
            values[rng.integers(size)] = draw(st.sampled_from(_SPECIALS))
    X = values.reshape(shape)
    if ndim == 2 and n > 1 and draw(st.booleans()):
        X = np.concatenate([X, X[: n // 2]])
    dtype = draw(
        st.sampled_from(
            ["float64"] * 6 + ["float32", "float16", "int8", "int64", "bool", "object"]
        )
    )
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        X = X.astype(dtype)
    layout = draw(st.sampled_from(["c", "c", "fortran", "view"]))
    if layout == "fortran":
        X = np.asfortranarray(X)
    elif layout == "view" and X.ndim == 2:
        X = np.repeat(X, 2, axis=1)[:, ::2]
    return X


@st.composite
def _labels(draw, n):
    """Labels for ``n`` samples (sometimes of another length) of any type."""
    length = n if draw(st.integers(0, 9)) else draw(st.integers(0, 45))
    n_classes = draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    y = rng.integers(0, n_classes, size=length)
    kind = draw(
        st.sampled_from(
            ["int", "int", "str", "offset", "float_int", "float", "nan", "bool", "2d"]
        )
    )
    if kind == "str":
        return np.array([f"class_{v}" for v in y], dtype=object)
    if kind == "offset":
        return y * 7 - 3
    if kind == "float_int":
        return y.astype(float)
    if kind == "float":
        return y + rng.uniform(size=length)
    if kind == "nan":
        y = y.astype(float)
        if length:
            y[0] = np.nan
        return y
    if kind == "bool":
        return y.astype(bool)
    return y.reshape(-1, 1) if kind == "2d" else y


class _Findings:
    def __init__(self):
        self.tried = collections.Counter()
        self.outcomes = collections.Counter()
        self.found = {}

    def record(self, target, outcome, detail, example):
        self.outcomes[(target, outcome)] += 1
        if outcome in ("ok", "rejected", "non-finite with warning"):
            return
        key = (target, outcome, detail[:90])
        if key not in self.found:
            self.found[key] = example


def _describe(X, y):
    def one(a):
        a = np.asarray(a)
        text = np.array2string(a.ravel()[:6], precision=3, threshold=6)
        return f"{a.dtype}{a.shape} {text}"

    return f"X={one(X)} y={one(y)}"


def _call(findings, target, func, X, y):
    X_before = np.array(X, copy=True)
    y_before = np.array(y, copy=True)
    findings.tried[target] += 1
    try:
        with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
            warnings.simplefilter("always")
            value = func(X, y)
    except _ACCEPTED as exc:
        outcome, detail = "rejected", f"{type(exc).__name__}: {exc}"
        if not str(exc).strip():
            outcome = "empty message"
    except Exception as exc:  # the findings
        tb = traceback.extract_tb(exc.__traceback__)[-1]
        outcome = f"crash {type(exc).__name__}"
        detail = f"{exc} [{os.path.basename(tb.filename)}:{tb.lineno}]"
    else:
        outcome, detail = "ok", ""
        if not isinstance(value, float) or not math.isfinite(value):
            # A NaN that comes with a warning (e.g. a correlation of constant
            # scores) is documented and not silent; a silent one is a finding.
            if caught:
                outcome = "non-finite with warning"
            else:
                outcome, detail = "silent non-finite result", repr(value)
    same = _same(X_before, X) and _same(y_before, y)
    if not same:
        outcome, detail = "input modified", ""
    findings.record(target, outcome, detail, _describe(X_before, y_before))


def _same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind == "O":
        try:
            a, b = a.astype(np.float64), b.astype(np.float64)
        except (TypeError, ValueError):  # object arrays of non-numbers
            return bool(np.all(a == b)) if a.size else True
    if a.dtype.kind in "fc":
        return np.array_equal(a, b, equal_nan=True)
    return bool(np.all(a == b)) if a.size else True


def _metric_runner(make):
    def run(X, y):
        est = make()
        if isinstance(est, M.PGE):
            width = np.asarray(X).shape[-1] if np.ndim(X) else 1
            source = M.PGE().fit(np.ones((2, max(width, 1))))
            est = M.PGE(source=source)
            return float(est.fit(X).score_)
        return float(est.fit(X, y).score_)

    return run


def _fuzz_metric(findings, name, make, n_examples, run_seed):
    probabilities = getattr(make(), "_input_kind", None) == "probabilities"
    runner = _metric_runner(make)

    @seed(run_seed)
    @settings(
        max_examples=n_examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def fuzz(data):
        X = data.draw(_matrix(probabilities))
        n = X.shape[0] if X.ndim else 0
        y = data.draw(_labels(n))
        _call(findings, name, runner, X, y)

    fuzz()


def _fuzz_measure(findings, name, func, n_examples, run_seed):
    @seed(run_seed)
    @settings(
        max_examples=n_examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def fuzz(data):
        n = data.draw(st.integers(0, 12))
        values = st.one_of(
            st.floats(allow_nan=True, allow_infinity=True),
            st.floats(-1, 1),
            st.integers(-5, 5),
        )
        acc = data.draw(st.lists(values, min_size=n, max_size=n))
        m = n if data.draw(st.integers(0, 9)) else data.draw(st.integers(0, 12))
        scores = data.draw(st.lists(values, min_size=m, max_size=m))
        kind = data.draw(st.sampled_from(["list", "array", "2d", "object"]))
        if kind == "array":
            acc, scores = np.asarray(acc, dtype=float), np.asarray(scores, dtype=float)
        elif kind == "2d":
            acc = np.asarray(acc, dtype=float).reshape(-1, 1)
        elif kind == "object":
            acc = np.asarray(acc + ["x"], dtype=object)[:-1]
        if name in ("recall_at_k", "regret", "relative_top_k"):
            k = data.draw(st.one_of(st.integers(-1, 14), st.floats(-0.5, 1.5)))

            def call(a, s):
                return float(func(a, s, k=k))
        else:

            def call(a, s):
                return float(func(a, s))

        _call(findings, name, call, acc, scores)

    fuzz()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--chunk", type=int, default=200, help="examples per round")
    parser.add_argument("--targets", default="all")
    args = parser.parse_args(argv)

    targets = {**_METRICS, **_MEASURES}
    if args.targets != "all":
        targets = {name: targets[name] for name in args.targets.split(",")}
    findings = _Findings()
    deadline = time.monotonic() + 60 * args.minutes
    start = time.monotonic()
    round_ = 0
    while time.monotonic() < deadline:
        for name in targets:
            if time.monotonic() >= deadline:
                break
            if name in _MEASURES:
                _fuzz_measure(findings, name, _MEASURES[name], args.chunk, round_)
            else:
                _fuzz_metric(findings, name, _METRICS[name], args.chunk, round_)
        round_ += 1
        print(  # noqa: T201
            f"round {round_}: {sum(findings.tried.values())} inputs, "
            f"{len(findings.found)} distinct findings, "
            f"{time.monotonic() - start:.0f}s",
            flush=True,
        )

    print(f"\n{sum(findings.tried.values())} inputs in {time.monotonic() - start:.0f}s")  # noqa: T201
    header = ("target", "tried", "ok", "rejected", "nan+warn", "findings")
    print("{:22s} {:>7s} {:>7s} {:>9s} {:>9s} {:>9s}".format(*header))  # noqa: T201
    for name in targets:
        counts = [
            findings.outcomes[(name, outcome)]
            for outcome in ("ok", "rejected", "non-finite with warning")
        ]
        tried = findings.tried[name]
        row = (name, tried, *counts, tried - sum(counts))
        print("{:22s} {:7d} {:7d} {:9d} {:9d} {:9d}".format(*row))  # noqa: T201
    print(f"\n{len(findings.found)} distinct findings")  # noqa: T201
    for (target, outcome, detail), example in sorted(findings.found.items()):
        print(f"- {target}: {outcome}: {detail}\n    {example}")  # noqa: T201
    return 0 if not findings.found else 1


if __name__ == "__main__":
    raise SystemExit(main())
