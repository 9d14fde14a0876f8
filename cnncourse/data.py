"""Data sets of the course: MNIST, Fashion-MNIST, CIFAR-10 and Oxford-IIIT Pet as uint8 tensors.

Scope: find a data set on disk, read it, download it when that is possible, and
hand it over as an ``ImageDataset`` (all images in one uint8 N×C×H×W tensor).

- Where: ``data_root()`` is ``$CNNCOURSE_DATA`` (a JupyterHub's shared, often
  read-only mount) or else a per-user cache, ``$XDG_CACHE_HOME/cnncourse`` or
  ``~/.cache/cnncourse``.
- Layout: torchvision's, so ``torchvision.datasets.MNIST(root, download=True)``
  fills it: ``root/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``
  (``.gz`` accepted too), ``root/FashionMNIST/raw/...``,
  ``root/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}``,
  ``root/oxford-iiit-pet/{images/*.jpg,annotations/{trainval,test}.txt}``. The
  four MNIST files may also sit directly in ``root/mnist/``.
- ``load(name, split)`` tries, in order: the files under the root; a download
  (by default only where the root is writable and the server answers within
  2 s); in the smoke budget, an offline stand-in (``cnncourse.standins``); else
  ``DatasetNotFoundError`` naming every path looked at and the command to fetch.
- ``fetch(names)`` downloads ahead of time (``cnncourse data fetch NAME --root DIR``),
  data sets and also pretrained weights (``cnncourse.pretrained.BACKBONES``,
  e.g. ``resnet18``, into ``root/weights/``).

The files are read here with small readers (IDX: big-endian header then the
array; CIFAR: Python pickles, unpickled with only NumPy's array classes allowed;
Oxford-IIIT Pet: photos of every size, decoded as torchvision does, shorter side
resized to 256 and centre-cropped to 256×256) that check what they read and
name the file when something is wrong.
"""

from __future__ import annotations

import difflib
import functools
import gzip
import operator
import os
import pickle
import socket
import struct
import threading
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from cnncourse import standins
from cnncourse.runtime import is_smoke
from cnncourse.settings import data_root  # the one copy of the data-root rule

__all__ = ["ImageDataset", "DatasetNotFoundError", "DatasetSpec", "DATASETS", "SPLITS", "data_root", "load", "fetch"]

SPLITS = ("train", "test")
_NETWORK_TIMEOUT_S = 2.0


class DatasetNotFoundError(FileNotFoundError):
    """A data set is neither on disk nor downloadable (and no stand-in applies)."""


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
            >>> small = load("mnist", "test").subset(range(100))
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


# --- the registry ---------------------------------------------------------------------

_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_CIFAR_FILES = {
    "train": tuple(f"data_batch_{k}" for k in range(1, 6)),
    "test": ("test_batch",),
}
_PETS_LISTS = {"train": "trainval.txt", "test": "test.txt"}  # the official trainval/test split


@dataclass(frozen=True)
class DatasetSpec:
    """One entry of the registry: what a data set is and where its files live.

    Anything fetchable (later: pretrained weights) offers the same two methods,
    ``present(root)`` and ``download(root)``.
    """

    name: str  # what load() and `cnncourse data fetch` take
    title: str  # as people write it
    kind: str  # file format: "idx", "cifar" or "pets" (a folder of photos and a list file per split)
    folders: tuple[str, ...]  # where under the root the files may be; the first is torchvision's
    classes: tuple[str, ...]
    mean: tuple[float, ...]  # published per-channel constants, pixels in [0, 1]
    std: tuple[float, ...]
    image_shape: tuple[int, int, int]  # C, H, W (for photos of every size: what they are resized and cropped to)
    torchvision_class: str  # the torchvision.datasets class that downloads it
    host: str  # the download server, for the quick network check

    def find(self, root: Path, split: str) -> tuple[dict[str, Path] | None, list[str]]:
        """The files of one split under root (by file name), or None; and every path looked at."""
        looked: list[str] = []
        if self.kind == "pets":
            return _find_pets(root, self.folders, split)
        for folder in self.folders:
            base = root / folder
            found: dict[str, Path] = {}
            for file in self._files(split):
                candidates = [base / file] + ([base / f"{file}.gz"] if self.kind == "idx" else [])
                hit = next((path for path in candidates if path.is_file()), None)
                looked.append(f"{base / file} (or .gz)" if self.kind == "idx" else str(base / file))
                if hit is not None:
                    found[file] = hit
            if len(found) == len(self._files(split)):
                if self.kind == "cifar" and (base / "batches.meta").is_file():
                    found["batches.meta"] = base / "batches.meta"
                return found, looked
        return None, looked

    def read(self, files: dict[str, Path], split: str) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
        """Images (uint8 N×C×H×W), targets (int64 N) and class names from the files ``find`` returned."""
        if self.kind == "idx":
            image_file, label_file = (files[name] for name in self._files(split))
            return (*_read_idx_pair(image_file, label_file, self.image_shape[1:], len(self.classes)), list(self.classes))
        if self.kind == "pets":
            return _read_pets(files, self)
        return _read_cifar(files, split, self)

    def present(self, root: Path) -> bool:
        """Whether both splits are under root."""
        return all(self.find(root, split)[0] is not None for split in SPLITS)

    def download(self, root: Path) -> None:
        """Download both splits into root with torchvision (its layout is ours)."""
        import torchvision.datasets  # imported here: slow, and only needed to download

        make = getattr(torchvision.datasets, self.torchvision_class)
        if self.kind == "pets":
            make(str(root), split="trainval", download=True)  # both splits come in one archive
            return
        for train in (True, False):
            make(str(root), train=train, download=True)

    def _files(self, split: str) -> tuple[str, ...]:
        return _IDX_FILES[split] if self.kind == "idx" else _CIFAR_FILES[split]


DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist",
        title="MNIST",
        kind="idx",
        folders=("MNIST/raw", "mnist"),
        classes=tuple(str(k) for k in range(10)),
        mean=(0.1307,),
        std=(0.3081,),
        image_shape=(1, 28, 28),
        torchvision_class="MNIST",
        host="ossci-datasets.s3.amazonaws.com",
    ),
    "fashion_mnist": DatasetSpec(
        name="fashion_mnist",
        title="Fashion-MNIST",
        kind="idx",
        folders=("FashionMNIST/raw", "fashion_mnist"),
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        mean=(0.2860,),
        std=(0.3530,),
        image_shape=(1, 28, 28),
        torchvision_class="FashionMNIST",
        host="fashion-mnist.s3-website.eu-central-1.amazonaws.com",
    ),
    "cifar10": DatasetSpec(
        name="cifar10",
        title="CIFAR-10",
        kind="cifar",
        folders=("cifar-10-batches-py",),
        classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
        mean=(0.4914, 0.4822, 0.4465),
        std=(0.2470, 0.2435, 0.2616),
        image_shape=(3, 32, 32),
        torchvision_class="CIFAR10",
        host="www.cs.toronto.edu",
    ),
    "oxford_pets": DatasetSpec(
        name="oxford_pets",
        title="Oxford-IIIT Pet",
        kind="pets",
        folders=("oxford-iiit-pet",),
        # 12 cat and 25 dog breeds (Parkhi et al. 2012), named as torchvision names them.
        classes=("Abyssinian", "American Bulldog", "American Pit Bull Terrier", "Basset Hound", "Beagle", "Bengal",
                 "Birman", "Bombay", "Boxer", "British Shorthair", "Chihuahua", "Egyptian Mau", "English Cocker Spaniel",
                 "English Setter", "German Shorthaired", "Great Pyrenees", "Havanese", "Japanese Chin", "Keeshond",
                 "Leonberger", "Maine Coon", "Miniature Pinscher", "Newfoundland", "Persian", "Pomeranian", "Pug",
                 "Ragdoll", "Russian Blue", "Saint Bernard", "Samoyed", "Scottish Terrier", "Shiba Inu", "Siamese",
                 "Sphynx", "Staffordshire Bull Terrier", "Wheaten Terrier", "Yorkshire Terrier"),
        mean=(0.485, 0.456, 0.406),  # ImageNet's: the data set is meant for pretrained backbones
        std=(0.229, 0.224, 0.225),
        image_shape=(3, 256, 256),
        torchvision_class="OxfordIIITPet",
        host="www.robots.ox.ac.uk",
    ),
}


# --- public functions ---------------------------------------------------------------------


def load(name: str, split: str = "train", *, root: str | os.PathLike | None = None, download: bool | None = None) -> ImageDataset:
    """Load one split of a course data set as an ``ImageDataset``.

    Order: the files under root; else a download when allowed; else, in the
    smoke budget, an offline stand-in (announced once); else an error.

    Args:
        name: "mnist", "fashion_mnist", "cifar10" or "oxford_pets" (its "train"
            split is the official trainval list, 3,680 photos; "test" has 3,669).
        split: "train" or "test".
        root: the data folder (default: ``data_root()``).
        download: True to try, False never to try; None (default) tries only
            where root is writable and the server answers within 2 s.

    Raises:
        DatasetNotFoundError: not found, not downloaded, and not the smoke budget
            (or no stand-in exists: Oxford-IIIT Pet has none).
        ValueError: an unknown name or split, or a damaged file (named in the message).

    Example:
        >>> test = load("mnist", split="test")
        >>> test
        ImageDataset('mnist', split='test', 10,000 images of 1×28×28, 10 classes, real data)
    """
    spec = _spec(name)
    split = _split(split)
    if download not in (None, True, False):
        raise TypeError(f"download must be None, True or False, got {download!r}")
    folder = _root(root)
    files, looked = spec.find(folder, split)
    not_downloaded = ""
    if files is None:
        not_downloaded = _try_download(spec, folder, download)
        if not not_downloaded:
            files, looked = spec.find(folder, split)
            if files is None:
                not_downloaded = "the download finished but the files are not where they should be"
    if files is not None:
        images, targets, classes = spec.read(files, split)
        return ImageDataset(images, targets, classes=classes, mean=spec.mean, std=spec.std, name=spec.name, split=split)
    if is_smoke() and spec.name in standins.STANDINS:
        standins.announce(spec.name)
        images, targets = standins.make(spec.name, split)
        info = standins.STANDINS[spec.name]
        return ImageDataset(images, targets, classes=spec.classes, mean=info.mean, std=info.std, name=spec.name, split=split, standin=True)
    raise DatasetNotFoundError(_not_found_message(spec, split, folder, looked, not_downloaded))


def fetch(names: str | Sequence[str], *, root: str | os.PathLike | None = None) -> None:
    """Download data sets (both splits) or pretrained weights into root, printing one line each.

    Args:
        names: one name or several: data sets ("mnist", "fashion_mnist",
            "cifar10", "oxford_pets") and backbones' weights ("resnet18", into
            ``root/weights/``; "efficientnet_lite0" ships with its package).
        root: the data folder (default: ``data_root()``); created if missing.

    Raises:
        ValueError: an unknown name (nothing is downloaded).
        PermissionError: root cannot be written to.
        RuntimeError: a download failed.

    Example:
        >>> fetch(["mnist", "resnet18"], root="/srv/course-data")
        mnist: 60,000 train and 10,000 test images in /srv/course-data
        resnet18: ResNet-18's ImageNet weights (44.7 MB) in /srv/course-data/weights/resnet18-f37072fd.pth
    """
    if isinstance(names, str):
        names = [names]
    specs = [_fetchable(name) for name in names]
    if not specs:
        raise ValueError(f"fetch needs at least one name; known: {', '.join(_known_names())}")
    folder = _root(root)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise PermissionError(_read_only_message(folder, f"it cannot be created ({err.strerror or err})")) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(_read_only_message(folder, "it is read-only for you"))
    for spec in specs:
        if not spec.present(folder):
            try:
                spec.download(folder)
            except Exception as err:  # torchvision raises many kinds; say which data set and what to do
                where = folder / spec.folders[0] if isinstance(spec, DatasetSpec) else folder / "weights" / spec.file
                raise RuntimeError(
                    f"downloading {spec.title} into {folder} failed ({type(err).__name__}: {err}); "
                    f"check the network connection and try again, or copy the files there by hand "
                    f"(layout: {where})"
                ) from err
        if not isinstance(spec, DatasetSpec):
            print(_weights_line(spec, folder), flush=True)
            continue
        counts = []
        for split in SPLITS:
            files, looked = spec.find(folder, split)
            if files is None:
                raise RuntimeError(f"{spec.title}'s {split!r} files are still missing after the download; looked for: {', '.join(looked)}")
            counts.append(len(spec.read(files, split)[1]))
        print(f"{spec.name}: {counts[0]:,} train and {counts[1]:,} test images in {folder}", flush=True)


def _fetchable(name: str) -> Any:
    """The DatasetSpec or BackboneSpec (cnncourse.pretrained) that ``name`` names."""
    from cnncourse.pretrained import BACKBONES  # imported here: pretrained imports this module

    if isinstance(name, str) and name.strip().lower() in BACKBONES:
        return BACKBONES[name.strip().lower()]
    try:
        return _spec(name)
    except ValueError:
        key = name.strip().lower()
        close = difflib.get_close_matches(key, _known_names(), n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown data set {name!r} (nor a backbone's weights); known: {', '.join(_known_names())}.{hint}") from None


def _known_names() -> list[str]:
    from cnncourse.pretrained import BACKBONES

    return [*DATASETS, *BACKBONES]


def _weights_line(spec: Any, folder: Path) -> str:
    """What fetch prints for a backbone's weights file."""
    if spec.package is not None:
        return f"{spec.name}: {spec.title}'s ImageNet weights ship with the package {spec.package} ({spec.find()}); nothing to fetch"
    path = folder / "weights" / spec.file
    return f"{spec.name}: {spec.title}'s ImageNet weights ({path.stat().st_size / 1e6:.1f} MB) in {path}"


# --- helpers of load and fetch --------------------------------------------------------------


def _spec(name: str) -> DatasetSpec:
    if not isinstance(name, str):
        raise TypeError(f"a data set name is a string such as 'mnist', got {type(name).__name__}")
    key = name.strip().lower()
    if key in DATASETS:
        return DATASETS[key]
    close = difflib.get_close_matches(key, list(DATASETS), n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}.{hint}")


def _split(split: str) -> str:
    if split not in SPLITS:
        hint = " (there is no validation split: carve one out of 'train' with .subset)" if split in ("val", "valid", "validation") else ""
        raise ValueError(f"split must be 'train' or 'test', got {split!r}{hint}")
    return split


def _root(root: str | os.PathLike | None) -> Path:
    if root is None:
        return data_root()
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a folder path (str or pathlib.Path), got {type(root).__name__}")
    folder = Path(root).expanduser()
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"root {folder} is a file; pass the folder that holds the data sets")
    return folder


def _writable(folder: Path) -> bool:
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            return candidate.is_dir() and os.access(candidate, os.W_OK | os.X_OK)
    return False


@functools.lru_cache(maxsize=None)
def _network_available(host: str) -> bool:
    """Whether host accepts a connection within 2 s (DNS included); remembered for the process."""
    answer: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, 443), timeout=_NETWORK_TIMEOUT_S):
                answer.append(True)
        except OSError:
            answer.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(_NETWORK_TIMEOUT_S)
    return bool(answer and answer[0])


def _try_download(spec: DatasetSpec, folder: Path, download: bool | None) -> str:
    """Download when allowed; returns "" on success, else why nothing was downloaded."""
    return _download_when_allowed(download, folder, spec.host, lambda: spec.download(folder))


def _download_when_allowed(download: bool | None, folder: Path, host: str, fetch: Callable[[], object]) -> str:
    """Run ``fetch`` unless ``download`` forbids it; returns "" on success, else why nothing was downloaded.

    ``download=None`` (automatic) tries only when ``folder`` is writable and ``host``
    answers; ``True`` always tries; ``False`` never does. Shared with
    ``cnncourse.pretrained`` (weights go to the torch hub cache the same way).
    """
    if download is False:
        return "download=False was passed"
    if download is None:
        if not _writable(folder):
            return f"{folder} is read-only for you"
        if not _network_available(host):
            return f"the download server {host} did not answer within {_NETWORK_TIMEOUT_S:g} s (no network?)"
    try:
        fetch()
    except Exception as err:  # network, disk, hash and torchvision errors of many kinds; reported in one message
        return f"the download failed ({type(err).__name__}: {err})"
    return ""


def _not_found_message(spec: DatasetSpec, split: str, folder: Path, looked: list[str], why: str) -> str:
    lines = [f"{spec.title} ({split!r} split) is not on this machine. Looked for:"]
    lines += [f"  {path}" for path in looked]
    lines.append(f"Not downloaded: {why}.")
    lines.append(f"Fetch it with:  cnncourse data fetch {spec.name} --root {folder}")
    if not _writable(folder):
        lines.append(f"({folder} is read-only: ask whoever manages it, or fetch into a folder you can write to and set CNNCOURSE_DATA to it.)")
    if spec.name in standins.STANDINS:
        lines.append("To run a notebook as a quick check without the data, set CNNCOURSE_BUDGET=smoke (it uses a small offline stand-in).")
    return "\n".join(lines)


def _read_only_message(folder: Path, why: str) -> str:
    return (
        f"cannot download into {folder}: {why}. Pass a folder you can write to "
        f"(cnncourse data fetch NAME --root DIR) and set CNNCOURSE_DATA to it, or ask whoever manages {folder}"
    )


# --- file readers ---------------------------------------------------------------------------

_IDX_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_REFETCH = "delete it and fetch the data set again (cnncourse data fetch NAME --root DIR)"


def _read_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if path.suffix != ".gz":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(f"{path} is not a readable gzip file ({err}); {_REFETCH}") from None


def _read_idx(path: Path) -> np.ndarray:
    """The array in an IDX file (MNIST's format): magic number, big-endian dimensions, data."""
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file: bad magic number 0x{raw[:4].hex()}; {_REFETCH}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path} is truncated: {len(raw)} bytes, shorter than its own header; {_REFETCH}")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        problem = "is truncated" if len(raw) < expected else "has extra bytes"
        raise ValueError(f"{path} {problem}: {len(raw):,} bytes where its header {dims} announces {expected:,}; {_REFETCH}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _read_idx_pair(image_file: Path, label_file: Path, size: tuple[int, int], n_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = _read_idx(image_file), _read_idx(label_file)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != size:
        raise ValueError(f"{image_file} should hold uint8 images of {size[0]}×{size[1]}, it holds {images.dtype} of shape {images.shape}; {_REFETCH}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(f"{label_file} should hold a 1-D uint8 array of labels, it holds {labels.dtype} of shape {labels.shape}; {_REFETCH}")
    if len(images) != len(labels):
        raise ValueError(f"{image_file} holds {len(images):,} images but {label_file} holds {len(labels):,} labels; {_REFETCH}")
    if len(labels) and labels.max() >= n_classes:
        raise ValueError(f"{label_file} holds label {labels.max()}, outside 0..{n_classes - 1}; {_REFETCH}")
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles only what a CIFAR batch holds: dicts, lists, strings and NumPy arrays."""

    _ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"it refers to {module}.{name}, which a CIFAR batch never holds")
        if module.startswith("numpy.core.") and hasattr(np, "_core"):
            module = "numpy._core." + module.removeprefix("numpy.core.")  # NumPy 2 renamed numpy.core
        return super().find_class(module, name)


def _unpickle(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            content = _ArrayUnpickler(handle, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError, IndexError) as err:
        raise ValueError(f"{path} is not a readable CIFAR pickle ({err}); {_REFETCH}") from None
    if not isinstance(content, dict):
        raise ValueError(f"{path} should hold a dict, it holds a {type(content).__name__}; {_REFETCH}")
    return {key.decode("latin1") if isinstance(key, bytes) else key: value for key, value in content.items()}


def _read_cifar(files: dict[str, Path], split: str, spec: DatasetSpec) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    images, targets = [], []
    for name in _CIFAR_FILES[split]:
        path = files[name]
        batch = _unpickle(path)
        data, labels = batch.get("data"), batch.get("labels")
        if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            got = f"{data.dtype} of shape {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
            raise ValueError(f"{path}: 'data' should be a uint8 array N×3072, it is {got}; {_REFETCH}")
        labels = np.asarray(labels if labels is not None else [], dtype=np.int64)
        if labels.shape != (data.shape[0],):
            raise ValueError(f"{path} holds {data.shape[0]:,} images but {labels.size:,} labels; {_REFETCH}")
        if labels.size and (labels.min() < 0 or labels.max() >= len(spec.classes)):
            raise ValueError(f"{path} holds labels outside 0..{len(spec.classes) - 1}; {_REFETCH}")
        images.append(data.reshape(-1, 3, 32, 32))  # rows are R, G, B planes of 32×32, row-major
        targets.append(labels)
    classes = list(spec.classes)
    if "batches.meta" in files:
        names = _unpickle(files["batches.meta"]).get("label_names")
        if not isinstance(names, list) or len(names) != len(spec.classes):
            raise ValueError(f"{files['batches.meta']}: 'label_names' should list {len(spec.classes)} names; {_REFETCH}")
        classes = [n.decode("latin1") if isinstance(n, bytes) else str(n) for n in names]
    return torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(targets)), classes


def _find_pets(root: Path, folders: tuple[str, ...], split: str) -> tuple[dict[str, Path] | None, list[str]]:
    """Oxford-IIIT Pet's list file of one split and its images folder, or None; and every path looked at."""
    looked: list[str] = []
    for folder in folders:
        listing = root / folder / "annotations" / _PETS_LISTS[split]
        images = root / folder / "images"
        looked += [str(listing), f"{images}/ (a folder of .jpg files)"]
        if listing.is_file() and images.is_dir():
            return {"list": listing, "images": images}, looked
    return None, looked


def _read_pets(files: dict[str, Path], spec: DatasetSpec) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Every photo of one split, decoded as torchvision does (PIL, RGB), resized and centre-cropped to the spec's size."""
    listing = files["list"]
    ids, labels = [], []
    for number, line in enumerate(listing.read_text().splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 4 or not parts[1].isdigit() or not 1 <= int(parts[1]) <= len(spec.classes):
            raise ValueError(f"{listing}, line {number}: expected 'IMAGE_ID CLASS(1-{len(spec.classes)}) SPECIES BREED', "
                             f"got {line.strip()!r}; {_REFETCH}")
        ids.append(parts[0])
        labels.append(int(parts[1]) - 1)
    if not ids:
        raise ValueError(f"{listing} lists no images; {_REFETCH}")
    paths = [files["images"] / f"{image_id}.jpg" for image_id in ids]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise ValueError(f"{len(missing)} photos listed in {listing} are missing, e.g. {missing[0]}; {_REFETCH}")
    side = spec.image_shape[1]
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:  # PIL and resizing release the GIL
        images = list(pool.map(lambda path: _read_photo(path, side), paths))
    return torch.stack(images), torch.tensor(labels, dtype=torch.int64), list(spec.classes)


def _read_photo(path: Path, side: int) -> torch.Tensor:
    """One photo as uint8 3×side×side: shorter side resized to ``side`` (bilinear, antialiased), centre cropped."""
    from PIL import Image, UnidentifiedImageError  # imported here: only the photo data sets need them
    from torchvision.transforms.v2 import functional as tvf

    try:
        with Image.open(path) as photo:
            pixels = np.asarray(photo.convert("RGB"))  # some files are grey, CMYK or PNG: torchvision converts too
    except (OSError, UnidentifiedImageError) as err:
        raise ValueError(f"{path} is not a readable image ({err}); {_REFETCH}") from None
    image = torch.from_numpy(pixels.copy()).permute(2, 0, 1)  # 3 x H x W
    image = tvf.resize(image, [side], antialias=True)
    return tvf.center_crop(image, [side, side]).contiguous()
