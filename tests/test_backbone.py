"""cnncourse.backbone.Backbone: features and head share its parameters, predict keeps every module's mode."""

from __future__ import annotations

import copy

import pytest
import skimage.data
import torch
from torch import nn

from cnncourse.backbone import Backbone
from cnncourse.pretrained import BACKBONES, pretrained


@pytest.fixture(scope="module")
def lite0() -> Backbone:
    """The offline EfficientNet-Lite0, built once; tests must leave it as they found it."""
    return pretrained("efficientnet_lite0").eval()


def photo(name: str) -> torch.Tensor:
    """A scikit-image sample photo as a uint8 3×H×W tensor."""
    return torch.from_numpy(getattr(skimage.data, name)()).permute(2, 0, 1).contiguous()


def test_features_and_head_share_the_backbones_parameters(lite0):
    features, head = lite0.features, lite0.head
    assert head is lite0.fc and isinstance(head, nn.Linear)
    shared = {id(p) for p in features.parameters()} | {id(p) for p in head.parameters()}
    assert shared == {id(p) for p in lite0.parameters()}, "features and head should hold exactly the backbone's parameters"
    assert features.training is False, "the features view should be in the backbone's mode (eval here)"
    first_two = lite0[:2]
    assert isinstance(first_two, nn.Sequential) and first_two[1] is lite0.stage1 and lite0[-1] is lite0.fc, \
        "slicing a backbone should give its stages as an nn.Sequential"


def test_predict_restores_the_mode_and_refuses_a_replaced_head(lite0):
    fresh = pretrained("efficientnet_lite0", weights=False)
    assert fresh.training and all(p.requires_grad for p in fresh.parameters()), "a new backbone trains every parameter"
    lite0.train()
    try:
        lite0.predict(photo("coffee"), k=1)
        assert lite0.training, "predict should put the model back in training mode"
    finally:
        lite0.eval()
    fresh.fc = nn.Linear(1280, 5)
    with pytest.raises(ValueError, match="before replacing the head"):
        fresh.predict(photo("coffee"))


def test_backbone_is_an_ordinary_module_that_copies_and_trains():
    model = copy.deepcopy(pretrained("efficientnet_lite0", weights=False))
    assert model.categories[0] == "tench" and model.preprocess == BACKBONES["efficientnet_lite0"].preprocess
    model.fc = nn.Linear(model.feature_dim, 3)
    logits = model(torch.randn(2, 3, 32, 32))
    nn.functional.cross_entropy(logits, torch.tensor([0, 2])).backward()
    assert model.stem.conv.weight.grad is not None and logits.shape == (2, 3)


def test_predict_keeps_a_frozen_batch_norm_in_eval_mode():
    model = pretrained("efficientnet_lite0", weights=False)  # in training mode
    model.stem.bn.eval()  # frozen, as when fine-tuning with the first statistics kept
    before = {name: module.training for name, module in model.named_modules()}
    model.predict(torch.zeros(1, 3, 40, 40, dtype=torch.uint8), k=1)
    after = {name: module.training for name, module in model.named_modules()}
    changed = sorted(name for name in before if before[name] != after[name])
    assert not changed, f"predict should give every module back its own mode; these changed: {changed}"
    assert model.training and not model.stem.bn.training
