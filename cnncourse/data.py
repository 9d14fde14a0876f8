"""Data sets of the course: MNIST, Fashion-MNIST, CIFAR-10 and Oxford-IIIT Pet as uint8 tensors.

Scope: ``load(name, split)``, the one function notebooks call: find a data
set on disk, download it when that is possible, and hand it over as an
``ImageDataset`` (``cnncourse.imagedataset``; all images in one uint8
N×C×H×W tensor). The parts live beside it: the registry and the file layout
(``cnncourse.datasets``), the file readers (``cnncourse.readers``), the
download policy (``cnncourse.downloads``) and where data folders are
(``cnncourse.settings``). ``from cnncourse.data import load, ImageDataset``
is what notebooks write.

``load`` tries, in order: the files in each data folder of ``data_roots()``
(``$CNNCOURSE_DATA`` or the per-user cache, then read-only system folders such
as ``/usr/share/datasets``, where Debian's ``dataset-fashion-mnist`` puts
Fashion-MNIST); a download into the first of them (by default only where it is
writable and the server answers within 2 s); in the smoke budget, an offline
stand-in (``cnncourse.standins``); else ``DatasetNotFoundError`` naming every
path looked at and the command to fetch (``cnncourse data fetch``).
"""

from __future__ import annotations

import os
from pathlib import Path

from cnncourse import standins
from cnncourse.datasets import DATASETS, SPLITS, DatasetSpec, check_split, dataset_spec
from cnncourse.downloads import download_when_allowed, writable
from cnncourse.imagedataset import ImageDataset
from cnncourse.runtime import is_smoke
from cnncourse.settings import data_root, data_roots

__all__ = ["ImageDataset", "DatasetNotFoundError", "DatasetSpec", "DATASETS", "SPLITS", "data_root", "data_roots",
           "load", "search_folders"]


class DatasetNotFoundError(FileNotFoundError):
    """A data set is neither on disk nor downloadable (and no stand-in applies)."""


def load(name: str, split: str = "train", *, root: str | os.PathLike | None = None, download: bool | None = None) -> ImageDataset:
    """Load one split of a course data set as an ``ImageDataset``.

    Order: the files in each data folder; else a download when allowed; else,
    in the smoke budget, an offline stand-in (announced once); else an error.

    Args:
        name: "mnist", "fashion_mnist", "cifar10" or "oxford_pets" (its "train"
            split is the official trainval list, 3,680 photos; "test" has 3,669).
        split: "train" or "test".
        root: the only data folder to use (default: every folder of ``data_roots()``,
            downloads going to the first).
        download: True to try, False never to try; None (default) tries only
            where the folder is writable and the server answers within 2 s.

    Raises:
        DatasetNotFoundError: not found, not downloaded, and not the smoke budget
            (or no stand-in exists: Oxford-IIIT Pet has none).
        ValueError: an unknown name or split, or a damaged file (named in the message).

    Example (skipped by the doctests: it needs MNIST on disk):
        >>> test = load("mnist", split="test")  # doctest: +SKIP
        >>> test  # doctest: +SKIP
        ImageDataset('mnist', split='test', 10,000 images of 1×28×28, 10 classes, real data)
    """
    spec = dataset_spec(name)
    split = check_split(split)
    if download not in (None, True, False):
        raise TypeError(f"download must be None, True or False, got {download!r}")
    folders = search_folders(root)
    files, _, looked = spec.search(folders, split)
    not_downloaded = ""
    if files is None:
        target = folders[0]
        not_downloaded = download_when_allowed(download, target, spec.host, lambda: spec.download(target))
        if not not_downloaded:
            files, looked = spec.find(target, split)
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
    raise DatasetNotFoundError(_not_found_message(spec, split, folders[0], looked, not_downloaded))


def search_folders(root: str | os.PathLike | None = None) -> list[Path]:
    """The data folders ``load`` looks in: ``[root]`` when one is given, else ``data_roots()``.

    Raises:
        TypeError, ValueError: root is not a folder path, or names a file.

    Example:
        >>> search_folders("/srv/course-data")
        [PosixPath('/srv/course-data')]
    """
    if root is None:
        return data_roots()
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a folder path (str or pathlib.Path), got {type(root).__name__}")
    folder = Path(root).expanduser()
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"root {folder} is a file; pass the folder that holds the data sets")
    return [folder]


def _not_found_message(spec: DatasetSpec, split: str, folder: Path, looked: list[str], why: str) -> str:
    lines = [f"{spec.title} ({split!r} split) is not on this machine. Looked for:"]
    lines += [f"  {path}" for path in looked]
    lines.append(f"Not downloaded: {why}.")
    lines.append(f"Fetch it with:  cnncourse data fetch {spec.name} --root {folder}")
    if spec.debian_package:
        lines.append(f"On Debian or Ubuntu, the package {spec.debian_package} installs it for everyone, "
                     f"and load finds it there:  sudo apt-get install {spec.debian_package}")
    if not writable(folder):
        lines.append(f"({folder} is read-only: ask whoever manages it, or fetch into a folder you can write to and set CNNCOURSE_DATA to it.)")
    if spec.name in standins.STANDINS:
        lines.append("To run a notebook as a quick check without the data, set CNNCOURSE_BUDGET=smoke (it uses a small offline stand-in).")
    return "\n".join(lines)
