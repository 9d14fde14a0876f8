"""The registry of the course's data sets: what each is, which files it has and where they may lie.

Scope: ``DATASETS`` (MNIST, Fashion-MNIST, CIFAR-10, Oxford-IIIT Pet) as
``DatasetSpec`` entries, and how a spec finds its files under a data folder and
hands them to the readers of ``cnncourse.readers``. Where the data folders are
is ``cnncourse.settings``' rule (``data_roots()``); what to do when nothing is
found is ``cnncourse.data.load``'s.

Layout under a data folder: torchvision's, so
``torchvision.datasets.MNIST(root, download=True)`` fills it:
``root/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte`` (``.gz``
accepted too), ``root/FashionMNIST/raw/...``,
``root/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}``,
``root/oxford-iiit-pet/{images/*.jpg,annotations/{trainval,test}.txt}``. The
four MNIST files may also sit directly in ``root/mnist/``, and Fashion-MNIST's
in ``root/fashion-mnist/`` (Debian's package ``dataset-fashion-mnist`` puts them
in ``/usr/share/datasets/fashion-mnist/``).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

import torch

from cnncourse import readers

__all__ = ["DATASETS", "SPLITS", "DatasetSpec", "check_split", "dataset_spec"]

SPLITS = ("train", "test")

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

    Anything fetchable (``cnncourse.pretrained.BackboneSpec`` too) offers the same
    two methods, ``present(root)`` and ``download(root)``, which ``cnncourse data fetch`` calls.
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
    debian_package: str | None = None  # the Debian/Ubuntu package that installs it under /usr/share/datasets

    def find(self, root: Path, split: str) -> tuple[dict[str, Path] | None, list[str]]:
        """The files of one split under root (by file name), or None; and every path looked at.

        Example:
            >>> files, looked = DATASETS["mnist"].find(Path("/nowhere"), "test")
            >>> files, looked[0]
            (None, '/nowhere/MNIST/raw/t10k-images-idx3-ubyte (or .gz)')
        """
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

    def search(self, roots: list[Path], split: str) -> tuple[dict[str, Path] | None, Path | None, list[str]]:
        """The files of one split in the first of ``roots`` that holds them, that root, and every path looked at.

        Example:
            >>> files, root, looked = DATASETS["mnist"].search([Path("/a"), Path("/b")], "test")
            >>> files, root, len(looked)  # two files in two folders, in each root
            (None, None, 8)
        """
        looked: list[str] = []
        for root in roots:
            files, paths = self.find(root, split)
            looked += paths
            if files is not None:
                return files, root, looked
        return None, None, looked

    def read(self, files: dict[str, Path], split: str) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
        """Images (uint8 N×C×H×W), targets (int64 N) and class names from the files ``find`` returned."""
        if self.kind == "idx":
            image_file, label_file = (files[name] for name in self._files(split))
            return (*readers.read_idx_pair(image_file, label_file, self.image_shape[1:], len(self.classes)), list(self.classes))
        if self.kind == "pets":
            images, targets = readers.read_pets(files["list"], files["images"], len(self.classes), self.image_shape[1])
            return images, targets, list(self.classes)
        return readers.read_cifar([files[name] for name in _CIFAR_FILES[split]], files.get("batches.meta"), self.classes)

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
        folders=("FashionMNIST/raw", "fashion_mnist", "fashion-mnist"),
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        mean=(0.2860,),
        std=(0.3530,),
        image_shape=(1, 28, 28),
        torchvision_class="FashionMNIST",
        host="fashion-mnist.s3-website.eu-central-1.amazonaws.com",
        debian_package="dataset-fashion-mnist",
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


def dataset_spec(name: str) -> DatasetSpec:
    """The registry entry ``name`` names (case and spaces ignored); a clear error suggesting the closest otherwise.

    Example:
        >>> dataset_spec(" MNIST ").title
        'MNIST'
    """
    if not isinstance(name, str):
        raise TypeError(f"a data set name is a string such as 'mnist', got {type(name).__name__}")
    key = name.strip().lower()
    if key in DATASETS:
        return DATASETS[key]
    close = difflib.get_close_matches(key, list(DATASETS), n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}.{hint}")


def check_split(split: str) -> str:
    """``split`` itself when it is "train" or "test"; a clear error otherwise."""
    if split not in SPLITS:
        hint = " (there is no validation split: carve one out of 'train' with .subset)" if split in ("val", "valid", "validation") else ""
        raise ValueError(f"split must be 'train' or 'test', got {split!r}{hint}")
    return split


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
