"""``python -m bench.gpu``: the one-shot GPU check of every assignment's full-budget training recipe.

Scope: assignments 2-6 each train one network in their full budget (read from
source/0*/*.ipynb; the networks are bench's own copies). For each, this check
builds the recipe's data, model, optimiser and schedule exactly at the full
budget's sizes, trains whole epochs through ``cnncourse.train.fit`` (with the
per-epoch evaluation the notebooks do) until its share of the time is spent,
and writes one table row: seconds per epoch (the first, with its warm-up, and
the median of the others), the projected time of the whole full-budget
training against the 10-minute goal, the peak GPU memory, and the test
accuracy after the epochs done where the data is real. Data is real where
``cnncourse.data.load`` finds it on disk (``--data DIR`` adds a folder;
nothing is downloaded) and generated, of the real shape and size, otherwise.

    python -m bench.gpu                  # on a CUDA machine: 5 × 80 s, under 8 minutes
    python -m bench.gpu --size tiny      # seconds, on the CPU: what the tests run

The projection is first epoch + (epochs − 1) × steady epoch, times the
number of training runs (assignment 6 trains 9 networks of 600 steps: three
strategies × three amounts of data; its figure times full fine-tuning, the
costliest strategy, so it is an upper bound).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from bench import gpu_models
from bench.models import lenet
from bench.settings import REPO

GOAL_S = 600.0  # every assignment's full budget should train in 10 minutes on one modern GPU


@dataclass(frozen=True)
class Recipe:
    """One assignment's full-budget training, as its notebook runs it.

    Attributes:
        name: the table's label.
        datasets: names for ``cnncourse.data.load``, tried in order (the first found is used).
        shape: C×H×W of the images the network sees.
        train_size, test_size: images in the full budget (the data's sizes, or generated ones).
        batch_size: training batch size.
        epochs: full-budget epochs (for step-counted runs, computed from ``steps``).
        make_model: a fresh network.
        make_optimizer: (model, total steps) -> (optimizer, OneCycle scheduler).
        loss: fit's loss hook, or None for cross-entropy.
        augment: TensorBatcher's ``augment``.
        drop_last: TensorBatcher's ``drop_last``.
        steps: optimiser steps per run when the notebook counts steps, not epochs (assignment 6).
        runs: training runs of this recipe in the full budget.
        num_classes: classes of the (real or generated) data.
        note: what the row leaves out or approximates.
    """

    name: str
    datasets: tuple[str, ...]
    shape: tuple[int, int, int]
    train_size: int
    test_size: int
    batch_size: int
    epochs: int
    make_model: Callable[[], nn.Module]
    make_optimizer: Callable[[nn.Module, int], tuple]
    loss: Callable | None = None
    augment: bool | dict = False
    drop_last: bool = False
    steps: int | None = None
    runs: int = 1
    num_classes: int = 10
    note: str = ""


def _adamw_one_cycle(model: nn.Module, total_steps: int) -> tuple:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    return optimizer, torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=total_steps)


def _nesterov_one_cycle(peak: float) -> Callable[[nn.Module, int], tuple]:
    def make(model: nn.Module, total_steps: int) -> tuple:
        optimizer = torch.optim.SGD(model.parameters(), lr=peak, momentum=0.9, nesterov=True, weight_decay=5e-4)
        return optimizer, torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=peak, total_steps=total_steps)
    return make


def _smoothed(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(outputs, targets, label_smoothing=0.1)


RECIPES = [
    Recipe("2. LeNet-5, MNIST", ("mnist", "fashion_mnist"), (1, 28, 28), 55_000, 10_000, 128, 15,
           lambda: lenet(seed=0), _adamw_one_cycle,
           note="AdamW + OneCycle; 5,000 of the 60,000 training images held out; Fashion-MNIST where MNIST is absent"),
    Recipe("3. VGG-16 (BN), CIFAR-10", ("cifar10",), (3, 32, 32), 50_000, 10_000, 512, 30,
           gpu_models.vgg16_cifar, _nesterov_one_cycle(0.2), loss=_smoothed, augment=True, drop_last=True,
           note="Nesterov SGD + OneCycle to 0.2, label smoothing 0.1, crop and flip"),
    Recipe("4. Compact Inception, CIFAR-10", ("cifar10",), (3, 32, 32), 45_000, 10_000, 512, 30,
           gpu_models.CompactInception, _nesterov_one_cycle(0.2), loss=gpu_models.googlenet_loss, augment=True,
           drop_last=True, note="auxiliary loss 0.3, label smoothing 0.1; 5,000 training images held out"),
    Recipe("5. ResNet-20, CIFAR-10", ("cifar10",), (3, 32, 32), 50_000, 10_000, 256, 60,
           gpu_models.resnet20, _nesterov_one_cycle(0.2), loss=_smoothed, augment=True,
           note="Nesterov SGD + OneCycle to 0.2, label smoothing 0.1"),
    Recipe("6. ResNet-18 transfer, Oxford-IIIT Pet", (), (3, 224, 224), 3_680, 3_669, 64, 0,
           lambda: gpu_models.resnet18_transfer(37), _nesterov_one_cycle(0.01), loss=_smoothed,
           augment={"crop": 14, "flip": True}, steps=600, runs=9, num_classes=37,
           note="always generated (real Pet needs the pretrained backbone's preprocessing); full fine-tuning timed"),
]

SIZES = {
    "full": {"seconds": 80.0, "scale": None},  # the recipes' own sizes
    "tiny": {"seconds": 0.0, "scale": 16},  # 16 training and 16 test images, batches of 8, 2 epochs, sides <= 32
}
TINY_SIDE = 32  # at the tiny size, 224×224 photos are generated at 32×32 (a CPU check of the code, not of the time)


@dataclass
class Row:
    """What one recipe measured."""

    recipe: Recipe
    data: str
    epochs_done: int
    epoch_s: list[float] = field(default_factory=list)
    steps_per_epoch: int = 0
    peak_bytes: int | None = None
    accuracy: float | None = None

    @property
    def projected_s(self) -> float:
        """The whole full-budget training: first epoch + the rest at the steady pace, times the runs."""
        first = self.epoch_s[0]
        steady = statistics.median(self.epoch_s[1:]) if len(self.epoch_s) > 1 else first
        return self.recipe.runs * (first + (self.total_epochs - 1) * steady)

    @property
    def total_epochs(self) -> int:
        if self.recipe.steps is not None:
            return max(1, math.ceil(self.recipe.steps / self.steps_per_epoch))
        return self.recipe.epochs

    def cells(self) -> list[str]:
        steady = statistics.median(self.epoch_s[1:]) if len(self.epoch_s) > 1 else None
        memory = "not measured (no GPU)" if self.peak_bytes is None else f"{self.peak_bytes / 2**30:.2f} GiB"
        accuracy = ("not measured (generated data)" if self.accuracy is None
                    else f"{self.accuracy:.4f} after {self.epochs_done} of {self.total_epochs} epochs")
        projected = self.projected_s
        verdict = "within" if projected <= GOAL_S else "over"
        runs = f" ({self.recipe.runs} runs)" if self.recipe.runs > 1 else ""
        return [self.recipe.name, self.data, f"{self.epoch_s[0]:.2f} s",
                "—" if steady is None else f"{steady:.2f} s", f"{self.total_epochs}{runs}",
                f"{projected / 60:.1f} min ({verdict} 10 min)", memory, accuracy]


COLUMNS = ["assignment", "data", "first epoch", "steady epoch", "full-budget epochs", "projected full budget",
           "peak GPU memory", "test accuracy"]


def _data(recipe: Recipe, scale: int | None, root: Path | None) -> tuple:
    """(train, test, description): real data when found on disk, else generated of the real shape."""
    from cnncourse.data import DatasetNotFoundError, load
    from cnncourse.imagedataset import ImageDataset

    for name in recipe.datasets:
        try:
            train, test = (load(name, split, root=root, download=False) for split in ("train", "test"))
        except DatasetNotFoundError:
            continue
        if train.standin:
            continue
        keep = recipe.train_size if scale is None else scale
        train = train.subset(range(min(keep, len(train))))
        test = test.subset(range(min(recipe.test_size if scale is None else scale, len(test))))
        return train, test, f"real {train.name}"
    generator = torch.Generator().manual_seed(0)

    shape = recipe.shape if scale is None else (recipe.shape[0], *(min(side, TINY_SIDE) for side in recipe.shape[1:]))

    def generated(n: int, split: str) -> ImageDataset:
        images = torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=generator)
        labels = torch.randint(0, recipe.num_classes, (n,), generator=generator)
        return ImageDataset(images, labels, classes=[str(k) for k in range(recipe.num_classes)],
                            mean=[0.5] * recipe.shape[0], std=[0.25] * recipe.shape[0], name="generated", split=split)

    n_train, n_test = (recipe.train_size, recipe.test_size) if scale is None else (scale, scale)
    return generated(n_train, "train"), generated(n_test, "test"), "generated"


def measure(recipe: Recipe, *, seconds: float, scale: int | None, device: torch.device,
            root: Path | None = None) -> Row:
    """Train ``recipe`` epoch by epoch (at least 2) until ``seconds`` are spent or its full budget is done.

    Example:
        >>> measure(RECIPES[0], seconds=0, scale=48, device=torch.device("cpu")).epochs_done
        2
    """
    from cnncourse.batches import TensorBatcher
    from cnncourse.train import fit

    train, test, description = _data(recipe, scale, root)
    batch_size = recipe.batch_size if scale is None else min(recipe.batch_size, 8)
    augment = recipe.augment
    if scale is not None and isinstance(augment, dict) and "crop" in augment:
        augment = {**augment, "crop": 2}
    train_batches = TensorBatcher(train, batch_size, shuffle=True, augment=augment, device=device,
                                  drop_last=recipe.drop_last, seed=0)
    test_batches = TensorBatcher(test, 500, shuffle=False, device=device)
    row = Row(recipe, description, 0, steps_per_epoch=len(train_batches))
    torch.manual_seed(0)
    model = recipe.make_model().to(device)
    optimizer, scheduler = recipe.make_optimizer(model, row.total_epochs * len(train_batches))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    started = time.perf_counter()
    history = None
    while row.epochs_done < row.total_epochs and (row.epochs_done < 2 or time.perf_counter() - started < seconds):
        epoch_started = time.perf_counter()
        history = fit(model, train_batches, test_batches, epochs=1, optimizer=optimizer, scheduler=scheduler,
                      scheduler_interval="batch", loss=recipe.loss, device=device, progress=False)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        row.epoch_s.append(time.perf_counter() - epoch_started)
        row.epochs_done += 1
    if device.type == "cuda":
        row.peak_bytes = torch.cuda.max_memory_allocated(device)
    if description.startswith("real") and history is not None:
        row.accuracy = history.val_acc[-1]
    return row


def markdown(rows: list[Row], *, device: torch.device, size: str, seconds: float, load_before: tuple) -> str:
    """The results as a Markdown section: the setting, the table, each recipe's note.

    Example:
        >>> markdown([], device=torch.device("cpu"), size="tiny", seconds=0, load_before=(0.0, 0.0, 0.0)).splitlines()[0]
        '## GPU check: every assignment's full-budget recipe'
    """
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (no GPU: the times say nothing of one)"
    lines = ["## GPU check: every assignment's full-budget recipe", "",
             f"- device: {name}; torch {torch.__version__}; size {size}; about {seconds:g} s of training per recipe",
             f"- load average before: {', '.join(f'{v:.2f}' for v in load_before)}",
             f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    lines.append("")
    lines += [f"- {row.recipe.name}: {row.recipe.note}." for row in rows if row.recipe.note]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run every recipe, print the table and write it to ``--out``; returns the exit status.

    Example:
        >>> main(["--size", "tiny", "--out", "/tmp/gpu.md"])
        0
    """
    parser = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=SIZES, default="full",
                        help="full (the recipes' sizes, a CUDA device; under 8 minutes) or tiny (seconds, any device)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="training time per recipe (default: 80 at full size, 0 (two epochs) at tiny)")
    parser.add_argument("--data", default=None, help="the only data folder to look in (default: cnncourse's data roots)")
    parser.add_argument("--out", default=str(REPO / "bench" / "gpu_results.md"), help="where the Markdown table goes")
    args = parser.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if args.size == "full" and device.type != "cuda":
        parser.error("--size full needs a CUDA device (none found); run --size tiny to check the command on a CPU")
    size = SIZES[args.size]
    seconds = size["seconds"] if args.seconds is None else args.seconds
    if seconds < 0:
        parser.error(f"--seconds must be 0 or more, got {seconds:g}")
    root = Path(args.data) if args.data else None
    if root is not None and not root.is_dir():
        parser.error(f"--data {root} is not a folder")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    load_before = os.getloadavg()
    rows = []
    for recipe in RECIPES:
        print(f"[bench.gpu] {recipe.name}...", file=sys.stderr, flush=True)
        rows.append(measure(recipe, seconds=seconds, scale=size["scale"], device=device, root=root))
        if device.type == "cuda":
            torch.cuda.empty_cache()
    text = markdown(rows, device=device, size=args.size, seconds=seconds, load_before=load_before)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
