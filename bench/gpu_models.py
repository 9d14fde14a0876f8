"""The networks of assignments 3-6, written for the GPU check (``bench.gpu``); LeNet-5 is in ``bench.models``.

Scope: one builder per assignment, each the network that assignment trains in
its full budget, with the same layers and parameter counts, written here from
the papers (the library does not offer them: students write them):

- ``vgg16_cifar``: VGG-16 (configuration D) with batch normalisation and the
  32×32 head of assignment 3 (global average pooling, one linear layer);
  Simonyan and Zisserman, 2014, "Very Deep Convolutional Networks for
  Large-Scale Image Recognition".
- ``compact_inception``: assignment 4's GoogLeNet for 32×32 images (a 3×3
  stem, seven batch-normalised Inception modules, one auxiliary classifier);
  Szegedy et al., 2014, "Going Deeper with Convolutions".
- ``resnet20``: assignment 5's ResNet-20 for CIFAR-10 (three stages of three
  basic blocks, 16/32/64 channels, zero-padding shortcuts, option A); He et
  al., 2015, "Deep Residual Learning for Image Recognition".
- ``resnet18_transfer``: assignment 6's ResNet-18 with a new head; the check
  needs no network, so it starts from random weights (the same computation
  as fine-tuning ImageNet's).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def vgg16_cifar(num_classes: int = 10) -> nn.Sequential:
    """VGG-16 with batch normalisation for 32×32 images (14,728,266 parameters for 10 classes).

    Example:
        >>> vgg16_cifar()(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """
    layers: list[nn.Module] = []
    channels = 3
    for entry in VGG16:
        if entry == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(channels, entry, 3, padding=1), nn.BatchNorm2d(entry), nn.ReLU(inplace=True)]
            channels = entry
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))


def _conv_block(c_in: int, c_out: int, kernel: int) -> nn.Sequential:
    """Convolution (no bias), batch normalisation, ReLU; the size kept."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True))


class Inception(nn.Module):
    """The four branches of an Inception module (1×1; 1×1 then 3×3; 1×1 then 5×5; pooling then 1×1), concatenated."""

    def __init__(self, c_in: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int, ch5x5: int, pool_proj: int) -> None:
        super().__init__()
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj
        self.branches = nn.ModuleList([
            _conv_block(c_in, ch1x1, 1),
            nn.Sequential(_conv_block(c_in, ch3x3red, 1), _conv_block(ch3x3red, ch3x3, 3)),
            nn.Sequential(_conv_block(c_in, ch5x5red, 1), _conv_block(ch5x5red, ch5x5, 5)),
            nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), _conv_block(c_in, pool_proj, 1)),
        ])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x) for branch in self.branches], dim=1)


class CompactInception(nn.Module):
    """Assignment 4's GoogLeNet for 32×32 images; in training mode it returns (main, auxiliary) logits.

    Example:
        >>> CompactInception().eval()(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    CONFIG = [("3a", (32, 48, 64, 8, 16, 16)), ("3b", (64, 64, 96, 16, 48, 32)), ("pool", ()),
              ("4a", (96, 48, 104, 8, 24, 32)), ("aux", ()), ("4b", (80, 56, 112, 12, 32, 32)),
              ("4c", (128, 80, 160, 16, 64, 64)), ("pool", ()), ("5a", (128, 80, 160, 16, 64, 64)),
              ("5b", (192, 96, 192, 24, 64, 64))]

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = _conv_block(3, 64, 3)
        channels, self.before_aux, self.after_aux = 64, nn.Sequential(), nn.Sequential()
        part = self.before_aux
        for name, config in self.CONFIG:
            if name == "pool":
                part.append(nn.MaxPool2d(3, stride=2, padding=1))
            elif name == "aux":
                self.aux = nn.Sequential(nn.AdaptiveAvgPool2d(4), _conv_block(channels, 128, 1), nn.Flatten(),
                                         nn.Linear(128 * 16, 1024), nn.ReLU(inplace=True), nn.Dropout(0.7),
                                         nn.Linear(1024, num_classes))
                part = self.after_aux
            else:
                block = Inception(channels, *config)
                part.append(block)
                channels = block.out_channels
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(channels, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        x = self.before_aux(self.stem(x))
        main = self.head(self.after_aux(x))
        return (main, self.aux(x)) if self.training else main


def googlenet_loss(outputs: torch.Tensor | tuple[torch.Tensor, torch.Tensor], targets: torch.Tensor) -> torch.Tensor:
    """Assignment 4's loss: cross-entropy with label smoothing 0.1, plus 0.3 × the auxiliary classifier's.

    Example:
        >>> googlenet_loss(torch.zeros(2, 10), torch.tensor([0, 1])).item() > 0
        True
    """
    if isinstance(outputs, tuple):
        main, aux = outputs
        return (F.cross_entropy(main, targets, label_smoothing=0.1)
                + 0.3 * F.cross_entropy(aux, targets, label_smoothing=0.1))
    return F.cross_entropy(outputs, targets, label_smoothing=0.1)


class _CifarBlock(nn.Module):
    """Two 3×3 convolutions with batch normalisation and a zero-padding shortcut (He et al.'s option A)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out),
                                  nn.ReLU(inplace=True), nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(c_out))
        self.stride, self.extra = stride, c_out - c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x[:, :, ::self.stride, ::self.stride] if self.stride != 1 else x
        if self.extra:
            shortcut = F.pad(shortcut, (0, 0, 0, 0, 0, self.extra))
        return F.relu(self.body(x) + shortcut)


def resnet20(num_classes: int = 10) -> nn.Sequential:
    """ResNet-20 for 32×32 images (269,722 parameters for 10 classes, as assignment 5 counts).

    Example:
        >>> resnet20()(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """
    layers: list[nn.Module] = [nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True)]
    channels = 16
    for width, stride in ((16, 1), (32, 2), (64, 2)):
        for index in range(3):
            layers.append(_CifarBlock(channels, width, stride if index == 0 else 1))
            channels = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))


def resnet18_transfer(num_classes: int = 37) -> nn.Module:
    """torchvision's ResNet-18 (random weights) with a new head of ``num_classes`` outputs.

    Example:
        >>> resnet18_transfer(37).fc.out_features
        37
    """
    from torchvision.models import resnet18

    model = resnet18(weights=None)
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model
