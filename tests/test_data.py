"""cnncourse.data and cnncourse.standins: readers checked against torchvision's, errors, stand-ins.

Real-format files are written into tmp_path (IDX, raw and .gz; CIFAR-10 pickles in the
Python 2 layout of the real files) and read both by cnncourse and by torchvision, the oracle.
Nothing here downloads: every load passes download=False or patches the network check.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from cnncourse import data, standins
from cnncourse.data import DATASETS, DatasetNotFoundError, DatasetSpec, ImageDataset, data_root, fetch, load

MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No test may reach the network: the quick check always says no."""
    monkeypatch.setattr(data, "_network_available", lambda host: False)


@pytest.fixture
def full_budget(monkeypatch):
    monkeypatch.setenv("CNNCOURSE_BUDGET", "full")


@pytest.fixture
def smoke_budget(monkeypatch):
    monkeypatch.setenv("CNNCOURSE_BUDGET", "smoke")


@pytest.fixture
def fresh_announcements(monkeypatch):
    """Forget which stand-ins this process has announced."""
    monkeypatch.setattr(standins, "_announced", set())


def read_only_folder(folder: Path, monkeypatch) -> Path:
    """A folder with mode 0o555. Root may write there anyway (os.access says so); then
    os.access is made to answer as it would for anyone else, so the test still runs."""
    folder.mkdir()
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if Path(path) == folder and mode & os.W_OK else real_access(path, mode, **kw))
    return folder


# --- writers of the real file formats -----------------------------------------------------


def write_idx(path: Path, array: np.ndarray) -> None:
    """An IDX file (uint8): magic 0x0000080N, N big-endian dimensions, then the bytes."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    content = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(content) if path.suffix == ".gz" else content)


def write_idx_dataset(folder: Path, *, gz: bool, splits=("train", "test"), seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """MNIST-style files for the given splits in folder; returns the arrays written."""
    rng = np.random.default_rng(seed)
    prefixes = {"train": "train", "test": "t10k"}
    sizes = {"train": 37, "test": 19}
    written = {}
    for split in splits:
        images = rng.integers(0, 256, size=(sizes[split], 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=sizes[split], dtype=np.uint8)
        suffix = ".gz" if gz else ""
        write_idx(folder / f"{prefixes[split]}-images-idx3-ubyte{suffix}", images)
        write_idx(folder / f"{prefixes[split]}-labels-idx1-ubyte{suffix}", labels)
        written[split] = (images, labels)
    return written


class _Py2Str(bytes):
    """Pickled as a Python 2 str, as in the real CIFAR-10 files."""


class _Py2Pickler(pickle._Pickler):  # the pure-Python pickler, so that a type can be added
    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2str(self, obj: bytes) -> None:
        self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + bytes(obj))
        self.memoize(obj)

    dispatch[_Py2Str] = save_py2str


def py2_pickle(content: dict) -> bytes:
    """A protocol-2 pickle with Python 2 str keys, referring to numpy.core as old NumPy did."""
    buffer = io.BytesIO()
    _Py2Pickler(buffer, protocol=2).dump(content)
    return buffer.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")


def write_cifar(root: Path, *, style: str = "py2", seed: int = 0) -> dict[str, tuple[np.ndarray, list[int]]]:
    """cifar-10-batches-py with five small training batches, a test batch and batches.meta."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    key = _Py2Str if style == "py2" else bytes
    written = {}
    for name, n in [*((f"data_batch_{k}", 6 + k) for k in range(1, 6)), ("test_batch", 9)]:
        images = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=n)]
        batch = {key(b"batch_label"): key(name.encode()), key(b"labels"): labels, key(b"data"): images}
        (folder / name).write_bytes(py2_pickle(batch) if style == "py2" else pickle.dumps(batch))
        written[name] = (images, labels)
    names = [key(c.encode()) for c in DATASETS["cifar10"].classes]
    meta = {key(b"num_cases_per_batch"): 10000, key(b"label_names"): names, key(b"num_vis"): 3072}
    (folder / "batches.meta").write_bytes(py2_pickle(meta) if style == "py2" else pickle.dumps(meta))
    return written


# --- readers against torchvision ------------------------------------------------------------


@pytest.mark.parametrize("split", ["train", "test"])
def test_mnist_idx_files_match_torchvision(tmp_path, split):
    written = write_idx_dataset(tmp_path / "MNIST" / "raw", gz=False)
    ours = load("mnist", split, root=tmp_path, download=False)
    oracle = torchvision.datasets.MNIST(tmp_path, train=(split == "train"), download=False)
    assert ours.images.dtype == torch.uint8 and ours.images.shape == (len(oracle), 1, 28, 28), f"got {ours.images.dtype} {tuple(ours.images.shape)}"
    assert torch.equal(ours.images[:, 0], oracle.data), "images differ from torchvision's reading of the same IDX file"
    assert torch.equal(ours.targets, oracle.targets) and ours.targets.dtype == torch.int64
    assert np.array_equal(ours.images[:, 0].numpy(), written[split][0])
    assert (ours.mean, ours.std) == ((0.1307,), (0.3081,)), f"MNIST's published constants expected, got {ours.mean}, {ours.std}"
    assert not ours.standin and ours.name == "mnist" and ours.split == split


def test_gz_files_read_like_the_uncompressed_ones(tmp_path):
    write_idx_dataset(tmp_path / "plain" / "MNIST" / "raw", gz=False, seed=3)
    write_idx_dataset(tmp_path / "packed" / "MNIST" / "raw", gz=True, seed=3)
    for split in ("train", "test"):
        oracle = torchvision.datasets.MNIST(tmp_path / "plain", train=(split == "train"), download=False)
        packed = load("mnist", split, root=tmp_path / "packed", download=False)
        assert torch.equal(packed.images[:, 0], oracle.data), f"{split}: the .gz files should hold the same images"
        assert torch.equal(packed.targets, oracle.targets), f"{split}: the .gz files should hold the same labels"


def test_fashion_mnist_matches_torchvision(tmp_path):
    write_idx_dataset(tmp_path / "FashionMNIST" / "raw", gz=False, seed=5)
    for split in ("train", "test"):
        ours = load("fashion_mnist", split, root=tmp_path, download=False)
        oracle = torchvision.datasets.FashionMNIST(tmp_path, train=(split == "train"), download=False)
        assert torch.equal(ours.images[:, 0], oracle.data) and torch.equal(ours.targets, oracle.targets)
        assert ours.classes == oracle.classes, f"class names should be torchvision's {oracle.classes}, got {ours.classes}"
        assert (ours.mean, ours.std) == ((0.2860,), (0.3530,))


@pytest.mark.parametrize("split", ["train", "test"])
def test_cifar10_pickles_match_torchvision(tmp_path, monkeypatch, split):
    written = write_cifar(tmp_path)
    # torchvision checks the md5 of the real files; these small ones cannot match it.
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *args, **kwargs: True)
    oracle = torchvision.datasets.CIFAR10(tmp_path, train=(split == "train"), download=False)
    ours = load("cifar10", split, root=tmp_path, download=False)
    expected = torch.from_numpy(oracle.data).permute(0, 3, 1, 2)  # torchvision keeps N×H×W×C
    assert ours.images.shape == expected.shape, f"expected {tuple(expected.shape)}, got {tuple(ours.images.shape)}"
    assert torch.equal(ours.images, expected), "images differ from torchvision's reading of the same pickles"
    assert ours.targets.tolist() == oracle.targets
    assert ours.classes == oracle.classes
    first = "data_batch_1" if split == "train" else "test_batch"
    red_plane = torch.from_numpy(written[first][0][0, :1024].reshape(32, 32))
    assert torch.equal(ours.images[0, 0], red_plane), "the first 1,024 values of a row are the red plane, row-major"
    assert ours.mean == (0.4914, 0.4822, 0.4465) and ours.std == (0.2470, 0.2435, 0.2616)


def test_cifar10_pickles_with_bytes_keys_read_the_same(tmp_path):
    write_cifar(tmp_path / "py2", seed=9)
    write_cifar(tmp_path / "py3", style="py3", seed=9)
    for split in ("train", "test"):
        a = load("cifar10", split, root=tmp_path / "py2", download=False)
        b = load("cifar10", split, root=tmp_path / "py3", download=False)
        assert torch.equal(a.images, b.images) and torch.equal(a.targets, b.targets) and a.classes == b.classes


def test_lowercase_mnist_folder_with_only_the_test_files(tmp_path, full_budget):
    write_idx_dataset(tmp_path / "mnist", gz=True, splits=("test",))
    test = load("mnist", split="test", root=tmp_path, download=False)
    assert len(test) == 19 and not test.standin
    with pytest.raises(DatasetNotFoundError) as info:
        load("mnist", split="train", root=tmp_path, download=False)
    message = str(info.value)
    assert "'train' split" in message and str(tmp_path / "mnist" / "train-images-idx3-ubyte") in message, message


# --- the real MNIST test set ---------------------------------------------------------------


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


# --- where the data lives and what happens when it is missing -------------------------------


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
        monkeypatch.setattr(data, "_network_available", lambda host: True)  # the network is there; the folder is not writable
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
    monkeypatch.setattr(data, "_network_available", lambda host: True)
    test = load("mnist", "test", root=tmp_path)  # download=None: writable and online, so it downloads
    assert calls == [("mnist", tmp_path)] and len(test) == 19 and not test.standin


@pytest.mark.parametrize("name, suggestion", [("fashion-mnist", "fashion_mnist"), ("cifar-10", "cifar10"), ("mnsit", "mnist")])
def test_unknown_name_suggests_the_closest(name, suggestion):
    with pytest.raises(ValueError) as info:
        load(name, download=False)
    message = str(info.value)
    assert f"Did you mean {suggestion!r}" in message and "cifar10" in message and "fashion_mnist" in message, message


def test_bad_split_and_download_arguments():
    with pytest.raises(ValueError, match="'train' or 'test'"):
        load("mnist", "validation", download=False)
    with pytest.raises(TypeError, match="download"):
        load("mnist", "train", download="yes")


# --- damaged files ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "damage, expected",
    [
        (lambda raw: raw[2:4] + raw[:2] + raw[4:], "bad magic number"),  # bytes swapped
        (lambda raw: raw[:-100], "truncated"),
        (lambda raw: raw[:10], "truncated"),
        (lambda raw: raw + b"\x00" * 7, "extra bytes"),
    ],
)
def test_corrupt_idx_file_is_named(tmp_path, damage, expected):
    write_idx_dataset(tmp_path / "MNIST" / "raw", gz=False)
    path = tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ValueError, match=expected) as info:
        load("mnist", "test", root=tmp_path, download=False)
    assert str(path) in str(info.value), f"the message should name {path}: {info.value}"


def test_image_label_count_mismatch_names_both_files(tmp_path):
    folder = tmp_path / "MNIST" / "raw"
    write_idx_dataset(folder, gz=False)
    write_idx(folder / "t10k-labels-idx1-ubyte", np.zeros(5, dtype=np.uint8))
    with pytest.raises(ValueError, match="19 images but .* 5 labels") as info:
        load("mnist", "test", root=tmp_path, download=False)
    assert "t10k-images-idx3-ubyte" in str(info.value) and "t10k-labels-idx1-ubyte" in str(info.value)


def test_corrupt_gzip_is_named(tmp_path):
    folder = tmp_path / "MNIST" / "raw"
    write_idx_dataset(folder, gz=True)
    path = folder / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(ValueError, match="gzip") as info:
        load("mnist", "test", root=tmp_path, download=False)
    assert str(path) in str(info.value)


def test_cifar_pickle_with_foreign_objects_is_refused(tmp_path):
    write_cifar(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "test_batch"
    path.write_bytes(pickle.dumps({"data": os.getcwd, "labels": []}))  # a pickle that would call a function
    with pytest.raises(ValueError, match="not a readable CIFAR pickle") as info:
        load("cifar10", "test", root=tmp_path, download=False)
    assert str(path) in str(info.value) and "posix.getcwd" in str(info.value)


def test_cifar_count_mismatch_is_named(tmp_path):
    write_cifar(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "test_batch"
    path.write_bytes(pickle.dumps({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, 1, 2]}))
    with pytest.raises(ValueError, match="4 images but 3 labels") as info:
        load("cifar10", "test", root=tmp_path, download=False)
    assert str(path) in str(info.value)


# --- fetch ---------------------------------------------------------------------------------


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


# --- ImageDataset -----------------------------------------------------------------------------


def test_getitem_normalises_like_torchvision():
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (5, 3, 6, 7), dtype=torch.uint8, generator=gen)
    mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
    ds = ImageDataset(images, torch.tensor([0, 1, 2, 3, 4]), mean=mean, std=std)
    for i in range(5):
        x, y = ds[i]
        expected = torchvision.transforms.functional.normalize(images[i].float() / 255, mean, std)
        assert x.dtype == torch.float32 and torch.allclose(x, expected, atol=1e-6), f"example {i} is not (pixels/255 - mean)/std"
        assert y == i and isinstance(y, int)


def test_three_dimensional_images_get_a_channel_axis():
    images = torch.zeros(2, 5, 5, dtype=torch.uint8)
    ds = ImageDataset(images, [0, 1])
    assert ds.images.shape == (2, 1, 5, 5) and images.shape == (2, 5, 5), "the caller's tensor must keep its shape"
    assert ds.classes == ["0", "1"] and ds.mean == (0.5,)


@pytest.mark.parametrize(
    "images, expected",
    [
        (torch.zeros(4, 28, 28, 3, dtype=torch.uint8), "permute"),
        (torch.zeros(4, 784, dtype=torch.uint8), r"\(4, 784\)"),
        (torch.zeros(4, 2, 8, 8, dtype=torch.uint8), r"C = 1 or 3"),
        (torch.zeros(0, 1, 8, 8, dtype=torch.uint8), "empty"),
    ],
)
def test_bad_image_shapes_are_named(images, expected):
    with pytest.raises(ValueError, match=expected):
        ImageDataset(images, torch.zeros(len(images), dtype=torch.int64))


def test_bad_image_types_and_targets():
    with pytest.raises(TypeError, match="uint8"):
        ImageDataset(torch.zeros(2, 1, 4, 4), [0, 1])
    with pytest.raises(TypeError, match="torch.from_numpy"):
        ImageDataset(np.zeros((2, 1, 4, 4), np.uint8), [0, 1])
    with pytest.raises(ValueError, match="one label per image"):
        ImageDataset(torch.zeros(3, 1, 4, 4, dtype=torch.uint8), [0, 1])
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        ImageDataset(torch.zeros(2, 1, 4, 4, dtype=torch.uint8), [0, 5], classes=["a", "b"])
    with pytest.raises(ValueError, match="one value per channel"):
        ImageDataset(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), [0, 1], mean=(0.5,), std=(0.5,))


def test_subset_copies_and_keeps_the_metadata(tmp_path):
    write_cifar(tmp_path)
    test = load("cifar10", "test", root=tmp_path, download=False)
    before = test.images.clone()
    small = test.subset([4, 0, 2])
    assert torch.equal(small.images, before[[4, 0, 2]]) and small.targets.tolist() == test.targets[[4, 0, 2]].tolist()
    assert (small.classes, small.mean, small.std, small.name, small.split) == (test.classes, test.mean, test.std, "cifar10", "test")
    small.images.zero_()
    assert torch.equal(test.images, before), "changing a subset must not change the original"
    assert len(test.subset(test.targets == test.targets[0])) == int((test.targets == test.targets[0]).sum())
    assert len(test.subset(range(3))) == 3 and len(test.subset(slice(0, 4))) == 4
    with pytest.raises(IndexError, match=r"\[0, 9\)"):
        test.subset([0, 9])


def test_repr_names_the_data_set():
    text = repr(ImageDataset(torch.zeros(1200, 3, 32, 32, dtype=torch.uint8), [0] * 1200, name="cifar10", split="test", standin=True))
    for part in ("cifar10", "test", "1,200", "3×32×32", "stand-in"):
        assert part in text, f"{part!r} should appear in {text!r}"


# --- stand-ins ------------------------------------------------------------------------------

SHAPES = {"mnist": (1, 28, 28), "fashion_mnist": (1, 28, 28), "cifar10": (3, 32, 32)}


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


# --- Oxford-IIIT Pet: photos of every size ---------------------------------------------------


def write_pets(root: Path, *, seed: int = 0) -> dict[str, list[tuple[str, int]]]:
    """oxford-iiit-pet/ with one small photo per breed in each split (torchvision's layout and list format).

    Photos have random sizes; one is grey, one is a PNG under a .jpg name (as a few real files are).
    """
    from PIL import Image

    rng = np.random.default_rng(seed)
    base = root / "oxford-iiit-pet"
    (base / "images").mkdir(parents=True, exist_ok=True)
    (base / "annotations").mkdir(parents=True, exist_ok=True)
    raw_names = [c.replace(" ", "_") if i in (0, 5, 6, 7, 9, 11, 20, 23, 26, 27, 32, 33) else c.lower().replace(" ", "_")
                 for i, c in enumerate(DATASETS["oxford_pets"].classes)]  # cat breeds are capitalised in the real ids
    written: dict[str, list[tuple[str, int]]] = {}
    for split, list_file, number in (("train", "trainval.txt", 1), ("test", "test.txt", 2)):
        rows = []
        for label, raw in enumerate(raw_names):
            image_id = f"{raw}_{number}"
            h, w = (int(v) for v in rng.integers(20, 60, size=2))
            pixels = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
            picture = Image.fromarray(pixels)
            if label == 3 and split == "test":
                picture.convert("L").save(base / "images" / f"{image_id}.jpg", format="JPEG")
            elif label == 4 and split == "train":
                picture.save(base / "images" / f"{image_id}.jpg", format="PNG")
            else:
                picture.save(base / "images" / f"{image_id}.jpg", format="JPEG", quality=90)
            species = 1 if raw[0].isupper() else 2
            rows.append(f"{image_id} {label + 1} {species} 1")
        order = rng.permutation(len(rows))
        (base / "annotations" / list_file).write_text("\n".join(rows[i] for i in order) + "\n")
        written[split] = [(rows[i].split()[0], int(rows[i].split()[1]) - 1) for i in order]
    return written


@pytest.mark.parametrize("split", ["train", "test"])
def test_oxford_pets_matches_torchvision(tmp_path, split):
    from torchvision.transforms.v2 import functional as tvf

    write_pets(tmp_path)
    ours = load("oxford_pets", split, root=tmp_path, download=False)
    oracle = torchvision.datasets.OxfordIIITPet(tmp_path, split="trainval" if split == "train" else "test", download=False)
    assert ours.images.shape == (37, 3, 256, 256) and ours.images.dtype == torch.uint8, f"got {tuple(ours.images.shape)}"
    assert ours.targets.tolist() == [oracle[i][1] for i in range(len(oracle))], "labels differ from torchvision's"
    assert ours.classes == oracle.classes, f"class names should be torchvision's {oracle.classes}, got {ours.classes}"
    for i in (0, 17, 36):
        photo = tvf.pil_to_tensor(oracle[i][0])  # decoded by torchvision: PIL, converted to RGB
        expected = tvf.center_crop(tvf.resize(photo, [256], antialias=True), [256, 256])
        assert torch.equal(ours.images[i], expected), f"photo {i} should be torchvision's, resized to 256 and centre-cropped"
    assert ours.mean == (0.485, 0.456, 0.406) and ours.std == (0.229, 0.224, 0.225), "ImageNet's constants expected"
    assert not ours.standin and ours.name == "oxford_pets"


def test_oxford_pets_has_no_standin_and_says_how_to_fetch(tmp_path, smoke_budget, capsys):
    with pytest.raises(DatasetNotFoundError) as info:
        load("oxford_pets", "train", root=tmp_path, download=False)
    message = str(info.value)
    assert f"cnncourse data fetch oxford_pets --root {tmp_path}" in message, message
    assert str(tmp_path / "oxford-iiit-pet" / "annotations" / "trainval.txt") in message, message
    assert "stand-in" not in message and capsys.readouterr().out == "", "no stand-in exists, so none may be offered"


def test_oxford_pets_damaged_files_are_named(tmp_path):
    write_pets(tmp_path)
    listing = tmp_path / "oxford-iiit-pet" / "annotations" / "test.txt"
    good = listing.read_text()
    listing.write_text(good + "Bengal_99 38 1 1\n")
    with pytest.raises(ValueError, match="line 38") as info:
        load("oxford_pets", "test", root=tmp_path, download=False)
    assert str(listing) in str(info.value)
    listing.write_text(good + "Bengal_99 6 1 1\n")
    with pytest.raises(ValueError, match="missing") as info:
        load("oxford_pets", "test", root=tmp_path, download=False)
    assert "Bengal_99.jpg" in str(info.value)
    listing.write_text(good)
    (tmp_path / "oxford-iiit-pet" / "images" / "beagle_2.jpg").write_bytes(b"not a photo")
    with pytest.raises(ValueError, match="not a readable image") as info:
        load("oxford_pets", "test", root=tmp_path, download=False)
    assert "beagle_2.jpg" in str(info.value)


def test_fetch_oxford_pets_and_weights(tmp_path, monkeypatch, capsys):
    from cnncourse.pretrained import BackboneSpec

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
