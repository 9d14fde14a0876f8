"""cnncourse.readers: IDX, CIFAR-10 and Oxford-IIIT Pet files read as torchvision reads them, damage named.

Real-format files are written into tmp_path (IDX, raw and .gz; CIFAR-10 pickles in the
Python 2 layout of the real files; photos of every size) and read both by cnncourse and by
torchvision, the oracle. Nothing here downloads.
"""

from __future__ import annotations

import os
import pickle
import struct

import numpy as np
import pytest
import torch
import torchvision

from cnncourse.data import load
from cnncourse.readers import read_idx
from data_helpers import write_cifar, write_idx, write_idx_dataset, write_pets

pytestmark = pytest.mark.usefixtures("offline")


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


def test_read_idx_reads_big_endian_arrays_of_every_type(tmp_path):
    array = (np.arange(-6, 6).reshape(3, 4) * 1000).astype(">i4")
    path = tmp_path / "values-idx2-int"
    path.write_bytes(bytes([0, 0, 0x0C, 2]) + struct.pack(">2I", 3, 4) + array.tobytes())
    read = read_idx(path)
    assert read.dtype == np.int32 and read.dtype.isnative and np.array_equal(read, array), read
