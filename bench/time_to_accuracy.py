"""Benchmark 4: time to 97.5% on real digits, the course's LeNet-5 recipe against the official example's defaults.

Scope: 8,000 of the real MNIST test-set digits for training and the other
2,000 for validation, written as IDX files. Each side trains the same LeNet-5
from the same weights, evaluates after every epoch and stops at the first
epoch whose validation accuracy reaches the target; the clock runs from
reading the files to that evaluation.

- course: assignment 2's recipe through ``fit``: ``TensorBatcher`` batches of
  128, AdamW (lr 1e-3, weight decay 0.01) with OneCycleLR (max lr 3e-3,
  planned over the 15 epochs the notebook trains, stepped per batch);
- official example defaults: torchvision ``MNIST`` + ``DataLoader`` (batch 64,
  no workers on a CPU), Adadelta lr 1.0, StepLR gamma 0.7, its train/test loop.

``run_fashion`` (benchmark 4b) does the same on the real Fashion-MNIST (all
60,000 training images, the 10,000 test images; ``cnncourse.data.load`` finds
them, e.g. Debian's dataset-fashion-mnist) with a fixed number of epochs: the
clock reads the time of the first evaluation at 90% test accuracy, and the
final accuracy is the one after every epoch ran. The official side is the
example with ``datasets.MNIST`` replaced by ``datasets.FashionMNIST`` (its
transform kept); the course side plans OneCycle over those epochs.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from bench import loops
from bench.clock import Side, side_by_side
from bench.files import real_digits, write_mnist
from bench.models import lenet
from bench.report import Ratio, Table, seconds_text
from bench.settings import Settings

SIZES = {
    "full": {"train": 8_000, "val": 2_000, "target": 0.975, "max_epochs": 15},
    "reduced": {"train": 8_000, "val": 2_000, "target": 0.975, "max_epochs": 15},
    "tiny": {"train": 512, "val": 256, "target": 0.3, "max_epochs": 2},
}
SEED = 0
CPU = torch.device("cpu")
COURSE, OFFICIAL = "course recipe (fit + TensorBatcher, AdamW + OneCycle)", "official example defaults (Adadelta 1.0)"


def run(settings: Settings) -> Table:
    """Time both sides to the target and return the table.

    Example:
        >>> run(Settings("tiny", 1, 1, SHARED_MNIST, Path("/tmp/bench"))).ratios[0].label
        'time to 30%: course recipe vs official example defaults'
    """
    size = settings.pick(SIZES)
    root = settings.work / "time_to_accuracy"
    images, labels = real_digits(settings.digits)
    n, m = size["train"], size["val"]
    write_mnist(root, (images[:n], labels[:n]), (images[n:n + m], labels[n:n + m]))
    target, max_epochs = size["target"], size["max_epochs"]
    sides = [
        Side(COURSE, lambda: _course_side(root, target, max_epochs)),
        Side(OFFICIAL, lambda: _official_side(root, target, max_epochs)),
    ]
    timings = side_by_side(sides, repeats=settings.repeats)
    rows = []
    for name, timing in timings.items():
        reached = sum(int(e["reached"]) for e in timing.extras)
        rows.append([name, seconds_text(timing), f"{timing.extra('epochs'):g}", f"{timing.extra('val_acc'):.4f}",
                     f"{reached}/{len(timing.extras)}"])
    both = all(all(e["reached"] for e in t.extras) for t in timings.values())
    ratio = timings[OFFICIAL].median / timings[COURSE].median if both else None
    notes = [] if both else [f"A side did not reach {_percent(target)} within {max_epochs} epochs in every run, so no ratio."]
    return Table(
        key="time_to_accuracy",
        title=f"4. Time to {_percent(target)} validation accuracy on real digits",
        setup=(f"{n:,} real MNIST digits for training, the next {m:,} for validation, at most {max_epochs} epochs, "
               f"evaluation after every epoch, {settings.repeats} runs per side."),
        columns=["side", "wall clock to the target", "epochs", "validation accuracy then", "reached in"],
        rows=rows,
        ratios=[Ratio(f"time to {_percent(target)}: course recipe vs official example defaults", ratio)],
        notes=notes,
    )


FASHION_SIZES = {
    "full": {"train": 60_000, "test": 10_000, "target": 0.90, "epochs": 15},
    "reduced": {"train": 12_000, "test": 10_000, "target": 0.85, "epochs": 5},
    "tiny": {"train": 512, "test": 256, "target": 0.3, "epochs": 2},
}


def run_fashion(settings: Settings) -> Table:
    """Benchmark 4b: time to 90% test accuracy and the final accuracy on the real Fashion-MNIST, both sides.

    Where the files are missing the table says so (and measures nothing) instead of failing the suite.

    Example:
        >>> run_fashion(Settings("tiny", 1, 1, SHARED_MNIST, Path("/tmp/bench"))).key
        'fashion_time_to_accuracy'
    """
    from cnncourse.data import DatasetNotFoundError, load

    size = settings.pick(FASHION_SIZES)
    target, epochs, n, m = size["target"], size["epochs"], size["train"], size["test"]
    title = f"4b. Time to {_percent(target)} test accuracy on real Fashion-MNIST"
    columns = ["side", "wall clock to the target", "epoch it was reached", f"test accuracy after {epochs} epochs",
               "reached in", "wall clock for every epoch"]
    try:
        train, test = (load("fashion_mnist", split, download=False) for split in ("train", "test"))
    except DatasetNotFoundError as err:
        train = test = None
        missing = str(err).splitlines()[0]
    if train is None or train.standin:
        why = missing if train is None else "only the offline stand-in was found"
        return Table(key="fashion_time_to_accuracy", title=title, setup="not measured", columns=columns, rows=[],
                     ratios=[Ratio(f"time to {_percent(target)} on Fashion-MNIST: course recipe vs official example",
                                   None, goal=2.0)],
                     notes=[f"not measured: {why} (install Debian's dataset-fashion-mnist)"])
    root = settings.work / "fashion_time_to_accuracy"
    write_mnist(root, (train.images[:n, 0], train.targets[:n]), (test.images[:m, 0], test.targets[:m]),
                folder="FashionMNIST")
    sides = [
        Side(COURSE, lambda: _course_side(root, target, epochs, dataset="fashion_mnist", stop=False)),
        Side(OFFICIAL, lambda: _official_side(root, target, epochs, dataset="fashion_mnist", stop=False)),
    ]
    timings = side_by_side(sides, repeats=settings.repeats)
    rows, to_target = [], {}
    for name, timing in timings.items():
        reached = [e["to_target_s"] for e in timing.extras if e["to_target_s"] is not None]
        all_reached = len(reached) == len(timing.extras)
        to_target[name] = statistics.median(reached) if all_reached else None
        rows.append([name, "not reached in every run" if not all_reached else
                     f"{to_target[name]:.2f} s ({min(reached):.2f}–{max(reached):.2f})",
                     "—" if not all_reached else f"{timing.extra('epochs'):g}", f"{timing.extra('val_acc'):.4f}",
                     f"{len(reached)}/{len(timing.extras)}", seconds_text(timing)])
    both = all(v is not None for v in to_target.values())
    return Table(
        key="fashion_time_to_accuracy",
        title=title,
        setup=(f"{n:,} real Fashion-MNIST training images and {m:,} test images, {epochs} epochs on each side, "
               f"evaluation after every epoch, the same LeNet-5 from the same weights, {settings.repeats} runs per side."),
        columns=columns,
        rows=rows,
        ratios=[Ratio(f"time to {_percent(target)} on Fashion-MNIST: course recipe vs official example",
                      to_target[OFFICIAL] / to_target[COURSE] if both else None, goal=2.0)],
        notes=[] if both else [f"A side did not reach {_percent(target)} within {epochs} epochs in every run, so no ratio."],
    )


def _percent(value: float) -> str:
    """0.975 -> '97.5%', 0.5 -> '50%'."""
    return f"{value * 100:g}%"


def _course_side(root: Path, target: float, max_epochs: int, *, dataset: str = "mnist", stop: bool = True) -> dict:
    """The course's recipe, one fit epoch at a time until the target (or every epoch when ``stop`` is False)."""
    from cnncourse.batches import TensorBatcher
    from cnncourse.data import load
    from cnncourse.train import fit

    started = time.perf_counter()
    train = TensorBatcher(load(dataset, "train", root=root, download=False), 128, shuffle=True, seed=SEED, device=CPU)
    val = TensorBatcher(load(dataset, "test", root=root, download=False), 1000, shuffle=False, device=CPU)
    model = lenet(seed=SEED)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, epochs=max_epochs, steps_per_epoch=len(train))
    record = _Record(target, started)
    for epoch in range(1, max_epochs + 1):
        history = fit(model, train, val, epochs=1, optimizer=optimizer, scheduler=scheduler,
                      scheduler_interval="batch", device=CPU)
        if record.add(epoch, history.val_acc[-1]) and stop:
            break
    return record.result()


def _official_side(root: Path, target: float, max_epochs: int, *, dataset: str = "mnist", stop: bool = True) -> dict:
    """The official example with its defaults, one epoch at a time until the target (or every epoch)."""
    started = time.perf_counter()
    torch.manual_seed(SEED)
    dataset1, dataset2 = loops.example_datasets(root, fashion=dataset == "fashion_mnist")
    train_loader = DataLoader(dataset1, batch_size=64, shuffle=True)
    test_loader = DataLoader(dataset2, batch_size=1000)
    model = lenet(seed=SEED).to(CPU)
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    record = _Record(target, started)
    for epoch in range(1, max_epochs + 1):
        loops.example_train(model, CPU, train_loader, optimizer, epoch)
        accuracy = loops.example_test(model, CPU, test_loader)
        scheduler.step()
        if record.add(epoch, accuracy) and stop:
            break
    return record.result()


class _Record:
    """The first epoch (and its time since ``started``) at the target accuracy, and the last accuracy."""

    def __init__(self, target: float, started: float) -> None:
        self.target, self.started = target, started
        self.epochs, self.val_acc, self.to_target_s, self.target_epoch = 0, 0.0, None, None

    def add(self, epoch: int, accuracy: float) -> bool:
        """Note one evaluation; True once the target is reached."""
        self.epochs, self.val_acc = epoch, accuracy
        if self.to_target_s is None and accuracy >= self.target:
            self.to_target_s, self.target_epoch = time.perf_counter() - self.started, epoch
        return self.to_target_s is not None

    def result(self) -> dict:
        reached = self.to_target_s is not None
        return {"epochs": self.target_epoch if reached else self.epochs, "val_acc": self.val_acc,
                "reached": int(reached), "to_target_s": self.to_target_s, "final_epochs": self.epochs}
