"""Tests of cnncourse.explain against references worked out independently.

- occlusion on a linear model: covering a patch changes the score by exactly
  the weights times (pixels - baseline) summed over that patch;
- saliency: equal to ``torch.autograd.grad`` of the score computed here, and to
  the weight map for a linear model;
- Grad-CAM on a tiny conv net ending in global average pooling: ReLU of the
  channel-weighted activations, with the weights known in closed form
  (the linear layer's row divided by h·w), and on a net without that shape
  against autograd on the two halves of the net;
- the model is left as it was: each module's mode, parameters, their .grad,
  batch-norm statistics and its forward output (no hook left behind);
- bad input gets a clear error.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnncourse.explain import grad_cam, occlusion_map, saliency_map

C, H, W, K = 3, 12, 10, 4


def linear_model(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(C * H * W, K))


class GapNet(nn.Module):
    """conv -> ReLU -> global average pooling -> linear: Grad-CAM is known in closed form."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.conv = nn.Conv2d(C, 5, 3, stride=2, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(5, K)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.relu(self.conv(x))).flatten(1))


def small_cnn() -> nn.Sequential:
    """A net with batch norm, dropout, in-place ReLUs and a max pool: no closed form, autograd is the reference."""
    torch.manual_seed(2)
    return nn.Sequential(
        nn.Conv2d(C, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(inplace=True),
        nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(8 * (H // 2) * (W // 2), K),
    )


def image(seed: int = 3) -> torch.Tensor:
    return torch.randn(C, H, W, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- occlusion


@pytest.mark.parametrize("patch,stride,baseline", [(3, 2, 0.0), (4, 3, 0.5), (2, 1, torch.tensor([0.1, -0.2, 0.3])),
                                                    (10, 5, 0.0)])
def test_occlusion_on_a_linear_model_is_weights_times_pixels_over_the_patch(patch, stride, baseline) -> None:
    model, x = linear_model(), image()
    target = 2
    weight = model[1].weight[target].detach().view(C, H, W)
    fill = baseline.view(C, 1, 1).expand(C, H, W) if isinstance(baseline, torch.Tensor) else torch.full((C, H, W), baseline)
    contribution = weight * (x - fill)  # what each pixel adds to the score over the baseline
    rows, cols = (H - patch) // stride + 1, (W - patch) // stride + 1
    expected = torch.tensor([[float(contribution[:, i * stride:i * stride + patch, j * stride:j * stride + patch].sum())
                              for j in range(cols)] for i in range(rows)])
    got = occlusion_map(model, x, patch=patch, stride=stride, target=target, baseline=baseline)
    assert got.shape == (rows, cols), f"expected a {rows}×{cols} map of positions, got {tuple(got.shape)}"
    assert torch.allclose(got, expected, atol=1e-5), f"max difference {(got - expected).abs().max():.2e}"


def test_occlusion_defaults_to_the_predicted_class_and_does_not_depend_on_the_batch_size() -> None:
    model, x = small_cnn(), image()
    with torch.no_grad():
        predicted = int(model.eval()(x[None]).argmax())
    model.train()
    default = occlusion_map(model, x, patch=4, stride=2)
    explicit = occlusion_map(model, x, patch=4, stride=2, target=predicted, batch_size=1)
    assert torch.allclose(default, explicit, atol=1e-5)


def test_occlusion_with_probability_watches_the_softmax() -> None:
    model, x = linear_model(), image()
    fill = x.clone()
    fill[:, 3:7, 3:7] = 0.0  # the patch at position (1, 1): corner (3, 3)
    with torch.no_grad():
        p = model(torch.stack([x, fill])).softmax(dim=1)[:, 1]
    got = occlusion_map(model, x, patch=4, stride=3, target=1, probability=True)
    assert got.shape == (3, 3)
    assert torch.isclose(got[1, 1], p[0] - p[1], atol=1e-6), f"expected {float(p[0] - p[1]):.6f}, got {float(got[1, 1]):.6f}"


# ---------------------------------------------------------------- saliency


def test_saliency_of_a_linear_model_is_its_weight_map() -> None:
    model, x = linear_model(), image()
    weight = model[1].weight[3].detach().view(C, H, W)
    assert torch.allclose(saliency_map(model, x, target=3, reduce=None), weight)
    assert torch.allclose(saliency_map(model, x, target=3), weight.abs().amax(dim=0))


def test_saliency_equals_autograd_of_the_score() -> None:
    model, x = small_cnn(), image()
    reference_model = small_cnn().eval()
    reference_input = x[None].clone().requires_grad_(True)
    scores = reference_model(reference_input)
    target = int(scores.argmax())
    (expected,) = torch.autograd.grad(scores[0, target], reference_input)
    got = saliency_map(model, x, reduce=None)  # default target: the predicted class
    assert got.shape == (C, H, W)
    assert torch.allclose(got, expected[0], atol=1e-6), f"max difference {(got - expected[0]).abs().max():.2e}"
    assert torch.allclose(saliency_map(model, x[None]), expected[0].abs().amax(dim=0), atol=1e-6)


def test_saliency_works_inside_no_grad_and_with_frozen_parameters() -> None:
    model, x = small_cnn(), image()
    expected = saliency_map(model, x, target=1, reduce=None)
    for p in model.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        got = saliency_map(model, x, target=1, reduce=None)
    assert torch.equal(got, expected)
    assert not any(p.requires_grad for p in model.parameters()), "saliency_map must not unfreeze parameters"


# ---------------------------------------------------------------- Grad-CAM


def test_grad_cam_of_a_gap_net_is_the_class_activation_map_over_hw() -> None:
    model, x = GapNet(), image()
    target = 1
    with torch.no_grad():
        activations = model.relu(model.conv(x[None]))  # 1×5×h×w
    h, w = activations.shape[-2:]
    alpha = model.fc.weight[target].detach() / (h * w)  # d score / d A_k(i, j) = fc weight / (h w), at every (i, j)
    cam = torch.relu((alpha.view(1, -1, 1, 1) * activations).sum(dim=1, keepdim=True))
    coarse = grad_cam(model, x, "relu", target=target, upsample=False)
    assert coarse.shape == (h, w)
    assert torch.allclose(coarse, cam[0, 0], atol=1e-6), f"max difference {(coarse - cam[0, 0]).abs().max():.2e}"
    full = grad_cam(model, x, model.relu, target=target)
    expected = F.interpolate(cam, size=(H, W), mode="bilinear", align_corners=False)[0, 0]
    assert full.shape == (H, W)
    assert torch.allclose(full, expected, atol=1e-6)


@pytest.mark.parametrize("layer", [1, 4])  # batch norm (an in-place ReLU follows), the second ReLU
def test_grad_cam_matches_autograd_on_the_two_halves_of_a_net(layer: int) -> None:
    model, x = small_cnn(), image()
    reference = small_cnn().eval()
    with torch.no_grad():
        activations = reference[:layer + 1](x[None])
    a = activations.clone().requires_grad_(True)
    scores = reference[layer + 1:](a.clone())  # a copy: an in-place ReLU may follow
    target = int(scores.argmax())
    (gradient,) = torch.autograd.grad(scores[0, target], a)
    cam = torch.relu((gradient.mean(dim=(2, 3), keepdim=True) * activations).sum(dim=1))[0]
    got = grad_cam(model, x, str(layer), upsample=False)
    assert torch.allclose(got, cam, atol=1e-6), f"max difference {(got - cam).abs().max():.2e}"
    assert (got >= 0).all()


# ---------------------------------------------------------------- the model is left as it was


def calls(model: nn.Module) -> dict:
    x = image()
    return {
        "occlusion": lambda: occlusion_map(model, x, patch=4, stride=4),
        "saliency": lambda: saliency_map(model, x),
        "grad_cam": lambda: grad_cam(model, x, "4"),
    }


@pytest.mark.parametrize("name", ["occlusion", "saliency", "grad_cam"])
def test_the_model_is_left_as_it_was(name: str) -> None:
    model = small_cnn()
    model[1].eval()  # a frozen batch-norm layer inside a model that trains
    model[0].weight.grad = torch.full_like(model[0].weight, 7.0)  # a gradient someone is accumulating
    modes = [m.training for m in model.modules()]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    probe = image(seed=9)[None]
    with torch.no_grad():
        before = model.eval()(probe)
    for module, training in zip(model.modules(), modes):
        module.training = training

    first = calls(model)[name]()
    second = calls(model)[name]()

    assert [m.training for m in model.modules()] == modes, "each module should be back in its own mode"
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items()), "parameters or statistics changed"
    assert torch.equal(model[0].weight.grad, torch.full_like(model[0].weight, 7.0)), "a parameter's .grad changed"
    assert all(p.grad is None for n, p in model.named_parameters() if n != "0.weight"), "a parameter got a .grad"
    assert torch.equal(first, second), "a second call should give the same map (no hook left behind)"
    with torch.no_grad():
        after = model.eval()(probe)
    assert torch.equal(before, after), "the model's output changed: a hook was left behind"


def test_a_layer_that_fails_leaves_no_hook() -> None:
    model = small_cnn()
    with pytest.raises(ValueError, match="not feature maps"):
        grad_cam(model, image(), "6")  # Flatten: N×D
    probe = image(seed=9)[None]
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(probe), small_cnn().eval()(probe)), "the failed call left a hook in the model"


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("call,error,words", [
    (lambda m, x: saliency_map(m, x.numpy()), TypeError, "torch tensor"),
    (lambda m, x: saliency_map(m, (x * 100).to(torch.uint8)), TypeError, "preprocess"),
    (lambda m, x: saliency_map(m, torch.stack([x, x])), ValueError, "one image at a time"),
    (lambda m, x: saliency_map(m, x, target=K), ValueError, "classes are 0 to 3"),
    (lambda m, x: saliency_map(m, x, target=1.0), TypeError, "class index"),
    (lambda m, x: saliency_map(m, x, reduce="mean"), ValueError, "reduce"),
    (lambda m, x: saliency_map(m, x[:2]), ValueError, "cannot run on an image of shape"),
    (lambda m, x: saliency_map("model", x), TypeError, "nn.Module"),
    (lambda m, x: occlusion_map(m, x, patch=H + 1, stride=1), ValueError, "does not fit"),
    (lambda m, x: occlusion_map(m, x, patch=3, stride=0), ValueError, "stride must be at least 1"),
    (lambda m, x: occlusion_map(m, x, patch=2.5, stride=1), TypeError, "patch must be a whole number"),
    (lambda m, x: occlusion_map(m, x, patch=3, stride=1, baseline=torch.zeros(2)), ValueError, "one per channel"),
    (lambda m, x: grad_cam(m, x, "conv9"), ValueError, "no layer named 'conv9'"),
    (lambda m, x: grad_cam(m, x, nn.Conv2d(3, 3, 1)), ValueError, "not part of the model"),
    (lambda m, x: grad_cam(m, x, 0), TypeError, "layer must be a name"),
])
def test_bad_input_gets_a_clear_error(call, error, words) -> None:
    with pytest.raises(error, match=words):
        call(small_cnn(), image())


def test_a_model_that_is_not_a_classifier_is_named() -> None:
    with pytest.raises(ValueError, match="one row of class scores"):
        saliency_map(nn.Conv2d(C, 2, 3), image())
