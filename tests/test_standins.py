"""cnncourse.standins: deterministic, shaped like the real data, learnable, used only in the smoke budget.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnncourse import standins
from cnncourse.data import DATASETS, DatasetNotFoundError, load
from data_helpers import write_idx_dataset

pytestmark = pytest.mark.usefixtures("offline")

SHAPES = {"mnist": (1, 28, 28), "fashion_mnist": (1, 28, 28), "cifar10": (3, 32, 32)}


@pytest.fixture
def fresh_announcements(monkeypatch):
    """Forget which stand-ins this process has announced."""
    monkeypatch.setattr(standins, "announced", set())


@pytest.mark.parametrize("name", list(standins.STANDINS))
def test_standins_are_deterministic_and_shaped_like_the_real_data(name):
    for split in ("train", "test"):
        images, targets = standins.make(name, split)
        again_images, again_targets = standins.make(name, split)
        assert torch.equal(images, again_images) and torch.equal(targets, again_targets), f"{name} {split}: two calls gave different data"
        assert images.dtype == torch.uint8 and images.shape[1:] == SHAPES[name], f"{name}: got {images.dtype} {tuple(images.shape)}"
        assert targets.dtype == torch.int64 and len(targets) == len(images)
        assert sorted(torch.unique(targets).tolist()) == list(range(10)), f"{name} {split}: every class should appear"
    train, test = standins.make(name, "train")[0], standins.make(name, "test")[0]
    assert 1000 <= len(train) <= 3000 and 200 <= len(test) <= 600, f"{name}: {len(train)} train, {len(test)} test"
    stats = train.double() / 255
    mean, std = stats.mean(dim=(0, 2, 3)).tolist(), stats.std(dim=(0, 2, 3)).tolist()
    info = standins.STANDINS[name]
    assert np.allclose(mean, info.mean, atol=1e-3) and np.allclose(std, info.std, atol=1e-3), f"{name}: constants {info.mean}/{info.std}, data {mean}/{std}"


def test_mnist_standin_is_scikit_learns_digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    train_images, train_targets = standins.make("mnist", "train")
    test_images, test_targets = standins.make("mnist", "test")
    assert (len(train_images), len(test_images)) == (1500, 297)
    assert torch.cat([train_targets, test_targets]).tolist() == digits.target.tolist()
    border = torch.ones(28, 28, dtype=torch.bool)
    border[4:24, 4:24] = False
    assert int(train_images[:, 0, border].max()) == 0, "the 20×20 digit should sit inside a 4-pixel black border"
    brightest = [int(train_images[i].max()) for i in range(20)]
    assert min(brightest) > 150, f"digits should use the 0–255 range, maxima {brightest}"


@pytest.mark.parametrize("name", list(standins.STANDINS))
def test_standin_only_in_smoke_budget_and_announced_once(tmp_path, monkeypatch, capsys, fresh_announcements, name):
    monkeypatch.setenv("CNNCOURSE_BUDGET", "full")
    with pytest.raises(DatasetNotFoundError):
        load(name, "train", root=tmp_path, download=False)
    assert capsys.readouterr().out == "", "nothing should be announced when no stand-in is used"
    monkeypatch.setenv("CNNCOURSE_BUDGET", "smoke")
    train = load(name, "train", root=tmp_path, download=False)
    test = load(name, "test", root=tmp_path, download=False)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith(f"cnncourse: {standins.STANDINS[name].title} is not on this machine"), repr(out)
    assert out.rstrip().endswith(f"cnncourse data fetch {name}"), repr(out)
    assert train.standin and test.standin and "stand-in" in repr(train)
    assert train.classes == list(DATASETS[name].classes) and train.mean == standins.STANDINS[name].mean
    expected_images, _ = standins.make(name, "test")
    assert torch.equal(test.images, expected_images)


def test_real_files_win_over_the_standin(tmp_path, smoke_budget, fresh_announcements, capsys):
    write_idx_dataset(tmp_path / "MNIST" / "raw", gz=False)
    assert not load("mnist", "test", root=tmp_path, download=False).standin
    assert capsys.readouterr().out == ""


def _standardised(name: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    images, targets = standins.make(name, split)
    info = standins.STANDINS[name]
    mean, std = torch.tensor(info.mean).view(1, -1, 1, 1), torch.tensor(info.std).view(1, -1, 1, 1)
    return (images.float() / 255 - mean) / std, targets


@pytest.fixture
def one_thread():
    """Tiny convolutions on small batches run faster on one thread, above all on a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(standins.STANDINS))
def test_standins_are_learnable_by_a_small_cnn(name, one_thread):
    torch.manual_seed(0)
    x, y = _standardised(name, "train")
    x_test, y_test = _standardised(name, "test")
    model = torch.nn.Sequential(
        torch.nn.Conv2d(x.shape[1], 8, 5, stride=2, padding=2), torch.nn.ReLU(),
        torch.nn.Conv2d(8, 16, 3, stride=2, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(4), torch.nn.Flatten(), torch.nn.Linear(16 * 16, 10),
    )  # fmt: skip
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(2):
        for batch in torch.randperm(len(x)).split(64):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            optimizer.step()
    with torch.no_grad():
        accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
    assert accuracy > 0.5, f"a small CNN should learn the {name} stand-in well above chance (0.1) in 2 epochs, test accuracy {accuracy:.2f}"


def test_oxford_pets_has_no_standin_and_says_how_to_fetch(tmp_path, smoke_budget, capsys):
    with pytest.raises(DatasetNotFoundError) as info:
        load("oxford_pets", "train", root=tmp_path, download=False)
    message = str(info.value)
    assert f"cnncourse data fetch oxford_pets --root {tmp_path}" in message, message
    assert str(tmp_path / "oxford-iiit-pet" / "annotations" / "trainval.txt") in message, message
    assert "stand-in" not in message and capsys.readouterr().out == "", "no stand-in exists, so none may be offered"
