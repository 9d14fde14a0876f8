"""A pretrained classifier as named stages: ``Backbone``, with its features, head and predictions.

Scope: the model class ``cnncourse.pretrained.pretrained`` returns. A
``Backbone`` is an ``nn.Sequential`` of named stages, run one after the other,
whose last child ``fc`` is the ImageNet classifier (1000 classes, in
``.categories``). ``.features`` is everything before ``fc`` (images to feature
vectors, sharing the parameters), ``.head`` is ``fc``, and ``.preprocess`` (a
``cnncourse.preprocess.Preprocess``) turns images into exactly its input.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from cnncourse.modes import eval_mode
from cnncourse.preprocess import Preprocess

__all__ = ["Backbone"]


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
        with eval_mode(self), torch.no_grad():  # each module's own mode comes back (a frozen batch norm stays frozen)
            probs = self(x).float().softmax(dim=1)
        if probs.shape[1] != len(self.categories):
            raise ValueError(f"the head outputs {probs.shape[1]} classes, not ImageNet's {len(self.categories)}: "
                             f"predict names ImageNet classes, so use it before replacing the head")
        top = probs.topk(min(k, probs.shape[1]), dim=1)
        return [[(self.categories[i], float(p)) for p, i in zip(values.tolist(), indices.tolist())]
                for values, indices in zip(top.values, top.indices)]
