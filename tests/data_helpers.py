"""Writers of the real file formats of the course's data sets, for tests: IDX, CIFAR-10 pickles, Oxford-IIIT Pet.

Files are written into a test's tmp_path in the layout torchvision leaves (and
``cnncourse.datasets`` reads), so cnncourse and torchvision can both read them.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
from pathlib import Path

import numpy as np

from cnncourse.datasets import DATASETS


def write_idx(path: Path, array: np.ndarray) -> None:
    """An IDX file (uint8): magic 0x0000080N, N big-endian dimensions, then the bytes."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    content = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(content) if path.suffix == ".gz" else content)


def write_idx_dataset(folder: Path, *, gz: bool, splits=("train", "test"), seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """MNIST-style files for the given splits in folder; returns the arrays written."""
    rng = np.random.default_rng(seed)
    prefixes = {"train": "train", "test": "t10k"}
    sizes = {"train": 37, "test": 19}
    written = {}
    for split in splits:
        images = rng.integers(0, 256, size=(sizes[split], 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=sizes[split], dtype=np.uint8)
        suffix = ".gz" if gz else ""
        write_idx(folder / f"{prefixes[split]}-images-idx3-ubyte{suffix}", images)
        write_idx(folder / f"{prefixes[split]}-labels-idx1-ubyte{suffix}", labels)
        written[split] = (images, labels)
    return written


class _Py2Str(bytes):
    """Pickled as a Python 2 str, as in the real CIFAR-10 files."""


class _Py2Pickler(pickle._Pickler):  # the pure-Python pickler, so that a type can be added
    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2str(self, obj: bytes) -> None:
        self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + bytes(obj))
        self.memoize(obj)

    dispatch[_Py2Str] = save_py2str


def py2_pickle(content: dict) -> bytes:
    """A protocol-2 pickle with Python 2 str keys, referring to numpy.core as old NumPy did."""
    buffer = io.BytesIO()
    _Py2Pickler(buffer, protocol=2).dump(content)
    return buffer.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")


def write_cifar(root: Path, *, style: str = "py2", seed: int = 0) -> dict[str, tuple[np.ndarray, list[int]]]:
    """cifar-10-batches-py with five small training batches, a test batch and batches.meta."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    key = _Py2Str if style == "py2" else bytes
    written = {}
    for name, n in [*((f"data_batch_{k}", 6 + k) for k in range(1, 6)), ("test_batch", 9)]:
        images = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=n)]
        batch = {key(b"batch_label"): key(name.encode()), key(b"labels"): labels, key(b"data"): images}
        (folder / name).write_bytes(py2_pickle(batch) if style == "py2" else pickle.dumps(batch))
        written[name] = (images, labels)
    names = [key(c.encode()) for c in DATASETS["cifar10"].classes]
    meta = {key(b"num_cases_per_batch"): 10000, key(b"label_names"): names, key(b"num_vis"): 3072}
    (folder / "batches.meta").write_bytes(py2_pickle(meta) if style == "py2" else pickle.dumps(meta))
    return written


def write_pets(root: Path, *, seed: int = 0) -> dict[str, list[tuple[str, int]]]:
    """oxford-iiit-pet/ with one small photo per breed in each split (torchvision's layout and list format).

    Photos have random sizes; one is grey, one is a PNG under a .jpg name (as a few real files are).
    """
    from PIL import Image

    rng = np.random.default_rng(seed)
    base = root / "oxford-iiit-pet"
    (base / "images").mkdir(parents=True, exist_ok=True)
    (base / "annotations").mkdir(parents=True, exist_ok=True)
    raw_names = [c.replace(" ", "_") if i in (0, 5, 6, 7, 9, 11, 20, 23, 26, 27, 32, 33) else c.lower().replace(" ", "_")
                 for i, c in enumerate(DATASETS["oxford_pets"].classes)]  # cat breeds are capitalised in the real ids
    written: dict[str, list[tuple[str, int]]] = {}
    for split, list_file, number in (("train", "trainval.txt", 1), ("test", "test.txt", 2)):
        rows = []
        for label, raw in enumerate(raw_names):
            image_id = f"{raw}_{number}"
            h, w = (int(v) for v in rng.integers(20, 60, size=2))
            pixels = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
            picture = Image.fromarray(pixels)
            if label == 3 and split == "test":
                picture.convert("L").save(base / "images" / f"{image_id}.jpg", format="JPEG")
            elif label == 4 and split == "train":
                picture.save(base / "images" / f"{image_id}.jpg", format="PNG")
            else:
                picture.save(base / "images" / f"{image_id}.jpg", format="JPEG", quality=90)
            species = 1 if raw[0].isupper() else 2
            rows.append(f"{image_id} {label + 1} {species} 1")
        order = rng.permutation(len(rows))
        (base / "annotations" / list_file).write_text("\n".join(rows[i] for i in order) + "\n")
        written[split] = [(rows[i].split()[0], int(rows[i].split()[1]) - 1) for i in order]
    return written


def read_only_folder(folder: Path, monkeypatch) -> Path:
    """A folder with mode 0o555. Root may write there anyway (os.access says so); then
    os.access is made to answer as it would for anyone else, so the test still runs."""
    folder.mkdir()
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if Path(path) == folder and mode & os.W_OK else real_access(path, mode, **kw))
    return folder
