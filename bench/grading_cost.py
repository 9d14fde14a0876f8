"""Benchmark 8: what grading a training assignment costs, with the saved runs against re-training.

Scope: issue #16's "cost, measured". One submission of a training assignment
(every answer right), graded by ``cnncourse grade`` in the **full** budget, on
data sets written in their real formats into a scratch folder (``CNNCOURSE_DATA``
points there). First the student runs the notebook once (nbclient, full
budget) on a data root holding the first 1/F of the training and of the test
images: every training task trains for all its epochs over 1/F of the steps
(evaluating each epoch on 1/F of the test set) and ``runs/`` is saved,
labelled ``full`` (the honest way available without a GPU and the real data);
it is submitted with the notebook. Then three gradings, one after another:

1. **re-training at 1/F of the data**: ``CNNCOURSE_RETRAIN=1`` (which needs
   ``--sandbox off``): every training task trains again, as in the student's
   run (the verdict pass then grades the runs just trained);
2. **the saved runs, 1/F of the data**: the same grading without
   ``CNNCOURSE_RETRAIN``, sandbox off too: (1) - (2) is what training costs at 1/F;
3. **the saved runs, the data at its real size** (50,000 + 10,000 CIFAR-10
   images, 60,000 + 10,000 MNIST digits), the default sandbox: the figure the
   goal (under 60 s per submission on a 2-core CPU) is about; every test runs
   in full, the accuracy bars included.

The projection of re-training at the real size is (3) + F × ((1) - (2)):
the training steps and the per-epoch evaluations grow with the data, the rest
of the grading is (3), measured. It assumes the time per image is the same in
smaller batches (a CPU's is about flat from a few dozen images up).

The data: CIFAR-10's Python pickles of generated images whose class is their
colour (ten hues, pixel noise of standard deviation 40), so that a short
training passes the accuracy bars and every check of the tests runs; MNIST's
IDX files repeat the 10,000 real test digits. What the runs reach on them says
nothing about the real data sets: what is measured is time. Each grading runs
once (no repeats): minutes to hours on a 2-core CPU.

    .venv/bin/python -m bench.grading_cost                        # assignment 5, F = 500
    .venv/bin/python -m bench.grading_cost --assignment 02_lenet --fraction 6
    .venv/bin/python -m bench.grading_cost --assignment 03_alexnet_vgg    # or 04_inception
    .venv/bin/python -m bench grading_cost --size tiny            # in the suite (a built-in tiny assignment)

Not measured: assignment 6 (its full budget needs the Oxford-IIIT Pet photos
and ResNet-18's pretrained weights, neither of which can be made up here) and
7 (no saved runs: every grading trains).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from bench import files
from bench.grading import SOURCES, good_case, make_course, submit
from bench.notebooks import execute
from bench.report import Ratio, Table
from bench.settings import SHARED_MNIST, Settings
from cnncourse.tools.grading import sandbox
from cnncourse.tools.grading.grade import grade

GOAL_S = 60  # issue #16: every assignment's full-budget grading under 60 s per submission on the 2-core CPU
TINY = "00_tiny_training"  # a built-in assignment with one training task, for the tests (written by tiny_assignment)


@dataclass(frozen=True)
class Spec:
    """How to grade one assignment: its data set, the real sizes, the default fraction."""

    data: str  # "cifar10" or "mnist"
    train: int
    test: int
    fraction: int  # F: the re-training runs on 1/F of the images


SPECS = {
    "02_lenet": Spec("mnist", 60_000, 10_000, 6),  # 1/6 keeps more than the 5,000 images it holds out for validation
    "03_alexnet_vgg": Spec("cifar10", 50_000, 10_000, 50),  # 1/50: 1,000 images, two batches of 512
    "04_inception": Spec("cifar10", 50_000, 10_000, 8),  # 1/8 keeps more than the 5,000 images it holds out
    "05_resnet": Spec("cifar10", 50_000, 10_000, 500),
    TINY: Spec("cifar10", 400, 200, 4),
}


@dataclass
class Grading:
    """One timed grading of the submission."""

    label: str
    seconds: float
    score: float
    cells: dict[str, float]
    notes: list[str] = field(default_factory=list)


def hues(n: int = 10) -> torch.Tensor:
    """``n`` colours of equal brightness around the grey axis (RGB, 0-255): the classes of the generated images.

    Example:
        >>> hues().shape
        torch.Size([10, 3])
    """
    u = torch.tensor([1.0, -1.0, 0.0]) / math.sqrt(2)
    v = torch.tensor([1.0, 1.0, -2.0]) / math.sqrt(6)
    return torch.stack([128 + 100 * (math.cos(2 * math.pi * k / n) * u + math.sin(2 * math.pi * k / n) * v)
                        for k in range(n)])


def coloured_images(n: int, *, seed: int = 0, chunk: int = 5000) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` uint8 images 3×32×32 whose label is their hue, plus pixel noise (std 40); and the labels.

    Example:
        >>> images, labels = coloured_images(4)
        >>> images.shape, images.dtype
        (torch.Size([4, 3, 32, 32]), torch.uint8)
    """
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=generator)
    palette = hues()
    images = torch.empty(n, 3, 32, 32, dtype=torch.uint8)
    for start in range(0, n, chunk):  # 50,000 images in float would take 600 MB at once
        part = labels[start:start + chunk]
        noise = torch.randn(len(part), 3, 32, 32, generator=generator) * 40
        images[start:start + chunk] = (palette[part][:, :, None, None] + noise).clamp(0, 255).to(torch.uint8)
    return images, labels


def write_data(root: Path, spec: Spec, *, digits: Path = SHARED_MNIST, divide: int = 1) -> Path:
    """Write the assignment's data set into ``root`` in its real format: the first 1/``divide`` of each split.

    The folders are made readable by everyone: the sandboxed kernel runs as another user.
    """
    n_train, n_test = spec.train // divide, spec.test // divide
    if spec.data == "cifar10":
        train, test = coloured_images(spec.train, seed=1), coloured_images(spec.test, seed=2)
        files.write_cifar10(root, (train[0][:n_train], train[1][:n_train]), (test[0][:n_test], test[1][:n_test]))
    else:
        images, labels = files.real_digits(digits)
        train = files.repeat_to(images, labels, spec.train)
        files.write_mnist(root, (train[0][:n_train], train[1][:n_train]), (images[:n_test], labels[:n_test]))
    for folder in [root, *(p for p in root.rglob("*") if p.is_dir())]:
        folder.chmod(0o755)
    for path in root.rglob("*"):
        if path.is_file():
            path.chmod(0o644)
    return root


@contextlib.contextmanager
def environment(**variables: str | None) -> Iterator[None]:
    """Set (or, for None, remove) environment variables for the ``with`` block; put the old values back."""
    old = {key: os.environ.get(key) for key in variables}
    try:
        for key, value in variables.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def timed_grade(label: str, course: Path, assignment: str, *, sandbox_mode: str) -> Grading:
    """Grade the one submission again (``--force``), one worker; the wall clock includes everything."""
    print(f"[bench.grading_cost] {assignment}: {label}...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    report = grade(assignment, course_dir=course, workers=1, sandbox=sandbox_mode, force=True, progress=False)
    seconds = time.perf_counter() - started
    result = report.results[0]
    print(f"[bench.grading_cost] {assignment}: {label}: {seconds:.0f} s, score {result.score}, "
          f"load average {os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
    return Grading(label, seconds, float(result.score or 0), dict(result.cells), list(result.notes))


@dataclass
class Cost:
    """The three gradings of one submission and what they give."""

    assignment: str
    fraction: int
    retrain: Grading  # (1)
    runs_reduced: Grading  # (2)
    runs_full: Grading  # (3)
    runs: dict[str, int]  # run name -> bytes, as submitted for (2) and (3)
    load: tuple[float, float]  # load average before, after
    sandbox_mode: str
    student_s: float | None = None  # the student's run that saved the runs (nbclient, 1/F of the data)
    slowest: list[tuple[str, float]] = field(default_factory=list)  # (3): the slowest cells of nbgrader's pass

    @property
    def training_reduced_s(self) -> float:
        return self.retrain.seconds - self.runs_reduced.seconds

    @property
    def projected_retrain_s(self) -> float:
        return self.runs_full.seconds + self.fraction * self.training_reduced_s


def measure(assignment: str, work: Path, *, fraction: int | None = None, digits: Path = SHARED_MNIST) -> Cost:
    """The three gradings of the module docstring, for one submission of ``assignment``."""
    spec = SPECS[assignment]
    fraction = fraction or spec.fraction
    load_before = os.getloadavg()[0]
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o755)
    full_data = write_data(work / "data-full", spec, digits=digits)
    reduced_data = write_data(work / "data-reduced", spec, digits=digits, divide=fraction)
    source = SOURCES.get(assignment) or tiny_assignment(work / "tiny-source")
    course = make_course(work / "course", assignment, source=source)
    submit(course, assignment, ["student"], good_case(assignment) if assignment != TINY else _tiny_case())
    common = {"CNNCOURSE_BUDGET": "full", "CNNCOURSE_SYSTEM_DATA": "", "CNNCOURSE_DATA": str(reduced_data)}
    submitted = course / "submitted" / "student" / assignment
    with environment(**common, CNNCOURSE_RETRAIN=None):  # the student runs the notebook once: it saves runs/
        print(f"[bench.grading_cost] {assignment}: the student's run, 1/{fraction} of the data...", file=sys.stderr,
              flush=True)
        # Every cell runs, as for a student running them all: a test that fails on the reduced data (a data
        # set's constants, an accuracy bar) does not stop the training cells after it.
        student_s, error = execute(next(submitted.glob("*.ipynb")), work / "student-run", budget="full",
                                   threads=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2,
                                   allow_errors=True)
    trained = work / "student-run" / f"student_{assignment}" / "runs"
    if error or not trained.is_dir() or not any(trained.glob("*.pt")):
        raise RuntimeError(f"the student's run of {assignment} failed or saved no runs/: {error}")
    shutil.copytree(trained, submitted / "runs")
    runs = {p.name: p.stat().st_size for p in sorted(trained.glob("*.pt"))}
    with environment(**common, CNNCOURSE_RETRAIN="1"):
        retrain = timed_grade(f"re-training, 1/{fraction} of the data", course, assignment, sandbox_mode="off")
    with environment(**common, CNNCOURSE_RETRAIN=None):
        runs_reduced = timed_grade(f"saved runs, 1/{fraction} of the data", course, assignment, sandbox_mode="off")
    mode = sandbox.choose_mode("auto")
    with environment(**{**common, "CNNCOURSE_DATA": str(full_data)}, CNNCOURSE_RETRAIN=None):
        runs_full = timed_grade("saved runs, the data at its real size", course, assignment, sandbox_mode=mode)
    autograded = next((course / "autograded" / "student" / assignment).glob("*.ipynb"))
    return Cost(assignment, fraction, retrain, runs_reduced, runs_full, runs, (load_before, os.getloadavg()[0]), mode,
                student_s, slowest_cells(autograded))


def slowest_cells(notebook: Path, *, count: int = 5) -> list[tuple[str, float]]:
    """The ``count`` slowest cells of an executed notebook, by the timestamps the kernel's replies carry.

    Each cell is named by its nbgrader ``grade_id``, else by its position ("cell 42").
    """
    import nbformat

    times = []
    for index, cell in enumerate(nbformat.read(notebook, as_version=4).cells):
        execution = cell.get("metadata", {}).get("execution", {})
        start, end = execution.get("iopub.execute_input"), execution.get("shell.execute_reply")
        if cell.cell_type == "code" and start and end:
            seconds = (_instant(end) - _instant(start)).total_seconds()
            times.append((cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {index}", seconds))
    return sorted(times, key=lambda item: -item[1])[:count]


def _instant(stamp: str) -> datetime.datetime:
    """An ISO 8601 timestamp as Jupyter writes it ('...Z')."""
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def table(cost: Cost) -> Table:
    """The suite's table for one measurement: the three gradings, the projection and the ratio."""
    spec = SPECS[cost.assignment]
    total = sum(cost.runs_full.cells.values()) if cost.runs_full.cells else 0

    def row(grading: Grading, data: str, sandbox_mode: str) -> list[str]:
        failed = [cell for cell, points in grading.cells.items() if not points]
        return [grading.label, data, sandbox_mode, f"{grading.seconds:.0f} s",
                f"{grading.score:g}" + (f" (0 on {', '.join(failed)})" if failed else "")]

    small = f"{spec.train // cost.fraction:,} + {spec.test // cost.fraction:,}"
    real = f"{spec.train:,} + {spec.test:,}"
    rows = [row(cost.retrain, small, "off"), row(cost.runs_reduced, small, "off"),
            row(cost.runs_full, real, cost.sandbox_mode),
            [f"re-training, projected to the real size: (3) + {cost.fraction} × ((1) − (2))", real, "off",
             f"{cost.projected_retrain_s:.0f} s ({cost.projected_retrain_s / 3600:.1f} h)", "not measured"]]
    ratio = cost.projected_retrain_s / cost.runs_full.seconds
    verdict = "met" if cost.runs_full.seconds <= GOAL_S else "NOT met"
    return Table(
        key="grading_cost",
        title=f"8. Grading cost: {cost.assignment}, the saved runs against re-training",
        setup=(f"One submission of `{cost.assignment}` (every answer right), `cnncourse grade --workers 1 --force`, "
               f"budget full, each grading once, in this order; load average {cost.load[0]:.1f} before, "
               f"{cost.load[1]:.1f} after. The runs graded in (2) and (3) were saved when the student ran the "
               f"notebook once, in the full budget on 1/{cost.fraction} of the data ({_seconds(cost.student_s)}; labelled "
               f"full: {', '.join(f'{k} {v / 1e6:.2f} MB' for k, v in cost.runs.items())}). Data: "
               f"{'CIFAR-10 pickles of generated images coloured by class' if spec.data == 'cifar10' else 'MNIST IDX files repeating the 10,000 real test digits'}; "
               f"accuracies on them say nothing about the real data set."),
        columns=["grading", "training + test images", "sandbox", "wall clock, one submission", f"score (of {total:g})"],
        rows=rows,
        ratios=[Ratio(f"{cost.assignment}: re-training (projected) vs the saved runs, per submission", ratio)],
        notes=[f"Goal: under {GOAL_S} s per submission with the saved runs on a 2-core CPU: {verdict} "
               f"({cost.runs_full.seconds:.0f} s).",
               f"Training at 1/{cost.fraction} of the data: (1) − (2) = {cost.training_reduced_s:.0f} s."]
        + ([f"Slowest cells of nbgrader's pass in (3) (the verdict pass runs them again): "
            + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in cost.slowest) + "."] if cost.slowest else [])
        + [f"Notes of grading ({k + 1}): " + "; ".join(g.notes)[:600]
           for k, g in enumerate((cost.retrain, cost.runs_reduced, cost.runs_full)) if g.notes],
    )


def _seconds(seconds: float | None) -> str:
    return "not measured" if seconds is None else f"{seconds:.0f} s"


# Benchmark 8 in the suite: python -m bench grading_cost (not part of the default list: hours on a CPU).
SUITE_SIZES = {"full": {"assignment": "05_resnet"}, "reduced": {"assignment": "02_lenet"}, "tiny": {"assignment": TINY}}


def run(settings: Settings) -> Table:
    """Benchmark 8: the cost of grading one submission with its saved runs, against re-training it.

    Example:
        >>> run(Settings("tiny", 1, 1, SHARED_MNIST, Path("/tmp/bench"))).key
        'grading_cost'
    """
    assignment = settings.pick(SUITE_SIZES)["assignment"]
    return table(measure(assignment, settings.work / "grading-cost", digits=settings.digits))


# --- the tiny training assignment (tests and --size tiny) -----------------------------------------

_TINY_CELLS = [
    ("code", None, '''"""Setup: a colour classifier on CIFAR-10-shaped images."""
import torch
from torch import nn

from cnncourse.batches import TensorBatcher
from cnncourse.data import load
from cnncourse.runs import check_run, trained_or_loaded
from cnncourse.runtime import budget, seed_everything
from cnncourse.train import evaluate, fit

seed_everything(0)
EPOCHS = budget(full=30, smoke=2)
train_set, test_set = load("cifar10", "train"), load("cifar10", "test")
train_batches = TensorBatcher(train_set, 32, shuffle=True, device="cpu", seed=0)
test_batches = TensorBatcher(test_set, 100, shuffle=False, device="cpu")'''),
    ("code", {"grade_id": "train", "solution": True}, '''def train(model, batches, epochs):
    """Train model with Adam and return fit's History."""
    ### BEGIN SOLUTION
    return fit(model, batches, epochs=epochs, optimizer=torch.optim.Adam(model.parameters(), lr=0.1), progress=False)
    ### END SOLUTION'''),
    ("code", None, '''seed_everything(0)
model = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 10))
history = trained_or_loaded("colours", model, lambda: train(model, train_batches, EPOCHS))'''),
    ("code", {"grade_id": "test_accuracy", "grade": True, "locked": True, "points": 10},
     '''"""The saved run reaches 90% on the test set."""
assert "model" in globals(), "Run the training cell first."
check_run("colours", model)
accuracy = evaluate(model, test_batches)["top1"]
assert accuracy >= 0.9, f"expected at least 90% test accuracy, got {accuracy:.2%}"'''),
]


def tiny_assignment(root: Path) -> Path:
    """Write the tiny training assignment's source folder under ``root``; return ``root`` (like ``SOURCES``)."""
    import nbformat

    cells = []
    for kind, meta, source in _TINY_CELLS:
        metadata = {"nbgrader": {"schema_version": 3, "grade": False, "solution": False, "locked": False, **meta}} \
            if meta else {}
        cells.append(nbformat.v4.new_code_cell(source, metadata=metadata))
    notebook = nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    (root / TINY).mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, root / TINY / "tiny_training.ipynb")
    return root


def _tiny_case():
    from bench.submissions import corpus

    return corpus.Case(TINY, "good", "every answer right", {"base": "solutions", "others": "full"})


def main(argv: list[str] | None = None) -> int:
    """Measure one assignment and print its table as Markdown."""
    parser = argparse.ArgumentParser(prog="python -m bench.grading_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--assignment", default="05_resnet", choices=sorted(SPECS))
    parser.add_argument("--fraction", type=int, default=None, help="F: re-train on 1/F of the images")
    parser.add_argument("--digits", default=str(SHARED_MNIST), help="the real MNIST test digits (assignment 2)")
    parser.add_argument("--out", default=None, help="also write the Markdown here")
    args = parser.parse_args(argv)
    started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    with tempfile.TemporaryDirectory(prefix="cnncourse-grading-cost-") as tmp:
        cost = measure(args.assignment, Path(tmp) / "work", fraction=args.fraction, digits=Path(args.digits))
    text = f"Measured {started} on {os.cpu_count()} CPU cores.\n\n" + table(cost).to_markdown()
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
