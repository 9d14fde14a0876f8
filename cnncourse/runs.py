"""Saved training runs: train once, load the result when grading.

Scope: one training run as two files in the assignment folder,
``runs/<name>.pt`` (the weights) and ``runs/<name>.json`` (the history, the
budget it ran under, the library and torch versions, and the architecture's
fingerprint: its parameter and buffer names and shapes). A training cell calls

    history = trained_or_loaded("lenet", lenet, lambda: train_model(lenet, train_batches, val_batches, EPOCHS))

which trains and saves; under ``nbgrader autograde`` (``NBGRADER_EXECUTION``),
it loads the saved run instead, so a notebook is graded without training it
again (``CNNCOURSE_RETRAIN=1`` restores training; the rules are in
``cnncourse.settings``). ``check_run`` says, with a ``RunError`` whose
``reason`` is one of ``REASONS``, why a run cannot be graded: it is missing,
trained in the smoke budget while grading runs in full, does not load, or was
trained with other layers than the model in the notebook. ``inspect_run``
reads a run's facts without a model (for the grading tools).

Floating parameters are stored as float16 where they fit its range (buffers
keep their dtype): half the bytes, the same test accuracy (measured for LeNet-5
on real MNIST digits in ``tests/test_runs.py``).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

import cnncourse
from cnncourse.checkpoints import write_atomically
from cnncourse.runtime import get_device
from cnncourse.settings import RUNS_FOLDER, autograding, current_budget, loads_saved_runs
from cnncourse.train import History

__all__ = [
    "REASONS", "RUNS_FOLDER", "RunError", "RunInfo", "architecture", "fingerprint",
    "save_run", "load_run", "check_run", "inspect_run", "find_runs", "trained_or_loaded",
]

FORMAT = 1
REASONS = ("missing", "smoke", "unloadable", "fingerprint")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_FLOAT16_MAX = torch.finfo(torch.float16).max
_RERUN = "restart the kernel and run the whole notebook (Kernel → Restart Kernel and Run All Cells)"


class RunError(Exception):
    """A saved run that cannot be graded; ``reason`` says why (one of ``REASONS``).

    ``missing`` (no ``runs/<name>.pt`` or ``.json``), ``smoke`` (trained in the smoke
    budget, graded in full), ``unloadable`` (damaged, not a run, or the two files do
    not go together), ``fingerprint`` (trained with other layers than the model now).
    """

    def __init__(self, reason: str, name: str, path: Path, message: str) -> None:
        super().__init__(message)
        self.reason, self.name, self.path = reason, name, path


@dataclass(frozen=True)
class RunInfo:
    """What a saved run says about itself (``runs/<name>.json``) and the hash of its weights file."""

    name: str
    weights: Path  # runs/<name>.pt
    meta: Path  # runs/<name>.json
    budget: str  # "full" or "smoke": the budget the run trained under
    fingerprint: str  # sha256 of the architecture's names and shapes
    architecture: list[tuple[str, tuple[int, ...]]]
    model_class: str
    versions: dict[str, str]  # cnncourse, torch, python
    sha256: str  # of the weights file as it is on disk now
    saved_sha256: str  # of the weights file when it was saved
    size: int  # bytes of the weights file
    history: dict[str, list] = field(repr=False, default_factory=dict)

    @property
    def epochs(self) -> int:  # finished epochs in the run's history
        return len(self.history.get("train_loss", []))


def architecture(model: nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    """The names and shapes of every parameter and buffer of ``model`` (its ``state_dict``), in order.

    Example:
        >>> architecture(nn.Linear(3, 2))
        [('weight', (2, 3)), ('bias', (2,))]
    """
    return [(key, tuple(value.shape)) for key, value in model.state_dict().items()]


def fingerprint(model: nn.Module) -> str:
    """A SHA-256 of ``architecture(model)``: equal for two models exactly when their weights fit each other.

    Example:
        >>> fingerprint(nn.Linear(3, 2)) == fingerprint(nn.Linear(3, 2)) != fingerprint(nn.Linear(3, 4))
        True
    """
    return _fingerprint_of(architecture(model))


def save_run(name: str, model: nn.Module, history: History | dict | None = None, *,
             folder: str | os.PathLike = RUNS_FOLDER) -> RunInfo:
    """Save a trained model and its history as ``<folder>/<name>.pt`` and ``<folder>/<name>.json``.

    Both files are written under temporary names and then renamed, the JSON
    last, so an interrupted save never leaves a run that looks complete.

    Args:
        name: the run's name, e.g. ``"lenet"``: letters, digits, ``_``, ``-``, ``.``.
        model: the trained model; its ``state_dict`` is saved (floating
            parameters as float16 where they fit).
        history: what ``fit`` returned (a ``History`` or its ``as_dict()``), or None.
        folder: where the files go; default ``runs`` beside the notebook.

    Returns the saved run's ``RunInfo``.

    Example:
        >>> save_run("lenet", lenet, history).budget
        'full'
    """
    weights, meta = _paths(name, folder)
    weights.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(weights, lambda file: torch.save(_storage_state(model), file))
    shape = architecture(model)
    record = {
        "format": FORMAT,
        "name": name,
        "budget": current_budget(),
        "model_class": type(model).__qualname__,
        "fingerprint": _fingerprint_of(shape),
        "architecture": [[key, list(size)] for key, size in shape],
        "versions": {"cnncourse": cnncourse.__version__, "torch": torch.__version__,
                     "python": platform.python_version()},
        "sha256": _sha256(weights),
        "history": _history_dict(history),
    }
    text = json.dumps(record, indent=1)
    write_atomically(meta, lambda file: file.write(text.encode("utf-8")))
    return inspect_run(name, folder=folder)


def inspect_run(name: str | os.PathLike, *, folder: str | os.PathLike = RUNS_FOLDER) -> RunInfo:
    """Read what a saved run says about itself, without a model and without loading its weights.

    ``name`` is the run's name (files in ``folder``) or the path of its ``.pt`` or ``.json`` file.
    Raises ``RunError``: ``missing`` (a file is absent) or ``unloadable`` (the JSON is not a run's record).

    Example:
        >>> info = inspect_run("runs/lenet.pt"); info.budget, info.sha256[:12]
        ('full', '3f0a9c2b7d1e')
    """
    weights, meta = _paths_of(name, folder)
    run = weights.stem
    for path in (weights, meta):
        if not path.is_file():
            raise RunError("missing", run, path, _missing_message(run, path))
    try:
        record = json.loads(meta.read_text(encoding="utf-8"))
        shape = [(str(key), tuple(int(n) for n in size)) for key, size in record["architecture"]]
        info = RunInfo(
            name=run, weights=weights, meta=meta, budget=str(record["budget"]),
            fingerprint=str(record["fingerprint"]), architecture=shape, model_class=str(record["model_class"]),
            versions={str(k): str(v) for k, v in record["versions"].items()}, sha256=_sha256(weights),
            saved_sha256=str(record["sha256"]), size=weights.stat().st_size, history=dict(record["history"]),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise RunError("unloadable", run, meta, (
            f"{meta} is not the record of a saved run ({type(error).__name__}: {error}); it was damaged or "
            f"written by something else. Delete {meta.parent}/{run}.*, then {_RERUN} to train and save again"
        )) from None
    return info


def find_runs(folder: str | os.PathLike = RUNS_FOLDER) -> list[RunInfo]:
    """``inspect_run`` of every run in ``folder`` (each ``<name>.json``), by name; [] for no folder."""
    return [inspect_run(path) for path in sorted(Path(folder).glob("*.json"))]


def check_run(name: str, model: nn.Module, *, folder: str | os.PathLike = RUNS_FOLDER) -> RunInfo:
    """Check that the saved run ``name`` can be graded with ``model``, without changing ``model``.

    The run must exist, must have trained in the full budget when the full
    budget is in force (a smoke run is fine under smoke), its architecture must
    be ``model``'s (names and shapes of every parameter and buffer), and its
    weights file must be the one saved with its record, readable, and holding
    exactly those tensors.

    Returns the run's ``RunInfo``; raises ``RunError`` with ``reason`` and a message that says what to run.

    Example:
        >>> check_run("lenet", LeNet5()).epochs
        15
    """
    info, _ = _read_checked(name, model, folder)
    return info


def load_run(name: str, model: nn.Module, *, folder: str | os.PathLike = RUNS_FOLDER) -> History:
    """Load the saved run ``name`` into ``model`` (after every check of ``check_run``) and return its history.

    Raises:
        RunError: the run cannot be graded with ``model``; ``model`` is left unchanged.

    """
    info, state = _read_checked(name, model, folder)
    model.load_state_dict(state)  # copies into the model's own tensors: device, dtype and layout stay
    return _history_of(info.history)


def trained_or_loaded(name: str, model: nn.Module, train: Callable[[], History | dict | None], *,
                      folder: str | os.PathLike = RUNS_FOLDER) -> History:
    """Train ``model`` with ``train()`` and save the run, or, when grading, load the run saved before.

    - Normally (and with ``CNNCOURSE_RETRAIN=1``): call ``train()``, save the
      run with ``save_run`` and load it back, so the notebook goes on with
      exactly the weights that will be graded (float16-rounded where stored so).
    - Under ``nbgrader autograde``: load the saved run when it fits ``model``
      and move the model to ``get_device()``, without calling ``train()``. When it does not (missing, smoke run, damaged,
      other layers), print why; in the full budget nothing is trained and the
      test of the task fails with the same message; in the smoke budget
      (CI) the task is trained and saved as normally.

    Args:
        name: the run's name, e.g. ``"lenet"``; model: the model to train in place or to load into.
        train: a function of no arguments that trains ``model`` and returns its
            ``History``, e.g. ``lambda: train_model(lenet, train_batches, val_batches, EPOCHS)``.
        folder: where runs are saved; default ``runs`` beside the notebook.

    Returns the history of the run, trained now or loaded (empty when grading found no usable run).

    Example:
        >>> history = trained_or_loaded("lenet", lenet, lambda: train_model(lenet, train_batches, val_batches, 15))
    """
    if loads_saved_runs():
        try:
            history = load_run(name, model, folder=folder)
        except RunError as error:
            if current_budget() == "full":
                print(f"Not training {name!r} while grading: {error}")
                return History()
            print(f"Training {name!r} (smoke budget) because the saved run cannot be used: {error}")
        else:
            model.to(get_device())  # where fit would have left it: later cells evaluate it there
            info = inspect_run(name, folder=folder)
            print(f"Loaded the saved run {name!r} from {info.weights} ({info.epochs} epochs, {info.budget} budget); "
                  f"not training it again while grading")
            return history
    elif autograding():  # CNNCOURSE_RETRAIN=1
        print(f"CNNCOURSE_RETRAIN is set: training {name!r} again")
    history = train()
    if not isinstance(history, (History, dict)):
        raise TypeError(f"the training function of {name!r} should return the History that fit returns, "
                        f"got {type(history).__name__}; end it with `return fit(...)`")
    info = save_run(name, model, history, folder=folder)
    model.load_state_dict(_read_weights(info))
    print(f"Saved the run {name!r} to {info.weights} and {info.meta} ({info.size / 1e6:.2f} MB); "
          f"submit the {info.weights.parent.name}/ folder with the notebook")
    return _history_of(info.history)


# --- helpers ----------------------------------------------------------------


def _paths(name: str, folder: str | os.PathLike) -> tuple[Path, Path]:
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise ValueError(f"a run's name should be letters, digits, '_', '-' or '.', like 'lenet', got {name!r}")
    base = Path(folder) / name
    return base.with_name(name + ".pt"), base.with_name(name + ".json")


def _paths_of(name: str | os.PathLike, folder: str | os.PathLike) -> tuple[Path, Path]:
    text = os.fspath(name)
    if text.endswith((".pt", ".json")):
        path = Path(text)
        return path.with_suffix(".pt"), path.with_suffix(".json")
    return _paths(text, folder)


def _fingerprint_of(shape: list[tuple[str, tuple[int, ...]]]) -> str:
    text = json.dumps([[key, list(size)] for key, size in shape], separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _storage_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict on the CPU, contiguous, floating parameters as float16 where they fit its range."""
    parameters = {key for key, _ in model.named_parameters()}
    state = {}
    for key, value in model.state_dict().items():
        value = value.detach().to("cpu").contiguous()
        if key in parameters and value.dtype in (torch.float32, torch.float64, torch.bfloat16):
            finite = torch.isfinite(value).all() and value.abs().max() <= _FLOAT16_MAX if value.numel() else True
            if finite:
                value = value.to(torch.float16)
        state[key] = value.clone()
    return state


def _history_dict(history: History | dict | None) -> dict[str, list]:
    if history is None:
        return History().as_dict()
    if isinstance(history, History):
        return history.as_dict()
    if isinstance(history, dict):
        return {str(key): list(value) for key, value in history.items()}
    raise TypeError(f"history should be the History that fit returns (or its as_dict()), got {type(history).__name__}")


def _history_of(record: dict[str, list]) -> History:
    known = History.__dataclass_fields__
    return History(**{key: list(value) for key, value in record.items() if key in known})


def _missing_message(name: str, path: Path) -> str:
    return (f"no saved run {name!r}: {path} does not exist. The training cell saves it when it trains; "
            f"{_RERUN} in the full budget (the default, on the course hub), then submit the "
            f"{path.parent.name}/ folder together with the notebook")


def _read_weights(info: RunInfo) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(info.weights, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds for a damaged file
        raise RunError("unloadable", info.name, info.weights, (
            f"{info.weights} does not load ({type(error).__name__}: {str(error)[:200]}); it is damaged. "
            f"Delete {info.weights.parent}/{info.name}.*, then {_RERUN} to train and save again"
        )) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise RunError("unloadable", info.name, info.weights,
                       f"{info.weights} holds no model weights; {_RERUN} to train and save the run again")
    return state


def _read_checked(name: str, model: nn.Module, folder: str | os.PathLike) -> tuple[RunInfo, dict[str, torch.Tensor]]:
    info = inspect_run(name, folder=folder)
    if info.budget == "smoke" and current_budget() == "full":
        raise RunError("smoke", info.name, info.weights, (
            f"the saved run {info.name!r} ({info.weights}) was trained in the smoke budget, but grading uses the "
            f"full budget and its accuracy bar: unset CNNCOURSE_BUDGET (or set it to full), {_RERUN} so the "
            f"training cell trains in full and saves again, then submit the {info.weights.parent.name}/ folder"
        ))
    mine = fingerprint(model)
    if info.fingerprint != mine:
        raise RunError("fingerprint", info.name, info.weights, _fingerprint_message(info, model))
    if info.sha256 != info.saved_sha256:
        raise RunError("unloadable", info.name, info.weights, (
            f"{info.weights} is not the weights file saved with {info.meta} (its SHA-256 differs from the one "
            f"recorded); the two files must come from the same training run: {_RERUN} to save both again"
        ))
    state = _read_weights(info)
    stored = [(key, tuple(value.shape)) for key, value in state.items()]
    if stored != info.architecture:
        raise RunError("unloadable", info.name, info.weights, (
            f"the tensors in {info.weights} do not match the layers its record {info.meta} lists; "
            f"the files were damaged or mixed up: {_RERUN} to train and save again"
        ))
    return info, state


def _fingerprint_message(info: RunInfo, model: nn.Module) -> str:
    saved, now = dict(info.architecture), dict(architecture(model))
    changes = [f"{key}: saved {saved[key]}, now {now[key]}" for key in saved if key in now and saved[key] != now[key]]
    changes += [f"{key} is new" for key in now if key not in saved]
    changes += [f"{key} is gone" for key in saved if key not in now]
    first = "; ".join(changes[:3]) + (f"; and {len(changes) - 3} more" if len(changes) > 3 else "")
    return (f"the saved run {info.name!r} ({info.weights}) was trained with a {info.model_class} whose layers "
            f"differ from your {type(model).__qualname__} now ({first or 'the order of the layers changed'}): "
            f"you changed the model after training it; {_RERUN} so the training cell trains the model "
            f"you submit, then submit the {info.weights.parent.name}/ folder with the notebook")
