"""
====================================================
Quick start: score pretrained models with a Pipeline
====================================================

The whole workflow in one page. We have a labelled target dataset and a few
pretrained PyTorch models; we want to know which one to fine-tune, without
fine-tuning them all. Each model becomes a
:class:`~sktransfer.featurizers.TorchFeaturizer` (a scikit-learn transformer
that returns the model's penultimate features), followed by a
transferability metric, here :class:`~sktransfer.metrics.TransRate`, in a
:class:`~sklearn.pipeline.Pipeline`. ``Pipeline.score`` returns the metric:
higher means more transferable.

To stay small and offline, the "pretrained" models are tiny networks trained
for a second on scikit-learn's digits: the target task is to tell apart the
digits 5 to 9 on images that no model has seen; the models were pretrained on
the digits 0 to 4, on all ten digits, or not at all. Their narrow
penultimate layer (8 features) keeps only what their source task needed.
"""

# %%
# A target task and three pretrained models
# -----------------------------------------

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.pipeline import Pipeline
from torch import nn

from sktransfer.evaluation import linear_probe_accuracy
from sktransfer.featurizers import TorchFeaturizer
from sktransfer.metrics import LogME, TransRate

torch.set_num_threads(1)
X, digit = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32)
rng = np.random.default_rng(0)
half = rng.permutation(len(X)) < len(X) // 2  # source half / target half

target = ~half & (digit >= 5)
X_target, y_target = X[target], digit[target]
print(f"target task: {X_target.shape[0]} images of the digits 5-9")


def make_network(seed):
    """A small MLP: 64 pixels -> 8 features -> a classification head."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 8), nn.ReLU(), nn.Linear(8, 10)
    )


def pretrain(network, X, y, epochs=60):
    """Full-batch Adam on a source task (a stand-in for ImageNet pretraining)."""
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-2)
    X, y = torch.from_numpy(X), torch.from_numpy(y)
    for _ in range(epochs):
        optimizer.zero_grad()
        nn.functional.cross_entropy(network(X), y).backward()
        optimizer.step()
    return network.eval()


source = half & (digit < 5)
models = {
    "random init": make_network(0).eval(),
    "digits 0-4": pretrain(make_network(1), X[source], digit[source]),
    "digits 0-9": pretrain(make_network(2), X[half], digit[half]),
}

# %%
# Score every model
# -----------------
#
# ``TorchFeaturizer(model=net)`` reads the input of the last ``nn.Linear`` (the
# 8 penultimate features) under ``torch.no_grad()`` and returns a numpy
# array; the metric is the last step of the pipeline. The metric only sees the
# target data: no training, no fine-tuning.

scores = {}
for name, network in models.items():
    pipe = Pipeline(
        [
            ("features", TorchFeaturizer(model=network, device="cpu")),
            ("metric", TransRate()),
        ]
    )
    scores[name] = pipe.fit(X_target, y_target).score(X_target, y_target)
    print(f"{name:>14}: TransRate = {scores[name]:.3f}")

best = max(scores, key=scores.get)
print(f"fine-tune this one: {best}")

# %%
# Check against the ground truth
# ------------------------------
#
# Here fine-tuning is cheap enough to check the answer. A linear probe on the
# frozen features (a logistic regression, 5-fold cross-validated accuracy,
# :func:`~sktransfer.evaluation.linear_probe_accuracy`) stands in for
# fine-tuning. We add LogME for comparison.

probe, logme = {}, {}
for name, network in models.items():
    features = TorchFeaturizer(model=network, device="cpu").fit_transform(X_target)
    probe[name] = linear_probe_accuracy(features, y_target).accuracy_mean
    logme[name] = LogME().fit(features, y_target).score_
    print(
        f"{name:>14}: probe accuracy {probe[name]:.3f}, "
        f"TransRate {scores[name]:.3f}, LogME {logme[name]:.3f}"
    )

fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), layout="constrained")
for ax, (label, values) in zip(
    axes, {"TransRate": scores, "LogME": logme}.items(), strict=True
):
    for name in models:
        ax.scatter(probe[name], values[name], s=40)
        ax.annotate(
            name, (probe[name], values[name]), xytext=(5, 5), textcoords="offset points"
        )
    ax.margins(x=0.25, y=0.15)
    ax.set(xlabel="linear-probe accuracy on the target", ylabel=label, title=label)
plt.show()

# %%
# Both metrics order the models as the probe does. Pretraining is not always
# better than a random initialisation: the network pretrained on the digits
# 0 to 4 squeezed out of its 8 features what it did not need for its own task,
# and the metrics see it without any training on the target.
#
# Next steps
# ----------
#
# - With real pretrained networks (torchvision, timm, Hugging Face), pass the
#   model and its preprocessing: ``TorchFeaturizer(model=net,
#   preprocess=weights.transforms())``; see
#   :ref:`sphx_glr_auto_examples_plot_layer_selection.py` for an ImageNet
#   MobileNetV2, layer by layer.
# - To rank a whole pool with several metrics at once, use
#   :class:`~sktransfer.selection.SourceSelector`
#   (:ref:`sphx_glr_auto_examples_plot_source_selection.py`).
# - To choose a metric, read :ref:`choosing_a_metric`.
