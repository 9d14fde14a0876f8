"""Attribution maps for an image classifier: which pixels a class score depends on.

Scope: three ways to ask a trained classifier where it looks, each on one
normalised image and one class, each returning a map as a CPU float tensor.

- ``occlusion_map``: slide a grey patch over the image and record how much the
  class score drops at each position (Zeiler & Fergus 2014, "Visualizing and
  understanding convolutional networks").
- ``saliency_map``: the gradient of the class score with respect to the input
  pixels (Simonyan, Vedaldi & Zisserman 2014, "Deep inside convolutional
  networks: visualising image classification models and saliency maps").
- ``grad_cam``: the activations of one convolutional layer weighted by the
  spatial mean of their gradients, summed over channels, clipped at zero and
  upsampled to the image (Selvaraju et al. 2017, "Grad-CAM: visual
  explanations from deep networks via gradient-based localization").

The class score is the model's output before the softmax (a logit), as in
the papers; ``occlusion_map`` can use the softmax probability instead. None of
the functions changes the model: it runs in eval mode (each module's own mode
restored afterwards, ``cnncourse.modes.eval_mode``), every hook is removed even
on error, and gradients are taken with ``torch.autograd.grad`` with respect to
the input or the layer's output only, so no parameter's ``.grad`` is touched.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cnncourse.inspect import find_layer
from cnncourse.modes import eval_mode

__all__ = ["occlusion_map", "saliency_map", "grad_cam"]


def occlusion_map(model: nn.Module, image: torch.Tensor, *, patch: int, stride: int, target: int | None = None,
                  baseline: float | torch.Tensor = 0.0, probability: bool = False,
                  batch_size: int = 64) -> torch.Tensor:
    """How much the class score drops when a square patch of the image is covered, at each position.

    The patch (``patch`` × ``patch`` pixels, all channels) is replaced by
    ``baseline`` at the top-left corners ``(i * stride, j * stride)``, as a
    convolution without padding slides its kernel, so the map has
    ``(H - patch) // stride + 1`` rows and ``(W - patch) // stride + 1``
    columns (Zeiler & Fergus 2014, section 4.2).

    Args:
        model: a classifier, N×C×H×W images to N×K scores.
        image: one normalised float image, C×H×W or 1×C×H×W, as the model takes it.
        patch: the side of the square occluder, in pixels.
        stride: the step between two positions, in pixels.
        target: the class whose score is watched; None: the class the model predicts.
        baseline: what covers the patch, in the normalised units of ``image``: a
            number, or a tensor of C values (one per channel) or of the image's shape.
            The default 0 is the mean pixel of a dataset normalised by its own mean.
        probability: watch the softmax probability of ``target`` instead of its score.
        batch_size: occluded copies per forward pass.

    Returns:
        rows × cols: score of the image minus score with the patch at that position
        (positive where covering the patch lowers the score).

    Raises:
        TypeError, ValueError: a bad model, image, target, patch, stride or baseline (named).

    Example:
        >>> x = backbone.preprocess(cat)[0]
        >>> drop = occlusion_map(backbone, x, patch=32, stride=16)
        >>> drop.shape
        torch.Size([13, 13])
    """
    _check_model(model)
    x = _one_image(image)
    _, channels, height, width = x.shape
    patch = _positive_int(patch, "patch")
    stride = _positive_int(stride, "stride")
    batch_size = _positive_int(batch_size, "batch_size")
    if not isinstance(probability, bool):
        raise TypeError(f"probability must be True or False, got {probability!r}")
    if patch > min(height, width):
        raise ValueError(f"patch={patch} does not fit in the {height}×{width} image; pick a patch of at most "
                         f"{min(height, width)} pixels")
    fill = _baseline(baseline, x)
    device = _device(model)
    x = x.to(device)
    fill = fill.to(device)
    rows, cols = (height - patch) // stride + 1, (width - patch) // stride + 1
    corners = [(i * stride, j * stride) for i in range(rows) for j in range(cols)]

    def score(batch: torch.Tensor, cls: int) -> torch.Tensor:
        out = _scores(_forward(model, batch), len(batch))
        return out.softmax(dim=1)[:, cls] if probability else out[:, cls]

    with eval_mode(model), torch.no_grad():
        cls = _target(target, _scores(_forward(model, x), 1))
        reference = score(x, cls)
        drops = []
        for start in range(0, len(corners), batch_size):
            chunk = corners[start:start + batch_size]
            batch = x.repeat(len(chunk), 1, 1, 1)
            for k, (top, left) in enumerate(chunk):
                batch[k, :, top:top + patch, left:left + patch] = fill[0, :, top:top + patch, left:left + patch]
            drops.append(reference - score(batch, cls))
    return torch.cat(drops).view(rows, cols).to("cpu", torch.float32)


def saliency_map(model: nn.Module, image: torch.Tensor, *, target: int | None = None,
                 reduce: str | None = "max") -> torch.Tensor:
    """The gradient of a class score with respect to the input pixels (Simonyan et al. 2014).

    For a linear model, score = w·x + b, the gradient is the weight map w; for a
    network it is the weight map of the best linear approximation of the score
    near this image: the pixels whose small change would change the score most.

    Args:
        model: a classifier, N×C×H×W images to N×K scores.
        image: one normalised float image, C×H×W or 1×C×H×W.
        target: the class whose score is differentiated; None: the class the model predicts.
        reduce: "max" for the paper's saliency map, the largest absolute gradient
            over the channels of each pixel (H×W); None for the signed gradient (C×H×W).

    Returns:
        H×W (``reduce="max"``) or C×H×W (``reduce=None``), on the CPU.

    Raises:
        TypeError, ValueError: a bad model, image, target or reduce (named).

    Example:
        >>> saliency_map(backbone, backbone.preprocess(cat)[0]).shape
        torch.Size([224, 224])
    """
    _check_model(model)
    if reduce not in ("max", None):
        raise ValueError(f"reduce must be 'max' (largest |gradient| over the channels) or None (the gradient), "
                         f"got {reduce!r}")
    x = _one_image(image).to(_device(model)).requires_grad_(True)
    with eval_mode(model), torch.enable_grad():
        out = _scores(_forward(model, x), 1)
        cls = _target(target, out.detach())
        (gradient,) = torch.autograd.grad(out[0, cls], x)
    gradient = gradient[0].detach().to("cpu", torch.float32)
    return gradient.abs().amax(dim=0) if reduce == "max" else gradient


def grad_cam(model: nn.Module, image: torch.Tensor, layer: str | nn.Module, *, target: int | None = None,
             upsample: bool = True) -> torch.Tensor:
    """Grad-CAM: where in one layer's maps the evidence for a class lies (Selvaraju et al. 2017).

    With A the layer's output (K maps of h×w) and y the class score, each map
    gets the weight alpha_k = mean over positions of dy/dA_k, and the map is
    ReLU(sum_k alpha_k A_k): the positions whose features push the score up.
    For a network that ends in global average pooling and one linear layer, and
    the last convolutional layer, this is the class activation map of Zhou et al.
    (2016) divided by h·w.

    Args:
        model: a classifier, N×C×H×W images to N×K scores.
        image: one normalised float image, C×H×W or 1×C×H×W.
        layer: a name from ``model.named_modules()`` (e.g. ``"top"`` or ``"layer4"``)
            or the module itself; it must output N×K×h×w maps. Usually the last
            convolutional stage: coarse, but with the most class-specific features.
        target: the class; None: the class the model predicts.
        upsample: resize the h×w map to the image's H×W (bilinear); False keeps h×w.

    Returns:
        H×W (or h×w), not negative, in the units of alpha·A (not rescaled), on the CPU.

    Raises:
        TypeError, ValueError: a bad model, image, layer or target (named).

    Example:
        >>> grad_cam(backbone, backbone.preprocess(cat)[0], "top").shape
        torch.Size([224, 224])
    """
    _check_model(model)
    if not isinstance(upsample, bool):
        raise TypeError(f"upsample must be True or False, got {upsample!r}")
    name, module = find_layer(model, layer)
    x = _one_image(image).to(_device(model))
    height, width = x.shape[-2:]
    captured: list[torch.Tensor] = []

    def hook(_module: nn.Module, _args: tuple, output: object) -> torch.Tensor:
        if not isinstance(output, torch.Tensor) or output.dim() != 4:
            what = f"shape {tuple(output.shape)}" if isinstance(output, torch.Tensor) else type(output).__name__
            raise ValueError(f"layer {name!r} outputs {what}, not feature maps N×K×h×w; "
                             f"pick a convolutional layer or stage")
        captured.append(output)
        return output.clone()  # later in-place operations (ReLU(inplace=True)) change the copy, not A

    x.requires_grad_(True)  # so that A is part of a graph even when every parameter is frozen
    handle = module.register_forward_hook(hook)
    try:
        with eval_mode(model), torch.enable_grad():
            out = _scores(_forward(model, x), 1)
    finally:
        handle.remove()
    if not captured:
        raise ValueError(f"layer {name!r} did not run in the model's forward pass; pick a layer the model calls")
    if len(captured) > 1:
        raise ValueError(f"layer {name!r} ran {len(captured)} times in one forward pass, so its maps are ambiguous; "
                         f"pick a layer that runs once")
    activations = captured[0]
    cls = _target(target, out.detach())
    (gradient,) = torch.autograd.grad(out[0, cls], activations)
    weights = gradient.mean(dim=(2, 3), keepdim=True)  # 1×K×1×1: alpha_k
    cam = torch.relu((weights * activations.detach()).sum(dim=1, keepdim=True))  # 1×1×h×w
    if upsample:
        cam = F.interpolate(cam, size=(height, width), mode="bilinear", align_corners=False)
    return cam[0, 0].detach().to("cpu", torch.float32)


# --- checks shared by the three ------------------------------------------------------------


def _check_model(model: object) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch nn.Module (a classifier), got {type(model).__name__}")


def _one_image(image: object) -> torch.Tensor:
    """A detached float copy of one image as 1×C×H×W."""
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"image must be a torch tensor C×H×W, got {type(image).__name__}")
    if not image.is_floating_point():
        raise TypeError(f"image must be a normalised float tensor as the model takes it, got dtype {image.dtype}; "
                        f"for a pretrained backbone use backbone.preprocess(image)[0]")
    if image.dim() == 4 and image.shape[0] == 1:
        image = image[0]
    if image.dim() != 3:
        hint = " (one image at a time: pass images[i])" if image.dim() == 4 else ""
        raise ValueError(f"image must be one image C×H×W (or 1×C×H×W), got shape {tuple(image.shape)}{hint}")
    if image.numel() == 0:
        raise ValueError(f"image is empty (shape {tuple(image.shape)})")
    return image.detach().clone().unsqueeze(0)


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a whole number of pixels, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return value


def _baseline(baseline: object, x: torch.Tensor) -> torch.Tensor:
    """The fill value broadcast to x's shape (1×C×H×W)."""
    if isinstance(baseline, bool):
        raise TypeError(f"baseline must be a number or a tensor, got {baseline!r}")
    if isinstance(baseline, (int, float)):
        return torch.full_like(x, float(baseline))
    if not isinstance(baseline, torch.Tensor):
        raise TypeError(f"baseline must be a number or a tensor, got {type(baseline).__name__}")
    fill = baseline.detach().to(x.dtype)
    channels = x.shape[1]
    if fill.dim() == 1 and fill.numel() == channels:
        fill = fill.view(1, channels, 1, 1)
    elif fill.dim() == 3 and fill.shape == x.shape[1:]:
        fill = fill.unsqueeze(0)
    elif fill.dim() != 0 and fill.shape != x.shape:
        raise ValueError(f"baseline must be a number, {channels} values (one per channel) or a tensor of the "
                         f"image's shape {tuple(x.shape[1:])}, got shape {tuple(baseline.shape)}")
    return fill.to(x.device).expand_as(x)


def _device(model: nn.Module) -> torch.device:
    tensor = next(iter(model.parameters()), None)
    if tensor is None:
        tensor = next(iter(model.buffers()), None)
    return tensor.device if tensor is not None else torch.device("cpu")


def _forward(model: nn.Module, x: torch.Tensor) -> object:
    """The model's output on x, with a short message instead of a deep traceback when it cannot run."""
    try:
        return model(x)
    except (RuntimeError, TypeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"the model cannot run on an image of shape {tuple(x.shape[1:])} ({first}); "
                         f"pass one normalised image C×H×W as the model expects") from err


def _scores(out: object, n: int) -> torch.Tensor:
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != n:
        what = f"shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"the model should return one row of class scores per image (N×K), it returned {what}; "
                         f"these maps need a classifier")
    return out


def _target(target: object, scores: torch.Tensor) -> int:
    """The class to explain: ``target`` checked against the number of classes, or the top class."""
    classes = scores.shape[1]
    if target is None:
        return int(scores[0].argmax())
    if isinstance(target, torch.Tensor) and target.numel() == 1 and not target.is_floating_point():
        target = int(target)
    if isinstance(target, bool) or not isinstance(target, int):
        raise TypeError(f"target must be a class index (an int) or None for the predicted class, got {target!r}")
    if not 0 <= target < classes:
        raise ValueError(f"target={target} is not a class of this model, whose classes are 0 to {classes - 1}")
    return target

