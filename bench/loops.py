"""The usual training loops the suite compares ``cnncourse.train.fit`` with, each in its source's style.

Scope: three loops, written here from their descriptions (no code copied):

- ``example_train`` / ``example_test``: the loop of PyTorch's official MNIST
  example (pytorch/examples, ``mnist/main.py``): ``zero_grad``, forward, loss,
  backward, step, a log line every 10 batches that reads the loss; the test
  pass sums the loss and the correct predictions with ``.item()`` per batch.
  The model here returns logits, so the loss is cross-entropy (the example's
  ``log_softmax`` + ``nll_loss`` is the same function).
- ``d2l_train_ch6``: the loop of the d2l book's ``train_ch6`` (Dive into Deep
  Learning, chapter 7.6): an ``Accumulator`` of loss, correct predictions and
  examples filled with ``float()`` every batch, a ``Timer`` started after each
  batch arrives and stopped after the update (so it leaves out data loading and
  evaluation), the test accuracy after each epoch, and the throughput reported
  as the book prints it. The book's animated plot is replaced by a list of the
  points it would draw; its Xavier re-initialisation is left out so that every
  side starts from the same weights.
- ``bare_loop``: forward, backward, step over batches already in memory,
  nothing else: the limit a training loop can reach.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F


# --- PyTorch's official MNIST example ------------------------------------------------------


def example_datasets(root: Path, *, fashion: bool = False) -> tuple:
    """torchvision's MNIST (or, with ``fashion``, FashionMNIST) training and test sets under ``root``, with the example's transform.

    Example:
        >>> train_set, test_set = example_datasets(Path("/tmp/data"))  # files from bench.files.write_mnist
    """
    from torchvision import datasets, transforms

    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    kind = datasets.FashionMNIST if fashion else datasets.MNIST
    return (kind(str(root), train=True, download=False, transform=transform),
            kind(str(root), train=False, download=False, transform=transform))


def example_train(model: nn.Module, device: torch.device, train_loader, optimizer: torch.optim.Optimizer,
                  epoch: int, *, log_interval: int = 10) -> None:
    """One training epoch as the official example runs it.

    Example:
        >>> example_train(model, torch.device("cpu"), train_loader, optimizer, epoch=1)
    """
    model.train()
    for batch_idx, (data, target) in enumerate(train_loader):
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = F.cross_entropy(output, target)
        loss.backward()
        optimizer.step()
        if batch_idx % log_interval == 0:
            done = batch_idx * len(data)
            print(f"Train Epoch: {epoch} [{done}/{len(train_loader.dataset)} "
                  f"({100.0 * batch_idx / len(train_loader):.0f}%)]\tLoss: {loss.item():.6f}")


def example_test(model: nn.Module, device: torch.device, test_loader) -> float:
    """The official example's test pass; returns the accuracy (the example prints it).

    Example:
        >>> example_test(model, torch.device("cpu"), test_loader)
        0.98...
    """
    model.eval()
    test_loss, correct = 0.0, 0
    with torch.no_grad():
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            test_loss += F.cross_entropy(output, target, reduction="sum").item()
            pred = output.argmax(dim=1, keepdim=True)
            correct += pred.eq(target.view_as(pred)).sum().item()
    n = len(test_loader.dataset)
    print(f"\nTest set: Average loss: {test_loss / n:.4f}, Accuracy: {correct}/{n} ({100.0 * correct / n:.0f}%)\n")
    return correct / n


# --- the d2l book's train_ch6 --------------------------------------------------------------


class Timer:
    """Start/stop stopwatch that keeps every interval, as the book's ``d2l.Timer``.

    Example:
        >>> timer = Timer(); timer.start(); _ = timer.stop(); len(timer.times)
        1
    """

    def __init__(self) -> None:
        self.times: list[float] = []
        self.started = time.time()

    def start(self) -> None:
        self.started = time.time()

    def stop(self) -> float:
        self.times.append(time.time() - self.started)
        return self.times[-1]

    def sum(self) -> float:
        return sum(self.times)


class Accumulator:
    """Running sums of n numbers, each added with ``float()`` (which waits for the device).

    Example:
        >>> metric = Accumulator(2); metric.add(1, torch.tensor(2.0)); metric.add(3, 4); metric[1]
        6.0
    """

    def __init__(self, n: int) -> None:
        self.data = [0.0] * n

    def add(self, *values: float | torch.Tensor) -> None:
        self.data = [a + float(b) for a, b in zip(self.data, values)]

    def __getitem__(self, index: int) -> float:
        return self.data[index]


def d2l_accuracy(y_hat: torch.Tensor, y: torch.Tensor) -> float:
    """The number of correct predictions, as the book's ``d2l.accuracy``.

    Example:
        >>> d2l_accuracy(torch.tensor([[0.1, 0.9], [0.8, 0.2]]), torch.tensor([1, 1]))
        1.0
    """
    if y_hat.dim() > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(dim=1)
    return float((y_hat.type(y.dtype) == y).type(y.dtype).sum())


def d2l_evaluate_accuracy(net: nn.Module, data_iter: Iterable, device: torch.device) -> float:
    """The accuracy over a data iterator, as the book's ``evaluate_accuracy_gpu``.

    Example:
        >>> d2l_evaluate_accuracy(net, test_iter, torch.device("cpu"))
        0.98...
    """
    net.eval()
    metric = Accumulator(2)  # correct predictions, examples
    with torch.no_grad():
        for X, y in data_iter:
            X, y = X.to(device), y.to(device)
            metric.add(d2l_accuracy(net(X), y), y.numel())
    return metric[0] / metric[1]


def d2l_train_ch6(net: nn.Module, train_iter, test_iter, num_epochs: int, optimizer: torch.optim.Optimizer,
                  device: torch.device) -> dict[str, float]:
    """Train as the book's ``train_ch6`` does; returns its report and the test accuracy.

    Returns:
        ``{"book_examples_per_s": ..., "test_acc": ..., "train_loss": ...}``;
        the first is what the book prints: examples of the last epoch times
        the epochs, over the Timer's sum (training steps only).

    Example:
        >>> d2l_train_ch6(lenet(), train_iter, test_iter, 10, optimizer, torch.device("cpu"))["test_acc"]
        0.98...
    """
    print("training on", device)
    net.to(device)
    loss = nn.CrossEntropyLoss()
    points: list[tuple[float, tuple[float | None, ...]]] = []  # what the book's Animator would draw
    timer, num_batches = Timer(), len(train_iter)
    every = max(1, num_batches // 5)  # the book divides by num_batches // 5, which fails below 5 batches
    for epoch in range(num_epochs):
        metric = Accumulator(3)  # training loss sum, correct predictions, examples
        net.train()
        for i, (X, y) in enumerate(train_iter):
            timer.start()
            optimizer.zero_grad()
            X, y = X.to(device), y.to(device)
            y_hat = net(X)
            l = loss(y_hat, y)
            l.backward()
            optimizer.step()
            with torch.no_grad():
                metric.add(l * X.shape[0], d2l_accuracy(y_hat, y), X.shape[0])
            timer.stop()
            train_l, train_acc = metric[0] / metric[2], metric[1] / metric[2]
            if (i + 1) % every == 0 or i == num_batches - 1:
                points.append((epoch + (i + 1) / num_batches, (train_l, train_acc, None)))
        test_acc = d2l_evaluate_accuracy(net, test_iter, device)
        points.append((epoch + 1, (None, None, test_acc)))
    book = metric[2] * num_epochs / timer.sum()
    print(f"loss {train_l:.3f}, train acc {train_acc:.3f}, test acc {test_acc:.3f}")
    print(f"{book:.1f} examples/sec on {device}")
    return {"book_examples_per_s": book, "test_acc": test_acc, "train_loss": train_l}


# --- the limit -------------------------------------------------------------------------------


def bare_loop(model: nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]], *, epochs: int,
              optimizer: torch.optim.Optimizer) -> None:
    """Forward, backward and step over batches already prepared in memory; nothing else.

    Example:
        >>> bare_loop(model, [(x, y)] * 100, epochs=1, optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    """
    model.train()
    for _ in range(epochs):
        for x, y in batches:
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
