"""Where and how a notebook runs: the device, the random seeds and the time budget.

Scope: three small decisions every notebook makes in its first cell.

- ``get_device()``: CUDA, else Apple's MPS, else the CPU; ``CNNCOURSE_DEVICE``
  (``cpu``, ``cuda``, ``cuda:1``, ``mps``) overrides the choice.
- ``seed_everything(seed)``: one call seeds Python, NumPy and PyTorch (CPU and CUDA).
- ``current_budget()`` / ``budget(full=..., smoke=...)`` / ``is_smoke()``: the
  ``CNNCOURSE_BUDGET`` variable says whether a notebook runs for real (``full``,
  the default) or as a quick check on a CPU-only CI machine (``smoke``); a
  notebook states both values in one place, ``epochs = budget(full=30, smoke=1)``.
"""

from __future__ import annotations

import os
import random
from typing import TypeVar

import numpy as np
import torch

from cnncourse.settings import BUDGETS, current_budget  # the one copy of the budget rule

__all__ = ["get_device", "seed_everything", "current_budget", "budget", "is_smoke", "BUDGETS"]

_DEVICE_TYPES = ("cpu", "cuda", "mps")

T = TypeVar("T")


def get_device() -> torch.device:
    """The device to compute on: CUDA, else MPS, else CPU; ``CNNCOURSE_DEVICE`` overrides.

    Raises:
        ValueError: ``CNNCOURSE_DEVICE`` is not a device name, or names a device
            this machine does not have.

    Example:
        >>> get_device()  # on a laptop without a GPU
        device(type='cpu')
    """
    wanted = os.environ.get("CNNCOURSE_DEVICE", "").strip()
    if not wanted:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(wanted)
    except RuntimeError:
        device = None
    if device is None or device.type not in _DEVICE_TYPES:
        raise ValueError(
            f"CNNCOURSE_DEVICE={wanted!r} is not a device this course knows; "
            f"use one of cpu, cuda, cuda:N or mps, or unset it to pick automatically"
        )
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"CNNCOURSE_DEVICE={wanted!r} asks for CUDA, but this machine has no usable CUDA GPU; use cpu or unset it")
        if device.index is not None and device.index >= count:
            raise ValueError(f"CNNCOURSE_DEVICE={wanted!r} asks for GPU {device.index}, but this machine has {count} (cuda:0 to cuda:{count - 1})")
    if device.type == "mps" and not _mps_available():
        raise ValueError(f"CNNCOURSE_DEVICE={wanted!r} asks for Apple's MPS, which this machine does not offer; use cpu or unset it")
    return device


def seed_everything(seed: int = 0) -> int:
    """Seed Python's ``random``, NumPy and PyTorch (CPU and every CUDA device).

    Args:
        seed: an integer in [0, 2**32).

    Returns:
        The seed, so a notebook can print or log it.

    Example:
        >>> seed_everything(42)
        42
        >>> a = torch.rand(2); _ = seed_everything(42); bool((a == torch.rand(2)).all())
        True
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__}")
    seed = int(seed)
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return seed


def budget(*, full: T, smoke: T) -> T:
    """The value for the budget in force, so a notebook states both in one place.

    Args:
        full: the value for a real run.
        smoke: the value for a quick check (``CNNCOURSE_BUDGET=smoke``).

    Example:
        >>> epochs = budget(full=30, smoke=1)
    """
    return smoke if current_budget() == "smoke" else full


def is_smoke() -> bool:
    """Whether the smoke budget is in force (``CNNCOURSE_BUDGET=smoke``).

    Example:
        >>> if is_smoke():
        ...     print("quick check: one epoch on a stand-in")
    """
    return current_budget() == "smoke"


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())
