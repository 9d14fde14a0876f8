"""The ImageNet preprocessing of a pretrained backbone: resize, centre-crop, normalise.

Scope: ``Preprocess``, the recipe a backbone's images went through in training
(the shorter side resized, the central square cut, pixels scaled to [0, 1] and
normalised per channel), applied to a batch of images (``__call__``) or to a
whole ``ImageDataset`` ahead of time (``prepare``). Each backbone of
``cnncourse.pretrained`` carries its own, so nobody feeds it the wrong statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from cnncourse.imagedataset import ImageDataset

__all__ = ["Preprocess"]

_CHUNK = 256  # images resized at once by Preprocess.prepare


@dataclass(frozen=True)
class Preprocess:
    """Resize, centre-crop and normalise images the way a backbone saw them in training.

    The ImageNet recipe: resize the shorter side to ``resize_size``, cut the
    central ``crop_size`` square, scale pixels to [0, 1], then subtract ``mean``
    and divide by ``std`` per channel. With ``size=`` a smaller (or larger) crop
    keeps the same ratio: the shorter side goes to ``round(size * resize_size / crop_size)``.

    Attributes:
        resize_size: the shorter side before cropping (256 for both backbones).
        crop_size: the side of the square input (224).
        mean, std: per-channel constants, pixels in [0, 1].

    Example:
        >>> prep = Preprocess(resize_size=256, crop_size=224, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
        >>> prep(torch.zeros(2, 3, 300, 400, dtype=torch.uint8)).shape
        torch.Size([2, 3, 224, 224])
    """

    resize_size: int
    crop_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def __call__(self, images: torch.Tensor, *, size: int | None = None) -> torch.Tensor:
        """Normalised float32 N×3×S×S input for the backbone, on the images' device.

        Args:
            images: uint8 (0–255) or float in [0, 1]; N×C×H×W or one C×H×W image,
                any H and W, C = 3 (RGB) or 1 (grey, repeated to RGB). Not modified.
            size: the side S of the output (default ``crop_size``).

        Raises:
            TypeError: not a tensor, or an integer type other than uint8.
            ValueError: a bad shape, or floats outside [0, 1] (already normalised?).

        Example:
            >>> prep = Preprocess(resize_size=256, crop_size=224, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
            >>> photo = torch.full((3, 451, 300), 255, dtype=torch.uint8)  # one white C×H×W photo
            >>> x = prep(photo, size=112)
            >>> x.shape, float(x.max())
            (torch.Size([1, 3, 112, 112]), 1.0)
        """
        short, crop = self._sizes(size)
        x = _as_unit_float(images)
        return self._normalise(_resize_crop(x, short, crop))

    def prepare(self, dataset: ImageDataset, *, size: int | None = None) -> ImageDataset:
        """A copy of an ``ImageDataset`` resized and cropped to S×S, with this backbone's mean and std.

        Indexing it, or batching it with ``TensorBatcher``, then gives exactly the
        input the backbone expects. Images stay uint8 (S×S×3 bytes each), and
        grey images become RGB. The dataset passed in is not modified.

        Args:
            dataset: e.g. ``cnncourse.data.load("cifar10")``.
            size: the side S (default ``crop_size``).

        Example:
            >>> prep = Preprocess(resize_size=256, crop_size=224, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
            >>> grey = ImageDataset(torch.zeros(5, 1, 28, 28, dtype=torch.uint8), [0, 1, 2, 3, 4], mean=(0.5,), std=(0.5,))
            >>> train = prep.prepare(grey, size=96)
            >>> train.images.shape, train.mean
            (torch.Size([5, 3, 96, 96]), (0.485, 0.456, 0.406))
        """
        if not isinstance(dataset, ImageDataset):
            raise TypeError(f"prepare takes a cnncourse.data.ImageDataset, got {type(dataset).__name__}; "
                            f"for a tensor of images call the preprocess object itself")
        short, crop = self._sizes(size)
        chunks = []
        for start in range(0, len(dataset), _CHUNK):
            x = _as_unit_float(dataset.images[start:start + _CHUNK])
            chunks.append(_resize_crop(x, short, crop).mul(255).round().clamp(0, 255).to(torch.uint8))
        return ImageDataset(torch.cat(chunks), dataset.targets.clone(), classes=dataset.classes, mean=self.mean,
                            std=self.std, name=dataset.name, split=dataset.split, standin=dataset.standin)

    def _sizes(self, size: int | None) -> tuple[int, int]:
        if size is None:
            return self.resize_size, self.crop_size
        if isinstance(size, bool) or not isinstance(size, int):
            raise TypeError(f"size must be an integer number of pixels, got {type(size).__name__}")
        if size < 16:
            raise ValueError(f"size must be at least 16 pixels (the backbones shrink the input 32 times), got {size}")
        return round(size * self.resize_size / self.crop_size), size

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x - mean) / std


def _as_unit_float(images: object) -> torch.Tensor:
    """Float32 N×3×H×W in [0, 1] from uint8 or [0, 1] float images (a new tensor)."""
    if not isinstance(images, torch.Tensor):
        hint = "; convert with torch.from_numpy(array).permute(2, 0, 1) for one H×W×3 photo" if hasattr(images, "shape") else ""
        raise TypeError(f"images must be a torch tensor, got {type(images).__name__}{hint}")
    x = images.unsqueeze(0) if images.dim() == 3 else images
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        hint = " (this looks like channels last: use .permute(0, 3, 1, 2), or .permute(2, 0, 1) for one image)" \
            if x.dim() == 4 and x.shape[-1] in (1, 3) or images.dim() == 3 and images.shape[-1] in (1, 3) else ""
        raise ValueError(f"images must be N×C×H×W or C×H×W with C = 3 (RGB) or 1 (grey), got shape {tuple(images.shape)}{hint}")
    if x.numel() == 0:
        raise ValueError(f"images is empty (shape {tuple(images.shape)})")
    if x.dtype == torch.uint8:
        x = x.to(torch.float32) / 255
    elif x.is_floating_point():
        low, high = float(x.min()), float(x.max())
        if low < -1e-3 or high > 1 + 1e-3:
            raise ValueError(
                f"float images must hold pixels in [0, 1], these range from {low:.3g} to {high:.3g}; "
                "pass the raw uint8 images (or images / 255): preprocess normalises them itself, "
                "so do not normalise them beforehand"
            )
        x = x.to(torch.float32)
    else:
        raise TypeError(f"images must be uint8 (0–255) or float in [0, 1], got {x.dtype}")
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def _resize_crop(x: torch.Tensor, short: int, crop: int) -> torch.Tensor:
    """Resize the shorter side to ``short`` (bilinear, antialiased), then cut the central crop×crop square."""
    from torchvision.transforms.v2 import functional as tvf  # imported here: slow, and only needed to run

    h, w = x.shape[-2:]
    if min(h, w) != short:
        x = tvf.resize(x, [short], antialias=True)
    return tvf.center_crop(x, [crop, crop]).clamp(0, 1)
