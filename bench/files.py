"""Data files in their official formats, written into a scratch folder from arrays.

Scope: the benchmarks give torchvision's own dataset classes real files to read,
so its side runs exactly as it would on the downloaded data, without a network:

- MNIST: IDX files (``MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``)
  made from the real test-set digits (``find_digits``: ``--digits``, the course's
  data folders, or ``../shared/data/mnist``).
- CIFAR-10: the Python pickles (``cifar-10-batches-py/data_batch_1..5``,
  ``test_batch``, ``batches.meta``) made from generated images. torchvision
  checks these files against the official MD5 sums, so ``cifar10_class`` gives
  its ``CIFAR10`` class with the sums of the files written here instead;
  everything else it does (unpickling, one PIL image per example) is unchanged.
"""

from __future__ import annotations

import gzip
import hashlib
import pickle
import struct
from pathlib import Path

import numpy as np
import torch

from bench.settings import SHARED_MNIST

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
_IDX_MAGIC = {1: 0x00000801, 3: 0x00000803}  # uint8 data, 1 or 3 dimensions


def read_idx(path: Path) -> np.ndarray:
    """The uint8 array in an IDX file (``.gz`` or not).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: not a uint8 IDX file.

    Example:
        >>> read_idx(Path("../shared/data/mnist/t10k-labels-idx1-ubyte.gz")).shape
        (10000,)
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no IDX file at {path}")
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08":
        raise ValueError(f"{path} is not a uint8 IDX file (magic number 0x{raw[:4].hex()})")
    ndim = raw[3]
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def write_idx(path: Path, array: np.ndarray | torch.Tensor) -> Path:
    """Write a uint8 array of 1 or 3 dimensions as an uncompressed IDX file (MNIST's format).

    Example:
        >>> write_idx(Path("/tmp/labels-idx1-ubyte"), np.array([3, 1, 4], dtype=np.uint8))
        PosixPath('/tmp/labels-idx1-ubyte')
    """
    array = np.ascontiguousarray(array.numpy() if isinstance(array, torch.Tensor) else array)
    if array.dtype != np.uint8 or array.ndim not in _IDX_MAGIC:
        raise ValueError(f"write_idx writes uint8 arrays of 1 or 3 dimensions, got {array.dtype} of shape {array.shape}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">I", _IDX_MAGIC[array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.tobytes())
    return path


_DIGIT_FILES = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def find_digits(folder: str | Path | None = None) -> Path:
    """The folder with MNIST's official test-set files, found before any benchmark runs.

    Order: ``folder`` when given (``--digits``); else the course's data folders,
    as ``cnncourse.data.load`` searches them (``$CNNCOURSE_DATA`` or the per-user
    cache, then the system folders), in any layout the registry knows
    (``MNIST/raw/``, ``mnist/``); else ``../shared/data/mnist`` beside the repository.

    Raises:
        FileNotFoundError: no such files anywhere; the message names every place looked and what to do.

    Example:
        >>> find_digits(SHARED_MNIST) == SHARED_MNIST
        True
    """
    if folder is not None:
        real_digits_files(Path(folder))  # raises, naming the files, when they are not there
        return Path(folder)
    from cnncourse.data import search_folders
    from cnncourse.datasets import DATASETS

    looked = []
    for root in search_folders():
        files, paths = DATASETS["mnist"].find(root, "test")
        if files:
            return Path(files[_DIGIT_FILES[0]]).parent
        looked += paths[:1]
    try:
        real_digits_files(SHARED_MNIST)
        return SHARED_MNIST
    except FileNotFoundError:
        looked.append(f"{SHARED_MNIST}/{_DIGIT_FILES[0]}.gz")
    raise FileNotFoundError(
        "the benchmarks train on the real MNIST test-set digits, and none were found; looked for "
        f"{'; '.join(looked)}. Fetch them (cnncourse data fetch mnist), set CNNCOURSE_DATA to a folder that "
        "holds them, or pass --digits DIR (a folder with t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz)"
    )


def real_digits_files(folder: Path) -> tuple[Path, Path]:
    """The images and labels files of MNIST's test set in ``folder`` (``.gz`` or not).

    Raises:
        FileNotFoundError: one is missing; the message says where to put them.
    """
    folder = Path(folder)
    found, missing = [], []
    for stem in _DIGIT_FILES:
        candidates = [folder / f"{stem}.gz", folder / stem]
        hit = next((path for path in candidates if path.is_file()), None)
        found.append(hit)
        if hit is None:
            missing.append(f"{candidates[0]} (or without .gz)")
    if missing:
        raise FileNotFoundError(
            f"the real MNIST test-set files are missing: {', '.join(missing)}; put the official "
            "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz there, or pass --digits DIR"
        )
    return found[0], found[1]


def real_digits(folder: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The 10,000 official MNIST test digits: uint8 N×28×28 images and int64 labels.

    Raises:
        FileNotFoundError: the two files are not in ``folder``; the message says where to put them.

    Example:
        >>> images, labels = real_digits(SHARED_MNIST); images.shape
        torch.Size([10000, 28, 28])
    """
    images, labels = (torch.from_numpy(read_idx(f).copy()) for f in real_digits_files(folder))
    return images, labels.to(torch.int64)


def repeat_to(images: torch.Tensor, labels: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` examples of the data repeated end to end (to make 60,000 from 10,000).

    Example:
        >>> repeat_to(torch.arange(3), torch.arange(3), 7)[0].tolist()
        [0, 1, 2, 0, 1, 2, 0]
    """
    times = -(-n // len(images))
    return images.repeat(times, *([1] * (images.dim() - 1)))[:n], labels.repeat(times)[:n]


def write_mnist(root: Path, train: tuple[torch.Tensor, torch.Tensor], test: tuple[torch.Tensor, torch.Tensor], *,
                folder: str = "MNIST") -> Path:
    """Write both MNIST splits where torchvision's ``MNIST(root)`` and ``cnncourse.data.load("mnist", root=root)`` look.

    Args:
        root: the data folder; the files go to ``root/<folder>/raw/`` (``folder="FashionMNIST"``: where
            torchvision's ``FashionMNIST`` and ``load("fashion_mnist", root=root)`` look).
        train, test: (uint8 N×28×28 images, labels 0–9).

    Returns:
        ``root``.

    Example:
        >>> write_mnist(Path("/tmp/data"), (images[:8000], labels[:8000]), (images[8000:], labels[8000:]))
        PosixPath('/tmp/data')
    """
    raw = Path(root) / folder / "raw"
    for prefix, (images, labels) in (("train", train), ("t10k", test)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images.reshape(-1, 28, 28).to(torch.uint8))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels.to(torch.uint8))
    return Path(root)


def generated_images(n: int, *, channels: int = 3, side: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` random uint8 images N×C×S×S and random labels 0–9 (for timing, not for learning).

    Example:
        >>> generated_images(4)[0].shape
        torch.Size([4, 3, 32, 32])
    """
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, channels, side, side), dtype=torch.uint8, generator=generator)
    return images, torch.randint(0, 10, (n,), generator=generator)


def write_cifar10(root: Path, train: tuple[torch.Tensor, torch.Tensor], test: tuple[torch.Tensor, torch.Tensor]) -> Path:
    """Write CIFAR-10's Python pickles (five training batches, one test batch, the meta file).

    Args:
        root: the data folder; the files go to ``root/cifar-10-batches-py/``.
        train, test: (uint8 N×3×32×32 images, labels 0–9); train needs at least 5 images.

    Returns:
        ``root``.

    Example:
        >>> write_cifar10(Path("/tmp/data"), generated_images(500), generated_images(100, seed=1))
        PosixPath('/tmp/data')
    """
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    images, labels = train
    if len(images) < 5:
        raise ValueError(f"CIFAR-10's training set comes in 5 files, so it needs at least 5 images, got {len(images)}")
    parts = np.array_split(np.arange(len(images)), 5)
    for k, part in enumerate(parts, start=1):
        _write_cifar_batch(folder / f"data_batch_{k}", images[part], labels[part], f"training batch {k} of 5")
    _write_cifar_batch(folder / "test_batch", test[0], test[1], "testing batch 1 of 1")
    meta = {"label_names": CIFAR10_CLASSES, "num_cases_per_batch": len(parts[0]), "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return Path(root)


def _write_cifar_batch(path: Path, images: torch.Tensor, labels: torch.Tensor, label: str) -> None:
    """One pickle as CIFAR-10 ships it: rows of 3072 bytes (the R, G, B planes), a list of labels."""
    batch = {
        "batch_label": label,
        "labels": [int(v) for v in labels],
        "data": np.ascontiguousarray(images.to(torch.uint8).reshape(len(images), 3 * 32 * 32).numpy()),
        "filenames": [f"generated_{i:05d}.png" for i in range(len(images))],
    }
    path.write_bytes(pickle.dumps(batch, protocol=2))


def cifar10_class(root: Path) -> type:
    """torchvision's ``CIFAR10`` class, checking the files under ``root`` against their own MD5 sums.

    torchvision refuses files whose MD5 differs from the official ones; this
    subclass only replaces those sums (computed here, once). Reading, decoding
    and transforming are torchvision's own.

    Example:
        >>> dataset = cifar10_class(root)(str(root), train=True, transform=transforms.ToTensor())
    """
    from torchvision.datasets import CIFAR10

    folder = Path(root) / "cifar-10-batches-py"

    def md5(name: str) -> str:
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(f"no CIFAR-10 file at {path}; write the files with write_cifar10 first")
        return hashlib.md5(path.read_bytes()).hexdigest()

    return type(
        "GeneratedCIFAR10",
        (CIFAR10,),
        {
            "train_list": [[f"data_batch_{k}", md5(f"data_batch_{k}")] for k in range(1, 6)],
            "test_list": [["test_batch", md5("test_batch")]],
            "meta": {"filename": "batches.meta", "key": "label_names", "md5": md5("batches.meta")},
        },
    )
