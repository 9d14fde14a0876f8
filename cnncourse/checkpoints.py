"""Checkpoints: a training run saved to a file and restored into a model of the same architecture.

Scope: ``save_checkpoint`` (atomic: a crash never leaves half a file) and
``load_checkpoint`` (refuses another architecture, naming the first parameter
that differs). ``fit`` saves one after every epoch when asked; the functions are
also importable from ``cnncourse.train``, where notebooks find them.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from collections.abc import Callable
from typing import Any, BinaryIO

import torch
from torch import nn

__all__ = ["save_checkpoint", "load_checkpoint", "write_atomically"]


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    **extra: Any,
) -> Path:
    """Save the model (and optimizer, scheduler, extras) to ``path``, atomically.

    The file is written next to its destination under a temporary name and then
    renamed, so an interrupted save never leaves a half-written checkpoint.
    Missing parent folders are created. Keep ``extra`` to plain data (numbers,
    strings, lists, dicts, tensors): ``load_checkpoint`` loads with
    ``weights_only=True``, which refuses arbitrary Python objects.

    Args:
        path: the file to write (e.g. ``checkpoints/resnet.pt``).
        model: its ``state_dict`` is saved.
        optimizer: optional; its state (e.g. momentum buffers) is saved.
        scheduler: optional; its state is saved.
        **extra: anything else to keep, e.g. ``epoch=3``.

    Returns:
        The path written.

    Example:
        >>> save_checkpoint("checkpoints/lenet.pt", model, optimizer, epoch=5)
        PosixPath('checkpoints/lenet.pt')
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "extra": extra,
    }
    write_atomically(path, lambda file: torch.save(payload, file))
    return path


def write_atomically(path: Path, write: Callable[[BinaryIO], Any]) -> None:
    """Write ``path`` through ``write(file)`` into a temporary file beside it, then rename: never half a file.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     write_atomically(Path(folder, "a.bin"), lambda file: file.write(b"ok"))
        ...     Path(folder, "a.bin").read_bytes()
        b'ok'
    """
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
) -> dict[str, Any]:
    """Restore a checkpoint written by ``save_checkpoint`` into ``model`` (and optimizer, scheduler).

    Args:
        path: the checkpoint file.
        model: a model of the same architecture; its parameters are overwritten.
        optimizer: optional; restored when given (it must have been saved).
        scheduler: optional; restored when given (it must have been saved).

    Returns:
        The extras that were saved, e.g. ``{"epoch": 5}``.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the checkpoint is for another architecture (the message
            names the first key that does not match), or lacks the optimizer or
            scheduler state asked for.

    Example:
        >>> load_checkpoint("checkpoints/lenet.pt", model, optimizer)["epoch"]
        5
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}: check the path, or train and save_checkpoint first")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or "model" not in payload:
        raise ValueError(f"{path} is not a checkpoint written by cnncourse.checkpoints.save_checkpoint")
    _check_same_architecture(payload["model"], model, path)
    model.load_state_dict(payload["model"])
    for name, target in (("optimizer", optimizer), ("scheduler", scheduler)):
        if target is None:
            continue
        if payload.get(name) is None:
            raise ValueError(f"{path} holds no {name} state; it was saved without one, so load it without {name}=")
        target.load_state_dict(payload[name])
    return dict(payload.get("extra") or {})


def _check_same_architecture(saved: dict[str, torch.Tensor], model: nn.Module, path: Path) -> None:
    """Raise ValueError naming the first key whose presence or shape differs."""
    current = model.state_dict()
    for key in list(current) + [k for k in saved if k not in current]:
        if key not in saved:
            problem = f"the model has {key!r} but the checkpoint does not"
        elif key not in current:
            problem = f"the checkpoint has {key!r} but the model does not"
        elif tuple(saved[key].shape) != tuple(current[key].shape):
            problem = (
                f"{key!r} has shape {tuple(saved[key].shape)} in the checkpoint "
                f"but {tuple(current[key].shape)} in the model"
            )
        else:
            continue
        raise ValueError(f"{path} was saved from another architecture: {problem}; build the same model before loading")
