"""The ``sktransfer`` command line: rank pretrained models for a target task.

``sktransfer rank`` scores every candidate model with transferability metrics
(and, optionally, fine-tunes it for the ground truth); ``sktransfer metrics``
lists the metrics. Without arguments, ``rank`` runs the built-in example: the
zoo of :func:`sktransfer.datasets.load_zoo` on the digits target of
:func:`sktransfer.datasets.load_digits_target`. Run ``sktransfer rank --help``.

Errors the user can fix (a missing file, a model that cannot be loaded, data
without labels, an unknown metric) are reported as one line on stderr with
exit status 2; ``--debug`` shows the traceback instead.
"""

# SPDX-License-Identifier: BSD-3-Clause

import argparse
import csv
import importlib
import io
import json
import math
import os
import re
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from sktransfer import __version__

__all__ = ["main"]

#: Metrics that ``rank`` runs by default only on small problems, where
#: n_samples * n_features ** 2 is at most this (their cost grows with it).
SLOW_METRICS = {"NLEEP": 5e7}
_SLOW_REASON = {"NLEEP": "a Gaussian mixture with full covariances"}
#: Metrics ``rank`` cannot run: they need more than a model and labelled data.
NOT_RANKABLE = {
    "TaskTransferBound": "needs a fitted ReferenceTask (a labelled source task)",
    "PGE": "compares gradients of the source and target tasks",
}
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


class CommandError(Exception):
    """A problem reported to the user as one line, with exit status 2."""


def _say(message):
    """Write ``sktransfer: message`` as one line on stderr."""
    sys.stderr.write(f"sktransfer: {message}\n")
    sys.stderr.flush()


def _first_line(exc):
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


# --------------------------------------------------------------------- metrics


def _metric_classes():
    """``{cli name: class}`` of every transferability metric, plus PGE."""
    from sktransfer import metrics
    from sktransfer.utils.discovery import all_estimators

    found = dict(all_estimators("transferability"))
    found["PGE"] = metrics.PGE
    return {name.lower(): cls for name, cls in sorted(found.items())}


def _input_kind(cls):
    if cls.__name__ == "PGE":
        return "gradients"
    return cls._input_kind


def _reference(cls):
    """``(short, full)`` citation from the first entry of the References."""
    doc = cls.__doc__ or ""
    match = re.search(r"\.\. \[1\](.*?)(?:\n\s*\.\. \[|\n\s*\n|$)", doc, re.DOTALL)
    if not match:
        return "", ""
    full = " ".join(match.group(1).split())
    full = full.split(" Reference code")[0].strip()
    parts = full.split('"')
    if len(parts) < 3:
        return full, full
    authors, venue = parts[0], parts[2].strip(" ,.")
    surname = authors.split(",")[0].split()[-1] if authors.strip() else ""
    venue = re.split(r"\s*[,(]", venue)[0] if venue else ""
    year = re.search(r"(19|20)\d\d", parts[2])
    if year and year.group(0) not in venue:
        venue = f"{venue} {year.group(0)}".strip()
    short = f"{surname} et al., {venue}" if surname else venue
    return short, full


def _resolve_metrics(names, *, has_head):
    """``(selected {cli name: class}, skipped {class name: reason})``.

    Without ``names``: every rankable metric; the slow ones are dropped later
    by :func:`_drop_slow` when the features are large.
    """
    available = _metric_classes()
    rankable = {
        key: cls for key, cls in available.items() if cls.__name__ not in NOT_RANKABLE
    }
    skipped = {}
    if names:
        selected = {}
        for name in names:
            key = name.lower()
            if key not in available:
                raise CommandError(
                    f"unknown metric {name!r}; choose from: "
                    f"{', '.join(sorted(rankable))} (sktransfer metrics lists them)"
                )
            cls = available[key]
            if cls.__name__ in NOT_RANKABLE:
                raise CommandError(
                    f"metric {name!r} cannot rank models here: "
                    f"{NOT_RANKABLE[cls.__name__]}"
                )
            selected[key] = cls
    else:
        selected = {}
        selected = dict(rankable)
        for name, reason in NOT_RANKABLE.items():
            skipped[name] = reason
    if not has_head:
        for key in [k for k, c in selected.items() if c._input_kind != "features"]:
            skipped[selected.pop(key).__name__] = (
                "needs source-class probabilities: a model without a final "
                "nn.Linear head has none"
            )
    if not selected:
        raise CommandError("no metric left to compute (see the skipped ones above)")
    return selected, skipped


def _drop_slow(metrics, skipped, n_samples, n_features):
    """Drop the default slow metrics when ``n_samples * n_features**2`` is large."""
    size = n_samples * n_features**2
    for key in [k for k, c in metrics.items() if c.__name__ in SLOW_METRICS]:
        name = metrics[key].__name__
        if size > SLOW_METRICS[name]:
            del metrics[key]
            skipped[name] = (
                f"slow for {n_samples} samples x {n_features} features "
                f"({_SLOW_REASON[name]}); add --metric {key}"
            )


# ---------------------------------------------------------------------- models


def _wrap_script(module):
    """A plain ``nn.Module`` tree around a TorchScript module.

    TorchScript modules take no forward hooks, which TorchFeaturizer uses to
    read a layer. A scripted ``nn.Sequential`` becomes an ``nn.Sequential`` of
    its wrapped children (same names, so ``--layer`` works), a scripted
    ``nn.Linear`` a real ``nn.Linear`` with a copy of its weights (the head
    that TorchFeaturizer finds), and anything else a module that calls it.
    """
    from collections import OrderedDict

    import torch
    from torch import nn

    class ScriptCall(nn.Module):
        def __init__(self, scripted):
            super().__init__()
            self.scripted = scripted

        def forward(self, *args, **kwargs):
            return self.scripted(*args, **kwargs)

    kind = getattr(module, "original_name", "")
    if kind == "Sequential":
        return nn.Sequential(
            OrderedDict(
                (name, _wrap_script(child)) for name, child in module.named_children()
            )
        )
    if kind == "Linear":
        weight = module.weight
        bias = getattr(module, "bias", None)
        linear = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
        with torch.no_grad():
            linear.weight = nn.Parameter(weight.detach().clone())
            if bias is not None:
                linear.bias = nn.Parameter(bias.detach().clone())
        return linear
    return ScriptCall(module)


def _load_weights(model, path, spec):
    import torch

    if not path.is_file():
        raise CommandError(f"weights file not found: {path} (model {spec!r})")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        model.load_state_dict(state)
    except Exception as exc:
        raise CommandError(
            f"cannot load the weights {path} into model {spec!r}: {_first_line(exc)}"
        ) from exc


def _load_factory(spec):
    """``package.module:factory[=weights.pt]`` -> module."""
    from torch import nn

    target, _, weights = spec.partition("=")
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise CommandError(
            f"cannot read model {spec!r}: write package.module:factory, "
            "optionally followed by =weights.pt"
        )
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise CommandError(
            f"cannot import {module_name!r} for model {spec!r}: {_first_line(exc)}"
        ) from exc
    factory = module
    for part in attr.split("."):
        if not hasattr(factory, part):
            raise CommandError(f"{module_name!r} has no attribute {attr!r} ({spec!r})")
        factory = getattr(factory, part)
    if not callable(factory):
        raise CommandError(f"{target!r} is not callable (model {spec!r})")
    try:
        model = factory()
    except Exception as exc:
        raise CommandError(
            f"calling {target}() failed for model {spec!r}: {_first_line(exc)}"
        ) from exc
    if not isinstance(model, nn.Module):
        raise CommandError(
            f"{target}() returned a {type(model).__name__}, not a torch.nn.Module"
        )
    if weights:
        _load_weights(model, Path(weights), spec)
    return model


def _load_file(spec, *, trust_pickle):
    """A TorchScript file, or (with ``trust_pickle``) a whole pickled module."""
    import torch
    from torch import nn

    path = Path(spec)
    if not path.is_file():
        raise CommandError(f"model file not found: {path}")
    with warnings.catch_warnings():
        # TorchScript is deprecated in recent torch; the user chose the format.
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return _wrap_script(torch.jit.load(str(path), map_location="cpu"))
        except Exception as exc:
            script_error = _first_line(exc)
    if not trust_pickle:
        raise CommandError(
            f"cannot load {path} as a TorchScript file ({script_error}); a whole "
            "pickled module loads only with --trust-pickle (unpickling runs "
            "arbitrary code), and a state dict needs its factory: "
            "package.module:factory=" + str(path)
        )
    try:
        model = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise CommandError(f"cannot unpickle {path}: {_first_line(exc)}") from exc
    if not isinstance(model, nn.Module):
        raise CommandError(
            f"{path} holds a {type(model).__name__}, not a torch.nn.Module "
            "(a state dict needs its factory: package.module:factory=" + str(path) + ")"
        )
    return model


def _load_model(spec, *, trust_pickle):
    if ":" in spec.partition("=")[0] and not Path(spec).exists():
        # "C:\\models\\a.pt" is a path; "pkg.mod:factory" is a factory.
        if not re.match(r"^[A-Za-z]:[\\/]", spec):
            return _load_factory(spec)
    return _load_file(spec, trust_pickle=trust_pickle)


def _model_name(spec):
    target = spec.partition("=")[0]
    if ":" in target and not Path(spec).exists():
        weights = spec.partition("=")[2]
        return Path(weights).stem if weights else target.rpartition(":")[2]
    return Path(spec).stem


def _has_head(model):
    from torch import nn

    return any(isinstance(m, nn.Linear) for m in model.modules())


def _backbone(model):
    """The model without its final ``nn.Linear`` head, when that is separable."""
    from torch import nn

    if isinstance(model, nn.Sequential) and len(model) > 1:
        last = model[-1]
        if isinstance(last, nn.Linear):
            return model[:-1]
        if (
            isinstance(last, nn.Sequential)
            and len(last)
            and isinstance(last[-1], nn.Linear)
        ):
            return nn.Sequential(*model[:-1], last[:-1])
    return model


# ------------------------------------------------------------------------ data


def _load_npz(path):
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except Exception as exc:
        raise CommandError(f"cannot read {path} as .npz: {_first_line(exc)}") from exc
    if "X" not in arrays:
        raise CommandError(
            f"{path} has no array 'X' (inputs); it holds {sorted(arrays) or 'nothing'}"
        )
    if "y" not in arrays:
        raise CommandError(
            f"{path} has no array 'y': the target data needs labels "
            "(np.savez(path, X=X, y=y))"
        )
    if ("X_test" in arrays) != ("y_test" in arrays):
        raise CommandError(f"{path} must hold both X_test and y_test, or neither")
    for x, y in (("X", "y"), ("X_test", "y_test")):
        if x in arrays and len(arrays[x]) != len(arrays[y]):
            raise CommandError(
                f"{path}: {x} has {len(arrays[x])} samples but {y} has "
                f"{len(arrays[y])} labels"
            )
    return (
        arrays["X"],
        arrays["y"],
        arrays.get("X_test"),
        arrays.get("y_test"),
        f"{path.name}: {len(arrays['X'])} training samples",
    )


def _load_image_folder(path, image_size):
    try:
        from PIL import Image
    except ImportError as exc:
        raise CommandError(
            "reading a folder of images needs Pillow: pip install pillow"
        ) from exc
    classes = sorted(p for p in path.iterdir() if p.is_dir())
    if not classes:
        raise CommandError(
            f"{path} has no sub-folders: put the images of each class in a "
            "sub-folder named after the class (the labels)"
        )
    files, labels = [], []
    for folder in classes:
        for file in sorted(folder.rglob("*")):
            if file.suffix.lower() in _IMAGE_SUFFIXES:
                files.append(file)
                labels.append(folder.name)
    if not files:
        raise CommandError(f"no images found in the sub-folders of {path}")
    images = []
    for file in files:
        try:
            with Image.open(file) as image:
                image.load()
        except Exception as exc:
            raise CommandError(f"cannot read image {file}: {_first_line(exc)}") from exc
        images.append(image)
    grey = all(image.mode in ("1", "L", "I", "I;16", "F") for image in images)
    arrays = []
    for file, image in zip(files, images, strict=True):
        image = image.convert("L" if grey else "RGB")
        if image_size is not None:
            image = image.resize((image_size, image_size), Image.BILINEAR)
        array = np.asarray(image, dtype=np.float32) / 255.0
        array = array[None] if grey else array.transpose(2, 0, 1)
        if arrays and array.shape != arrays[0].shape:
            raise CommandError(
                f"image {file} has shape {array.shape[1:]} but the first image has "
                f"{arrays[0].shape[1:]}; pass --image-size N to resize them all"
            )
        arrays.append(array)
    X = np.stack(arrays)
    return (
        X,
        np.asarray(labels),
        None,
        None,
        f"{path.name}/: {len(X)} images of {len(classes)} classes, shape {X.shape[1:]}",
    )


def _load_data(spec, image_size):
    path = Path(spec)
    if not path.exists():
        raise CommandError(f"data not found: {path}")
    if path.is_dir():
        return _load_image_folder(path, image_size)
    return _load_npz(path)


def _check_labels(y, what):
    y = np.asarray(y)
    if y.ndim != 1:
        raise CommandError(f"{what} must be a 1-D array of labels; got shape {y.shape}")
    if np.unique(y).size < 2:
        raise CommandError(f"{what} has fewer than 2 classes")
    return y


# --------------------------------------------------------------------- ranking


class _Progress:
    """A progress bar on stderr (a line per step when stderr is not a terminal)."""

    def __init__(self, total, enabled):
        self.total, self.done, self.enabled = total, 0, enabled
        self.tty = enabled and sys.stderr.isatty()
        self.start = time.perf_counter()

    def update(self, message, advance=0):
        if not self.enabled:
            return
        self.done += advance
        elapsed = time.perf_counter() - self.start
        width = 24
        filled = int(width * self.done / max(self.total, 1))
        bar = "#" * filled + "-" * (width - filled)
        line = f"[{bar}] {self.done}/{self.total} {elapsed:5.1f}s {message}"
        if self.tty:
            sys.stderr.write("\r\033[K" + line[:120])
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def close(self):
        if self.tty:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _score(cls, X, y):
    """The metric's score, or NaN and a note when it cannot be computed."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(cls().fit(X, y).score_), None
    except Exception as exc:
        return math.nan, f"{cls.__name__}: {_first_line(exc)}"


def _probe_accuracy(F_train, y_train, F_test, y_test):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        probe.fit(F_train, y_train)
    return float(probe.score(F_test, y_test))


def _rank(args):
    """Run ``rank``: returns the result dict."""
    start = time.perf_counter()
    builtin = not args.models
    if not builtin and args.data is None:
        raise CommandError(
            "--models needs --data (an .npz with X and y, or a folder of images "
            "per class)"
        )
    import torch

    from sktransfer.evaluation import finetune_accuracy, weighted_kendall_tau
    from sktransfer.featurizers import TorchFeaturizer

    if builtin and args.data is None:
        from sktransfer.datasets import load_digits_target

        target = load_digits_target(
            n_train_per_class=args.shots,
            test_size=0.2 if args.quick else None,
            random_state=args.random_state,
        )
        X, y, X_test, y_test = (
            target.X_train,
            target.y_train,
            target.X_test,
            target.y_test,
        )
        data_description = target.description
    else:
        X, y, X_test, y_test, data_description = _load_data(args.data, args.image_size)
    y = _check_labels(y, "y")
    if y_test is not None:
        y_test = _check_labels(y_test, "y_test")
        if X.ndim != X_test.ndim or X.shape[1:] != X_test.shape[1:]:
            raise CommandError(
                f"X has samples of shape {X.shape[1:]} but X_test {X_test.shape[1:]}"
            )
    finetune = builtin if args.finetune is None else args.finetune
    if finetune and X_test is None:
        from sklearn.model_selection import train_test_split

        try:
            X, X_test, y, y_test = train_test_split(
                X, y, test_size=0.25, stratify=y, random_state=args.random_state
            )
        except ValueError as exc:
            raise CommandError(
                f"cannot hold out a stratified test set: {_first_line(exc)}"
            ) from exc
        data_description += " (25% held out as the test set)"

    # Candidates.
    if builtin:
        from sktransfer.datasets import load_zoo

        zoo = load_zoo()
        candidates = dict(zoo.models)
        layer = args.layer or zoo.feature_layer
    else:
        candidates = {}
        for spec in args.models:
            name = _model_name(spec)
            while name in candidates:
                name += "'"
            candidates[name] = _load_model(spec, trust_pickle=args.trust_pickle)
        layer = args.layer
    has_head = all(_has_head(model) for model in candidates.values())
    metrics, skipped = _resolve_metrics(args.metric, has_head=has_head)
    feature_metrics = {k: c for k, c in metrics.items() if c._input_kind == "features"}
    proba_metrics = {k: c for k, c in metrics.items() if c._input_kind != "features"}

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device.startswith("cuda") and not torch.cuda.is_available():
        raise CommandError(f"--device {device}: CUDA is not available")
    seeds = list(range(args.seeds))
    epochs = args.epochs
    progress = _Progress(len(candidates), enabled=not args.quiet)
    rows, notes = [], []
    for name, model in candidates.items():
        row = {"candidate": name, "scores": {}}
        progress.update(f"{name}: features")
        try:
            featurizer = TorchFeaturizer(
                model=model,
                layer=layer,
                device=device,
                batch_size=args.batch_size,
            ).fit(X[:1])
            F = featurizer.transform(X)
            F_test = featurizer.transform(X_test) if X_test is not None else None
            P = None
            if proba_metrics:
                P = TorchFeaturizer(
                    model=model,
                    output="probabilities",
                    device=device,
                    batch_size=args.batch_size,
                ).fit_transform(X)
        except Exception as exc:
            progress.close()
            raise CommandError(
                f"model {name!r} failed on the data: {_first_line(exc)}"
            ) from exc
        row["n_features"] = int(F.shape[1])
        if not rows and not args.metric:
            _drop_slow(metrics, skipped, *F.shape)
        for key, cls in metrics.items():
            value, note = _score(cls, F if key in feature_metrics else P, y)
            row["scores"][cls.__name__] = value
            if note:
                notes.append(f"{name}: {note}")
        if F_test is not None:
            row["probe_accuracy"] = _probe_accuracy(F, y, F_test, y_test)
        if finetune:
            progress.update(f"{name}: fine-tuning")
            try:
                result = finetune_accuracy(
                    _backbone(model),
                    X,
                    y,
                    X_test,
                    y_test,
                    mode="full",
                    seeds=seeds,
                    max_epochs=epochs,
                    lr=args.lr,
                    batch_size=32,
                    device=device,
                )
            except Exception as exc:
                progress.close()
                raise CommandError(
                    f"fine-tuning model {name!r} failed: {_first_line(exc)}"
                ) from exc
            row["finetune_accuracy"] = result.accuracy_mean
            row["finetune_std"] = result.accuracy_std
        rows.append(row)
        progress.update(f"{name}: done", advance=1)
    progress.close()

    metric_names = [cls.__name__ for cls in metrics.values()]
    truths = [t for t in ("finetune_accuracy", "probe_accuracy") if t in rows[0]]
    taus = {}
    for truth in truths:
        accuracies = np.array([row[truth] for row in rows])
        taus[truth] = {}
        for metric in metric_names:
            scores = np.array([row["scores"][metric] for row in rows])
            ok = np.isfinite(scores)
            with warnings.catch_warnings():
                # Constant accuracies or scores: NaN, shown as such.
                warnings.simplefilter("ignore")
                taus[truth][metric] = (
                    float(weighted_kendall_tau(accuracies[ok], scores[ok]))
                    if ok.sum() > 1
                    else math.nan
                )
    return {
        "sktransfer_version": __version__,
        "target": data_description,
        "n_train": int(len(y)),
        "n_test": None if y_test is None else int(len(y_test)),
        "layer": layer,
        "metrics": metric_names,
        "skipped_metrics": skipped,
        "finetune": (
            {"mode": "full", "epochs": epochs, "seeds": seeds, "lr": args.lr}
            if finetune
            else None
        ),
        "candidates": rows,
        "weighted_tau": taus,
        "notes": notes,
        "elapsed_s": round(time.perf_counter() - start, 1),
    }


# --------------------------------------------------------------------- output

_TRUTH_LABELS = {"probe_accuracy": "probe acc.", "finetune_accuracy": "fine-tune acc."}


def _fmt(value, digits=4):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "nan"
    return f"{value:.{digits}f}"


def _grid(result):
    """Header and rows of the candidate x metric table, and the tau rows."""
    metrics = result["metrics"]
    truths = [
        t
        for t in ("probe_accuracy", "finetune_accuracy")
        if t in result["candidates"][0]
    ]
    header = ["candidate", *metrics, *(_TRUTH_LABELS[t] for t in truths)]
    body = []
    for row in result["candidates"]:
        cells = [row["candidate"]]
        cells += [_fmt(row["scores"][m]) for m in metrics]
        for truth in truths:
            cell = _fmt(row[truth], 3)
            if truth == "finetune_accuracy":
                cell += f" ±{row['finetune_std']:.3f}"
            cells.append(cell)
        body.append(cells)
    taus = []
    for truth in ("finetune_accuracy", "probe_accuracy"):
        if truth in result["weighted_tau"]:
            values = result["weighted_tau"][truth]
            label = f"w. tau vs {_TRUTH_LABELS[truth]}"
            taus.append(
                [label, *(_fmt(values[m], 2) for m in metrics)] + [""] * len(truths)
            )
    return header, body, taus


def _format_table(result, markdown=False):
    header, body, taus = _grid(result)
    lines = []
    if markdown:
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|")
        for cells in body + taus:
            if cells in taus:
                cells = [f"**{cells[0]}**", *cells[1:]]
            lines.append("| " + " | ".join(cells) + " |")
    else:
        everything = [header, *body, *taus]
        widths = [max(len(r[i]) for r in everything) for i in range(len(header))]

        def line(cells):
            first = cells[0].ljust(widths[0])
            rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
            return "  ".join([first, *rest]).rstrip()

        rule = "  ".join("-" * w for w in widths)
        lines += [line(header), rule, *(line(c) for c in body)]
        if taus:
            lines += [rule, *(line(c) for c in taus)]
    intro = [
        f"sktransfer {result['sktransfer_version']}: {len(body)} candidates, "
        f"target {result['target']}",
        f"features: layer {result['layer'] or '(input of the last nn.Linear)'}; "
        "scores: higher = more transferable",
    ]
    if result["finetune"]:
        ft = result["finetune"]
        intro.append(
            f"ground truth: test accuracy after full fine-tuning ({ft['epochs']} "
            f"epochs, Adam lr {ft['lr']:g}, mean ± std over {len(ft['seeds'])} "
            "seeds); probe: logistic regression on the features"
        )
    outro = []
    for name, reason in result["skipped_metrics"].items():
        outro.append(f"skipped {name}: {reason}")
    for note in result["notes"]:
        outro.append(f"note: {note}")
    outro.append(f"done in {result['elapsed_s']:.1f} s")
    if markdown:
        return "\n".join(
            [*(f"{x}  " for x in intro), "", *lines, "", *(f"- {x}" for x in outro)]
        )
    return "\n".join([*intro, "", *lines, "", *outro])


def _format_csv(result):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    metrics = result["metrics"]
    truths = [
        t
        for t in ("probe_accuracy", "finetune_accuracy", "finetune_std")
        if t in result["candidates"][0]
    ]
    writer.writerow(["candidate", *metrics, *truths])
    for row in result["candidates"]:
        writer.writerow(
            [row["candidate"], *(repr(row["scores"][m]) for m in metrics)]
            + [repr(row[t]) for t in truths]
        )
    for truth, values in result["weighted_tau"].items():
        writer.writerow(
            [f"weighted_tau[{truth}]", *(repr(values[m]) for m in metrics)]
            + [""] * len(truths)
        )
    return buffer.getvalue()


def _format_json(result):
    def clean(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return json.dumps(clean(result), indent=2) + "\n"


def _atomic_write(path, data):
    """Write ``data`` (str or bytes) to ``path`` through a temporary file."""
    path = Path(path)
    mode = "wb" if isinstance(data, bytes) else "w"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(
            fd, mode, **({} if mode == "wb" else {"encoding": "utf-8"})
        ) as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _plot_png(result):
    """The scores-vs-accuracy figure as PNG bytes, or None without ground truth."""
    from sktransfer.evaluation import plot_scores_vs_accuracy

    rows = result["candidates"]
    truth = next(
        (t for t in ("finetune_accuracy", "probe_accuracy") if t in rows[0]), None
    )
    if truth is None:
        return None
    accuracies = [row[truth] for row in rows]
    scores = {m: [row["scores"][m] for row in rows] for m in result["metrics"]}
    fig = plot_scores_vs_accuracy(
        accuracies, scores, labels=[row["candidate"] for row in rows], n_cols=4
    )
    for ax in fig.axes:
        ax.set_ylabel(_TRUTH_LABELS[truth])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _write_outputs(result, out):
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CommandError(
            f"cannot create the folder {out}: {_first_line(exc)}"
        ) from exc
    written = []
    for name, text in (
        ("results.csv", _format_csv(result)),
        ("results.json", _format_json(result)),
    ):
        _atomic_write(out / name, text)
        written.append(out / name)
    try:
        import matplotlib

        matplotlib.use("Agg")
    except ImportError:
        _say(
            "the plot needs matplotlib (pip install matplotlib); "
            "wrote the CSV and JSON files only"
        )
    else:
        png = _plot_png(result)
        if png is None:
            _say("no ground truth to plot against (use --finetune)")
        else:
            _atomic_write(out / "ranking.png", png)
            written.append(out / "ranking.png")
    return written


# ------------------------------------------------------------------ commands


def _cmd_rank(args):
    result = _rank(args)
    formatters = {
        "table": _format_table,
        "markdown": lambda r: _format_table(r, markdown=True),
        "csv": _format_csv,
        "json": _format_json,
    }
    text = formatters[args.format](result)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    if args.out is not None:
        for path in _write_outputs(result, args.out):
            _say(f"wrote {path}")
    return 0


def _cmd_metrics(args):
    rows = []
    for key, cls in _metric_classes().items():
        short, full = _reference(cls)
        name = cls.__name__
        usage = (
            f"not used by rank: {NOT_RANKABLE[name]}"
            if name in NOT_RANKABLE
            else (
                f"default when n_samples x n_features^2 <= {SLOW_METRICS[name]:.0e}"
                f" ({_SLOW_REASON[name]})"
            )
            if name in SLOW_METRICS
            else "default"
        )
        rows.append(
            {
                "metric": name,
                "cli": key,
                "input": _input_kind(cls),
                "reference": short,
                "citation": full,
                "rank": usage,
            }
        )
    if args.format == "json":
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return 0
    if args.format == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        sys.stdout.write(buffer.getvalue())
        return 0
    columns = ["metric", "cli", "input", "reference", "rank"]
    if args.format == "markdown":
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(r[c] for c in columns) + " |" for r in rows]
    else:
        widths = [max(len(c), *(len(r[c]) for r in rows)) for c in columns]
        lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
        lines.append("  ".join("-" * w for w in widths))
        lines += [
            "  ".join(
                r[c].ljust(w) for c, w in zip(columns, widths, strict=True)
            ).rstrip()
            for r in rows
        ]
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def build_parser():
    """The argument parser of the ``sktransfer`` command."""
    # --debug before or after the command; SUPPRESS keeps a sub-command's
    # default from overwriting "sktransfer --debug rank".
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the traceback of an error",
    )
    parser = argparse.ArgumentParser(
        prog="sktransfer",
        description="Transferability estimation: rank pretrained models for a "
        "target task without fine-tuning them all.",
        epilog="Run 'sktransfer rank' for the built-in example (about a minute).",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an error"
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    rank = commands.add_parser(
        "rank",
        parents=[common],
        help="rank models for a target task",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""\
Score candidate models with transferability metrics on a labelled target task,
next to their actual accuracy after fine-tuning (the ground truth) and the
weighted Kendall's tau of each metric against it.

Without --models: the built-in zoo (sktransfer.datasets.load_zoo: nine small
CNNs pretrained on MNIST, Fashion-MNIST subsets, or untrained) on the built-in
target (scikit-learn's digits, 20 training images per class, the rest as test
set), fine-tuned for the ground truth.

Models (--models) are given as
  FILE.pt                      a TorchScript file (torch.jit.save)
  package.module:factory       a function (or class) called without arguments
                               that returns a torch.nn.Module
  package.module:factory=W.pt  the same, then its state dict from W.pt,
                               loaded with torch.load(weights_only=True)
A whole pickled module (torch.save(model)) loads only with --trust-pickle:
unpickling a file runs arbitrary code from it, so use it only for files you
trust. Feature metrics read --layer (default: the input of the model's last
nn.Linear, i.e. the penultimate features); LEEP and NCE read the softmax of
the model's output (its source-class logits). Scores: higher = more
transferable.

Ground truth (--finetune): full fine-tuning with skorch
(sktransfer.evaluation.finetune_accuracy): the model without its final
nn.Linear (when it is an nn.Sequential ending in one; else the whole model)
gets a new linear head and is trained on the training data, then scored on
the test data. A linear probe (logistic regression on the features) is
reported too whenever there is a test set.

Data (--data) is an .npz file with arrays X (inputs, as the model takes
them, e.g. (n, channels, height, width)) and y (labels), optionally X_test
and y_test; or a folder with one sub-folder of images per class (needs
Pillow; grey levels or RGB scaled to [0, 1], shape (n, channels, h, w)).""",
    )
    rank.add_argument(
        "--models",
        nargs="+",
        metavar="MODEL",
        help="candidate models (default: the built-in zoo)",
    )
    rank.add_argument(
        "--data", metavar="PATH", help="target data: .npz file or image folder"
    )
    rank.add_argument(
        "--metric",
        action="append",
        metavar="NAME",
        help="a metric to compute (repeatable; default: every applicable one, "
        "NLEEP only when the features are small); see 'sktransfer metrics'",
    )
    rank.add_argument("--layer", help="module name of the layer the features come from")
    rank.add_argument(
        "--device",
        default="auto",
        help="auto (CUDA if available), cpu, cuda, cuda:1...",
    )
    rank.add_argument(
        "--batch-size",
        type=_positive_int,
        default=256,
        metavar="N",
        help="samples per forward pass when extracting features (default 256)",
    )
    rank.add_argument(
        "--format",
        choices=["table", "csv", "json", "markdown"],
        default="table",
        help="output format on stdout (default table)",
    )
    rank.add_argument(
        "--out",
        metavar="DIR",
        help="also write results.csv, results.json and ranking.png (matplotlib) here",
    )
    ft = rank.add_mutually_exclusive_group()
    ft.add_argument(
        "--finetune",
        dest="finetune",
        action="store_true",
        default=None,
        help="fine-tune every model for the ground truth (default for the built-in "
        "zoo; for --models it holds out 25%% of the data unless X_test is given)",
    )
    ft.add_argument(
        "--no-finetune",
        dest="finetune",
        action="store_false",
        help="only compute the metrics",
    )
    rank.add_argument(
        "--epochs",
        type=_positive_int,
        default=None,
        help="fine-tuning epochs (default 5; 2 with --quick)",
    )
    rank.add_argument(
        "--seeds",
        type=_positive_int,
        default=None,
        help="fine-tuning runs per model, averaged (default 3; 1 with --quick)",
    )
    rank.add_argument(
        "--lr",
        type=_positive_float,
        default=1e-3,
        help="fine-tuning learning rate (Adam; default 0.001)",
    )
    rank.add_argument(
        "--shots",
        type=_positive_int,
        default=20,
        help="built-in target: training images per class (default 20)",
    )
    rank.add_argument(
        "--image-size",
        type=_positive_int,
        default=None,
        metavar="N",
        help="resize the images of a data folder to N x N",
    )
    rank.add_argument(
        "--random-state", type=int, default=0, help="seed of the data splits"
    )
    rank.add_argument(
        "--quick",
        action="store_true",
        help="a smoke test: 1 seed, 2 epochs, a smaller built-in test set",
    )
    rank.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow model files that are whole pickled modules; UNPICKLING RUNS "
        "ARBITRARY CODE from the file",
    )
    rank.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bar on stderr"
    )
    rank.set_defaults(handler=_cmd_rank)

    metrics = commands.add_parser(
        "metrics",
        parents=[common],
        help="list the metrics, their input kinds and references",
    )
    metrics.add_argument(
        "--format", choices=["table", "csv", "json", "markdown"], default="table"
    )
    metrics.set_defaults(handler=_cmd_metrics)
    return parser


def main(argv=None):
    """Run the ``sktransfer`` command line; return the exit status.

    Parameters
    ----------
    argv : list of str or None, default=None
        The arguments (without the program name); None reads ``sys.argv``.

    Returns
    -------
    status : int
        0 on success, 2 for a usage error or a problem with the inputs
        (reported as one line on stderr), 1 for an unexpected error.

    Examples
    --------
    >>> from sktransfer._cli import main
    >>> main(["metrics", "--format", "csv"])  # doctest: +ELLIPSIS
    metric,cli,input,reference,citation,rank
    ETran,etran,features,...
    0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if getattr(args, "quick", False):
        args.epochs = args.epochs or 2
        args.seeds = args.seeds or 1
    elif args.command == "rank":
        args.epochs = args.epochs or 5
        args.seeds = args.seeds or 3
    try:
        return args.handler(args)
    except CommandError as exc:
        if args.debug:
            raise
        _say(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    except Exception as exc:
        if args.debug:
            raise
        _say(
            f"error: {type(exc).__name__}: {_first_line(exc)} "
            "(--debug shows the traceback)"
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
