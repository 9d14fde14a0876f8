"""cnncourse.tools.fetch: data sets and weights fetched into one folder, one line printed each, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cnncourse.datasets import DatasetSpec
from cnncourse.pretrained import BackboneSpec, weights_path
from cnncourse.tools.cli import main
from cnncourse.tools.fetch import fetch
from data_helpers import read_only_folder, write_cifar, write_idx_dataset, write_pets

pytestmark = pytest.mark.usefixtures("offline")

RESNET_FILE = "resnet18-f37072fd.pth"


def save_random_resnet18(path: Path, seed: int) -> None:
    """A randomly initialised torchvision ResNet-18, its state dict saved at path (the download's stand-in)."""
    import torchvision

    torch.manual_seed(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)


def test_fetch_rejects_unknown_names_before_downloading(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(DatasetSpec, "download", lambda self, root: calls.append(self.name))
    with pytest.raises(ValueError, match="imagenet"):
        fetch(["mnist", "imagenet"], root=tmp_path)
    assert calls == [], f"nothing should be downloaded when a name is wrong, got {calls}"


def test_fetch_downloads_what_is_missing_and_prints_one_line_each(tmp_path, monkeypatch, capsys):
    write_cifar(tmp_path)  # already there
    calls = []

    def fake_download(self, root):
        calls.append(self.name)
        write_idx_dataset(Path(root) / "MNIST" / "raw", gz=True)

    monkeypatch.setattr(DatasetSpec, "download", fake_download)
    fetch(["mnist", "cifar10"], root=tmp_path)
    assert calls == ["mnist"], f"only the missing data set should be downloaded, got {calls}"
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("mnist: 37 train and 19 test") and lines[1].startswith("cifar10: 45 train and 9 test"), lines


def test_fetch_into_a_folder_that_cannot_be_made(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(PermissionError, match="cannot download into"):
        fetch("mnist", root=blocker / "data")


def test_fetch_into_a_read_only_folder(tmp_path, monkeypatch):
    locked = read_only_folder(tmp_path / "locked", monkeypatch)
    try:
        with pytest.raises(PermissionError, match="read-only") as info:
            fetch("mnist", root=locked)
        assert str(locked) in str(info.value)
    finally:
        locked.chmod(0o755)


def test_fetch_oxford_pets_and_weights(tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(DatasetSpec, "download", lambda self, root: (calls.append(self.name), write_pets(Path(root))))

    def fake_weights(self, root):
        calls.append(self.name)
        (Path(root) / "weights").mkdir(parents=True, exist_ok=True)
        torch.save({"w": torch.zeros(1000)}, Path(root) / "weights" / self.file)

    monkeypatch.setattr(BackboneSpec, "download", fake_weights)
    fetch(["oxford_pets", "resnet18", "efficientnet_lite0"], root=tmp_path)
    assert calls == ["oxford_pets", "resnet18"], f"only what is missing should be downloaded, got {calls}"
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == f"oxford_pets: 37 train and 37 test images in {tmp_path}", lines
    assert lines[1].startswith("resnet18: ResNet-18's ImageNet weights (0.0 MB) in") and lines[1].endswith("resnet18-f37072fd.pth"), lines
    assert lines[2].startswith("efficientnet_lite0:") and "ship with the package" in lines[2], lines
    fetch("resnet18", root=tmp_path)
    assert calls == ["oxford_pets", "resnet18"], "weights already there are not fetched again"
    with pytest.raises(ValueError, match="Did you mean 'resnet18'"):
        fetch("resnet81", root=tmp_path)


def test_cli_fetch_puts_the_weights_under_root_weights(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch.hub, "download_url_to_file",
                        lambda url, dst, hash_prefix=None, progress=True: save_random_resnet18(Path(dst), seed=5))
    root = tmp_path / "hub-share"
    assert main(["data", "fetch", "resnet18", "efficientnet_lite0", "--root", str(root)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("resnet18: ResNet-18's ImageNet weights (") and out[0].endswith(str(root / "weights" / RESNET_FILE)), out
    assert "nothing to fetch" in out[1], out
    assert weights_path("resnet18", root=root) == root / "weights" / RESNET_FILE


def test_a_failed_download_reads_as_one_sentence_names_the_files_and_leaves_no_empty_folder(tmp_path, monkeypatch):
    def offline(self, root):  # what torchvision's MNIST does offline: make raw/, then a multi-line error
        (Path(root) / "MNIST" / "raw").mkdir(parents=True)
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried https://example.org/mnist/, got:\n"
                           "<urlopen error [Errno -2] Name or service not known>\n")

    monkeypatch.setattr(DatasetSpec, "download", offline)
    (tmp_path / "MNIST").mkdir()  # a folder that was there before stays
    with pytest.raises(RuntimeError) as caught:
        fetch(["mnist"], root=tmp_path)
    message = str(caught.value)
    assert "\n" not in message, f"the message must be one paragraph, not torchvision's lines: {message!r}"
    assert "Name or service not known>). Check the network" in message, message
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        assert str(tmp_path / "MNIST" / "raw" / name) in message, f"the hint should name {name}: {message}"
    assert not (tmp_path / "MNIST" / "raw").exists(), "the failed download's empty folder must be removed"
    assert (tmp_path / "MNIST").is_dir(), "a folder that existed before the fetch must be left alone"
