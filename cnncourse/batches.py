"""Mini-batches: the fast path (``TensorBatcher``) and the ordinary DataLoader path (``loader``).

Scope: turn an ``ImageDataset`` into an iterable of ``(x, y)`` batches for
``cnncourse.train.fit``.

``TensorBatcher`` moves the whole data set to the device once, as uint8 (MNIST's
60,000 images are 47 MB, CIFAR-10's 50,000 are 154 MB), and builds each batch
with a few tensor operations: gather the images of a slice of this epoch's
permutation, augment (random crop and horizontal flip together, as one gather
for the whole batch), convert to float and normalise with the data set's mean
and std (one multiply and one add). No per-sample Python work, no worker
processes, so small networks train as fast as the GPU allows; on a CPU a batch
costs a fraction of a millisecond (``python -m bench`` measures it against
torchvision's DataLoader).

``loader`` is the familiar ``torch.utils.data.DataLoader`` over the same data
set (one ``__getitem__`` per sample): use it for image folders, for
torchvision's PIL transforms, or to compare.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping

import torch
from torch.utils.data import DataLoader, Dataset

from cnncourse.data import ImageDataset
from cnncourse.runtime import get_device

__all__ = ["TensorBatcher", "loader"]

_AUGMENT_KEYS = ("crop", "flip")
_CIFAR_AUGMENT = {"crop": 4, "flip": True}


class TensorBatcher:
    """Batches of an ``ImageDataset`` built on the device, a fresh order each epoch.

    Args:
        dataset: an ``ImageDataset`` (e.g. ``cnncourse.data.load("cifar10")``).
        batch_size: examples per batch, at least 1.
        shuffle: draw a new permutation each epoch from the batcher's own generator.
        augment: False; True for CIFAR-style random crop with padding 4 and a
            horizontal flip; or a dict such as ``{"crop": 2, "flip": False}``
            (keys left out are off; digits must not be flipped).
        transform: an optional callable applied to each normalised float batch
            on the device, e.g. ``torchvision.transforms.v2.RandomAffine(10)``.
        device: where the data and the batches live (default: ``get_device()``).
        drop_last: leave out the last, smaller batch.
        seed: seeds the generator of the order and of the augmentation.

    Yields:
        ``(x, y)``: x float32 B×C×H×W normalised, y int64 B, both on the device.

    Example:
        >>> train = TensorBatcher(load("cifar10"), 128, augment=True)
        >>> len(train)  # batches per epoch
        391
        >>> x, y = next(iter(train))
    """

    def __init__(
        self,
        dataset: ImageDataset,
        batch_size: int,
        *,
        shuffle: bool = True,
        augment: bool | Mapping[str, int | bool] = False,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        device: torch.device | str | None = None,
        drop_last: bool = False,
        seed: int = 0,
    ) -> None:
        if not isinstance(dataset, ImageDataset):
            raise TypeError(
                f"TensorBatcher needs a cnncourse.data.ImageDataset (e.g. load('mnist')), got {type(dataset).__name__}; "
                f"for any other data set use cnncourse.batches.loader(dataset, batch_size)"
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int):
            raise TypeError(f"batch_size must be an integer, got {type(batch_size).__name__}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be a callable taking a float batch, got {type(transform).__name__}")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = bool(shuffle)
        self.crop, self.flip = _parse_augment(augment)
        self.transform = transform
        self.drop_last = bool(drop_last)
        self.device = torch.device(device) if device is not None else get_device()
        self.generator = torch.Generator().manual_seed(int(seed))
        self._images = dataset.images.to(self.device)  # once; uint8
        self._targets = dataset.targets.to(self.device)
        mean = torch.tensor(dataset.mean, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        std = torch.tensor(dataset.std, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        # (pixels / 255 - mean) / std  ==  pixels * scale + shift: two passes over the batch instead of four
        self._scale, self._shift = 1 / (255 * std), -mean / std

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.dataset)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        order = order.to(self.device)
        for b in range(len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            images = self._images.index_select(0, idx)  # B x C x H x W, uint8 (a new tensor)
            if self.crop or self.flip:
                images = self._crop_and_flip(images)
            x = images.to(torch.float32).mul_(self._scale).add_(self._shift)  # in place: x is new
            if self.transform is not None:
                x = self.transform(x)
                if not isinstance(x, torch.Tensor):
                    raise TypeError(f"transform {self.transform!r} should return a tensor, it returned {type(x).__name__}")
            yield x, self._targets.index_select(0, idx)

    def _crop_and_flip(self, images: torch.Tensor) -> torch.Tensor:
        """Cut each image at its own random offset after padding by ``crop`` zeros, and mirror
        about half of them left-right: both at once, as one gather of pixels."""
        b, c, h, w = images.shape
        p = self.crop
        if p:
            images = torch.nn.functional.pad(images, (p, p, p, p))  # B x C x (H + 2p) x (W + 2p)
        dy = torch.randint(0, 2 * p + 1, (b, 1), generator=self.generator).to(self.device)  # each crop's corner
        dx = torch.randint(0, 2 * p + 1, (b, 1), generator=self.generator).to(self.device)
        cols = torch.arange(w, device=self.device).expand(b, w)  # B x W: the columns to keep, left to right
        if self.flip:
            mirrored = (torch.rand(b, 1, generator=self.generator) < 0.5).to(self.device)
            cols = torch.where(mirrored, cols.flip(1), cols)  # right to left for the mirrored ones
        rows = dy + torch.arange(h, device=self.device)  # B x H
        cols = dx + cols  # B x W
        flat = rows[:, :, None] * images.shape[-1] + cols[:, None, :]  # B x H x W: positions in each padded image
        flat = flat.view(b, 1, h * w).expand(b, c, h * w)  # the same positions in every channel
        return images.flatten(2).gather(2, flat).view(b, c, h, w)

    def __repr__(self) -> str:
        augment = f"crop={self.crop}, flip={self.flip}" if (self.crop or self.flip) else "no augmentation"
        return (
            f"TensorBatcher({self.dataset.name!r} {self.dataset.split}, {len(self.dataset):,} examples, "
            f"batch_size={self.batch_size}, {len(self)} batches, shuffle={self.shuffle}, {augment}, device={self.device})"
        )


def loader(dataset: Dataset, batch_size: int, *, shuffle: bool = True, num_workers: int = 0) -> DataLoader:
    """The ordinary DataLoader path: one ``dataset[i]`` per example, collated into batches.

    Args:
        dataset: any map-style data set with ``__len__`` and ``__getitem__``
            (an ``ImageDataset``, ``torchvision.datasets.ImageFolder``...).
        batch_size: examples per batch, at least 1.
        shuffle: a new order every epoch.
        num_workers: worker processes (0 loads in the notebook's process).

    Example:
        >>> test = loader(load("mnist", "test"), 256, shuffle=False)
    """
    if not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
        raise TypeError(f"loader needs a data set with __len__ and __getitem__, got {type(dataset).__name__}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise TypeError(f"batch_size must be an integer, got {type(batch_size).__name__}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"num_workers must be an integer >= 0, got {num_workers!r}")
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers)


def _parse_augment(augment: bool | Mapping[str, int | bool] | None) -> tuple[int, bool]:
    """(crop padding, flip) from the ``augment`` argument."""
    if augment is None or augment is False:
        return 0, False
    if augment is True:
        augment = _CIFAR_AUGMENT
    if not isinstance(augment, Mapping):
        raise TypeError(f"augment must be False, True or a dict such as {{'crop': 4, 'flip': True}}, got {type(augment).__name__}")
    unknown = sorted(set(augment) - set(_AUGMENT_KEYS))
    if unknown:
        raise ValueError(f"unknown augment keys {unknown}; the keys are 'crop' (padding in pixels) and 'flip' (True/False)")
    crop, flip = augment.get("crop", 0), augment.get("flip", False)
    if isinstance(crop, bool) or not isinstance(crop, int) or crop < 0:
        raise ValueError(f"augment['crop'] is the padding in pixels, an integer >= 0; got {crop!r}")
    if not isinstance(flip, bool):
        raise TypeError(f"augment['flip'] must be True or False, got {flip!r}")
    return crop, flip
