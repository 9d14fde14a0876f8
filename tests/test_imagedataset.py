"""cnncourse.imagedataset.ImageDataset: normalisation as torchvision's, shapes and types checked, subsets.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision

from cnncourse.data import load
from cnncourse.imagedataset import ImageDataset
from data_helpers import write_cifar

pytestmark = pytest.mark.usefixtures("offline")


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
