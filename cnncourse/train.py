"""The training loop of the course: ``fit``, ``evaluate``, ``History`` and checkpoints.

Scope: one loop that trains any classifier on any iterable of ``(x, y)``
batches (a ``TensorBatcher``, a ``DataLoader``, a plain list), the matching
evaluation pass, and saving/loading a training run. Read ``fit`` from top to
bottom: it is the loop every lecture of the course runs, with comments on why
each step is there. Everything that is not the loop itself lives in the small
helpers below it.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from cnncourse.metrics import _topk_hits
from cnncourse.runtime import get_device

__all__ = ["History", "fit", "evaluate", "save_checkpoint", "load_checkpoint"]

LossHook = Callable[[Any, torch.Tensor], torch.Tensor]


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


def fit(
    model: nn.Module,
    train: Iterable,
    val: Iterable | None = None,
    *,
    epochs: int,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    scheduler_interval: str = "epoch",
    loss: LossHook | None = None,
    device: str | torch.device | None = None,
    amp: bool | None = None,
    channels_last: bool | None = None,
    progress: bool = True,
    checkpoint: str | os.PathLike | None = None,
    check_every: int | None = None,
) -> History:
    """Train ``model`` for ``epochs`` passes over ``train`` and return what was measured.

    Args:
        model: a classifier returning logits of shape (batch, classes), or a
            tuple whose first element is those logits (e.g. GoogLeNet's main and
            auxiliary outputs; then pass ``loss``). It is moved to ``device``
            and trained in place (with ``channels_last``, its convolution
            weights change memory layout, not values).
        train: any re-iterable of ``(x, y)`` batches: ``TensorBatcher``,
            ``DataLoader`` or a list; ``y`` holds integer class labels.
        val: batches to evaluate after each epoch (optional).
        epochs: number of passes over ``train``.
        optimizer: default SGD with lr=0.05, Nesterov momentum 0.9 and no
            weight decay: a safe start for the small CNNs of the course.
        scheduler: a learning-rate scheduler built on ``optimizer``;
            ``ReduceLROnPlateau`` is stepped with the validation loss (or the
            training loss without ``val``).
        scheduler_interval: "epoch" (step the scheduler after each epoch) or
            "batch" (after each optimizer step, e.g. for ``OneCycleLR``).
        loss: ``loss(outputs, targets)`` returning the batch mean; it receives
            the model's raw outputs, tuples included. Default cross-entropy.
            During validation the model is in eval mode, where GoogLeNet-like
            models return only the main logits: the hook then gets that tensor.
        device: default ``cnncourse.runtime.get_device()``.
        amp: mixed precision; default on for CUDA (bfloat16 where supported,
            else float16 with a gradient scaler), off elsewhere.
        channels_last: store images and convolution weights pixel by pixel
            (N×H×W×C), the layout the fast convolution kernels prefer: cuDNN
            on GPUs, oneDNN on CPUs (1.1 to 1.7 times faster training for the
            course's models on a CPU). Default on for CUDA and the CPU, off for MPS.
        progress: show one tqdm bar per epoch with the running loss and accuracy.
        checkpoint: a file path; the run is saved there after every epoch.
        check_every: read the running loss and accuracy every this many steps,
            to stop on a NaN or inf loss and to refresh the progress bar.
            Default 1 on the CPU, where reading a number costs nothing, and 50
            elsewhere: reading a number from a GPU makes the CPU wait until the
            GPU has finished all its queued work, so reading after every step
            would leave the GPU idle while Python prepares the next one.

    Returns:
        The ``History`` of the run.

    Raises:
        FloatingPointError: the loss became NaN or inf; the message names the
            first such step. Training stops before the update of the step at
            which the loss is checked, so with ``check_every=1`` the weights are
            those from before the bad step; with N > 1 up to N - 1 updates
            after it may have reached the weights (the message says which).
            The history of the finished epochs is the ``.history`` attribute.

    Example:
        >>> history = fit(model, TensorBatcher(train_set, 128, shuffle=True), val_batches, epochs=5)
        >>> history.val_acc[-1]
        0.97...
    """
    device = torch.device(device) if device is not None else get_device()
    _check_options(epochs, scheduler_interval, device)
    amp_dtype = _amp_dtype(amp, device)
    channels_last = device.type in ("cuda", "cpu") if channels_last is None else channels_last
    check_every = _check_every(check_every, device)
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    if optimizer is None:
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    _check_scheduler(scheduler, optimizer)
    loss_fn = loss if loss is not None else nn.functional.cross_entropy
    # float16 gradients can underflow to zero: the scaler multiplies the loss
    # before backward() and divides the gradients back before the update.
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    history = History()

    for epoch in range(1, epochs + 1):
        model.train()  # dropout and batch-norm statistics on
        started = time.perf_counter()
        epoch_lr = optimizer.param_groups[0]["lr"]
        # The running sums stay on the device and are read every check_every steps (see the docstring).
        seen, loss_sum, correct = 0, torch.zeros((), device=device), torch.zeros((), dtype=torch.long, device=device)
        unchecked: list[torch.Tensor] = []  # losses of the steps since the last check
        with tqdm(total=_length(train), desc=f"epoch {epoch}/{epochs}", disable=not progress, leave=True) as bar:
            for step, batch in enumerate(train, start=1):
                x, y = _batch_to(batch, device, channels_last)
                # 1. Forward pass, in reduced precision when amp is on.
                with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                    outputs = model(x)
                    logits = _main_output(outputs, has_loss_hook=loss is not None)
                    if epoch == 1 and step == 1:
                        _check_targets(logits, y)  # clear message instead of a kernel assert
                    batch_loss = _check_loss(loss_fn(outputs, y))
                # 2. Stop before a NaN or inf loss reaches the weights (checked every check_every steps).
                unchecked.append(batch_loss.detach())
                if len(unchecked) == check_every:
                    bad = _first_non_finite(unchecked, last_step=step)
                    if bad is not None:
                        raise _diverged(*bad, epoch, epochs, train, optimizer, history, last_update=step - 1)
                    unchecked.clear()
                # 3. Backward pass and update: clear old gradients, compute new ones, step.
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(batch_loss).backward()
                scaler.step(optimizer)
                scaler.update()
                if scheduler is not None and scheduler_interval == "batch":
                    scheduler.step()
                # 4. Bookkeeping: sample-weighted running loss and accuracy, shown at each check.
                seen += y.shape[0]
                loss_sum += batch_loss.detach().float() * y.shape[0]
                correct += (logits.argmax(dim=1) == y).sum()
                if progress and not unchecked:
                    bar.set_postfix(_averages(loss_sum, correct, seen), refresh=False)
                bar.update()
            if seen == 0:
                raise _empty_training_data(train, epoch)
            bad = _first_non_finite(unchecked, last_step=step)  # the epoch's last steps, already applied
            if bad is not None:
                raise _diverged(*bad, epoch, epochs, train, optimizer, history, last_update=step)
            postfix = _averages(loss_sum, correct, seen)
            history.train_loss.append(loss_sum.item() / seen)
            history.train_acc.append(correct.item() / seen)
            if val is not None:
                scores = evaluate(model, val, loss=loss, device=device)
                history.val_loss.append(scores["loss"])
                history.val_acc.append(scores["top1"])
                history.val_top5.append(scores["top5"])
                postfix.update(val_loss=f"{scores['loss']:.4f}", val_acc=f"{scores['top1']:.3f}")
            bar.set_postfix(postfix, refresh=False)  # shown when the bar closes
        if scheduler is not None and scheduler_interval == "epoch":
            _step_per_epoch(scheduler, history)
        history.lr.append(epoch_lr)
        history.seconds.append(time.perf_counter() - started)
        if checkpoint is not None:
            save_checkpoint(checkpoint, model, optimizer, scheduler, epoch=epoch, history=history.as_dict())
    return history


def evaluate(
    model: nn.Module,
    data: Iterable,
    *,
    loss: LossHook | None = None,
    device: str | torch.device | None = None,
) -> dict[str, float | None]:
    """Average loss, top-1 and top-5 accuracy of ``model`` over all batches of ``data``.

    Runs in eval mode under ``torch.inference_mode()`` and puts the model back
    in the mode it was in. Each batch counts by its number of samples.

    Args:
        model: the classifier (see ``fit``).
        data: an iterable of ``(x, y)`` batches.
        loss: ``loss(outputs, targets)`` returning the batch mean; default cross-entropy.
        device: where to run; default the device of the model's parameters
            (the model is moved there).

    Returns:
        ``{"loss": float, "top1": float, "top5": float or None}``; top5 is
        None when the model scores fewer than 5 classes.

    Example:
        >>> evaluate(model, TensorBatcher(test_set, 512))
        {'loss': 0.08..., 'top1': 0.97..., 'top5': 0.99...}
    """
    device = torch.device(device) if device is not None else _model_device(model)
    model.to(device)
    loss_fn = loss if loss is not None else nn.functional.cross_entropy
    was_training = model.training
    model.eval()
    seen, loss_sum, hits, num_classes = 0, None, None, 0
    try:
        with torch.inference_mode():
            for batch in data:
                x, y = _batch_to(batch, device, channels_last=False)
                outputs = model(x)
                logits = _main_output(outputs, has_loss_hook=loss is not None)
                if seen == 0:
                    _check_targets(logits, y)
                    num_classes = logits.shape[1]
                    ks = [1, 5] if num_classes >= 5 else [1]
                # Sums stay on the device: no waiting for the GPU after every batch.
                batch_loss = _check_loss(loss_fn(outputs, y)).float() * y.shape[0]
                batch_hits = _topk_hits(logits.float(), y, ks)
                loss_sum = batch_loss if loss_sum is None else loss_sum + batch_loss
                hits = batch_hits if hits is None else hits + batch_hits
                seen += y.shape[0]
    finally:
        model.train(was_training)
    if seen == 0:
        raise ValueError(
            "evaluate got no batches: the data is empty (or a generator that was already used up); "
            "pass a list, a DataLoader or a TensorBatcher with at least one sample"
        )
    counts = hits.tolist()
    return {
        "loss": loss_sum.item() / seen,
        "top1": counts[0] / seen,
        "top5": counts[1] / seen if num_classes >= 5 else None,
    }


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    **extra: Any,
) -> Path:
    """Save the model (and optimizer, scheduler, extras) to ``path``, atomically.

    The file is written next to its destination under a temporary name and then
    renamed, so an interrupted save never leaves a half-written checkpoint.
    Missing parent folders are created. Keep ``extra`` to plain data (numbers,
    strings, lists, dicts, tensors): ``load_checkpoint`` loads with
    ``weights_only=True``, which refuses arbitrary Python objects.

    Args:
        path: the file to write (e.g. ``checkpoints/resnet.pt``).
        model: its ``state_dict`` is saved.
        optimizer: optional; its state (e.g. momentum buffers) is saved.
        scheduler: optional; its state is saved.
        **extra: anything else to keep, e.g. ``epoch=3``.

    Returns:
        The path written.

    Example:
        >>> save_checkpoint("checkpoints/lenet.pt", model, optimizer, epoch=5)
        PosixPath('checkpoints/lenet.pt')
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "extra": extra,
    }
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(payload, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
) -> dict[str, Any]:
    """Restore a checkpoint written by ``save_checkpoint`` into ``model`` (and optimizer, scheduler).

    Args:
        path: the checkpoint file.
        model: a model of the same architecture; its parameters are overwritten.
        optimizer: optional; restored when given (it must have been saved).
        scheduler: optional; restored when given (it must have been saved).

    Returns:
        The extras that were saved, e.g. ``{"epoch": 5}``.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the checkpoint is for another architecture (the message
            names the first key that does not match), or lacks the optimizer or
            scheduler state asked for.

    Example:
        >>> load_checkpoint("checkpoints/lenet.pt", model, optimizer)["epoch"]
        5
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}: check the path, or train and save_checkpoint first")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or "model" not in payload:
        raise ValueError(f"{path} is not a checkpoint written by cnncourse.train.save_checkpoint")
    _check_same_architecture(payload["model"], model, path)
    model.load_state_dict(payload["model"])
    for name, target in (("optimizer", optimizer), ("scheduler", scheduler)):
        if target is None:
            continue
        if payload.get(name) is None:
            raise ValueError(f"{path} holds no {name} state; it was saved without one, so load it without {name}=")
        target.load_state_dict(payload[name])
    return dict(payload.get("extra") or {})


# --- helpers of fit and evaluate -------------------------------------------


def _check_options(epochs: int, scheduler_interval: str, device: torch.device) -> None:
    """Validate the plain options of ``fit``."""
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if scheduler_interval not in ("epoch", "batch"):
        raise ValueError(f'scheduler_interval must be "epoch" or "batch", got {scheduler_interval!r}')
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device} was asked for but CUDA is not available here; use device='cpu'")


def _amp_dtype(amp: bool | None, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``amp`` on ``device``, or None for full precision."""
    if amp is None:
        amp = device.type == "cuda"
    if not amp:
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu":
        return torch.bfloat16
    raise ValueError(f"amp=True is supported on cuda and cpu, not on {device.type}; pass amp=False")


def _check_every(check_every: int | None, device: torch.device) -> int:
    """How many steps fit trains between two reads of the loss: 1 on the CPU, 50 on other devices."""
    if check_every is None:
        return 1 if device.type == "cpu" else 50
    if isinstance(check_every, bool) or not isinstance(check_every, int) or check_every < 1:
        raise ValueError(f"check_every must be a positive integer (steps between two reads of the loss), got {check_every!r}")
    return check_every


def _averages(loss_sum: torch.Tensor, correct: torch.Tensor, seen: int) -> dict[str, str]:
    """The running loss and accuracy for the progress bar (reads them from the device)."""
    return {"loss": f"{loss_sum.item() / seen:.4f}", "acc": f"{correct.item() / seen:.3f}"}


def _check_scheduler(scheduler: Any, optimizer: torch.optim.Optimizer) -> None:
    """A scheduler must drive the optimizer that fit steps."""
    if scheduler is not None and getattr(scheduler, "optimizer", optimizer) is not optimizer:
        raise ValueError(
            "the scheduler was built on another optimizer than the one fit uses; "
            "pass that optimizer too: fit(..., optimizer=opt, scheduler=sched)"
        )


def _step_per_epoch(scheduler: Any, history: History) -> None:
    """Step an epoch-wise scheduler; ReduceLROnPlateau needs the loss it watches."""
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(history.val_loss[-1] if history.val_loss else history.train_loss[-1])
    else:
        scheduler.step()


def _batch_to(batch: Any, device: torch.device, channels_last: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Unpack an ``(x, y)`` batch of tensors and move it to ``device``."""
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise TypeError(
            f"each batch must be a pair (x, y) of tensors, got {type(batch).__name__}"
            + (f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else "")
            + "; wrap a dataset in cnncourse.batches.TensorBatcher or a DataLoader"
        )
    x, y = batch
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(
            f"each batch must be a pair (x, y) of tensors, got ({type(x).__name__}, {type(y).__name__}); "
            "convert with torch.as_tensor or use a TensorBatcher/DataLoader"
        )
    x = x.to(device, non_blocking=True)
    if channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, y.to(device, non_blocking=True)


def _main_output(outputs: Any, *, has_loss_hook: bool) -> torch.Tensor:
    """The logits to score: the output itself, or the first element of a tuple/list."""
    if isinstance(outputs, (tuple, list)):
        if not has_loss_hook:
            shapes = ", ".join(
                str(tuple(o.shape)) if isinstance(o, torch.Tensor) else type(o).__name__ for o in outputs
            )
            raise TypeError(
                f"the model returned a {type(outputs).__name__} of {len(outputs)} outputs ({shapes}), "
                "and cross-entropy needs one tensor of logits. Pass loss=my_loss to fit, with "
                "my_loss(outputs, targets) combining them (e.g. main + 0.3 * auxiliary losses); "
                "accuracy is computed from the first output"
            )
        outputs = outputs[0]
    if not isinstance(outputs, torch.Tensor):
        raise TypeError(f"the model returned {type(outputs).__name__}; fit expects a tensor of logits (batch, classes)")
    if outputs.dim() != 2:
        raise ValueError(
            f"the model returned shape {tuple(outputs.shape)}; fit expects logits of shape (batch, classes). "
            "Is a flatten or a final linear layer missing?"
        )
    return outputs


def _check_targets(logits: torch.Tensor, y: torch.Tensor) -> None:
    """Targets must be integer labels, one per sample, within the model's classes."""
    if y.is_floating_point() or y.dtype == torch.bool or y.dim() != 1:
        raise TypeError(
            f"targets must be a 1-D tensor of integer class labels, got dtype {y.dtype} and shape {tuple(y.shape)}"
        )
    if y.shape[0] != logits.shape[0]:
        raise ValueError(f"the batch has {logits.shape[0]} inputs but {y.shape[0]} targets; they must match")
    low, high = y.min().item(), y.max().item()
    if low < 0 or high >= logits.shape[1]:
        raise ValueError(
            f"targets hold labels from {low} to {high}, but the model outputs {logits.shape[1]} classes "
            f"(labels 0 to {logits.shape[1] - 1}); give the last layer as many outputs as the data set has classes"
        )


def _check_loss(value: Any) -> torch.Tensor:
    """The loss must be one number per batch: the mean over its samples."""
    if not isinstance(value, torch.Tensor) or value.dim() != 0:
        shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise ValueError(
            f"the loss returned {shape}; it must be a scalar tensor, the mean over the batch "
            "(use reduction='mean', the default of nn.CrossEntropyLoss)"
        )
    return value


def _length(data: Iterable) -> int | None:
    """The number of batches per epoch, or None for an iterable without a length."""
    try:
        return len(data)  # type: ignore[arg-type]
    except TypeError:
        return None


def _model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (or buffer); the default device without any."""
    for tensor in list(model.parameters()) + list(model.buffers()):
        return tensor.device
    return get_device()


def _first_non_finite(losses: list[torch.Tensor], *, last_step: int) -> tuple[float, int] | None:
    """The first NaN or inf among the losses of the steps ending at ``last_step``, and its step; else None."""
    if not losses:
        return None
    values = torch.stack(losses).float().tolist()  # one read from the device for all of them
    for offset, value in enumerate(values):
        if not math.isfinite(value):
            return value, last_step - len(values) + 1 + offset
    return None


def _diverged(
    value: float,
    step: int,
    epoch: int,
    epochs: int,
    train: Iterable,
    optimizer: torch.optim.Optimizer,
    history: History,
    *,
    last_update: int,
) -> FloatingPointError:
    """The error raised when the loss stops being a finite number; ``last_update`` is the last step applied."""
    steps = f"{step}/{_length(train)}" if _length(train) is not None else f"{step}"
    if last_update < step:
        weights = "Training stopped before this step's update, so the model keeps the weights of the previous step"
    else:
        weights = (
            f"fit reads the loss only every few steps (check_every), so the updates of steps {step} to {last_update} "
            "reached the weights, which may now hold NaN or inf: reload a checkpoint or build the model again"
        )
    error = FloatingPointError(
        f"the loss became {value} at epoch {epoch}/{epochs}, step {steps}: training diverged. "
        f"Try a smaller learning rate (it is {optimizer.param_groups[0]['lr']:g}). "
        f"{weights}; the history of the finished epochs is this error's .history"
    )
    error.history = history
    return error


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


def _check_same_architecture(saved: dict[str, torch.Tensor], model: nn.Module, path: Path) -> None:
    """Raise ValueError naming the first key whose presence or shape differs."""
    current = model.state_dict()
    for key in list(current) + [k for k in saved if k not in current]:
        if key not in saved:
            problem = f"the model has {key!r} but the checkpoint does not"
        elif key not in current:
            problem = f"the checkpoint has {key!r} but the model does not"
        elif tuple(saved[key].shape) != tuple(current[key].shape):
            problem = (
                f"{key!r} has shape {tuple(saved[key].shape)} in the checkpoint "
                f"but {tuple(current[key].shape)} in the model"
            )
        else:
            continue
        raise ValueError(f"{path} was saved from another architecture: {problem}; build the same model before loading")
