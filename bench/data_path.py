"""Benchmark 3: the data path alone, no model: ``TensorBatcher`` against torchvision + ``DataLoader``.

Scope: a few passes over a training set, as a short training run makes them,
from reading the files to the last normalised batch, for MNIST-shaped data (the real digits repeated, batch 64,
no augmentation) and CIFAR-shaped data (generated images written as CIFAR-10's
pickles, batch 128, random crop with padding 4 and horizontal flip). The
torchvision side is its dataset class with the usual transforms
(``RandomCrop``, ``RandomHorizontalFlip``, ``ToTensor``, ``Normalize``) in a
``DataLoader`` with 0, 2 and 4 workers; worker start-up is part of its time,
as it is part of every epoch. Both sides read the files once per run (the same
pickles or IDX files), so that cost, paid once per training run, weighs less
the more epochs there are; the tables say how many.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import DataLoader

from bench.clock import Side, side_by_side
from bench.files import cifar10_class, generated_images, real_digits, repeat_to, write_cifar10, write_mnist
from bench.report import Ratio, Table, seconds_text
from bench.settings import Settings

SIZES = {
    "full": {"mnist": 60_000, "cifar10": 50_000, "epochs": 3},
    "reduced": {"mnist": 10_000, "cifar10": 10_000, "epochs": 2},
    "tiny": {"mnist": 256, "cifar10": 256, "epochs": 1},
}
WORKERS = (0, 2, 4)
BATCH = {"mnist": 64, "cifar10": 128}
CPU = torch.device("cpu")
MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


def run(settings: Settings) -> Table:
    """Time every side for both data sets and return the table.

    Example:
        >>> [r.label for r in run(Settings("tiny", 1, 1, SHARED_MNIST, Path("/tmp/bench"))).ratios]
        ['MNIST: TensorBatcher vs the best DataLoader', 'CIFAR-10 with augmentation: TensorBatcher vs the best DataLoader']
    """
    size = settings.pick(SIZES)
    root = settings.work / "data_path"
    digits = repeat_to(*real_digits(settings.digits), size["mnist"])
    write_mnist(root, digits, (digits[0][:10], digits[1][:10]))
    write_cifar10(root, generated_images(size["cifar10"], seed=0), generated_images(10, seed=1))
    cifar_class = cifar10_class(root)  # the MD5 sums of the files, computed before the clock starts
    epochs = size["epochs"]
    rows, ratios = [], []
    for name, title in (("mnist", "MNIST"), ("cifar10", "CIFAR-10 with augmentation")):
        sides = [Side("TensorBatcher", lambda name=name: _batcher_epochs(root, name, epochs))]
        sides += [Side(f"torchvision + DataLoader, num_workers={w}",
                       lambda name=name, w=w: _loader_epochs(root, name, epochs, w, cifar_class=cifar_class))
                  for w in WORKERS]
        timings = side_by_side(sides, repeats=settings.repeats)
        fast = timings["TensorBatcher"].median
        batches = -(-size[name] // BATCH[name]) * epochs
        for side, timing in timings.items():
            rows.append([title, side, seconds_text(timing), f"{batches / timing.median:,.0f}",
                         f"{timing.median / fast:.1f}×"])
        best = min(t.median for side, t in timings.items() if side != "TensorBatcher")
        ratios.append(Ratio(f"{title}: TensorBatcher vs the best DataLoader", best / fast))
    return Table(
        key="data_path",
        title="3. Data path alone: TensorBatcher against torchvision + DataLoader",
        setup=(f"{epochs} pass(es) over {size['mnist']:,} MNIST digits (batch {BATCH['mnist']}) and "
               f"{size['cifar10']:,} CIFAR-shaped images (batch {BATCH['cifar10']}, random crop + flip), the files read "
               f"once inside the clock, {settings.repeats} runs per side."),
        columns=["data", "side", "wall clock", "batches/s", "TensorBatcher is faster by"],
        rows=rows,
        ratios=ratios,
        notes=["Published measurements of the same comparison give about 15× for CIFAR-10 on two cores."],
    )


def _batcher_epochs(root: Path, name: str, epochs: int) -> dict:
    """cnncourse: load the files into one uint8 tensor and draw ``epochs`` epochs of batches."""
    from cnncourse.batches import TensorBatcher
    from cnncourse.data import load

    dataset = load(name, "train", root=root, download=False)
    augment = name == "cifar10"  # random crop (padding 4) and horizontal flip
    batches = TensorBatcher(dataset, BATCH[name], shuffle=True, augment=augment, device=CPU)
    n = 0
    for _ in range(epochs):
        for x, y in batches:
            n += len(y)
    return {"examples": n}


def _loader_epochs(root: Path, name: str, epochs: int, workers: int, *, cifar_class: type) -> dict:
    """torchvision: its dataset class with the usual transforms, ``epochs`` epochs through a DataLoader.

    ``cifar_class`` is ``files.cifar10_class(root)``: torchvision's CIFAR10 with the sums of the written files.
    """
    from torchvision import datasets, transforms

    if name == "mnist":
        transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(MNIST_MEAN, MNIST_STD)])
        dataset = datasets.MNIST(str(root), train=True, download=False, transform=transform)
    else:
        transform = transforms.Compose([
            transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(),
            transforms.ToTensor(), transforms.Normalize(CIFAR_MEAN, CIFAR_STD),
        ])
        dataset = cifar_class(str(root), train=True, download=False, transform=transform)
    batches = DataLoader(dataset, batch_size=BATCH[name], shuffle=True, num_workers=workers)
    n = 0
    for _ in range(epochs):
        for x, y in batches:
            n += len(y)
    return {"examples": n}
