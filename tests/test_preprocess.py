"""cnncourse.preprocess.Preprocess: torchvision's ImageNet transform, grey images, sizes, and prepared data sets."""

from __future__ import annotations

import pytest
import skimage.data
import torch
import torchvision

from cnncourse.imagedataset import ImageDataset
from cnncourse.pretrained import BACKBONES


def photo(name: str) -> torch.Tensor:
    """A scikit-image sample photo as a uint8 3×H×W tensor."""
    return torch.from_numpy(getattr(skimage.data, name)()).permute(2, 0, 1).contiguous()


def test_preprocess_matches_torchvisions_imagenet_transform():
    cat = photo("chelsea")  # 300 x 451
    expected = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.transforms()(cat)
    got = BACKBONES["resnet18"].preprocess(cat)
    assert got.shape == (1, 3, 224, 224) and got.dtype == torch.float32
    # torchvision resizes the uint8 image, we resize floats: they differ by rounding, at most ~1/255/std.
    assert (got[0] - expected).abs().max() < 0.05 and (got[0] - expected).abs().mean() < 0.005, \
        f"preprocess differs from torchvision's transform by up to {(got[0] - expected).abs().max():.3f}"
    as_float = BACKBONES["resnet18"].preprocess(cat.float() / 255)
    assert torch.allclose(as_float, got, atol=1e-5), "uint8 images and the same images in [0, 1] should give the same input"


def test_preprocess_sizes_grey_images_and_the_lite_constants():
    prep = BACKBONES["efficientnet_lite0"].preprocess
    batch = torch.randint(0, 256, (3, 1, 40, 60), dtype=torch.uint8)
    before = batch.clone()
    x = prep(batch, size=32)
    assert x.shape == (3, 3, 32, 32), f"size=32 should give 3 x 3 x 32 x 32, got {tuple(x.shape)}"
    assert torch.equal(x[:, 0], x[:, 2]), "a grey image should become three equal channels"
    assert torch.equal(batch, before), "preprocess must not modify its input"
    white = prep(torch.full((1, 3, 10, 10), 255, dtype=torch.uint8))
    assert torch.allclose(white, torch.full_like(white, (255 - 127) / 128)), "Lite0 maps a pixel p to (p - 127) / 128"


@pytest.mark.parametrize(("images", "error", "words"), [
    (torch.randn(2, 3, 32, 32), ValueError, "do not normalise them beforehand"),
    (torch.zeros(2, 32, 32, 3, dtype=torch.uint8), ValueError, "permute(0, 3, 1, 2)"),
    (torch.zeros(32, 32, 3, dtype=torch.uint8), ValueError, "permute(2, 0, 1)"),
    (torch.zeros(2, 3, 32, 32, dtype=torch.int32), TypeError, "uint8"),
    (skimage.data.chelsea(), TypeError, "torch.from_numpy"),
])
def test_preprocess_refuses_what_it_cannot_read_correctly(images, error, words):
    with pytest.raises(error) as info:
        BACKBONES["resnet18"].preprocess(images)
    assert words in str(info.value), str(info.value)


def test_prepare_gives_a_dataset_that_indexes_like_preprocess():
    images = torch.randint(0, 256, (5, 3, 32, 48), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    source = ImageDataset(images.clone(), [0, 1, 2, 1, 0], classes=["a", "b", "c"], name="toy", split="test")
    prep = BACKBONES["efficientnet_lite0"].preprocess
    ready = prep.prepare(source, size=64)
    assert ready.images.shape == (5, 3, 64, 64) and ready.images.dtype == torch.uint8
    assert ready.mean == prep.mean and ready.std == prep.std and ready.classes == source.classes and ready.name == "toy"
    expected = prep(images, size=64)
    for i in range(5):
        x, y = ready[i]
        assert y == source.targets[i]
        # stored as uint8: at most half a grey level (0.5 / 255 / std) from the float computation
        assert (x - expected[i]).abs().max() < 0.5 / 128 + 1e-4, f"image {i} differs by {(x - expected[i]).abs().max():.4f}"
    assert torch.equal(source.images, images), "prepare must not modify the dataset it is given"
    with pytest.raises(TypeError, match="ImageDataset"):
        prep.prepare(images)
