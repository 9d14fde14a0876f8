"""Tests of cnncourse.metrics against NumPy and scikit-learn references."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn.metrics
import torch

from cnncourse.metrics import accuracy, confusion_matrix, topk_accuracy


def random_problem(seed: int, n: int = 200, classes: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """Random float scores (no ties) and labels."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, classes, generator=generator)
    targets = torch.randint(0, classes, (n,), generator=generator)
    return logits, targets


def reference_topk(scores: np.ndarray, targets: np.ndarray, k: int) -> float:
    """Top-k accuracy with ties going to the lower class index (stable sort of descending scores)."""
    order = np.argsort(-scores, axis=1, kind="stable")
    return float(np.mean([targets[i] in order[i, :k] for i in range(len(targets))]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_accuracy_matches_numpy(seed: int) -> None:
    logits, targets = random_problem(seed)
    expected = float(np.mean(logits.numpy().argmax(axis=1) == targets.numpy()))
    got = accuracy(logits, targets)
    assert got == pytest.approx(expected), f"expected accuracy {expected}, got {got}"


def test_accuracy_accepts_predicted_labels_and_numpy() -> None:
    predictions = np.array([0, 1, 2, 2, 1])
    targets = np.array([0, 1, 1, 2, 0])
    got = accuracy(predictions, targets)
    assert got == pytest.approx(3 / 5), f"expected 0.6 for 3 of 5 right, got {got}"
    assert isinstance(got, float), f"expected a Python float, got {type(got).__name__}"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_topk_matches_sklearn(seed: int) -> None:
    logits, targets = random_problem(seed, classes=12)
    ks = (1, 3, 5, 11)
    got = topk_accuracy(logits, targets, ks=ks)
    expected = [
        sklearn.metrics.top_k_accuracy_score(targets.numpy(), logits.numpy(), k=k, labels=np.arange(12)) for k in ks
    ]
    assert got == pytest.approx(expected), f"expected {expected} for ks={ks}, got {got}"
    everything = topk_accuracy(logits, targets, ks=(12,))
    assert everything == [1.0], f"top-C accuracy (C=12) must be [1.0], got {everything}"


def test_topk_ties_go_to_the_lower_index() -> None:
    generator = torch.Generator().manual_seed(3)
    scores = torch.randint(0, 3, (300, 8), generator=generator).float()  # many ties
    targets = torch.randint(0, 8, (300,), generator=generator)
    got = topk_accuracy(scores, targets, ks=(1, 2, 4))
    expected = [reference_topk(scores.numpy(), targets.numpy(), k) for k in (1, 2, 4)]
    assert got == pytest.approx(expected), f"expected {expected} with ties to the lower index, got {got}"
    assert got[0] == pytest.approx(accuracy(scores, targets)), "top-1 must equal accuracy (argmax) under ties"


def test_topk_small_example() -> None:
    scores = torch.tensor([[0.1, 0.5, 0.4], [0.7, 0.2, 0.1], [0.2, 0.3, 0.5]])
    got = topk_accuracy(scores, torch.tensor([2, 0, 0]), ks=(1, 2, 3))
    assert got == pytest.approx([1 / 3, 2 / 3, 1.0]), f"expected [1/3, 2/3, 1], got {got}"


@pytest.mark.parametrize("seed", [0, 1])
def test_confusion_matrix_matches_sklearn(seed: int) -> None:
    logits, targets = random_problem(seed, n=300, classes=7)
    predictions = logits.argmax(dim=1)
    expected = sklearn.metrics.confusion_matrix(targets.numpy(), predictions.numpy(), labels=np.arange(7))
    for given in (predictions, logits):
        got = confusion_matrix(given, targets, 7)
        assert got.dtype == torch.int64, f"expected int64, got {got.dtype}"
        assert np.array_equal(got.numpy(), expected), f"expected\n{expected}\ngot\n{got}"


def test_confusion_matrix_rows_are_true_classes() -> None:
    got = confusion_matrix(torch.tensor([1, 1, 1]), torch.tensor([0, 0, 1]), 3)
    expected = torch.tensor([[0, 2, 0], [0, 1, 0], [0, 0, 0]])
    assert torch.equal(got, expected), f"expected rows = true class\n{expected}\ngot\n{got}"


def test_inputs_are_not_modified() -> None:
    logits, targets = random_problem(4)
    logits_before, targets_before = logits.clone(), targets.clone()
    accuracy(logits, targets)
    topk_accuracy(logits, targets, ks=(1, 5))
    confusion_matrix(logits, targets, 10)
    assert torch.equal(logits, logits_before) and torch.equal(targets, targets_before), "the inputs were modified"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: topk_accuracy(torch.randn(4, 3), torch.tensor([0, 1, 2, 0]), ks=(1, 5)), "larger than the number of classes"),
        (lambda: topk_accuracy(torch.randn(4, 3), torch.tensor([0, 1, 2, 0]), ks=(0,)), "positive integer"),
        (lambda: topk_accuracy(torch.randn(4, 3), torch.tensor([0, 1, 2, 0]), ks=()), "ks is empty"),
        (lambda: accuracy(torch.empty(0, 3), torch.empty(0, dtype=torch.long)), "empty"),
        (lambda: accuracy(torch.randn(4, 3), torch.tensor([0, 1, 2])), "4 samples but targets have 3"),
        (lambda: accuracy(torch.randn(4, 3), torch.tensor([0, 1, 3, 0])), "outside|3 classes"),
        (lambda: accuracy(torch.randn(4, 3, 2), torch.tensor([0, 1, 2, 0])), "shape"),
        (lambda: accuracy(torch.randn(4, 3), torch.tensor([0.0, 1.0, 2.0, 0.0])), "integer class labels"),
        (lambda: accuracy(torch.full((2, 3), float("nan")), torch.tensor([0, 1])), "NaN"),
        (lambda: confusion_matrix(torch.tensor([0, 5]), torch.tensor([0, 1]), 3), "predictions hold labels from 0 to 5"),
        (lambda: confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, -1]), 3), "targets hold labels from -1"),
        (lambda: confusion_matrix(torch.randn(2, 4), torch.tensor([0, 1]), 3), "scores for 4 classes"),
        (lambda: confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, 1]), 0), "num_classes"),
        (lambda: confusion_matrix(torch.tensor([], dtype=torch.long), torch.tensor([], dtype=torch.long), 3), "empty"),
    ],
)
def test_bad_input_gives_a_clear_value_error(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_non_numeric_input_gives_a_type_error() -> None:
    with pytest.raises(TypeError, match="logits must be a tensor"):
        accuracy(object(), torch.tensor([0]))
