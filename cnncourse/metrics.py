"""Classification metrics: accuracy, top-k accuracy (the ILSVRC rule) and the confusion matrix.

Scope: plain functions over a batch (or a whole data set) of scores and labels.
They accept tensors or NumPy arrays, validate shapes and values, and return
Python floats or a small CPU tensor. Collecting the scores of a data set is the
job of ``cnncourse.train.evaluate``; drawing the matrix is ``cnncourse.viz``'s.

Ties: when several classes share the same score, the class with the lower index
counts as the higher-ranked one. This is what ``argmax`` does (it returns the
first maximum), so ``topk_accuracy(..., ks=(1,))`` always equals ``accuracy``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

__all__ = ["accuracy", "topk_accuracy", "confusion_matrix"]


def accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """The fraction of samples whose highest-scoring class is the true label.

    Args:
        logits: scores of shape (N, C) (logits, probabilities, anything where
            higher means more likely), or already predicted labels of shape (N,).
        targets: true labels of shape (N,), integers in [0, C).

    Returns:
        A float in [0, 1]. Ties go to the lower class index (see the module docstring).

    Example:
        >>> accuracy(torch.tensor([[2.0, 1.0], [0.0, 3.0]]), torch.tensor([0, 0]))
        0.5
    """
    logits_t = _as_tensor(logits, "logits")
    targets_t = _labels(targets, "targets")
    if logits_t.dim() == 2:
        scores = _scores(logits_t, targets_t)
        predictions = scores.argmax(dim=1)
    else:
        predictions = _labels(logits_t, "logits (1-D, read as predicted labels)")
        _same_length(predictions, targets_t, "logits")
    correct = (predictions == targets_t.to(predictions.device)).sum().item()
    return correct / targets_t.shape[0]


def topk_accuracy(logits: torch.Tensor, targets: torch.Tensor, ks: Sequence[int] = (1, 5)) -> list[float]:
    """Top-k accuracy for each k, following the ILSVRC rule.

    A prediction counts as correct for a given k when the true label is among
    the k highest scores; the top-k *error* reported in the ImageNet papers is
    ``1 - topk_accuracy``. Ties go to the lower class index: a true class whose
    score equals that of a class with a lower index is ranked after it.

    Args:
        logits: scores of shape (N, C).
        targets: true labels of shape (N,), integers in [0, C).
        ks: the values of k, each between 1 and C.

    Returns:
        One float in [0, 1] per k, in the order of ``ks``.

    Example:
        >>> scores = torch.tensor([[0.1, 0.5, 0.4], [0.7, 0.2, 0.1]])
        >>> topk_accuracy(scores, torch.tensor([2, 0]), ks=(1, 2))
        [0.5, 1.0]
    """
    logits_t = _as_tensor(logits, "logits")
    targets_t = _labels(targets, "targets")
    scores = _scores(logits_t, targets_t)
    hits = _topk_hits(scores, targets_t, _check_ks(ks, scores.shape[1]))
    return [count / scores.shape[0] for count in hits.tolist()]


def confusion_matrix(predictions: torch.Tensor, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Count how often each true class was predicted as each class.

    Args:
        predictions: predicted labels of shape (N,), or scores of shape (N, C)
            (then the argmax of each row is the prediction).
        targets: true labels of shape (N,).
        num_classes: the number of classes C; labels must lie in [0, C).

    Returns:
        An int64 CPU tensor of shape (C, C): row = true class, column =
        predicted class, so ``matrix[i, j]`` counts samples of class i predicted
        as j and the diagonal holds the correct predictions.

    Example:
        >>> confusion_matrix(torch.tensor([0, 1, 1]), torch.tensor([0, 0, 1]), 2)
        tensor([[1, 1],
                [0, 1]])
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    num_classes = int(num_classes)
    predictions_t = _as_tensor(predictions, "predictions")
    targets_t = _labels(targets, "targets").cpu()
    if predictions_t.dim() == 2:
        if predictions_t.shape[1] != num_classes:
            raise ValueError(
                f"predictions are scores for {predictions_t.shape[1]} classes but num_classes is {num_classes}; "
                "pass the number of columns of the scores as num_classes"
            )
        predictions_t = _scores(predictions_t, targets_t).argmax(dim=1)
    predictions_t = _labels(predictions_t, "predictions").cpu()
    _same_length(predictions_t, targets_t, "predictions")
    for name, labels in (("predictions", predictions_t), ("targets", targets_t)):
        low, high = labels.min().item(), labels.max().item()
        if low < 0 or high >= num_classes:
            raise ValueError(
                f"{name} hold labels from {low} to {high}, outside [0, {num_classes - 1}] for num_classes={num_classes}; "
                "check num_classes or the labels"
            )
    flat = targets_t * num_classes + predictions_t
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _topk_hits(scores: torch.Tensor, targets: torch.Tensor, ks: Sequence[int]) -> torch.Tensor:
    """How many samples have their true label within the top k, for each k (no validation).

    The building block of ``topk_accuracy`` and ``cnncourse.train.evaluate``:
    it stays on the scores' device, so a loop can add the counts up without
    waiting for the GPU after every batch. The rank of the true class is the
    number of classes ranked before it (higher score, or equal score and lower
    index); the sample is a hit for k when that rank is below k.

    Args:
        scores: (N, C) floating-point scores.
        targets: (N,) int64 labels in [0, C), on any device.
        ks: the values of k.

    Returns:
        An int64 tensor of shape (len(ks),) on the scores' device.

    Example:
        >>> _topk_hits(torch.tensor([[0.1, 0.5, 0.4]]), torch.tensor([2]), [1, 2])
        tensor([0, 1])
    """
    targets = targets.to(scores.device).long()
    true_score = scores.gather(1, targets[:, None])
    lower_index = torch.arange(scores.shape[1], device=scores.device)[None, :] < targets[:, None]
    ranked_before = (scores > true_score) | ((scores == true_score) & lower_index)
    rank = ranked_before.sum(dim=1)
    return torch.stack([(rank < k).sum() for k in ks])


def _as_tensor(value: Any, name: str) -> torch.Tensor:
    """A tensor view of a tensor, NumPy array or list; TypeError otherwise."""
    if isinstance(value, torch.Tensor):
        return value.detach()
    try:
        return torch.as_tensor(np.asarray(value))
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"{name} must be a tensor or an array of numbers, got {type(value).__name__}") from err


def _labels(value: Any, name: str) -> torch.Tensor:
    """Validate a 1-D, non-empty tensor of integer class labels and return it as int64."""
    labels = _as_tensor(value, name)
    if labels.dim() != 1:
        raise ValueError(f"{name} must be a 1-D tensor of class labels, got shape {tuple(labels.shape)}")
    if labels.numel() == 0:
        raise ValueError(f"{name} is empty: there is nothing to score")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer class labels, got dtype {labels.dtype}")
    return labels.long()


def _same_length(first: torch.Tensor, targets: torch.Tensor, name: str) -> None:
    """Raise ValueError unless ``first`` has one row per target."""
    if first.shape[0] != targets.shape[0]:
        raise ValueError(f"{name} have {first.shape[0]} samples but targets have {targets.shape[0]}; they must match")


def _scores(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Validate (N, C) scores against (N,) labels in [0, C); return the scores."""
    if logits.dim() != 2:
        raise ValueError(f"logits must have shape (N, C), one row of class scores per sample, got {tuple(logits.shape)}")
    if not logits.is_floating_point():
        logits = logits.float()
    _same_length(logits, targets, "logits")
    if logits.shape[0] == 0 or logits.shape[1] == 0:
        raise ValueError(f"logits are empty (shape {tuple(logits.shape)}): there is nothing to score")
    if torch.isnan(logits).any():
        raise ValueError("logits contain NaN, so no class can be ranked; check the model (did training diverge?)")
    low, high = targets.min().item(), targets.max().item()
    if low < 0 or high >= logits.shape[1]:
        raise ValueError(
            f"targets hold labels from {low} to {high}, but the logits score {logits.shape[1]} classes "
            f"(labels 0 to {logits.shape[1] - 1})"
        )
    return logits


def _check_ks(ks: Sequence[int], num_classes: int) -> list[int]:
    """Validate the values of k against the number of classes."""
    if isinstance(ks, (int, np.integer)):
        ks = [ks]
    ks = list(ks)
    if not ks:
        raise ValueError("ks is empty: pass at least one k, e.g. ks=(1, 5)")
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"every k must be a positive integer, got {k!r}")
        if k > num_classes:
            raise ValueError(
                f"k={k} is larger than the number of classes ({num_classes}); "
                f"top-{k} accuracy needs at least {k} classes"
            )
    return [int(k) for k in ks]
