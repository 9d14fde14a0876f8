"""A short verification run of a training recipe: does it learn at all?

Scope: ``verify_training``, which runs a notebook's own training code for a
few dozen steps on one fixed small batch, on a copy of the model, and checks
the three signs of a working training step: the loss falls, nothing becomes
NaN or infinite, and the parameters move. A graded training task loads its
weights from a saved run (``cnncourse.runs``) instead of training again, so
the test of the task calls this to exercise the training code as well. It is
the "overfit one batch" check of Karpathy's "A Recipe for Training Neural
Networks" (2019), made cheap enough to run in every grading.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


__all__ = ["TrainingCheck", "TrainingCheckError", "verify_training"]

Batch = tuple[torch.Tensor, torch.Tensor]


class TrainingCheckError(AssertionError):
    """A training recipe failed its verification run; the message says which sign was missing."""


@dataclass(frozen=True)
class TrainingCheck:
    """What a verification run measured."""

    steps: int  # batches the training code drew
    loss_before: float  # on the fixed batch, in training mode, before training
    loss_after: float  # the same, after training
    moved: int  # trainable parameter tensors that changed
    trainable: int  # trainable parameter tensors


class _RepeatedBatch:
    """The same batch ``steps`` times: a re-iterable with a length, like a ``TensorBatcher``."""

    def __init__(self, batch: Batch, steps: int) -> None:
        self.batch, self.steps, self.drawn = batch, steps, 0

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[Batch]:
        for _ in range(self.steps):
            self.drawn += 1
            yield self.batch


def verify_training(
    model: nn.Module | Callable[[], nn.Module],
    train: Callable[[nn.Module, Any], Any],
    batch: Batch,
    *,
    steps: int = 30,
    min_drop: float = 0.1,
    seed: int = 0,
) -> TrainingCheck:
    """Run ``train`` for ``steps`` steps on one fixed batch, on a fresh model, and check that it learns.

    The model you pass is never changed: a module is deep-copied, a function
    is called for a new model. The global random state is restored afterwards,
    so the notebook's later cells see the same random numbers as without the check.

    Args:
        model: a function returning a new, untrained model (e.g. the class
            ``LeNet5``), or a model to copy (best untrained: a model that already
            knows the batch has little loss left to lose).
        train: ``train(model, batches)`` trains ``model`` in place on
            ``batches``, a re-iterable of ``steps`` copies of ``batch`` with a
            ``len()``, e.g. ``lambda m, b: train_model(m, b, [batch], 1)``.
        batch: ``(images, labels)``, a small batch (e.g. 64 images).
        steps: how many batches ``train`` may draw.
        min_drop: the loss on the batch must fall by at least this fraction.
        seed: seeds the random numbers of the run (weights of a new model, dropout).

    Returns:
        A ``TrainingCheck`` with the losses before and after and the parameters that moved.

    Raises:
        TrainingCheckError: the training drew no batch, the loss became NaN or
            infinite, no parameter moved, or the loss did not fall enough.
            It is an ``AssertionError``, so a test cell fails with its message.

    Example:
        >>> verify_training(LeNet5, lambda m, b: train_model(m, b, [batch], 1), batch).loss_after < 1.0
        True
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if not 0 <= min_drop < 1:
        raise ValueError(f"min_drop must be a fraction in [0, 1), got {min_drop!r}")
    x, y = batch
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        net = copy.deepcopy(model) if isinstance(model, nn.Module) else model()
        if not isinstance(net, nn.Module):
            raise TypeError(f"model should be an nn.Module or a function returning one, got {type(net).__name__}")
        net.to(x.device)
        before = [p.detach().clone() for p in net.parameters() if p.requires_grad]
        loss_before = _loss(net, x, y, seed)
        batches = _RepeatedBatch((x, y), steps)
        try:
            train(net, batches)
        except FloatingPointError as error:
            raise TrainingCheckError(f"training on one fixed batch of {len(y)} images made the loss NaN or "
                                     f"infinite: {error}") from None
        loss_after = _loss(net, x, y, seed)
    after = [p.detach() for p in net.parameters() if p.requires_grad]
    return _judge(batches.drawn, steps, len(y), loss_before, loss_after, before, after, min_drop)


def _loss(net: nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int) -> float:
    """Cross-entropy of the main output on the batch, in training mode, without gradients.

    Training mode (batch statistics in batch norm) measures what the recipe optimised: after a
    few dozen steps at a high learning rate the running statistics lag behind the weights, so an
    eval-mode loss can rise although the recipe works. Dropout draws the same masks every time (seeded).
    """
    net.train()
    torch.manual_seed(seed)
    with torch.no_grad():
        outputs = net(x)
        logits = outputs[0] if isinstance(outputs, (tuple, list)) else outputs
        return nn.functional.cross_entropy(logits.float(), y).item()


def _judge(drawn: int, steps: int, size: int, loss_before: float, loss_after: float,
           before: list[torch.Tensor], after: list[torch.Tensor], min_drop: float) -> TrainingCheck:
    where = f"after training on one fixed batch of {size} images for {steps} steps"
    if drawn == 0:
        raise TrainingCheckError(f"the training code drew no batch from the {steps} it was given; "
                                 "it should loop over the training batches it receives")
    broken = [i for i, p in enumerate(after) if not torch.isfinite(p).all()]
    if not math.isfinite(loss_after) or broken:
        raise TrainingCheckError(f"{where}, the loss is {loss_after} and {len(broken)} parameter tensors hold NaN "
                                 "or inf: the learning rate may be far too large, or the loss is computed wrongly")
    moved = sum(not torch.equal(a, b.to(a.device)) for a, b in zip(after, before))
    if moved == 0:
        raise TrainingCheckError(f"{where}, no parameter changed (of {len(after)} trainable tensors): check that the "
                                 "optimizer gets model.parameters(), that its learning rate is not 0, and that it steps")
    if not loss_after <= loss_before * (1 - min_drop):
        raise TrainingCheckError(
            f"{where}, the loss on that batch should fall by at least {min_drop:.0%}: it went from {loss_before:.4f} "
            f"to {loss_after:.4f}. A working recipe memorises one batch quickly; check the learning rate, "
            "zero_grad, and the loss")
    return TrainingCheck(steps=drawn, loss_before=loss_before, loss_after=loss_after, moved=moved,
                         trainable=len(after))
