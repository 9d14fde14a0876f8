"""Fixtures shared by the test modules."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"

# Notebooks kept as test fixtures are data, not notebooks for nbval to run.
collect_ignore_glob = ["fixtures/*"]


@pytest.fixture(scope="session")
def repo() -> Path:
    """The repository root."""
    return REPO


@pytest.fixture(scope="session")
def shared_mnist() -> Path:
    """The folder with the official MNIST test-set files (../shared/data/mnist)."""
    if not (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"the real MNIST test-set files are not at {SHARED_MNIST} (../shared/data/mnist beside the repository)")
    return SHARED_MNIST
