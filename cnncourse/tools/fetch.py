"""``cnncourse data fetch``: download data sets and pretrained weights ahead of time, into one data folder.

Scope: one function, ``fetch(names, root=None)``. An instructor fills a hub's
shared mount once (``cnncourse data fetch mnist cifar10 resnet18 --root
/srv/course-data``, then ``CNNCOURSE_DATA=/srv/course-data`` for everyone);
a student fills their own cache. Names come from the library's two registries,
``cnncourse.datasets.DATASETS`` and ``cnncourse.pretrained.BACKBONES``; both
kinds of spec offer ``present(root)`` and ``download(root)``.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Sequence
from pathlib import Path

from cnncourse.data import search_folders
from cnncourse.datasets import DATASETS, SPLITS, DatasetSpec, dataset_spec
from cnncourse.pretrained import BACKBONES, BackboneSpec
from cnncourse.settings import data_root
from cnncourse.tools.invocation import command

__all__ = ["fetch"]


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

    Example (not a doctest: it downloads)::

        fetch(["mnist", "resnet18"], root="/srv/course-data")
        # mnist: 60,000 train and 10,000 test images in /srv/course-data
        # resnet18: ResNet-18's ImageNet weights (44.7 MB) in /srv/course-data/weights/resnet18-f37072fd.pth
    """
    if isinstance(names, str):
        names = [names]
    specs = [_fetchable(name) for name in names]
    if not specs:
        raise ValueError(f"fetch needs at least one name; known: {', '.join(_known_names())}")
    folder = search_folders(root)[0] if root is not None else data_root()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise PermissionError(_read_only_message(folder, f"it cannot be created ({err.strerror or err})")) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(_read_only_message(folder, "it is read-only for you"))
    for spec in specs:
        if not spec.present(folder):
            before = _folders_under(folder)
            try:
                spec.download(folder)
            except Exception as err:  # torchvision raises many kinds; say which data set and what to do
                _remove_new_empty_folders(folder, before)  # or doctor would show an empty MNIST/raw as if fetched
                raise RuntimeError(
                    f"downloading {spec.title} into {folder} failed ({type(err).__name__}: {_one_line(err)}). "
                    f"Check the network connection and try again, or copy the files there by hand: "
                    f"{_manual_layout(spec, folder)}"
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


def _one_line(err: BaseException) -> str:
    """An exception's message on one line (torchvision's download errors span several)."""
    return re.sub(r"\s+", " ", str(err)).strip() or "no message"


def _manual_layout(spec: DatasetSpec | BackboneSpec, folder: Path) -> str:
    """Where each file goes when copied by hand, named file by file."""
    if not isinstance(spec, DatasetSpec):
        return str(folder / "weights" / spec.file)
    first = str(folder / spec.folders[0])
    looked = [path for split in SPLITS for path in spec.find(folder, split)[1] if path.startswith(first)]
    return ", ".join(looked) if looked else first


def _folders_under(folder: Path) -> set[Path]:
    return {path for path in folder.rglob("*") if path.is_dir()}


def _remove_new_empty_folders(folder: Path, before: set[Path]) -> None:
    """Remove the folders a failed download created and left without a file, deepest first."""
    for path in sorted(_folders_under(folder) - before, key=lambda p: len(p.parts), reverse=True):
        try:
            path.rmdir()  # only succeeds on an empty folder
        except OSError:
            pass


def _fetchable(name: str) -> DatasetSpec | BackboneSpec:
    """The DatasetSpec or BackboneSpec that ``name`` names."""
    if isinstance(name, str) and name.strip().lower() in BACKBONES:
        return BACKBONES[name.strip().lower()]
    try:
        return dataset_spec(name)
    except ValueError:
        key = name.strip().lower()
        close = difflib.get_close_matches(key, _known_names(), n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown data set {name!r} (nor a backbone's weights); known: {', '.join(_known_names())}.{hint}") from None


def _known_names() -> list[str]:
    return [*DATASETS, *BACKBONES]


def _weights_line(spec: BackboneSpec, folder: Path) -> str:
    """What fetch prints for a backbone's weights file."""
    if spec.package is not None:
        return f"{spec.name}: {spec.title}'s ImageNet weights ship with the package {spec.package} ({spec.find()}); nothing to fetch"
    path = folder / "weights" / spec.file
    return f"{spec.name}: {spec.title}'s ImageNet weights ({path.stat().st_size / 1e6:.1f} MB) in {path}"


def _read_only_message(folder: Path, why: str) -> str:
    return (
        f"cannot download into {folder}: {why}. Pass a folder you can write to "
        f"({command('data', 'fetch', 'NAME', '--root', 'DIR')}) and set CNNCOURSE_DATA to it, or ask whoever manages {folder}"
    )
