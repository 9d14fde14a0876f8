"""Tests of cnncourse.viz: each figure has the expected axes and shows the right numbers."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from sklearn.metrics import confusion_matrix as sk_confusion_matrix  # noqa: E402
from torch import nn  # noqa: E402

from cnncourse import viz  # noqa: E402
from cnncourse.data import ImageDataset, load  # noqa: E402

MEAN = (0.5, 0.4, 0.3)
STD = (0.2, 0.25, 0.3)


def drawn(fig: Figure) -> list[np.ndarray]:
    """The array drawn in each axis that shows an image, in order."""
    return [np.asarray(ax.images[0].get_array()) for ax in fig.axes if ax.images]


def small_cnn() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(6, 5, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(5 * 4 * 4, 4),
    )


def small_dataset(n: int = 10) -> ImageDataset:
    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (n, 3, 8, 8), dtype=torch.uint8, generator=g)
    return ImageDataset(images, torch.arange(n) % 3, classes=["cat", "dog", "eel"], mean=MEAN, std=STD)


# ---------------------------------------------------------------- show_images


def test_show_images_undoes_normalisation_per_axis() -> None:
    raw = torch.rand(5, 3, 6, 7)
    normalised = (raw - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    before = normalised.clone()
    fig = viz.show_images(normalised, [0, 1, 2, 0, 1], classes=["a", "b", "c"], mean=MEAN, std=STD, ncols=2)
    assert isinstance(fig, Figure)
    pictures = drawn(fig)
    assert len(fig.axes) == 5 and len(pictures) == 5, f"expected 5 image axes, got {len(fig.axes)} axes"
    for i, picture in enumerate(pictures):
        expected = raw[i].permute(1, 2, 0).numpy()
        assert np.allclose(picture, expected, atol=1e-5), f"axis {i}: the picture is not the un-normalised image {i}"
    assert [ax.get_title() for ax in fig.axes] == ["a", "b", "c", "a", "b"]
    assert torch.equal(normalised, before), "show_images changed the tensor it was given"
    assert plt.get_fignums() == [], "the figure must be closed before it is returned (Jupyter would show it twice)"


def test_show_images_uint8_grayscale_is_divided_by_255() -> None:
    images = torch.randint(0, 256, (3, 1, 5, 5), dtype=torch.uint8)
    pictures = drawn(viz.show_images(images))
    assert len(pictures) == 3
    for i, picture in enumerate(pictures):
        assert picture.shape == (5, 5), f"a grayscale picture should be H x W, got {picture.shape}"
        assert np.allclose(picture, images[i, 0].numpy() / 255.0), f"axis {i} does not show image {i} / 255"


def test_show_images_of_a_dataset_uses_its_labels_and_class_names() -> None:
    data = small_dataset(10)
    fig = viz.show_images(data, max_images=4)
    pictures = drawn(fig)
    assert len(pictures) == 4, f"max_images=4 should draw 4 images, drew {len(pictures)}"
    assert np.allclose(pictures[3], data.images[3].permute(1, 2, 0).numpy() / 255.0)
    assert [ax.get_title() for ax in fig.axes] == ["cat", "dog", "eel", "cat"]


def test_show_images_of_real_mnist(shared_mnist: Path) -> None:
    test = load("mnist", "test", root=shared_mnist.parent, download=False)
    assert not test.standin, "expected the real MNIST test set from the shared folder"
    fig = viz.show_images(test.subset(range(5)), ncols=5)
    for i, picture in enumerate(drawn(fig)):
        assert np.allclose(picture, test.images[i, 0].numpy() / 255.0), f"axis {i} is not MNIST test image {i}"
    assert [ax.get_title() for ax in fig.axes] == [str(int(t)) for t in test.targets[:5]]


def test_show_images_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="labels for"):
        viz.show_images(torch.rand(4, 3, 5, 5), [0, 1])
    with pytest.raises(ValueError, match="1 .gray. or 3 .RGB. channels"):
        viz.show_images(torch.rand(2, 5, 5, 5))
    with pytest.raises(ValueError, match="unsqueeze"):
        viz.show_images(torch.rand(8, 28, 28))
    with pytest.raises(TypeError, match="show_images takes"):
        viz.show_images("cat.png")


# ---------------------------------------------------------------- plot_history


def test_plot_history_draws_train_and_val_curves() -> None:
    history = {"train_loss": [2.0, 1.0, 0.5], "val_loss": [2.1, 1.3, 0.9],
               "train_acc": [0.3, 0.6, 0.8], "val_acc": [0.25, 0.5, 0.7], "lr": [0.1, 0.1, 0.01]}
    fig = viz.plot_history(history)
    assert len(fig.axes) == 2, f"expected a loss and an accuracy axis, got {len(fig.axes)}"
    loss, accuracy = fig.axes
    curves = {line.get_label(): list(line.get_ydata()) for line in loss.lines}
    assert curves == {"train": [2.0, 1.0, 0.5], "val": [2.1, 1.3, 0.9]}, f"loss curves: {curves}"
    curves = {line.get_label(): list(line.get_ydata()) for line in accuracy.lines}
    assert curves == {"train": [0.3, 0.6, 0.8], "val": [0.25, 0.5, 0.7]}, f"accuracy curves: {curves}"


def test_plot_history_takes_a_train_history() -> None:
    from cnncourse.train import History

    history = History(train_loss=[1.0, 0.5], train_acc=[0.5, 0.7], val_loss=[1.1, 0.8],
                      val_acc=[0.4, 0.6], val_top5=[None, None], lr=[0.1, 0.1], seconds=[1.0, 1.0])
    fig = viz.plot_history(history)
    labels = sorted(line.get_label() for ax in fig.axes for line in ax.lines)
    # val_top5 is None throughout (fewer than 5 classes): no curve, no empty legend entry
    assert labels == ["train", "train", "val", "val"], f"curves drawn: {labels}"
    with pytest.raises(ValueError, match="no loss or accuracy"):
        viz.plot_history({"seconds": [1.0]})


# ---------------------------------------------------------------- show_filters


def test_show_filters_draws_each_filter_normalised_on_its_own() -> None:
    model = small_cnn()
    weight = model[0].weight.detach().clone()
    pictures = drawn(viz.show_filters(model))
    assert len(pictures) == 6, f"the first conv has 6 filters, drew {len(pictures)}"
    for i, picture in enumerate(pictures):
        w = weight[i]
        expected = ((w - w.min()) / (w.max() - w.min())).permute(1, 2, 0).numpy()
        assert picture.shape == (3, 3, 3), f"RGB filter {i} should be 3 x 3 x 3, got {picture.shape}"
        assert np.allclose(picture, expected, atol=1e-6), f"filter {i} is not its own min-max normalisation"
    assert torch.equal(model[0].weight, weight), "show_filters changed the weights"


def test_show_filters_grayscale_and_errors() -> None:
    weight = torch.randn(4, 1, 5, 5)
    pictures = drawn(viz.show_filters(weight))
    assert len(pictures) == 4 and pictures[0].shape == (5, 5)
    with pytest.raises(ValueError, match="no Conv2d"):
        viz.show_filters(nn.Sequential(nn.Linear(3, 2)))
    with pytest.raises(ValueError, match="4-D"):
        viz.show_filters(torch.randn(3, 3))


# ---------------------------------------------------------------- show_feature_maps


def test_feature_maps_equal_the_layers_real_output_and_hooks_are_removed() -> None:
    model = small_cnn().train()
    model[4].eval()  # a mixed mode must come back as it was
    image = torch.randn(3, 8, 8)
    expected = model[0](image.unsqueeze(0)).detach()[0]  # before the in-place ReLU that follows
    fig = viz.show_feature_maps(model, "0", image, max_maps=4)
    pictures = drawn(fig)
    assert len(pictures) == 4, f"max_maps=4 should draw 4 maps, drew {len(pictures)}"
    for i, picture in enumerate(pictures):
        assert np.allclose(picture, expected[i].numpy(), atol=1e-6), f"map {i} is not channel {i} of the conv output"
    assert (expected < 0).any(), "test set-up: the conv output should have negative values the ReLU would remove"
    assert all(not m._forward_hooks for m in model.modules()), "a forward hook was left on the model"
    assert [m.training for m in model] == [True, True, True, True, False, True, True], "modes were not restored"


def test_feature_maps_of_a_module_given_as_object() -> None:
    model = small_cnn()
    image = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        expected = model[:5](image)[0]
    pictures = drawn(viz.show_feature_maps(model, model[4], image))
    assert len(pictures) == 5, f"the pool outputs 5 maps, drew {len(pictures)}"
    assert np.allclose(np.stack(pictures), expected.numpy(), atol=1e-6)


def test_feature_maps_errors_name_the_problem() -> None:
    model = small_cnn()
    with pytest.raises(ValueError, match=r"no layer named 'features.0'.*valid names include '0', '1'"):
        viz.show_feature_maps(model, "features.0", torch.randn(3, 8, 8))
    with pytest.raises(ValueError, match="C x H x W"):
        viz.show_feature_maps(model, "0", torch.randn(2, 3, 8, 8))
    with pytest.raises(ValueError, match="cannot run on an image of shape"):
        viz.show_feature_maps(model, "4", torch.randn(1, 8, 8))
    with pytest.raises(ValueError, match="not feature maps"):
        viz.show_feature_maps(model, "6", torch.randn(3, 8, 8))
    assert all(not m._forward_hooks for m in model.modules()), "a failed call left a forward hook on the model"


# ---------------------------------------------------------------- plot_confusion_matrix


def test_confusion_matrix_matches_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    true, predicted = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    counts = sk_confusion_matrix(true, predicted, labels=range(4))
    fig = viz.plot_confusion_matrix(torch.tensor(counts), ["a", "b", "c", "d"], normalize=True)
    shown = drawn(fig)[0]
    expected = sk_confusion_matrix(true, predicted, labels=range(4), normalize="true")
    assert np.allclose(shown, expected), f"normalised matrix differs from scikit-learn's:\n{shown}\n{expected}"
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["a", "b", "c", "d"]
    assert np.array_equal(drawn(viz.plot_confusion_matrix(counts))[0], counts)
    with pytest.raises(ValueError, match="square"):
        viz.plot_confusion_matrix(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="3 class names"):
        viz.plot_confusion_matrix(counts, ["a", "b", "c"])


# ---------------------------------------------------------------- show_confident_mistakes


def expected_mistakes(model: nn.Module, images: torch.Tensor, targets: torch.Tensor, k: int) -> list[int]:
    """Indices of the k wrong predictions with the highest softmax confidence, computed directly."""
    with torch.no_grad():
        probs = torch.softmax(model(images), dim=1)
    confidence, predicted = probs.max(dim=1)
    wrong = (predicted != targets).nonzero().flatten()
    order = torch.argsort(confidence[wrong], descending=True, stable=True)
    return wrong[order][:k].tolist()


def test_confident_mistakes_are_the_top_k_wrong_ones() -> None:
    model = small_cnn()
    g = torch.Generator().manual_seed(2)
    images = torch.rand(600, 3, 8, 8, generator=g)  # more than one internal batch of 256
    targets = torch.randint(0, 4, (600,), generator=g)
    picks = expected_mistakes(model, images, targets, 7)
    fig = viz.show_confident_mistakes(model, (images, targets), k=7, classes=["w", "x", "y", "z"])
    pictures = drawn(fig)
    assert len(pictures) == 7, f"k=7 should draw 7 mistakes, drew {len(pictures)}"
    for axis, (picture, index) in enumerate(zip(pictures, picks)):
        assert np.allclose(picture, images[index].permute(1, 2, 0).numpy(), atol=1e-6), \
            f"axis {axis} should show example {index}, the {axis + 1}-th most confident mistake"
    with torch.no_grad():
        probs = torch.softmax(model(images[picks[0]].unsqueeze(0)), dim=1)[0]
    names = "wxyz"
    title = fig.axes[0].get_title()
    assert title == f"true: {names[targets[picks[0]]]}\npred: {names[probs.argmax()]} ({probs.max():.1%})", title


def test_confident_mistakes_from_batches_equal_from_tensors() -> None:
    model = small_cnn().train()
    images, targets = torch.rand(50, 3, 8, 8), torch.randint(0, 4, (50,))
    batches = [(images[i:i + 16], targets[i:i + 16]) for i in range(0, 50, 16)]
    a = drawn(viz.show_confident_mistakes(model, batches, k=5))
    b = drawn(viz.show_confident_mistakes(model, (images, targets), k=5))
    picks = expected_mistakes(model.eval(), images, targets, 5)
    assert len(a) == len(b) == min(5, len(picks))
    assert all(np.allclose(x, y) for x, y in zip(a, b)), "batches and (images, targets) picked different mistakes"
    assert all(not m._forward_hooks for m in model.modules())


def test_confident_mistakes_of_a_dataset_draws_its_pixels() -> None:
    data = small_dataset(40)
    model = small_cnn()
    normalised = (data.images.float() / 255 - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    picks = expected_mistakes(model, normalised, data.targets, 3)
    pictures = drawn(viz.show_confident_mistakes(model, data, k=3))
    for picture, index in zip(pictures, picks, strict=True):
        assert np.allclose(picture, data.images[index].permute(1, 2, 0).numpy() / 255.0, atol=1e-6)


def test_confident_mistakes_without_mistakes_and_bad_output() -> None:
    images = torch.rand(4, 3, 8, 8)
    always_zero = nn.Sequential(nn.Flatten(), nn.Linear(192, 2))
    with torch.no_grad():
        always_zero[1].weight.zero_()
        always_zero[1].bias.copy_(torch.tensor([5.0, 0.0]))
    fig = viz.show_confident_mistakes(always_zero, (images, torch.zeros(4, dtype=torch.long)))
    assert "no mistakes in 4 examples" in fig.axes[0].texts[0].get_text()
    with pytest.raises(ValueError, match="scores of shape"):
        viz.show_confident_mistakes(nn.Identity(), (images, torch.zeros(4, dtype=torch.long)))



def test_a_frozen_batch_norm_stays_in_eval_mode_after_each_picture_of_a_model() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 3)).train()
    model[1].eval()  # frozen inside a model that trains
    images, targets = torch.rand(20, 3, 8, 8), torch.randint(0, 3, (20,))
    running_mean = model[1].running_mean.clone()
    for draw in (lambda: viz.show_feature_maps(model, "1", images[0]),
                 lambda: viz.show_confident_mistakes(model, (images, targets), k=2)):
        draw()
        assert [m.training for m in model.modules()] == [True, True, False, True, True, True], \
            "every module should be back in its own mode: the batch norm in eval, the rest in training"
    assert torch.equal(model[1].running_mean, running_mean), "drawing must not update the batch norm's statistics"
