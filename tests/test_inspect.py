"""Tests of cnncourse.inspect.layer_table against torchvision's models and a real forward pass."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.models import alexnet, resnet18, vgg16

from cnncourse.inspect import layer_table

# VGG-16 (configuration D): (spatial size, channels) of each of the 13 conv outputs and 5 pool outputs.
VGG16_MAPS = [
    (224, 64), (224, 64), (112, 64),                    # conv1_1, conv1_2, pool1
    (112, 128), (112, 128), (56, 128),                  # conv2_x, pool2
    (56, 256), (56, 256), (56, 256), (28, 256),         # conv3_x, pool3
    (28, 512), (28, 512), (28, 512), (14, 512),         # conv4_x, pool4
    (14, 512), (14, 512), (14, 512), (7, 512),          # conv5_x, pool5
]
VGG16_BY_HAND = 224 * 224 * 3 + sum(s * s * c for s, c in VGG16_MAPS) + 4096 + 4096 + 1000
# torchvision adds AdaptiveAvgPool2d((7, 7)) after pool5: at 224 x 224 it changes nothing but
# allocates a new 7 x 7 x 512 tensor, so it counts.
TORCHVISION_AVGPOOL = 7 * 7 * 512


@pytest.fixture(scope="module")
def vgg() -> nn.Module:
    return vgg16(weights=None)


def test_vgg16_parameters_and_activations(vgg: nn.Module) -> None:
    table = layer_table(vgg, (3, 224, 224))
    assert table.total_params == 138_357_544, f"VGG-16 has 138,357,544 parameters, table says {table.total_params:,}"
    assert VGG16_BY_HAND == 15_237_608  # CS231n's rows (its "24M" total line is wrong; the rows sum to 15.2M)
    expected = VGG16_BY_HAND + TORCHVISION_AVGPOOL
    assert table.total_activations == expected == 15_262_696, \
        f"expected {expected:,} activations per image, table says {table.total_activations:,}"
    assert table.total_memory == 4 * expected, f"float32: expected {4 * expected:,} bytes, got {table.total_memory:,}"
    counted = [row.type for row in table if row.counted]
    assert counted.count("Conv2d") == 13 and counted.count("MaxPool2d") == 5 and counted.count("Linear") == 3
    assert not any(row.counted for row in table if row.type in ("ReLU", "Dropout")), \
        "in-place ReLU and eval-mode Dropout allocate nothing and must not count"


def test_parameters_match_torchvision_models() -> None:
    for build in (resnet18, alexnet):
        model = build(weights=None)
        table = layer_table(model, (3, 224, 224))
        expected = sum(p.numel() for p in model.parameters())
        assert table.total_params == expected, f"{build.__name__}: expected {expected:,}, got {table.total_params:,}"
        assert sum(row.params for row in table) == expected, f"{build.__name__}: row parameters do not add up"


def test_output_shapes_equal_a_real_forward_pass() -> None:
    torch.manual_seed(0)
    model = resnet18(weights=None).eval()
    calls: list[tuple[str, tuple]] = []  # (name, shape) per call: resnet calls each block's ReLU twice
    names = {m: n for n, m in model.named_modules()}

    def record(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        calls.append((names[module], tuple(output.shape)))

    hooks = [m.register_forward_hook(record) for m in model.modules() if not list(m.children())]
    with torch.no_grad():
        model(torch.zeros(2, 3, 64, 64))
    for hook in hooks:
        hook.remove()
    table = layer_table(model, (3, 64, 64), batch_size=2)
    got = [(row.name, row.output_shape) for row in table.rows[1:]]
    assert got == calls, "layer_table's rows differ from the forward pass (names, order or shapes)"
    assert table[-1].output_shape == (2, 1000)
    assert table.rows[0].activations == 3 * 64 * 64, "activations are per example, whatever the batch size"


def test_identity_flatten_and_inplace_rows_do_not_count() -> None:
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(inplace=True), nn.Identity(), nn.Flatten(),
                          nn.Dropout(0.5), nn.Linear(4 * 6 * 6, 10), nn.ReLU())
    table = layer_table(model, (1, 8, 8))
    assert [row.counted for row in table] == [True, True, False, False, False, False, True, True]
    assert table.total_activations == 64 + 144 + 10 + 10, f"got {table.total_activations}"
    assert table.total_params == 4 * 9 + 4 + 144 * 10 + 10


def test_model_is_left_untouched() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.2)).train()
    model[2].eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    layer_table(model, (3, 10, 10), batch_size=4)
    assert [m.training for m in model.modules()] == [True, True, True, False], "modes were not restored"
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), f"{key} changed (BatchNorm statistics must not be updated)"
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules()), "a hook was left"


def test_bad_input_size_names_the_layer_and_shape() -> None:
    model = nn.Sequential(nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(6 * 12 * 12, 10))
    with pytest.raises(ValueError, match=r"layer '4' \(Linear\) failed on an input of shape \(1, 1176\)"):
        layer_table(model, (1, 32, 32))
    with pytest.raises(ValueError, match=r"layer '0' \(Conv2d\) failed on an input of shape \(1, 3, 28, 28\)"):
        layer_table(model, (3, 28, 28))
    assert all(not m._forward_hooks for m in model.modules()), "a failed call left a hook"
    with pytest.raises(ValueError, match="positive ints"):
        layer_table(model, 28)
    with pytest.raises(TypeError, match="nn.Module"):
        layer_table("lenet", (1, 28, 28))


def test_text_markdown_html_and_columns(vgg: nn.Module) -> None:
    table = layer_table(nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(inplace=True)), (3, 16, 16))
    text = str(table)
    assert "Conv2d" in text and "(1, 8, 14, 14)" in text and "(1,568)" in text and "total" in text, text
    lines = text.splitlines()
    assert len({line.index("Conv2d") for line in lines if "Conv2d" in line}) == 1
    markdown = table.to_markdown()
    assert markdown.startswith("| layer | type |") and "| **224** |" in markdown
    assert f"**{table.total_activations:,}**" in markdown
    assert "<table>" in table._repr_html_()
    columns = table.to_dict()
    assert columns["name"] == ["input", "0", "1"] and columns["activations"] == [768, 1568, 1568]


def test_a_frozen_batch_norm_inside_a_training_model_stays_frozen() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU()).train()
    model[1].eval()
    layer_table(model, (3, 10, 10))
    assert [m.training for m in model.modules()] == [True, True, False, True], \
        "layer_table should give every module back its own mode: the batch norm in eval, the rest in training"
