"""What a training run measures: ``History`` (one entry per epoch) and ``EpochMeter`` (within an epoch).

Scope: the bookkeeping of ``cnncourse.train.fit``, kept out of its loop so
that the loop shows only the four steps of training. ``EpochMeter`` sums the
loss and the correct predictions on the device, checks that the loss stays a
finite number, draws the progress bar and appends each finished epoch to the
``History`` that ``fit`` returns. Both are importable from ``cnncourse.train``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterable
from typing import Any

import torch
from tqdm.auto import tqdm

__all__ = ["History", "EpochMeter"]


@dataclasses.dataclass
class History:
    """What ``fit`` measured, one entry per finished epoch.

    ``train_loss`` and ``train_acc`` are running averages over the epoch's
    batches (in train mode, so with dropout and augmentation on). The ``val_*``
    lists stay empty when ``fit`` got no validation data; ``val_top5`` holds
    ``None`` when there are fewer than 5 classes. ``lr`` is the learning rate of
    the first parameter group at the start of each epoch; ``seconds`` the wall
    time of each epoch, validation included.

    Example:
        >>> history = History(train_loss=[0.9, 0.4], train_acc=[0.7, 0.9])
        >>> len(history), history.as_dict()["train_acc"]
        (2, [0.7, 0.9])
    """

    train_loss: list[float] = dataclasses.field(default_factory=list)
    train_acc: list[float] = dataclasses.field(default_factory=list)
    val_loss: list[float] = dataclasses.field(default_factory=list)
    val_acc: list[float] = dataclasses.field(default_factory=list)
    val_top5: list[float | None] = dataclasses.field(default_factory=list)
    lr: list[float] = dataclasses.field(default_factory=list)
    seconds: list[float] = dataclasses.field(default_factory=list)

    def __len__(self) -> int:
        """The number of finished epochs."""
        return len(self.train_loss)

    def as_dict(self) -> dict[str, list]:
        """A plain dict of lists (copies), e.g. for a checkpoint or ``json.dump``.

        Example:
            >>> History(train_loss=[0.5]).as_dict()["train_loss"]
            [0.5]
        """
        return dataclasses.asdict(self)


class EpochMeter:
    """The bookkeeping of one epoch of ``fit``, kept out of the loop.

    It sums the loss and the correct predictions on the device, sample-weighted,
    and reads them (and checks that the loss is finite) only every
    ``check_every`` steps: reading a number from a GPU makes the CPU wait until
    the GPU has finished its queued work. It draws the progress bar, and on
    leaving its ``with`` block it appends the epoch's figures to ``history``.

    Args:
        history: the run's ``History``; the epoch is appended when it finishes.
        batches: the epoch's batches (their length, if any, sizes the bar and the messages).
        optimizer: its learning rate is recorded, and named when the loss diverges.
        epoch: this epoch's number, from 1.
        epochs: the number of epochs of the run.
        device: where the running sums live (the model's device).
        check_every: read the sums and check the losses every this many steps.
        progress: draw the progress bar.

    Raises:
        FloatingPointError: from ``update`` or ``finish`` when a loss was NaN
            or inf; it names the step and which updates reached the weights,
            and carries the history of the finished epochs as ``.history``.

    Example:
        >>> with EpochMeter(History(), batches, optimizer, epoch=1, epochs=1, device=device) as meter:
        ...     train_one_epoch(model, batches, optimizer, meter, device=device)
    """

    def __init__(
        self,
        history: History,
        batches: Iterable,
        optimizer: torch.optim.Optimizer,
        *,
        epoch: int,
        epochs: int,
        device: torch.device,
        check_every: int = 1,
        progress: bool = True,
    ) -> None:
        self.history, self.batches, self.optimizer = history, batches, optimizer
        self.epoch, self.epochs, self.check_every, self.progress = epoch, epochs, check_every, progress
        self.started, self.lr = time.perf_counter(), optimizer.param_groups[0]["lr"]
        self.steps, self.seen = 0, 0
        self.loss_sum = torch.zeros((), device=device)
        self.correct = torch.zeros((), dtype=torch.long, device=device)
        self.unchecked: list[torch.Tensor] = []  # the losses of the steps since the last check
        self.postfix: dict[str, str] = {}
        self.bar = tqdm(total=_length(batches), desc=f"epoch {epoch}/{epochs}", disable=not progress, leave=True)

    def __enter__(self) -> EpochMeter:
        return self

    def __exit__(self, error_type: type | None, *rest: Any) -> None:
        """Close the bar; after a finished epoch, record its learning rate and seconds."""
        if error_type is None:
            self.history.lr.append(self.lr)
            self.history.seconds.append(time.perf_counter() - self.started)
            self.bar.set_postfix(self.postfix, refresh=False)  # shown when the bar closes
        self.bar.close()

    def update(self, loss: torch.Tensor, outputs: Any, y: torch.Tensor) -> None:
        """Count one batch; at every ``check_every``-th step, stop before its update if a loss was NaN or inf."""
        self.steps += 1
        self.seen += y.shape[0]
        logits = outputs[0] if isinstance(outputs, (tuple, list)) else outputs
        self.loss_sum += loss.detach().float() * y.shape[0]
        self.correct += (logits.argmax(dim=1) == y).sum()
        self.unchecked.append(loss.detach())
        if len(self.unchecked) == self.check_every:
            self._check(last_update=self.steps - 1)
            if self.progress:
                self.bar.set_postfix(self._averages(), refresh=False)
        self.bar.update()

    def finish(self) -> None:
        """End of the epoch's training: check the last losses, record the running averages."""
        if self.seen == 0:
            raise _empty_training_data(self.batches, self.epoch)
        self._check(last_update=self.steps)  # their updates were applied already
        self.postfix = self._averages()
        self.history.train_loss.append(self.loss_sum.item() / self.seen)
        self.history.train_acc.append(self.correct.item() / self.seen)

    def validated(self, scores: dict[str, float | None]) -> None:
        """Record what ``evaluate`` measured on the validation data."""
        self.history.val_loss.append(scores["loss"])
        self.history.val_acc.append(scores["top1"])
        self.history.val_top5.append(scores["top5"])
        self.postfix.update(val_loss=f"{scores['loss']:.4f}", val_acc=f"{scores['top1']:.3f}")

    def _averages(self) -> dict[str, str]:
        return {"loss": f"{self.loss_sum.item() / self.seen:.4f}", "acc": f"{self.correct.item() / self.seen:.3f}"}

    def _check(self, *, last_update: int) -> None:
        """Raise if a loss since the last check is NaN or inf; ``last_update`` is the last step applied."""
        if not self.unchecked:
            return
        values = torch.stack(self.unchecked).float().tolist()  # one read from the device for all of them
        first = self.steps - len(values) + 1
        self.unchecked.clear()
        for step, value in enumerate(values, start=first):
            if not math.isfinite(value):
                raise self._diverged(value, step, last_update)

    def _diverged(self, value: float, step: int, last_update: int) -> FloatingPointError:
        total = _length(self.batches)
        steps = f"{step}/{total}" if total is not None else f"{step}"
        if last_update < step:
            weights = "Training stopped before this step's update, so the model keeps the weights of the previous step"
        else:
            weights = (
                f"fit reads the loss only every few steps (check_every), so the updates of steps {step} to "
                f"{last_update} reached the weights, which may now hold NaN or inf: reload a checkpoint or build "
                "the model again"
            )
        error = FloatingPointError(
            f"the loss became {value} at epoch {self.epoch}/{self.epochs}, step {steps}: training diverged. "
            f"Try a smaller learning rate (it is {self.optimizer.param_groups[0]['lr']:g}). "
            f"{weights}; the history of the finished epochs is this error's .history"
        )
        error.history = self.history
        return error


def _length(data: Iterable) -> int | None:
    """The number of batches per epoch, or None for an iterable without a length."""
    try:
        return len(data)  # type: ignore[arg-type]
    except TypeError:
        return None


def _empty_training_data(train: Iterable, epoch: int) -> ValueError:
    """The error raised when an epoch saw no batch."""
    if epoch > 1:
        return ValueError(
            f"the training data gave no batches in epoch {epoch}: it is an iterator that was used up in "
            "epoch 1. Pass something that can be iterated again: a list, a DataLoader or a TensorBatcher"
        )
    return ValueError(
        f"the training data is empty ({type(train).__name__} gave no batches); "
        "check the data set and the batch size (drop_last=True with fewer samples than one batch gives none)"
    )
