"""A labelled image data set held in memory: ``ImageDataset``, all images in one uint8 tensor.

Scope: the container every data set of the course is handed over in
(``cnncourse.data.load``, the stand-ins, ``Backbone.preprocess.prepare``), with
its checks: uint8 N×C×H×W images, one integer label per image, per-channel
normalisation constants. Indexing normalises one image on the fly; keeping the
pixels as bytes makes a whole data set fit in memory (CIFAR-10: 150 MB) and lets
``cnncourse.batches.TensorBatcher`` move it to the GPU once.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = ["ImageDataset"]


class ImageDataset(Dataset):
    """A labelled image data set held as one uint8 tensor.

    Attributes:
        images: uint8 tensor N×C×H×W, pixel values 0–255.
        targets: int64 tensor N, class indices.
        classes: class names, ``classes[k]`` is the name of label k.
        mean, std: per-channel constants (pixels scaled to [0, 1]) used to normalise.
        name, split: where it comes from, e.g. "mnist", "test".
        standin: True for an offline stand-in rather than the real data.

    Indexing gives ``(x, label)``: x the normalised float32 C×H×W image
    ``(pixels / 255 - mean) / std``, label an int.

    Example:
        >>> ds = ImageDataset(torch.zeros(4, 28, 28, dtype=torch.uint8), torch.tensor([0, 1, 0, 1]), mean=(0.5,), std=(0.5,))
        >>> x, y = ds[0]; tuple(x.shape), float(x[0, 0, 0]), y
        ((1, 28, 28), -1.0, 0)
    """

    def __init__(
        self,
        images: torch.Tensor,
        targets: torch.Tensor | Sequence[int],
        *,
        classes: Sequence[str] | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        name: str = "images",
        split: str = "train",
        standin: bool = False,
    ) -> None:
        self.images = _check_images(images)
        n, channels = self.images.shape[:2]
        self.targets = _check_targets(targets, n)
        if classes is None:
            classes = [str(k) for k in range(int(self.targets.max()) + 1)]
        self.classes = [str(c) for c in classes]
        top = int(self.targets.max())
        if int(self.targets.min()) < 0 or top >= len(self.classes):
            raise ValueError(
                f"targets must be class indices in [0, {len(self.classes)}) for the {len(self.classes)} classes given, "
                f"found values from {int(self.targets.min())} to {top}"
            )
        self.mean = _per_channel(mean, channels, "mean", default=0.5)
        self.std = _per_channel(std, channels, "std", default=0.5)
        if min(self.std) <= 0:
            raise ValueError(f"std must be positive for every channel, got {self.std}")
        self.name, self.split, self.standin = str(name), str(split), bool(standin)
        self._mean = torch.tensor(self.mean, dtype=torch.float32).view(-1, 1, 1)
        self._std = torch.tensor(self.std, dtype=torch.float32).view(-1, 1, 1)

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        try:
            i = operator.index(index)
        except TypeError:
            raise TypeError(f"an ImageDataset is indexed by one integer, got {type(index).__name__}; use .subset(indices) for several") from None
        image = self.images[i].to(torch.float32)
        return image.div(255).sub(self._mean.to(image.device)).div(self._std.to(image.device)), int(self.targets[i])

    def subset(self, indices: Sequence[int] | torch.Tensor | slice) -> ImageDataset:
        """A new ImageDataset with only the examples at ``indices`` (the originals are untouched).

        Args:
            indices: integer positions (list, range, array or tensor), a boolean mask of length N, or a slice.

        Example:
            >>> ds = ImageDataset(torch.zeros(10, 28, 28, dtype=torch.uint8), torch.arange(10), name="digits")
            >>> ds.subset(range(4))
            ImageDataset('digits', split='train', 4 images of 1×28×28, 10 classes, real data)
        """
        n = len(self)
        if isinstance(indices, slice):
            idx = torch.arange(n)[indices]
        else:
            idx = torch.as_tensor(np.asarray(indices) if not isinstance(indices, torch.Tensor) else indices)
        if idx.numel() == 0:
            raise ValueError("subset got no positions; pass at least one index")
        if idx.dtype == torch.bool:
            if idx.shape != (n,):
                raise ValueError(f"a boolean mask for subset must have shape ({n},), got {tuple(idx.shape)}")
            idx = idx.nonzero().squeeze(1)
        elif idx.is_floating_point() or idx.is_complex():
            raise TypeError(f"subset takes integer positions or a boolean mask, got {idx.dtype}")
        idx = idx.reshape(-1).to(torch.int64).cpu()
        if idx.numel() == 0:
            raise ValueError("subset got no positions; pass at least one index")
        if int(idx.min()) < -n or int(idx.max()) >= n:
            raise IndexError(f"subset positions must be in [0, {n}), got values from {int(idx.min())} to {int(idx.max())}")
        return ImageDataset(
            self.images[idx.to(self.images.device)],
            self.targets[idx.to(self.targets.device)],
            classes=self.classes,
            mean=self.mean,
            std=self.std,
            name=self.name,
            split=self.split,
            standin=self.standin,
        )

    def __repr__(self) -> str:
        n, c, h, w = self.images.shape
        origin = "offline stand-in" if self.standin else "real data"
        return f"ImageDataset({self.name!r}, split={self.split!r}, {n:,} images of {c}×{h}×{w}, {len(self.classes)} classes, {origin})"


def _check_images(images: Any) -> torch.Tensor:
    if not isinstance(images, torch.Tensor):
        hint = "; convert with torch.from_numpy(array)" if isinstance(images, np.ndarray) else ""
        raise TypeError(f"images must be a torch.uint8 tensor, got {type(images).__name__}{hint}")
    if images.dtype != torch.uint8:
        raise TypeError(
            f"images must be uint8 (pixel values 0–255), got {images.dtype}; "
            f"for floats in [0, 1] use (images * 255).round().to(torch.uint8)"
        )
    shape = tuple(images.shape)
    if images.dim() == 3:
        images = images.unsqueeze(1)  # N x H x W -> N x 1 x H x W
    elif images.dim() != 4 or shape[1] not in (1, 3):
        hint = ""
        if images.dim() == 4 and shape[3] in (1, 3):
            hint = " (this looks like N×H×W×C: use images.permute(0, 3, 1, 2))"
        raise ValueError(f"images must have shape N×H×W or N×C×H×W with C = 1 or 3, got {shape}{hint}")
    if images.shape[0] == 0 or images.shape[2] == 0 or images.shape[3] == 0:
        raise ValueError(f"images is empty (shape {shape}); an ImageDataset needs at least one image")
    return images


def _check_targets(targets: Any, n: int) -> torch.Tensor:
    t = targets if isinstance(targets, torch.Tensor) else torch.as_tensor(np.asarray(targets))
    if t.is_floating_point() or t.dtype == torch.bool or t.is_complex():
        raise TypeError(f"targets must be integer class indices, got {t.dtype}")
    if t.dim() != 1 or t.shape[0] != n:
        raise ValueError(f"targets must be 1-D with one label per image ({n}), got shape {tuple(t.shape)}")
    return t.to(torch.int64)


def _per_channel(values: Sequence[float] | None, channels: int, what: str, *, default: float) -> tuple[float, ...]:
    if values is None:
        return (default,) * channels
    if isinstance(values, (int, float)):
        values = (values,)
    out = tuple(float(v) for v in values)
    if len(out) != channels:
        raise ValueError(f"{what} needs one value per channel ({channels}), got {len(out)}: {out}")
    return out
