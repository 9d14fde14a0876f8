"""A tiny training assignment, cheap in the full budget on a CPU: its instructor notebook, built with nbformat.

One answer cell (``train_model``) with its test (60 points), one training cell
that ends with ``trained_or_loaded("mlp", ...)``, and the test of the accuracy
bar (40 points) in the shape CONTRIBUTING.md prescribes: ``check_run`` in the
visible part; ``load_run`` into a new model, the test split generated again and
``verify_training`` in the hidden part. The data is generated in the notebook
(three Gaussian blobs in the plane), so the full budget needs no data set and
trains in well under a second. ``run_as_student`` runs a copy of it as a student does, before submitting.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

from cnncourse.tools.release import nbgrader_environment

ASSIGNMENT = "90_training_demo"
NOTEBOOK = "training.ipynb"
RUN = "mlp"
TRAINING_TEST, ACCURACY_TEST = "test_train_model", "test_accuracy"
POINTS = {TRAINING_TEST: 60, ACCURACY_TEST: 40}

SETUP = '''"""Setup: a small classification problem generated here, the network, and the budget."""
import torch
from torch import nn

from cnncourse.runs import check_run, load_run, trained_or_loaded
from cnncourse.runtime import budget, seed_everything
from cnncourse.train import History, evaluate, fit
from cnncourse.verify import verify_training

seed_everything(0)
EPOCHS = budget(full=10, smoke=1)
BAR = budget(full=0.9, smoke=0.0)  # test accuracy the trained network must reach


def blobs(n, seed):
    """n points of 3 classes in the plane around fixed centres; a split is a seed."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    centres = torch.tensor([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    return centres[y] + 0.6 * torch.randn(n, 2, generator=g), y


def make_model():
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))


x_train, y_train = blobs(600, seed=1)
train_batches = [(x_train[i:i + 50], y_train[i:i + 50]) for i in range(0, 600, 50)]'''

ANSWER = '''def train_model(model, batches, epochs):
    """Train model in place with SGD (lr 0.1, momentum 0.9) and cross-entropy; return fit's History."""
    ### BEGIN SOLUTION
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return fit(model, batches, epochs=epochs, optimizer=optimizer, progress=False)
    ### END SOLUTION'''

TEST_TRAINING = '''"""train_model trains for the given number of epochs and returns fit's History."""
assert "train_model" in globals(), "Run the cell that defines train_model first."
_history = train_model(make_model(), train_batches[:2], 2)
assert isinstance(_history, History) and len(_history) == 2, f"expected the History of 2 epochs, got {_history!r}"
### BEGIN HIDDEN TESTS
assert _history.train_loss[-1] < _history.train_loss[0], f"the loss should fall, got {_history.train_loss}"
### END HIDDEN TESTS'''

TRAINING = '''"""Train the network once; grading loads the saved run instead of training again."""
seed_everything(0)
model = make_model()
history = trained_or_loaded("mlp", model, lambda: train_model(model, train_batches, EPOCHS))'''

TEST_ACCURACY = '''"""The trained network reaches the bar of the budget in force on the test split."""
assert "model" in globals(), "Run the training cell first."
check_run("mlp", model)  # runs/mlp.pt exists, fits make_model(), was trained in this budget
x_test, y_test = blobs(1000, seed=2)
accuracy = evaluate(model, [(x_test, y_test)])["top1"]
assert accuracy >= BAR, f"expected at least {BAR:.0%} test accuracy, got {accuracy:.1%}"
### BEGIN HIDDEN TESTS
_graded = make_model()
load_run("mlp", _graded)
_x, _y = blobs(1000, seed=2)
_accuracy = evaluate(_graded, [(_x, _y)])["top1"]
assert _accuracy >= BAR, f"the saved run should reach {BAR:.0%} on the test split, it reached {_accuracy:.1%}"
_check = verify_training(make_model, lambda net, batches: train_model(net, batches, 1), (x_train[:64], y_train[:64]),
                         steps=20)
### END HIDDEN TESTS'''


def _cell(kind: str, source: str, **nbgrader: object) -> nbformat.NotebookNode:
    new = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
    cell = new(source)
    if nbgrader:
        cell.metadata["nbgrader"] = {"schema_version": 3, "grade": False, "solution": False, "locked": False,
                                     "task": False, **nbgrader}
    return cell


def instructor_notebook() -> nbformat.NotebookNode:
    """The instructor version: solution and hidden tests in place, 100 points."""
    nb = nbformat.v4.new_notebook(cells=[
        _cell("markdown", "# A tiny training assignment\n\nTrain a network once; submit `runs/` with the notebook.",
              grade_id="intro", locked=True),
        _cell("code", SETUP),
        _cell("code", ANSWER, grade_id="train_model", solution=True),
        _cell("code", TEST_TRAINING, grade_id=TRAINING_TEST, grade=True, locked=True, points=POINTS[TRAINING_TEST]),
        _cell("code", TRAINING),
        _cell("code", TEST_ACCURACY, grade_id=ACCURACY_TEST, grade=True, locked=True, points=POINTS[ACCURACY_TEST]),
    ])
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    return nb


def write_source(course: Path) -> Path:
    """Write the instructor notebook to ``course/source/<ASSIGNMENT>/<NOTEBOOK>`` and return its path."""
    path = course / "source" / ASSIGNMENT / NOTEBOOK
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(instructor_notebook(), path)
    return path


def run_notebook(path: Path, budget: str) -> None:
    """Run the notebook at ``path`` top to bottom in its folder, in ``budget``, as a student does (not grading)."""
    nb = nbformat.read(path, as_version=4)
    env = {key: value for key, value in nbgrader_environment().items() if key != "NBGRADER_EXECUTION"}
    env.update(CNNCOURSE_BUDGET=budget, CNNCOURSE_DEVICE="cpu", MPLBACKEND="Agg")
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    client.execute(env=env)
    nbformat.write(nb, path)


def run_as_student(source: Path, folder: Path, budget: str) -> Path:
    """Copy the notebook ``source`` into a new ``folder`` and run it there in ``budget``; return its path."""
    folder.mkdir(parents=True)
    path = folder / NOTEBOOK
    nbformat.write(nbformat.read(source, as_version=4), path)
    run_notebook(path, budget)
    return path
