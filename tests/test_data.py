"""cnncourse.data.load: the data folders searched in order, downloads when allowed, clear errors.

Real-format files are written into tmp_path and system data folders are faked with
CNNCOURSE_SYSTEM_DATA; one test reads Debian's real Fashion-MNIST files when they are
installed. Nothing here downloads: every load passes download=False or the network
check is patched (the public ``cnncourse.downloads.network_available``).
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pytest
import torch
import torchvision

from cnncourse import downloads
from cnncourse.data import DatasetNotFoundError, DatasetSpec, data_root, load, search_folders
from data_helpers import read_only_folder, write_idx_dataset

pytestmark = pytest.mark.usefixtures("offline")

MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def test_lowercase_mnist_folder_with_only_the_test_files(tmp_path, full_budget):
    write_idx_dataset(tmp_path / "mnist", gz=True, splits=("test",))
    test = load("mnist", split="test", root=tmp_path, download=False)
    assert len(test) == 19 and not test.standin
    with pytest.raises(DatasetNotFoundError) as info:
        load("mnist", split="train", root=tmp_path, download=False)
    message = str(info.value)
    assert "'train' split" in message and str(tmp_path / "mnist" / "train-images-idx3-ubyte") in message, message


def test_real_mnist_test_set(shared_mnist, tmp_path, full_budget):
    md5 = {name: hashlib.md5((shared_mnist / name).read_bytes()).hexdigest() for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
    assert md5 == {"t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3", "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"}, md5
    test = load("mnist", split="test", root=shared_mnist.parent, download=False)
    assert not test.standin
    assert test.images.shape == (10_000, 1, 28, 28) and test.images.dtype == torch.uint8, f"got {tuple(test.images.shape)} {test.images.dtype}"
    counts = torch.bincount(test.targets, minlength=10).tolist()
    assert counts == MNIST_TEST_COUNTS, f"label counts should be {MNIST_TEST_COUNTS}, got {counts}"
    mean = test.images.double().mean().item() / 255
    assert abs(mean - 0.1325) < 5e-4, f"the MNIST test set's mean pixel is about 0.1325, got {mean:.4f}"
    # torchvision's own reader on the decompressed files is the oracle
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / name).write_bytes(gzip.decompress((shared_mnist / f"{name}.gz").read_bytes()))
    assert torch.equal(test.images[:, 0], torchvision.datasets.mnist.read_image_file(str(tmp_path / "t10k-images-idx3-ubyte")))
    assert torch.equal(test.targets, torchvision.datasets.mnist.read_label_file(str(tmp_path / "t10k-labels-idx1-ubyte")))


def test_data_root(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNCOURSE_DATA", str(tmp_path / "shared"))
    assert data_root() == tmp_path / "shared"
    monkeypatch.delenv("CNNCOURSE_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data_root() == tmp_path / "cache" / "cnncourse"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_root() == tmp_path / "home" / ".cache" / "cnncourse"
    assert not (tmp_path / "home").exists(), "data_root should not create anything"


def test_load_uses_data_root_by_default(monkeypatch, tmp_path):
    write_idx_dataset(tmp_path / "MNIST" / "raw", gz=True)
    monkeypatch.setenv("CNNCOURSE_DATA", str(tmp_path))
    monkeypatch.setenv("CNNCOURSE_SYSTEM_DATA", "")
    assert len(load("mnist", "test")) == 19


def test_missing_data_lists_the_paths_and_the_fetch_command(tmp_path, full_budget):
    with pytest.raises(DatasetNotFoundError) as info:
        load("cifar10", "train", root=tmp_path, download=False)
    message = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    for k in range(1, 6):
        assert str(tmp_path / "cifar-10-batches-py" / f"data_batch_{k}") in message, message
    assert f"cnncourse data fetch cifar10 --root {tmp_path}" in message, message
    assert "CIFAR-10" in message and "'train'" in message and "download=False" in message, message


def test_no_network_is_said_in_the_message(tmp_path, full_budget):
    with pytest.raises(DatasetNotFoundError, match="did not answer"):
        load("mnist", "test", root=tmp_path)  # download=None: writable root, but the (patched) network check fails


def test_read_only_root_gives_the_same_clear_error(tmp_path, full_budget, monkeypatch):
    locked = read_only_folder(tmp_path / "shared", monkeypatch)
    try:
        monkeypatch.setattr(downloads, "network_available", lambda host: True)  # the network is there; the folder is not writable
        with pytest.raises(DatasetNotFoundError) as info:
            load("fashion_mnist", "train", root=locked)
        message = str(info.value)
        assert "read-only" in message and f"cnncourse data fetch fashion_mnist --root {locked}" in message, message
    finally:
        locked.chmod(0o755)


def test_failed_download_is_reported_not_raised_from_torchvision(tmp_path, full_budget, monkeypatch):
    def broken(self, root):
        raise PermissionError(13, "Permission denied", str(root / "MNIST"))

    monkeypatch.setattr(DatasetSpec, "download", broken)
    with pytest.raises(DatasetNotFoundError) as info:
        load("mnist", "train", root=tmp_path, download=True)
    assert "download failed" in str(info.value) and "Permission denied" in str(info.value), str(info.value)


def test_download_then_read_with_our_readers(tmp_path, full_budget, monkeypatch):
    calls = []

    def fake_download(self, root):  # what torchvision would leave on disk
        calls.append((self.name, Path(root)))
        write_idx_dataset(Path(root) / "MNIST" / "raw", gz=True, seed=11)

    monkeypatch.setattr(DatasetSpec, "download", fake_download)
    monkeypatch.setattr(downloads, "network_available", lambda host: True)
    test = load("mnist", "test", root=tmp_path)  # download=None: writable and online, so it downloads
    assert calls == [("mnist", tmp_path)] and len(test) == 19 and not test.standin


# --- system data folders (a hub's read-only mount, Debian's /usr/share/datasets) ----------------


def test_system_folders_are_searched_after_the_data_root(tmp_path, monkeypatch, full_budget):
    own, hub, debian = tmp_path / "own", tmp_path / "hub", tmp_path / "debian"
    hub_files = write_idx_dataset(hub / "MNIST" / "raw", gz=True, seed=1)
    write_idx_dataset(debian / "fashion-mnist", gz=True, seed=2)  # Debian's folder name, files as Debian ships them
    monkeypatch.setenv("CNNCOURSE_DATA", str(own))
    monkeypatch.setenv("CNNCOURSE_SYSTEM_DATA", f"{hub}:{debian}")
    assert search_folders() == [own, hub, debian]
    test = load("mnist", "test", download=False)
    assert torch.equal(test.images[:, 0], torch.from_numpy(hub_files["test"][0])), "MNIST should be read from the hub's folder"
    assert len(load("fashion_mnist", "train", download=False)) == 37
    assert not own.exists(), "reading from a system folder must not copy anything into the data root"
    own_files = write_idx_dataset(own / "MNIST" / "raw", gz=False, seed=3)
    assert torch.equal(load("mnist", "test", download=False).images[:, 0], torch.from_numpy(own_files["test"][0])), \
        "the data root comes first: its files win over a system folder's"


def test_a_root_given_to_load_is_the_only_folder_searched(tmp_path, monkeypatch, full_budget):
    write_idx_dataset(tmp_path / "system" / "fashion-mnist", gz=True)
    monkeypatch.setenv("CNNCOURSE_SYSTEM_DATA", str(tmp_path / "system"))
    with pytest.raises(DatasetNotFoundError):
        load("fashion_mnist", "test", root=tmp_path / "elsewhere", download=False)


def test_downloads_go_to_the_data_root_never_to_a_system_folder(tmp_path, monkeypatch, full_budget):
    calls = []

    def fake_download(self, root):
        calls.append(Path(root))
        write_idx_dataset(Path(root) / "MNIST" / "raw", gz=True)

    monkeypatch.setattr(DatasetSpec, "download", fake_download)
    monkeypatch.setenv("CNNCOURSE_DATA", str(tmp_path / "own"))
    monkeypatch.setenv("CNNCOURSE_SYSTEM_DATA", str(tmp_path / "system"))
    assert len(load("mnist", "test", download=True)) == 19
    assert calls == [tmp_path / "own"], calls


def test_missing_data_names_every_folder_and_the_debian_package(tmp_path, monkeypatch, full_budget):
    monkeypatch.setenv("CNNCOURSE_DATA", str(tmp_path / "own"))
    monkeypatch.setenv("CNNCOURSE_SYSTEM_DATA", str(tmp_path / "system"))
    with pytest.raises(DatasetNotFoundError) as info:
        load("fashion_mnist", "test", download=False)
    message = str(info.value)
    for folder in (tmp_path / "own" / "FashionMNIST" / "raw", tmp_path / "system" / "fashion-mnist"):
        assert f"{folder / 't10k-images-idx3-ubyte'} (or .gz)" in message, message
    assert f"cnncourse data fetch fashion_mnist --root {tmp_path / 'own'}" in message, message
    assert "sudo apt-get install dataset-fashion-mnist" in message, message
    with pytest.raises(DatasetNotFoundError) as info:
        load("mnist", "test", download=False)
    assert "apt-get" not in str(info.value), "only Fashion-MNIST has a Debian package"


@pytest.mark.skipif(not (DEBIAN_FASHION_MNIST / "t10k-labels-idx1-ubyte.gz").is_file(),
                    reason=f"Debian's package dataset-fashion-mnist is not installed ({DEBIAN_FASHION_MNIST} is missing)")
def test_debian_fashion_mnist_is_read_in_place(tmp_path, monkeypatch, full_budget):
    monkeypatch.setenv("CNNCOURSE_DATA", str(tmp_path / "own"))
    monkeypatch.delenv("CNNCOURSE_SYSTEM_DATA", raising=False)  # the default: /usr/share/datasets
    for split, n in (("train", 60_000), ("test", 10_000)):
        ds = load("fashion_mnist", split, download=False)
        assert not ds.standin and ds.images.shape == (n, 1, 28, 28), f"{split}: got {tuple(ds.images.shape)}"
        counts = torch.bincount(ds.targets, minlength=10).tolist()
        assert counts == [n // 10] * 10, f"Fashion-MNIST's {split} split has {n // 10:,} images per class, got {counts}"
    assert ds.classes[9] == "Ankle boot"
    assert not (tmp_path / "own").exists(), "Debian's files are read in place, never copied"
