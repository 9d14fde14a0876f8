"""Readers of the file formats the course's data sets come in: IDX, CIFAR pickles and photo folders.

Scope: bytes on disk to uint8 tensors, checked. Each reader checks what it
reads and names the file when something is wrong (with what to do: fetch the
data set again); it knows nothing of where files live (``cnncourse.datasets``)
or of downloads.

- IDX (MNIST, Fashion-MNIST; LeCun et al. 1998): a magic number, big-endian
  dimensions, then the array; ``.gz`` files are decompressed.
- CIFAR-10 (Krizhevsky 2009): Python pickles, unpickled with only NumPy's
  array classes allowed (a pickle can otherwise run any code).
- Oxford-IIIT Pet (Parkhi et al. 2012): photos of every size and a list file
  per split, decoded as torchvision does, the shorter side resized and
  centre-cropped to a square.
"""

from __future__ import annotations

import gzip
import os
import pickle
import struct
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["REFETCH", "read_cifar", "read_idx", "read_idx_pair", "read_pets", "read_photo"]

_IDX_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
REFETCH = "delete it and fetch the data set again (cnncourse data fetch NAME --root DIR)"


def _read_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if path.suffix != ".gz":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(f"{path} is not a readable gzip file ({err}); {REFETCH}") from None


def read_idx(path: Path) -> np.ndarray:
    """The array in an IDX file (MNIST's format): magic number, big-endian dimensions, data.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "labels-idx1-ubyte"
        >>> _ = path.write_bytes(bytes([0, 0, 0x08, 1, 0, 0, 0, 3, 7, 2, 1]))  # uint8, 1-D, 3 values
        >>> read_idx(path)
        array([7, 2, 1], dtype=uint8)
    """
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file: bad magic number 0x{raw[:4].hex()}; {REFETCH}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path} is truncated: {len(raw)} bytes, shorter than its own header; {REFETCH}")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        problem = "is truncated" if len(raw) < expected else "has extra bytes"
        raise ValueError(f"{path} {problem}: {len(raw):,} bytes where its header {dims} announces {expected:,}; {REFETCH}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def read_idx_pair(image_file: Path, label_file: Path, size: tuple[int, int], n_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (uint8 N×1×H×W) and labels (int64 N) from an IDX pair, checked against each other.

    Args:
        image_file, label_file: e.g. ``train-images-idx3-ubyte.gz`` and ``train-labels-idx1-ubyte.gz``.
        size: the (H, W) every image must have.
        n_classes: labels must lie in ``0..n_classes - 1``.
    """
    images, labels = read_idx(image_file), read_idx(label_file)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != size:
        raise ValueError(f"{image_file} should hold uint8 images of {size[0]}×{size[1]}, it holds {images.dtype} of shape {images.shape}; {REFETCH}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(f"{label_file} should hold a 1-D uint8 array of labels, it holds {labels.dtype} of shape {labels.shape}; {REFETCH}")
    if len(images) != len(labels):
        raise ValueError(f"{image_file} holds {len(images):,} images but {label_file} holds {len(labels):,} labels; {REFETCH}")
    if len(labels) and labels.max() >= n_classes:
        raise ValueError(f"{label_file} holds label {labels.max()}, outside 0..{n_classes - 1}; {REFETCH}")
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
        raise ValueError(f"{path} is not a readable CIFAR pickle ({err}); {REFETCH}") from None
    if not isinstance(content, dict):
        raise ValueError(f"{path} should hold a dict, it holds a {type(content).__name__}; {REFETCH}")
    return {key.decode("latin1") if isinstance(key, bytes) else key: value for key, value in content.items()}


def read_cifar(batches: Sequence[Path], meta: Path | None, classes: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Images (uint8 N×3×32×32), labels (int64 N) and class names from CIFAR-10 batch pickles.

    Args:
        batches: the batch files in order, e.g. ``data_batch_1`` … ``data_batch_5``.
        meta: ``batches.meta`` (its ``label_names`` win over ``classes``), or None.
        classes: the class names; labels must index them.
    """
    images, targets = [], []
    for path in batches:
        batch = _unpickle(path)
        data, labels = batch.get("data"), batch.get("labels")
        if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            got = f"{data.dtype} of shape {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
            raise ValueError(f"{path}: 'data' should be a uint8 array N×3072, it is {got}; {REFETCH}")
        labels = np.asarray(labels if labels is not None else [], dtype=np.int64)
        if labels.shape != (data.shape[0],):
            raise ValueError(f"{path} holds {data.shape[0]:,} images but {labels.size:,} labels; {REFETCH}")
        if labels.size and (labels.min() < 0 or labels.max() >= len(classes)):
            raise ValueError(f"{path} holds labels outside 0..{len(classes) - 1}; {REFETCH}")
        images.append(data.reshape(-1, 3, 32, 32))  # rows are R, G, B planes of 32×32, row-major
        targets.append(labels)
    names = list(classes)
    if meta is not None:
        listed = _unpickle(meta).get("label_names")
        if not isinstance(listed, list) or len(listed) != len(classes):
            raise ValueError(f"{meta}: 'label_names' should list {len(classes)} names; {REFETCH}")
        names = [n.decode("latin1") if isinstance(n, bytes) else str(n) for n in listed]
    return torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(targets)), names


def read_pets(listing: Path, folder: Path, n_classes: int, side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every photo that an Oxford-IIIT Pet list file names, as uint8 N×3×side×side, and its labels (int64 N).

    Args:
        listing: ``annotations/trainval.txt`` or ``test.txt``: lines ``IMAGE_ID CLASS SPECIES BREED``, CLASS from 1.
        folder: the ``images/`` folder holding ``IMAGE_ID.jpg``.
        n_classes: CLASS must lie in ``1..n_classes``.
        side: the side of the square each photo is resized and cropped to (see ``read_photo``).
    """
    ids, labels = [], []
    for number, line in enumerate(listing.read_text().splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 4 or not parts[1].isdigit() or not 1 <= int(parts[1]) <= n_classes:
            raise ValueError(f"{listing}, line {number}: expected 'IMAGE_ID CLASS(1-{n_classes}) SPECIES BREED', "
                             f"got {line.strip()!r}; {REFETCH}")
        ids.append(parts[0])
        labels.append(int(parts[1]) - 1)
    if not ids:
        raise ValueError(f"{listing} lists no images; {REFETCH}")
    paths = [folder / f"{image_id}.jpg" for image_id in ids]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise ValueError(f"{len(missing)} photos listed in {listing} are missing, e.g. {missing[0]}; {REFETCH}")
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:  # PIL and resizing release the GIL
        images = list(pool.map(lambda path: read_photo(path, side), paths))
    return torch.stack(images), torch.tensor(labels, dtype=torch.int64)


def read_photo(path: Path, side: int) -> torch.Tensor:
    """One photo as uint8 3×side×side: shorter side resized to ``side`` (bilinear, antialiased), centre cropped.

    Decoded as torchvision does (PIL, converted to RGB: some files are grey, CMYK or PNG).
    """
    from PIL import Image, UnidentifiedImageError  # imported here: only the photo data sets need them
    from torchvision.transforms.v2 import functional as tvf

    try:
        with Image.open(path) as photo:
            pixels = np.asarray(photo.convert("RGB"))
    except (OSError, UnidentifiedImageError) as err:
        raise ValueError(f"{path} is not a readable image ({err}); {REFETCH}") from None
    image = torch.from_numpy(pixels.copy()).permute(2, 0, 1)  # 3 x H x W
    image = tvf.resize(image, [side], antialias=True)
    return tvf.center_crop(image, [side, side]).contiguous()
