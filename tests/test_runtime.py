"""cnncourse.runtime: device choice, seeding and the time budget."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from cnncourse import runtime
from cnncourse.runtime import budget, current_budget, get_device, is_smoke, seed_everything


@pytest.fixture
def no_accelerator(monkeypatch):
    """Pretend the machine has neither CUDA nor MPS."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(runtime, "_mps_available", lambda: False)


def test_device_falls_back_to_cpu(monkeypatch, no_accelerator):
    monkeypatch.delenv("CNNCOURSE_DEVICE", raising=False)
    assert get_device() == torch.device("cpu")


def test_device_prefers_cuda_then_mps(monkeypatch, no_accelerator):
    monkeypatch.delenv("CNNCOURSE_DEVICE", raising=False)
    monkeypatch.setattr(runtime, "_mps_available", lambda: True)
    assert get_device().type == "mps", "with MPS but no CUDA, get_device should pick mps"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_device().type == "cuda", "with CUDA available, get_device should pick cuda over mps"


def test_device_matches_this_machine(monkeypatch):
    monkeypatch.delenv("CNNCOURSE_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert get_device().type == expected


def test_env_overrides_device(monkeypatch):
    monkeypatch.setenv("CNNCOURSE_DEVICE", "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # even with a GPU, the variable wins
    assert get_device() == torch.device("cpu")


@pytest.mark.parametrize("value", ["gpu", "cuda:x", "tpu", "meta"])
def test_bad_device_name_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv("CNNCOURSE_DEVICE", value)
    with pytest.raises(ValueError, match="CNNCOURSE_DEVICE") as info:
        get_device()
    assert value in str(info.value) and "cpu" in str(info.value), f"the message should name the value and the choices: {info.value}"


def test_device_the_machine_lacks_is_a_clear_error(monkeypatch, no_accelerator):
    monkeypatch.setenv("CNNCOURSE_DEVICE", "cuda")
    with pytest.raises(ValueError, match="no usable CUDA"):
        get_device()
    monkeypatch.setenv("CNNCOURSE_DEVICE", "mps")
    with pytest.raises(ValueError, match="MPS"):
        get_device()


def test_gpu_index_beyond_the_count_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("CNNCOURSE_DEVICE", "cuda:3")
    with pytest.raises(ValueError, match="GPU 3"):
        get_device()


def _draws() -> tuple[float, float, list[float]]:
    return random.random(), float(np.random.rand()), torch.rand(3).tolist()


def test_seed_everything_repeats_every_generator():
    seed_everything(123)
    first = _draws()
    seed_everything(123)
    again = _draws()
    seed_everything(124)
    other = _draws()
    assert first == again, f"the same seed should repeat random, numpy and torch draws: {first} vs {again}"
    for k, name in enumerate(("random", "numpy", "torch")):
        assert first[k] != other[k], f"a different seed should change the {name} draw, both gave {first[k]}"


@pytest.mark.parametrize("seed, error", [(-1, ValueError), (2**32, ValueError), (1.5, TypeError), ("0", TypeError), (True, TypeError)])
def test_bad_seed_is_a_clear_error(seed, error):
    with pytest.raises(error, match="seed"):
        seed_everything(seed)


def test_budget_defaults_to_full(monkeypatch):
    monkeypatch.delenv("CNNCOURSE_BUDGET", raising=False)
    assert current_budget() == "full"
    assert not is_smoke()
    assert budget(full=30, smoke=1) == 30


@pytest.mark.parametrize("value", ["smoke", "SMOKE", " smoke "])
def test_smoke_budget(monkeypatch, value):
    monkeypatch.setenv("CNNCOURSE_BUDGET", value)
    assert current_budget() == "smoke"
    assert is_smoke()
    assert budget(full=30, smoke=1) == 1
    assert budget(full="big", smoke=None) is None, "budget should return the smoke value as given, even None"


def test_full_budget_when_set(monkeypatch):
    monkeypatch.setenv("CNNCOURSE_BUDGET", "full")
    assert budget(full=[1, 2], smoke=[]) == [1, 2]


def test_unknown_budget_names_the_valid_values(monkeypatch):
    monkeypatch.setenv("CNNCOURSE_BUDGET", "quick")
    with pytest.raises(ValueError) as info:
        current_budget()
    message = str(info.value)
    assert "quick" in message and "full" in message and "smoke" in message, f"expected the value and the choices in: {message}"
    with pytest.raises(ValueError):
        budget(full=1, smoke=0)


def test_budget_takes_keywords_only():
    with pytest.raises(TypeError):
        budget(30, 1)  # type: ignore[misc]
