"""Pictures for the notebooks: images, training curves, filters, feature maps and mistakes.

Scope: six matplotlib functions that each draw one figure and return it.
Every figure is made with ``plt.subplots`` and closed before it is returned,
so Jupyter shows the returned figure exactly once and nothing piles up in a
long loop; it works on a headless machine (the Agg backend). Nothing here
changes what it is given: tensors are copied, a model's modes are restored
and every hook is removed.

Images are drawn as the eye should see them: uint8 pixels are divided by 255,
normalised float pixels are un-normalised with ``mean``/``std``. Grayscale
(one channel) is drawn with a gray colour map, three channels as RGB.

Size: one idea, the course's figures, in one module: the six functions share
the image grid and the un-normalisation of pixels, and notebooks import them
from one place; split, each part would import the others' private helpers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from cnncourse.inspect import find_layer
from cnncourse.modes import eval_mode

__all__ = [
    "show_images",
    "plot_history",
    "show_filters",
    "show_feature_maps",
    "plot_confusion_matrix",
    "show_confident_mistakes",
]

_BATCH = 256  # examples per forward pass in show_confident_mistakes


def show_images(images: object, labels: Sequence | torch.Tensor | None = None, *,
                classes: Sequence[str] | None = None, mean: Sequence[float] | None = None,
                std: Sequence[float] | None = None, ncols: int = 8, title: str | None = None,
                max_images: int = 64) -> Figure:
    """Draws a grid of images, each titled with its label.

    Args:
        images: an N x C x H x W tensor (uint8 or float), one C x H x W image, a list of
            C x H x W tensors or of (image, label) pairs, or a data set such as
            ``cnncourse.data.load("cifar10").subset(range(16))`` (its labels, classes and
            pixels are used).
        labels: one label per image: class indices (named with ``classes``) or strings.
        classes: class names, indexed by label.
        mean, std: per-channel values the float images were normalised with; they are undone.
            Float images without them are shown as they are if in [0, 1], else each
            image is stretched to [0, 1].
        ncols: images per row.
        title: a title over the grid.
        max_images: at most this many images are drawn (the first ones).

    Returns:
        The figure, one axis per image.

    Example:
        >>> train = load("cifar10")
        >>> show_images(train.subset(range(16)))
        >>> x, y = next(iter(batches))
        >>> show_images(x[:8], y[:8], classes=train.classes, mean=train.mean, std=train.std)
    """
    pixels, labels, classes, mean, std = _gather_images(images, labels, classes, mean, std, max_images)
    if not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols must be a positive int, got {ncols!r}")
    shown = _display_pixels(pixels, mean, std)
    names = None if labels is None else [_label_name(label, classes) for label in labels]
    fig = _image_grid(shown, names, ncols=ncols)
    if title:
        fig.suptitle(title)
    plt.close(fig)
    return fig


def plot_history(history: object) -> Figure:
    """Plots the loss and the accuracy per epoch, training against validation.

    Args:
        history: a ``cnncourse.train.History`` or a dict of lists such as
            ``{"train_loss": [...], "val_loss": [...], "train_acc": [...], "val_acc": [...]}``.
            Keys with "loss" go on the loss axis; ``acc``, ``accuracy``, ``top1``, ``top5``...
            on the accuracy axis; others (``lr``, ``seconds``) are not drawn. The prefix
            ``train_``/``val_`` names the curve (no prefix: training); ``None`` is a gap.

    Returns:
        The figure: one axis for the loss, one for the accuracy (when there is any).

    Example:
        >>> history = fit(model, train, val, epochs=5)
        >>> plot_history(history)
    """
    series = _history_series(history)
    groups: dict[str, dict[str, list[float]]] = {"loss": {}, "accuracy": {}}
    for key, values in series.items():
        split, metric = _split_key(key)
        if all(math.isnan(value) for value in values):
            continue  # e.g. val_top5 with fewer than 5 classes: None throughout
        if "loss" in metric:
            group = "loss"
        elif metric in ("acc", "accuracy") or metric.startswith("top"):
            group = "accuracy"
        else:
            continue
        label = split if metric in ("loss", "acc", "accuracy") else f"{split} {metric}"
        groups[group][label] = values
    groups = {name: curves for name, curves in groups.items() if curves}
    if not groups:
        raise ValueError(f"plot_history found no loss or accuracy series (keys: {sorted(series)}); pass a "
                         f"History or a dict of lists such as {{'train_loss': [...], 'val_loss': [...]}}")
    fig, axes = plt.subplots(1, len(groups), figsize=(5 * len(groups), 3.5), squeeze=False)
    for ax, (name, curves) in zip(axes[0], groups.items()):
        for label, values in curves.items():
            ax.plot(range(1, len(values) + 1), values, marker="o" if len(values) <= 30 else None, label=label)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    plt.close(fig)
    return fig


def show_filters(module_or_weight: nn.Module | torch.Tensor, *, ncols: int = 8, max_filters: int = 64,
                 channel: int = 0) -> Figure:
    """Draws the filters of a conv layer, or of the first ``Conv2d`` in a model.

    Each filter is stretched to [0, 1] on its own so that its pattern shows.
    Filters with 3 input channels are drawn in RGB; otherwise input ``channel``
    of each filter is drawn in gray.

    Args:
        module_or_weight: a model, a ``Conv2d`` or a weight tensor (out x in x kh x kw).
        ncols: filters per row.
        max_filters: at most this many filters (the first ones).
        channel: the input channel drawn when there are not exactly 3.

    Returns:
        The figure, one axis per filter.

    Raises:
        ValueError: no ``Conv2d`` in the model, or a weight that is not 4-D.

    Example:
        >>> show_filters(torchvision.models.alexnet(weights="DEFAULT"))
    """
    weight = _conv_weight(module_or_weight)
    w = weight[:max_filters].detach().to("cpu", torch.float32).clone()
    if w.shape[1] != 3:
        if not 0 <= channel < w.shape[1]:
            raise ValueError(f"channel={channel} is out of range: these filters have {w.shape[1]} input channels")
        w = w[:, channel:channel + 1]
    flat = w.flatten(1)
    low = flat.min(dim=1).values.view(-1, 1, 1, 1)
    span = (flat.max(dim=1).values.view(-1, 1, 1, 1) - low)
    w = torch.where(span > 0, (w - low) / span.clamp_min(1e-12), torch.full_like(w, 0.5))
    fig = _image_grid(_to_hwc(w), None, ncols=ncols, size=1.0)
    fig.suptitle(f"{weight.shape[0]} filters {tuple(weight.shape[1:])}"
                 + (f", first {w.shape[0]} shown" if w.shape[0] < weight.shape[0] else ""))
    plt.close(fig)
    return fig


def show_feature_maps(model: nn.Module, layer: str | nn.Module, image: torch.Tensor, *,
                      max_maps: int = 16, ncols: int = 8) -> Figure:
    """Draws the output channels of one layer of ``model`` for one image.

    The model runs in eval mode without gradients, up to the layer only; its
    modes are restored and the hook removed afterwards, even on error.

    Args:
        model: the network.
        layer: a name from ``model.named_modules()`` such as ``"features.0"``, or the module.
        image: one normalised float image, C x H x W (or 1 x C x H x W), e.g. ``dataset[0][0]``.
        max_maps: at most this many channels (the first ones).
        ncols: maps per row.

    Returns:
        The figure, one axis per channel, each map on its own colour scale.

    Raises:
        ValueError: an unknown layer, an image of the wrong shape, a layer that did
            not run or does not output maps (N x C x H x W).

    Example:
        >>> show_feature_maps(model, "features.0", test[0][0])
    """
    name, module = find_layer(model, layer)
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"image must be a tensor C x H x W, got {type(image).__name__}")
    if not image.is_floating_point():
        raise TypeError(f"image must be a normalised float tensor (e.g. dataset[i][0]), got dtype {image.dtype}")
    if image.dim() == 4 and image.shape[0] == 1:
        image = image[0]
    if image.dim() != 3:
        raise ValueError(f"image must be one image C x H x W (or 1 x C x H x W), got shape {tuple(image.shape)}")
    x = image.detach().unsqueeze(0).to(_model_device(model))
    captured = _capture_output(model, module, x, name)
    if captured.dim() != 4:
        raise ValueError(f"layer {name!r} outputs shape {tuple(captured.shape)}, not feature maps "
                         f"(1 x C x H x W); pick a convolutional or pooling layer")
    maps = captured[0, :max_maps].numpy()
    fig = _image_grid(list(maps), [str(i) for i in range(len(maps))], ncols=ncols, size=1.4, cmap="viridis")
    fig.suptitle(f"{name} ({type(module).__name__}): {captured.shape[1]} maps {tuple(captured.shape[2:])}"
                 + (f", first {len(maps)} shown" if len(maps) < captured.shape[1] else ""))
    plt.close(fig)
    return fig


def plot_confusion_matrix(cm: torch.Tensor | np.ndarray | Sequence[Sequence[float]],
                          classes: Sequence[str] | None = None, *, normalize: bool = False) -> Figure:
    """Draws a confusion matrix: rows are true classes, columns predicted ones.

    Args:
        cm: a square matrix of counts, e.g. from ``cnncourse.metrics.confusion_matrix``.
        classes: names for the rows and columns.
        normalize: divide each row by its total, so the diagonal is the recall per class.

    Returns:
        The figure: the matrix and its colour bar.

    Example:
        >>> plot_confusion_matrix(confusion_matrix(scores, labels), test.classes, normalize=True)
    """
    matrix = np.array(cm.detach().cpu().numpy() if isinstance(cm, torch.Tensor) else cm, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"cm must be a square matrix (classes x classes), got shape {matrix.shape}")
    if (matrix < 0).any():
        raise ValueError("cm holds negative values; pass counts (rows: true class, columns: predicted)")
    n = matrix.shape[0]
    if classes is not None and len(classes) != n:
        raise ValueError(f"{len(classes)} class names for a {n} x {n} matrix; pass one name per row")
    if normalize:
        totals = matrix.sum(axis=1, keepdims=True)
        matrix = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    size = max(4.0, 0.5 * n + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    picture = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1 if normalize else None)
    fig.colorbar(picture, ax=ax)
    names = list(classes) if classes is not None else [str(i) for i in range(n)]
    ax.set_xticks(range(n), names, rotation=45, ha="right")
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 20:
        threshold = matrix.max() / 2
        for i in range(n):
            for j in range(n):
                text = f"{matrix[i, j]:.2f}" if normalize else f"{matrix[i, j]:.0f}"
                ax.text(j, i, text, ha="center", va="center", fontsize=8,
                        color="white" if matrix[i, j] > threshold else "black")
    ax.set_title("confusion matrix" + (" (rows normalised)" if normalize else ""))
    fig.tight_layout()
    plt.close(fig)
    return fig


def show_confident_mistakes(model: nn.Module, data: object, *, k: int = 12,
                            classes: Sequence[str] | None = None, device: str | torch.device | None = None,
                            mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                            ncols: int = 6) -> Figure:
    """Draws the ``k`` wrong predictions the model was most confident about.

    Confidence is the softmax probability of the predicted class; ties go to the
    earlier example. The model runs in eval mode without gradients (modes restored).

    Args:
        model: a classifier returning N x classes scores.
        data: an ``ImageDataset``, a pair ``(images, targets)`` of tensors (model-ready
            images), or an iterable of ``(x, y)`` batches (a TensorBatcher, a DataLoader).
        k: how many mistakes to draw.
        classes: class names (default: the data set's).
        device: where to run; default: where the model's parameters are.
        mean, std: undo this normalisation when drawing (default: the data set's).
        ncols: images per row.

    Returns:
        The figure, one axis per mistake titled "true / predicted (confidence)".

    Example:
        >>> show_confident_mistakes(model, load("cifar10", "test"), k=12)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    run_on = _model_device(model)
    if device is not None and torch.device(device).type != run_on.type:
        raise ValueError(f"the model's parameters are on {run_on} but device={str(device)!r}; "
                         f"move the model with model.to(...) or leave device out")
    batches, dataset = _mistake_batches(data, run_on)
    if dataset is not None:
        classes = classes if classes is not None else getattr(dataset, "classes", None)
    if mean is None and std is None and dataset is not None:
        mean, std = getattr(dataset, "mean", None), getattr(dataset, "std", None)

    kept: list[tuple[float, int, torch.Tensor, int, int]] = []  # (confidence, index, image, true, predicted)
    seen = 0
    with eval_mode(model), torch.no_grad():  # each module's own mode comes back afterwards
        for x, y in batches:
            x, y = torch.as_tensor(x), torch.as_tensor(y)
            scores = model(x.to(run_on))
            if not isinstance(scores, torch.Tensor) or scores.dim() != 2 or scores.shape[0] != len(y):
                shape = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
                raise ValueError(f"the model must return scores of shape (batch, classes) = ({len(y)}, C); got {shape}")
            probs = torch.softmax(scores.float(), dim=1).cpu()
            confidence, predicted = probs.max(dim=1)
            wrong = (predicted != y.cpu()).nonzero().flatten()
            order = torch.argsort(confidence[wrong], descending=True, stable=True)[:k]
            for i in wrong[order].tolist():  # at most k per batch are copied
                kept.append((float(confidence[i]), seen + i, x[i].detach().cpu(), int(y[i]), int(predicted[i])))
            kept.sort(key=lambda item: (-item[0], item[1]))
            del kept[k:]
            seen += len(y)

    if not kept:
        fig, ax = plt.subplots(figsize=(4, 1.5))
        ax.axis("off")
        ax.text(0.5, 0.5, f"no mistakes in {seen} examples", ha="center", va="center")
        plt.close(fig)
        return fig
    if dataset is not None:
        pixels = dataset.images[torch.tensor([item[1] for item in kept])]
    else:
        pixels = torch.stack([item[2] for item in kept])
    shown = _display_pixels(pixels, mean, std)
    titles = [f"true: {_label_name(t, classes)}\npred: {_label_name(p, classes)} ({c:.1%})"
              for c, _, _, t, p in kept]
    fig = _image_grid(shown, titles, ncols=ncols, size=1.9)
    fig.suptitle(f"the {len(kept)} most confident mistakes of {seen} examples")
    plt.close(fig)
    return fig


# ---------------------------------------------------------------- helpers


def _image_grid(pictures: Sequence[np.ndarray], titles: Sequence[str] | None, *, ncols: int,
                size: float = 1.6, cmap: str | None = None) -> Figure:
    """One axis per picture (H x W or H x W x 3), empty grid cells removed."""
    n = len(pictures)
    if n == 0:
        raise ValueError("there are no images to show")
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    # The constrained layout keeps a figure title (suptitle) clear of the per-image titles.
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, (size + (0.35 if titles else 0)) * nrows + 0.4),
                             squeeze=False, layout="constrained")
    for i, ax in enumerate(axes.flat):
        if i >= n:
            fig.delaxes(ax)
            continue
        picture = pictures[i]
        if picture.ndim == 2 and cmap is None:
            ax.imshow(picture, cmap="gray", vmin=0.0, vmax=1.0)
        elif picture.ndim == 2:
            ax.imshow(picture, cmap=cmap)
        else:
            ax.imshow(picture, vmin=0.0, vmax=1.0)
        ax.set_xticks([])
        ax.set_yticks([])
        if titles:
            ax.set_title(titles[i], fontsize=8)
    return fig


def _gather_images(images: object, labels: object, classes: object, mean: object, std: object,
                   max_images: int) -> tuple[torch.Tensor, list | None, object, object, object]:
    """Turns the accepted forms of ``images`` into an N x C x H x W tensor and a label list."""
    if not isinstance(max_images, int) or max_images < 1:
        raise ValueError(f"max_images must be a positive int, got {max_images!r}")
    if hasattr(images, "images") and isinstance(getattr(images, "images"), torch.Tensor):
        dataset = images
        pixels = dataset.images[:max_images]
        if labels is None and isinstance(getattr(dataset, "targets", None), torch.Tensor):
            labels = dataset.targets[:max_images]
        classes = classes if classes is not None else getattr(dataset, "classes", None)
        if pixels.is_floating_point():
            mean = mean if mean is not None else getattr(dataset, "mean", None)
            std = std if std is not None else getattr(dataset, "std", None)
    elif isinstance(images, (torch.Tensor, np.ndarray)):
        pixels = torch.as_tensor(images)
        if pixels.dim() == 3:
            if pixels.shape[0] not in (1, 3):
                raise ValueError(f"a 3-D tensor is one image C x H x W with 1 or 3 channels; got shape "
                                 f"{tuple(pixels.shape)} (for N grayscale images H x W use images.unsqueeze(1))")
            pixels = pixels.unsqueeze(0)
        pixels = pixels[:max_images]
    elif isinstance(images, (list, tuple)):
        items = list(images)[:max_images]
        if items and isinstance(items[0], (list, tuple)) and len(items[0]) == 2:
            if labels is None:
                labels = [label for _, label in items]
            items = [picture for picture, _ in items]
        if not items or not all(isinstance(p, torch.Tensor) and p.dim() == 3 for p in items):
            raise TypeError("a list of images must hold C x H x W tensors (or (image, label) pairs)")
        pixels = torch.stack([p.detach().cpu() for p in items])
    else:
        raise TypeError(f"show_images takes a tensor N x C x H x W, a list of images or a data set; "
                        f"got {type(images).__name__}")
    if pixels.dim() != 4:
        raise ValueError(f"images must be N x C x H x W, got shape {tuple(pixels.shape)}")
    if labels is not None:
        labels = labels.tolist() if isinstance(labels, (torch.Tensor, np.ndarray)) else list(labels)
        labels = labels[:max_images]
        if len(labels) != len(pixels):
            raise ValueError(f"{len(labels)} labels for {len(pixels)} images; pass one label per image")
    return pixels, labels, classes, mean, std


def _display_pixels(pixels: torch.Tensor, mean: object, std: object) -> list[np.ndarray]:
    """N x C x H x W pixels as [0, 1] float arrays, H x W (gray) or H x W x 3."""
    x = pixels.detach().to("cpu")
    if x.shape[1] not in (1, 3):
        raise ValueError(f"images must have 1 (gray) or 3 (RGB) channels, got {x.shape[1]} (shape {tuple(x.shape)})")
    if not x.is_floating_point():
        x = x.to(torch.float32) / (255.0 if x.dtype == torch.uint8 else 1.0)
    else:
        x = x.to(torch.float32).clone()
        if (mean is None) != (std is None):
            raise ValueError("pass both mean and std (the values the images were normalised with), or neither")
        if mean is not None:
            m = torch.as_tensor(mean, dtype=torch.float32).flatten()
            s = torch.as_tensor(std, dtype=torch.float32).flatten()
            if len(m) not in (1, x.shape[1]) or len(s) not in (1, x.shape[1]):
                raise ValueError(f"mean and std need one value per channel ({x.shape[1]}), got {len(m)} and {len(s)}")
            x = x * s.view(1, -1, 1, 1) + m.view(1, -1, 1, 1)
        elif x.min() < -1e-3 or x.max() > 1 + 1e-3:
            low = x.flatten(1).min(dim=1).values.view(-1, 1, 1, 1)
            high = x.flatten(1).max(dim=1).values.view(-1, 1, 1, 1)
            x = (x - low) / (high - low).clamp_min(1e-12)
    return _to_hwc(x.clamp(0.0, 1.0))


def _to_hwc(x: torch.Tensor) -> list[np.ndarray]:
    if x.shape[1] == 1:
        return [picture[0].numpy() for picture in x]
    return [picture.permute(1, 2, 0).numpy() for picture in x]


def _label_name(label: object, classes: Sequence[str] | None) -> str:
    if isinstance(label, torch.Tensor):
        label = label.item()
    if classes is not None and isinstance(label, (int, np.integer)) and 0 <= label < len(classes):
        return str(classes[label])
    return str(label)


def _history_series(history: object) -> dict[str, list[float]]:
    """The series of a History (or of a dict of lists) as a dict of float lists."""
    source = history
    for attribute in ("to_dict", "as_dict"):
        if callable(getattr(history, attribute, None)):
            source = getattr(history, attribute)()
            break
    else:
        if not isinstance(history, Mapping):
            if isinstance(getattr(history, "history", None), Mapping):
                source = history.history
            elif hasattr(history, "__dict__"):
                source = vars(history)
    if not isinstance(source, Mapping):
        raise TypeError(f"plot_history takes a History or a dict of lists, got {type(history).__name__}")
    series = {}
    for key, values in source.items():
        if isinstance(values, (list, tuple, np.ndarray, torch.Tensor)) and len(values) > 0:
            try:
                series[str(key)] = [math.nan if v is None else float(v) for v in values]
            except (TypeError, ValueError):
                continue  # not a numeric series (e.g. a list of notes)
    return series


def _split_key(key: str) -> tuple[str, str]:
    for prefix in ("train_", "val_", "valid_", "test_"):
        if key.startswith(prefix):
            split = {"valid_": "val"}.get(prefix, prefix[:-1])
            return split, key[len(prefix):]
    return "train", key


def _conv_weight(module_or_weight: object) -> torch.Tensor:
    if isinstance(module_or_weight, torch.Tensor):
        weight = module_or_weight
    elif isinstance(module_or_weight, nn.Module):
        conv = next((m for m in module_or_weight.modules() if isinstance(m, nn.Conv2d)), None)
        if conv is None:
            raise ValueError(f"{type(module_or_weight).__name__} has no Conv2d layer; pass a model with "
                             f"convolutions, a Conv2d or its weight tensor")
        weight = conv.weight
    else:
        raise TypeError(f"show_filters takes a model, a Conv2d or a weight tensor, got {type(module_or_weight).__name__}")
    if weight.dim() != 4:
        raise ValueError(f"conv filters are 4-D (out x in x kh x kw), got shape {tuple(weight.shape)}")
    return weight


def _model_device(model: nn.Module) -> torch.device:
    tensor = next(iter(model.parameters()), None)
    if tensor is None:
        tensor = next(iter(model.buffers()), None)
    return tensor.device if tensor is not None else torch.device("cpu")


class _LayerReached(Exception):
    """Stops the forward pass once the wanted layer has run."""


def _capture_output(model: nn.Module, module: nn.Module, x: torch.Tensor, name: str) -> torch.Tensor:
    """Output of ``module`` when ``model`` runs on ``x`` (a CPU copy); modes and hooks restored."""
    captured: list[torch.Tensor] = []

    def hook(_module: nn.Module, _args: tuple, output: object) -> None:
        if not isinstance(output, torch.Tensor):
            raise ValueError(f"layer {name!r} returns {type(output).__name__}, not a tensor; pick another layer")
        captured.append(output.detach().to("cpu", copy=True))  # copy: a later in-place op must not change it
        raise _LayerReached

    handle = module.register_forward_hook(hook)
    try:
        with eval_mode(model), torch.no_grad():  # each module's own mode comes back afterwards
            model(x)
    except _LayerReached:
        pass
    except ValueError:
        raise
    except Exception as err:
        raise ValueError(f"the model cannot run on an image of shape {tuple(x.shape[1:])} "
                         f"({str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__}); "
                         f"pass one normalised image C x H x W as the model expects") from err
    finally:
        handle.remove()
    if not captured:
        raise ValueError(f"layer {name!r} did not run in the model's forward pass; pick a layer the model calls")
    return captured[0].float()


def _mistake_batches(data: object, device: torch.device) -> tuple[Iterable, object | None]:
    """(batches of (x, y), the data set to draw pixels from or None)."""
    from cnncourse.imagedataset import ImageDataset

    if isinstance(data, ImageDataset):
        from cnncourse.batches import TensorBatcher

        return TensorBatcher(data, _BATCH, shuffle=False, augment=False, device=device), data
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        images, targets = data
        if images.dim() != 4 or targets.dim() != 1 or len(images) != len(targets):
            raise ValueError(f"(images, targets) must be N x C x H x W and N labels; got shapes "
                             f"{tuple(images.shape)} and {tuple(targets.shape)}")
        return [(images[i:i + _BATCH], targets[i:i + _BATCH]) for i in range(0, len(images), _BATCH)], None
    if isinstance(data, Iterable):
        return data, None
    raise TypeError(f"data must be an ImageDataset, (images, targets) or an iterable of (x, y) batches; "
                    f"got {type(data).__name__}")
