"""cnncourse.batches: TensorBatcher against the DataLoader path and per-sample references."""

from __future__ import annotations

import math

import pytest
import torch
import torchvision
from torch.utils.data import TensorDataset
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from cnncourse.batches import TensorBatcher, loader
from cnncourse.data import ImageDataset

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def make_dataset(n: int = 103, *, channels: int = 3, size: int = 8, seed: int = 0) -> ImageDataset:
    """Random images; the label of example i is i, so a label tells which example a row is."""
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, channels, size, size), dtype=torch.uint8, generator=gen)
    return ImageDataset(images, torch.arange(n), classes=[str(i) for i in range(n)], mean=MEAN[:channels], std=STD[:channels], name="random")


def normalised(images: torch.Tensor) -> torch.Tensor:
    """The reference normalisation, per channel, with torchvision."""
    return torch.stack([torchvision.transforms.functional.normalize(img.float() / 255, MEAN[: img.shape[0]], STD[: img.shape[0]]) for img in images])


def epoch(batcher: TensorBatcher) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*batcher)
    return torch.cat(xs).cpu(), torch.cat(ys).cpu()


@pytest.mark.parametrize("device", DEVICES)
def test_same_batches_as_the_dataloader(device):
    ds = make_dataset()
    fast = TensorBatcher(ds, 16, shuffle=False, device=device)
    slow = loader(ds, 16, shuffle=False)
    assert len(fast) == len(slow) == 7, f"103 examples in batches of 16 make 7 batches, got {len(fast)} and {len(slow)}"
    for k, ((x, y), (x_ref, y_ref)) in enumerate(zip(fast, slow)):
        assert x.device.type == device and y.device.type == device, f"batch {k} is on {x.device}, expected {device}"
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert x.shape == x_ref.shape, f"batch {k}: shape {tuple(x.shape)}, the DataLoader gives {tuple(x_ref.shape)}"
        assert torch.equal(y.cpu(), y_ref), f"batch {k}: labels {y.tolist()} vs {y_ref.tolist()}"
        assert torch.allclose(x.cpu(), x_ref, atol=1e-6), f"batch {k}: values differ from the DataLoader's"


def test_values_are_normalised_with_the_dataset_constants():
    ds = make_dataset(20)
    x, y = epoch(TensorBatcher(ds, 8, shuffle=False, device="cpu"))
    assert torch.allclose(x, normalised(ds.images), atol=1e-6), "x should be (pixels / 255 - mean) / std"


def test_length_and_drop_last():
    ds = make_dataset(103)
    assert [len(y) for _, y in TensorBatcher(ds, 16, shuffle=False, device="cpu")][-1] == 7, "103 = 6 * 16 + 7"
    kept = TensorBatcher(ds, 16, drop_last=True, device="cpu")
    sizes = [len(y) for _, y in kept]
    assert len(kept) == 6 and sizes == [16] * 6, f"drop_last should give 6 full batches, got {sizes}"
    assert len(TensorBatcher(ds, 500, device="cpu")) == 1 and len(TensorBatcher(ds, 500, drop_last=True, device="cpu")) == 0


def test_shuffle_covers_every_example_once_and_changes_each_epoch():
    ds = make_dataset(103)
    batcher = TensorBatcher(ds, 10, shuffle=True, seed=7, device="cpu")
    x1, y1 = epoch(batcher)
    x2, y2 = epoch(batcher)
    for y in (y1, y2):
        assert sorted(y.tolist()) == list(range(103)), "every example should appear exactly once per epoch"
    assert y1.tolist() != y2.tolist(), "the order should change from one epoch to the next"
    assert y1.tolist() != list(range(103)), "shuffle=True should not keep the data set's order"
    assert torch.allclose(x1, normalised(ds.images[y1]), atol=1e-6), "each image should travel with its own label"
    again = TensorBatcher(ds, 10, shuffle=True, seed=7, device="cpu")
    assert epoch(again)[1].tolist() == y1.tolist() and epoch(again)[1].tolist() == y2.tolist(), "the same seed should repeat the orders"
    other = TensorBatcher(ds, 10, shuffle=True, seed=8, device="cpu")
    assert epoch(other)[1].tolist() != y1.tolist(), "another seed should give another order"


@pytest.mark.parametrize("device", DEVICES)
def test_random_crop_is_a_shift_of_the_padded_image(device):
    ds = make_dataset(60, size=10)
    pad = 2
    x, y = epoch(TensorBatcher(ds, 16, shuffle=False, augment={"crop": pad}, device=device))
    assert y.tolist() == list(range(60))
    shifts = set()
    for i in range(60):
        padded = torch.nn.functional.pad(ds.images[i], (pad, pad, pad, pad))  # per-sample reference
        matches = [
            (dy, dx)
            for dy in range(2 * pad + 1)
            for dx in range(2 * pad + 1)
            if torch.allclose(x[i], normalised(padded[None, :, dy : dy + 10, dx : dx + 10])[0], atol=1e-6)
        ]
        assert len(matches) == 1, f"example {i} should be exactly one crop of its padded original, matched {matches}"
        shifts.add(matches[0])
    assert len(shifts) > 5, f"crops should be at random offsets, only saw {sorted(shifts)}"


@pytest.mark.parametrize("device", DEVICES)
def test_flip_mirrors_about_half(device):
    ds = make_dataset(400, size=6)
    x, y = epoch(TensorBatcher(ds, 64, shuffle=False, augment={"flip": True}, device=device))
    plain, mirrored = normalised(ds.images), normalised(ds.images.flip(-1))
    same = torch.isclose(x, plain, atol=1e-6).flatten(1).all(1)
    flipped = torch.isclose(x, mirrored, atol=1e-6).flatten(1).all(1)
    assert bool((same ^ flipped).all()), "every example should be either the original or its mirror image"
    share = flipped.float().mean().item()
    assert 0.35 < share < 0.65, f"about half should be flipped, got {share:.2f}"


def test_augment_true_is_cifar_style_and_keeps_shapes():
    ds = make_dataset(40)
    batcher = TensorBatcher(ds, 16, augment=True, device="cpu")
    assert (batcher.crop, batcher.flip) == (4, True)
    x, y = epoch(batcher)
    assert x.shape == (40, 3, 8, 8) and sorted(y.tolist()) == list(range(40))
    assert not torch.allclose(x, normalised(ds.images[y]), atol=1e-6), "augmentation should change some images"
    assert (TensorBatcher(ds, 4, augment={"crop": 2}, device="cpu").crop, TensorBatcher(ds, 4, augment={"crop": 2}, device="cpu").flip) == (2, False)


def test_augmenting_leaves_the_dataset_untouched():
    ds = make_dataset(30)
    before = ds.images.clone()
    for _ in TensorBatcher(ds, 8, augment=True, transform=lambda x: x.mul_(0), device="cpu"):
        pass
    assert torch.equal(ds.images, before), "iterating must not change the data set's images"


def test_transform_is_applied_to_each_float_batch():
    ds = make_dataset(30)
    seen = []

    def double(x: torch.Tensor) -> torch.Tensor:
        seen.append(x.shape[0])
        return 2 * x + 1

    x, _ = epoch(TensorBatcher(ds, 8, shuffle=False, transform=double, device="cpu"))
    assert seen == [8, 8, 8, 6], f"the transform should see each batch once, saw sizes {seen}"
    assert torch.allclose(x, 2 * normalised(ds.images) + 1, atol=1e-6)
    mirror = v2.RandomHorizontalFlip(p=1.0)
    x, _ = epoch(TensorBatcher(ds, 8, shuffle=False, transform=mirror, device="cpu"))
    assert torch.allclose(x, normalised(ds.images.flip(-1)), atol=1e-6), "a torchvision v2 transform should apply to the batch"


def test_transform_must_return_a_tensor():
    batcher = TensorBatcher(make_dataset(4), 2, transform=lambda x: x.tolist(), device="cpu")
    with pytest.raises(TypeError, match="should return a tensor"):
        next(iter(batcher))


@pytest.mark.parametrize(
    "kwargs, error, expected",
    [
        ({"batch_size": 0}, ValueError, "at least 1"),
        ({"batch_size": "8"}, TypeError, "integer"),
        ({"augment": {"rotate": 10}}, ValueError, "rotate"),
        ({"augment": {"crop": -1}}, ValueError, "crop"),
        ({"augment": {"flip": "yes"}}, TypeError, "flip"),
        ({"augment": "cifar"}, TypeError, "augment"),
        ({"transform": 3}, TypeError, "callable"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, expected):
    arguments = {"batch_size": 8, **kwargs}
    with pytest.raises(error, match=expected):
        TensorBatcher(make_dataset(10), device="cpu", **arguments)


def test_other_datasets_are_pointed_to_loader():
    other = TensorDataset(torch.zeros(4, 1, 2, 2), torch.zeros(4, dtype=torch.int64))
    with pytest.raises(TypeError, match="ImageDataset.*loader"):
        TensorBatcher(other, 2, device="cpu")
    x, y = next(iter(loader(other, 2, shuffle=False)))
    assert x.shape == (2, 1, 2, 2)


def test_loader_validates_its_arguments():
    with pytest.raises(ValueError, match="at least 1"):
        loader(make_dataset(4), 0)
    with pytest.raises(TypeError, match="__getitem__"):
        loader(42, 2)
    with pytest.raises(ValueError, match="num_workers"):
        loader(make_dataset(4), 2, num_workers=-1)


def test_default_device_comes_from_get_device(monkeypatch):
    monkeypatch.setenv("CNNCOURSE_DEVICE", "cpu")
    batcher = TensorBatcher(make_dataset(4), 2)
    assert batcher.device == torch.device("cpu")
    assert "batch_size=2" in repr(batcher) and "random" in repr(batcher)


def test_crop_and_flip_together_give_a_crop_of_the_padded_image_or_its_mirror() -> None:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (64, 3, 9, 7), dtype=torch.uint8, generator=generator)
    dataset = ImageDataset(images, torch.arange(64), mean=(0.5, 0.4, 0.3), std=(0.2, 0.3, 0.25))
    batcher = TensorBatcher(dataset, 16, shuffle=False, augment={"crop": 2, "flip": True}, device="cpu")
    x = torch.cat([batch for batch, _ in batcher])
    mean, std = torch.tensor(dataset.mean).view(3, 1, 1), torch.tensor(dataset.std).view(3, 1, 1)
    flips, offsets = 0, set()
    for i in range(64):
        padded = TF.pad(images[i], [2, 2, 2, 2])  # torchvision is the reference
        candidates = {
            (dy, dx, mirrored): (TF.horizontal_flip(crop) if mirrored else crop)
            for dy in range(5) for dx in range(5) for mirrored in (False, True)
            for crop in [TF.crop(padded, dy, dx, 9, 7)]
        }
        matches = [key for key, c in candidates.items() if torch.allclose(x[i], (c / 255 - mean) / std, atol=1e-5)]
        assert matches, f"example {i} is neither a crop of its padded image nor a mirrored crop"
        flips += all(key[2] for key in matches)
        offsets.update(key[:2] for key in matches)
    assert 16 < flips < 48, f"about half of 64 examples should be mirrored, got {flips}"
    assert len(offsets) > 10, f"the crops should be at random offsets, saw {sorted(offsets)}"
    assert not math.isnan(x.sum().item()), "the batch holds NaN"
