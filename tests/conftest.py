"""Fixtures shared by the test modules."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"

# Notebooks kept as test fixtures are data, not notebooks for nbval to run.
collect_ignore_glob = ["fixtures/*"]


def _share_the_cores() -> None:
    """Under pytest-xdist (``make test`` runs ``-n 2``), each worker and the kernels it starts get their share of the cores.

    Two workers each running PyTorch with every core's worth of threads would
    oversubscribe the machine, and OpenMP threads slow down sharply then. A
    thread count the caller set (``OMP_NUM_THREADS``) is kept.
    """
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1 and "OMP_NUM_THREADS" not in os.environ:
        threads = max(1, (os.cpu_count() or 1) // workers)
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)


_share_the_cores()


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


@pytest.fixture(scope="session")
def site_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The course's static HTML site (``cnncourse site``), built once per session: the folder holding index.html.

    The lectures are executed with the smoke budget, two kernels at a time
    (40-90 s on 2 CPU cores), at most 300 s per cell; a lecture cell that raises
    fails every test that uses the site, with the notebook, cell and error in the message.
    """
    from cnncourse.tools.site import build  # here, not at the top: nbconvert takes a second to import

    folder = tmp_path_factory.mktemp("site") / "_site"
    build(folder, course_dir=REPO, budget="smoke", jobs=2, timeout=300)
    return folder


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach the network: the download policy's quick check always says no."""
    from cnncourse import downloads

    monkeypatch.setattr(downloads, "network_available", lambda host: False)


@pytest.fixture
def full_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNNCOURSE_BUDGET", "full")


@pytest.fixture
def smoke_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNNCOURSE_BUDGET", "smoke")
