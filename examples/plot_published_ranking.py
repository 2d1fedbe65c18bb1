"""
=====================================================
Reproduce a published ranking, and why no metric wins
=====================================================

Transferability papers report how well a metric's scores agree with the
accuracy that each model reaches after fine-tuning, over a *model zoo*, with
the weighted Kendall's tau (:func:`~sktransfer.evaluation.weighted_kendall_tau`,
which weighs the top of the ranking most). This example recomputes such
numbers from published tables, with sktransfer's evaluation tools:

1. the model-ranking benchmark of Transfer-Learning-Library on CIFAR-10
   (10 ImageNet models, four metrics): we recover the printed correlations;
2. the weighted tau of five metrics on eleven target datasets reported by
   SFDA (Shao et al., ECCV 2022): the best metric changes with the target;
3. when the result tables of Agostinelli et al. (ECCV 2022) are available
   locally, the same analysis over their 19 architectures and 9 targets.

The first two tables are small and are copied into this file, with their
source; nothing is downloaded.
"""

# %%
# The TLlib CIFAR-10 benchmark
# ----------------------------
#
# From ``thuml/Transfer-Learning-Library`` (MIT licence), commit ``56ccfd7``,
# ``examples/model_selection/README.md``, "Model Ranking Benchmark on
# CIFAR10": the fine-tuned accuracy (percent) of each ImageNet model and its
# H-score, LEEP, LogME and NCE on CIFAR-10 features, as printed (rounded).

import csv
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from sktransfer.evaluation import pearson, weighted_kendall_tau

# model, fine-tuned accuracy, H-score, LEEP, LogME, NCE
TLLIB_CIFAR10 = [
    ("GoogleNet", 96.2, 5.911, -1.385, 0.293, -1.139),
    ("Inception V3", 97.5, 6.363, -1.259, 0.349, -1.060),
    ("ResNet50", 96.8, 6.567, -1.010, 0.388, -1.007),
    ("ResNet101", 97.7, 6.901, -0.829, 0.463, -0.838),
    ("ResNet152", 97.9, 6.945, -0.838, 0.469, -0.851),
    ("DenseNet121", 97.2, 6.210, -1.035, 0.302, -1.006),
    ("DenseNet169", 97.4, 6.547, -0.934, 0.343, -0.946),
    ("Densenet201", 97.4, 6.706, -0.888, 0.369, -0.866),
    ("MobileNet V2", 95.7, 5.928, -1.100, 0.291, -1.089),
    ("MNasNet", 96.8, 6.018, -1.066, 0.304, -1.086),
]
# The two summary rows printed under the table.
PRINTED = {
    "pearson": {"H-score": 0.839, "LEEP": 0.604, "LogME": 0.733, "NCE": 0.786},
    "weighted tau": {"H-score": 0.800, "LEEP": 0.638, "LogME": 0.785, "NCE": 0.714},
}

models = [row[0] for row in TLLIB_CIFAR10]
accuracy = np.array([row[1] for row in TLLIB_CIFAR10])
scores = {
    name: np.array([row[i] for row in TLLIB_CIFAR10])
    for i, name in enumerate(["H-score", "LEEP", "LogME", "NCE"], start=2)
}

print(
    f"{'metric':>8} {'weighted tau':>13} {'printed':>8} {'Pearson':>8} {'printed':>8}"
)
for name, values in scores.items():
    tau = weighted_kendall_tau(accuracy, values)
    r = pearson(accuracy, values)
    print(
        f"{name:>8} {tau:13.3f} {PRINTED['weighted tau'][name]:8.3f} "
        f"{r:8.3f} {PRINTED['pearson'][name]:8.3f}"
    )

# %%
# The weighted taus match the printed ones to the third decimal. Pearson's r
# differs in the last digit because the table's inputs are rounded.

fig, axes = plt.subplots(1, 4, figsize=(13, 3.4), layout="constrained", sharey=True)
for ax, (name, values) in zip(axes, scores.items(), strict=True):
    ax.scatter(values, accuracy)
    for model, v, a in zip(models, values, accuracy, strict=True):
        ax.annotate(model, (v, a), fontsize=7, alpha=0.8)
    tau = weighted_kendall_tau(accuracy, values)
    ax.set(title=f"{name}: weighted tau {tau:.3f}", xlabel="score")
axes[0].set_ylabel("fine-tuned accuracy on CIFAR-10 (%)")
plt.show()

# %%
# (:func:`~sktransfer.evaluation.plot_scores_vs_accuracy` draws the same
# panels as a standalone figure, to save with ``fig.savefig``.)

# %%
# Eleven targets: the best metric depends on the target
# -----------------------------------------------------
#
# The SFDA repository (``TencentARC/SFDA``, README) reports the weighted tau
# of each metric against the fine-tuned accuracies of 11 ImageNet CNNs on 11
# targets (Shao et al., ECCV 2022). These are the paper's numbers; computing
# them needs the models' features, which are not shipped.

SFDA_TAU_TABLE = """
metric Aircraft Caltech101 Cars CIFAR10 CIFAR100 DTD Flowers Food Pets SUN397 VOC2007
LEEP   -0.234   0.605      0.367 0.824   0.677    0.486 -0.243  0.491 0.389 0.701  0.446
LogME  0.506    0.435      0.576 0.852   0.692    0.647 0.111   0.385 0.411 0.511  0.478
NLEEP  0.495    0.661      0.265 0.806   0.823    0.777 0.215   0.624 0.599 0.807  0.654
PARC   -0.182   0.374      0.562 0.845   0.692    0.642 -0.082  0.732 0.138 0.698  0.723
SFDA   0.615    0.737      0.487 0.949   0.866    0.597 0.542   0.815 0.734 0.703  0.763
"""
header, *lines = [line.split() for line in SFDA_TAU_TABLE.strip().splitlines()]
SFDA_TARGETS = header[1:]
SFDA_TAU = {line[0]: [float(v) for v in line[1:]] for line in lines}


def heatmap(values, metrics, targets, title):
    """Metrics x targets table of weighted tau, best metric of each column boxed."""
    fig, ax = plt.subplots(figsize=(11, 3.6), layout="constrained")
    im = ax.imshow(values, cmap="RdBu", vmin=-1, vmax=1, aspect="auto")
    best = np.nanargmax(values, axis=0)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            weight = "bold" if best[j] == i else "normal"
            ax.text(
                j,
                i,
                f"{values[i, j]:.2f}",
                ha="center",
                va="center",
                fontweight=weight,
                fontsize=8,
                color="white" if abs(values[i, j]) > 0.6 else "black",
            )
    ax.set(xticks=range(len(targets)), yticks=range(len(metrics)), title=title)
    ax.set_xticklabels(targets, rotation=30, ha="right")
    ax.set_yticklabels(metrics)
    fig.colorbar(im, ax=ax, label="weighted tau")
    plt.show()


tau = np.array(list(SFDA_TAU.values()))
heatmap(tau, list(SFDA_TAU), SFDA_TARGETS, "Published weighted tau (best in bold)")

# %%
# The paper's metric wins on average, but not on every target: on Cars
# LogME is best, on DTD and SUN397 N-LEEP.

metric_names = np.array(list(SFDA_TAU))
winners = metric_names[tau.argmax(axis=0)]
for target, winner in zip(SFDA_TARGETS, winners, strict=True):
    print(f"{target:>10}: best metric {winner}")
for name, mean in zip(metric_names, tau.mean(axis=1), strict=True):
    print(f"mean weighted tau of {name}: {mean:.3f}")

# %%
# The ECCV 2022 stability study (optional)
# ----------------------------------------
#
# Agostinelli et al., *How stable are Transferability Metrics evaluations?*
# (ECCV 2022) released the scores of GBC, LEEP, N-LEEP, LogME and their
# H-score implementation for 19 Keras ImageNet architectures on 9 targets,
# with the accuracy after fine-tuning (Apache-2.0, ``google-research``,
# ``stable_transfer/transferability/results_analysis``). The tables are not
# part of sktransfer; set ``SKTRANSFER_FIXTURES`` to a folder holding
# ``stable_transfer/source_model_architectures_table.csv`` to run this part.
#
# Their conclusion, from 715k variations of the experimental setup: small
# changes of the setup (which models are in the pool, which target, which
# evaluation measure) change which metric looks best; N-LEEP was the most
# reliable for choosing an architecture, LogME for choosing a source dataset
# in segmentation, GBC for choosing a target. Note that their ``hscore``
# column comes from an implementation with an element-wise product instead of
# the matrix product of the paper (see :class:`~sktransfer.metrics.HScore`).


def find_fixtures():
    """The fixture folder: $SKTRANSFER_FIXTURES, or ../shared/fixtures near here."""
    candidates = [os.environ.get("SKTRANSFER_FIXTURES")]
    for base in (Path.cwd(), *Path.cwd().parents[:2]):
        candidates.append(base / "shared" / "fixtures")
    for candidate in candidates:
        if candidate and (Path(candidate) / "stable_transfer").is_dir():
            return Path(candidate)
    return None


fixtures = find_fixtures()
if fixtures is None:
    print("The ECCV 2022 result tables are not available here: part 3 skipped.")
else:
    path = fixtures / "stable_transfer" / "source_model_architectures_table.csv"
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["Trainable Backbone"] == "True"]
    metrics = sorted({r["Transferability Metric"] for r in rows})
    targets = sorted({r["Target Dataset"] for r in rows})
    table = np.full((len(metrics), len(targets)), np.nan)
    for i, metric in enumerate(metrics):
        for j, target in enumerate(targets):
            block = [
                r
                for r in rows
                if r["Transferability Metric"] == metric
                and r["Target Dataset"] == target
            ]
            acc = [float(r["Test Accuracy"]) for r in block]
            sco = [float(r["Transferability Metric Score"]) for r in block]
            table[i, j] = weighted_kendall_tau(acc, sco)
    heatmap(
        table, metrics, targets, "Weighted tau, 19 architectures, fine-tuned backbone"
    )
    wins = np.array(metrics)[np.nanargmax(table, axis=0)]
    for target, winner in zip(targets, wins, strict=True):
        print(f"{target:>18}: best metric {winner}")
    for name, mean in zip(metrics, np.nanmean(table, axis=1), strict=True):
        print(f"mean weighted tau of {name}: {mean:.3f}")

# %%
# The lesson for users: validate the metric on a setup close to yours (your
# kind of models, your kind of target), report several metrics side by side
# (:class:`~sktransfer.selection.SourceSelector` takes a list), and prefer a
# combination (``combine="mean_rank"``) when you cannot validate.
# :func:`~sktransfer.evaluation.plot_tau_heatmap` draws such a table as a
# standalone figure; :func:`~sktransfer.evaluation.evaluate_subpools` and
# :func:`~sktransfer.evaluation.win_rates` run the stability analysis of
# Agostinelli et al. on your own results.
