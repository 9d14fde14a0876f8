"""The training loop of the course: ``train_one_epoch``, ``fit``, ``evaluate`` and ``History``.

Scope: one loop that trains any classifier on any iterable of ``(x, y)``
batches (a ``TensorBatcher``, a ``DataLoader``, a plain list) and the matching
evaluation pass. Read ``train_one_epoch`` first: the four steps of training
(forward, loss, backward, step) for every batch, in the shape of torchvision's
reference ``train_one_epoch`` (references/classification/train.py). ``fit``
runs it once per epoch and keeps the ``History``. Everything that is
bookkeeping, not training, is ``EpochMeter`` (running sums kept on the device,
the check for a loss that became NaN, the progress bar); the checks that turn
bad input into clear errors are the small helpers at the end. Checkpoints live
in ``cnncourse.checkpoints`` and are importable from here too.

Size: one piece, about 400 lines: ``fit``, ``train_one_epoch`` and ``evaluate``
share the batch and loss checks at the end, and the loop reads best beside them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from cnncourse.checkpoints import load_checkpoint, save_checkpoint
from cnncourse.history import EpochMeter, History
from cnncourse.metrics import _topk_hits
from cnncourse.modes import eval_mode
from cnncourse.runtime import get_device

__all__ = ["History", "fit", "train_one_epoch", "EpochMeter", "evaluate", "save_checkpoint", "load_checkpoint"]

LossHook = Callable[[Any, torch.Tensor], torch.Tensor]
CPU_SLICE = 128  # evaluate on the CPU: images per forward pass (larger batches are cut into slices of this size)


def train_one_epoch(
    model: nn.Module,
    batches: Iterable,
    optimizer: torch.optim.Optimizer,
    meter: EpochMeter,
    *,
    loss_fn: LossHook = nn.functional.cross_entropy,
    device: torch.device,
    amp_dtype: torch.dtype | None = None,
    scaler: torch.amp.GradScaler | None = None,
    channels_last: bool = False,
    batch_scheduler: Any = None,
) -> None:
    """One pass over ``batches``: forward, loss, backward and step for every batch.

    ``fit`` calls it once per epoch, with the model in training mode and every
    option already chosen (see ``fit`` for their meaning). ``meter`` does the
    bookkeeping: the epoch's running loss and accuracy, the check that stops on
    a NaN or inf loss, the progress bar.

    Example:
        >>> with EpochMeter(History(), batches, optimizer, epoch=1, epochs=1, device=device) as meter:
        ...     train_one_epoch(model, batches, optimizer, meter, device=device)
    """
    # The scaler does nothing unless amp runs in float16: then it multiplies the loss before
    # backward() (small gradients would round to zero) and divides the gradients back before the step.
    scaler = scaler if scaler is not None else torch.amp.GradScaler(device.type, enabled=False)
    for batch in batches:
        x, y = _batch_to(batch, device, channels_last)
        # 1. Forward: the model's scores (logits) for every image of the batch.
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            outputs = model(x)
            # 2. Loss: one number saying how wrong the scores are, the mean over the batch.
            loss = loss_fn(outputs, y)
        meter.update(loss, outputs, y)  # bookkeeping; stops here if the loss became NaN
        # 3. Backward: forget the last step's gradients, compute d(loss)/d(weight) for every weight.
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        # 4. Step: the optimizer moves every weight a little against its gradient.
        scaler.step(optimizer)
        scaler.update()
        if batch_scheduler is not None:
            batch_scheduler.step()  # a learning rate per step, e.g. OneCycleLR
    meter.finish()


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
            weights change memory layout, not values). A model in eval mode is
            put in training mode; a model already training is left as it is,
            so a layer deliberately kept in eval mode (a frozen batch norm)
            stays so, and validation puts every module back in its own mode.
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
    channels_last = _channels_last(channels_last, device)
    check_every = _check_every(check_every, device)
    model.to(device, memory_format=torch.channels_last if channels_last else torch.preserve_format)
    if optimizer is None:
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    _check_scheduler(scheduler, optimizer)
    options = {
        "loss_fn": _CheckedLoss(loss),
        "device": device,
        "amp_dtype": amp_dtype,
        "scaler": torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16),
        "channels_last": channels_last,
        "batch_scheduler": scheduler if scheduler_interval == "batch" else None,
    }
    if not model.training:  # only then: layers a notebook froze in eval mode stay frozen
        model.train()
    history = History()
    for epoch in range(1, epochs + 1):
        with EpochMeter(history, train, optimizer, epoch=epoch, epochs=epochs, device=device,
                        check_every=check_every, progress=progress) as meter:
            train_one_epoch(model, train, optimizer, meter, **options)
            if val is not None:
                meter.validated(evaluate(model, val, loss=loss, device=device))
        if scheduler is not None and scheduler_interval == "epoch":
            _step_per_epoch(scheduler, history)
        if checkpoint is not None:
            save_checkpoint(checkpoint, model, optimizer, scheduler, epoch=epoch, history=history.as_dict())
    return history


def evaluate(
    model: nn.Module,
    data: Iterable,
    *,
    loss: LossHook | None = None,
    device: str | torch.device | None = None,
    channels_last: bool | None = None,
) -> dict[str, float | None]:
    """Average loss, top-1 and top-5 accuracy of ``model`` over all batches of ``data``.

    Runs in eval mode under ``torch.inference_mode()`` and then puts every
    module back in its own mode (``cnncourse.modes.eval_mode``), so a layer a
    notebook froze in eval mode stays so. Each batch counts by its number of samples.
    On the CPU, batches run in slices of ``CPU_SLICE`` images: the same numbers
    (in eval mode no ``torch.nn`` layer mixes samples), faster as a slice's
    activations stay in cache (``python -m bench evaluation``).

    Args:
        model: the classifier (see ``fit``).
        data: an iterable of ``(x, y)`` batches.
        loss: ``loss(outputs, targets)`` returning the batch mean; default cross-entropy.
        device: where to run; default the device of the model's parameters
            (the model is moved there).
        channels_last: as in ``fit``; default on for CUDA and the CPU.

    Returns:
        ``{"loss": float, "top1": float, "top5": float or None}``; top5 is
        None when the model scores fewer than 5 classes.

    Example:
        >>> evaluate(model, TensorBatcher(test_set, 512))
        {'loss': 0.08..., 'top1': 0.97..., 'top5': 0.99...}
    """
    device = torch.device(device) if device is not None else _model_device(model)
    channels_last = _channels_last(channels_last, device)
    model.to(device, memory_format=torch.channels_last if channels_last else torch.preserve_format)
    loss_fn = _CheckedLoss(loss)
    seen, loss_sum, hits, ks = 0, None, None, [1]
    with eval_mode(model), torch.inference_mode():
        for batch in data:
            for x, y in _slices(*_batch_to(batch, device, channels_last), device):
                outputs = model(x)
                batch_loss = loss_fn(outputs, y).float() * y.shape[0]
                logits = _main_output(outputs, has_loss_hook=True)
                if seen == 0:
                    ks = [1, 5] if logits.shape[1] >= 5 else [1]
                # Sums stay on the device: no waiting for the GPU after every batch.
                batch_hits = _topk_hits(logits.float(), y, ks)
                loss_sum = batch_loss if loss_sum is None else loss_sum + batch_loss
                hits = batch_hits if hits is None else hits + batch_hits
                seen += y.shape[0]
    if seen == 0:
        raise ValueError(
            "evaluate got no batches: the data is empty (or a generator that was already used up); "
            "pass a list, a DataLoader or a TensorBatcher with at least one sample"
        )
    counts = hits.tolist()
    return {"loss": loss_sum.item() / seen, "top1": counts[0] / seen, "top5": counts[1] / seen if len(ks) > 1 else None}


# --- helpers of fit and evaluate: options and clear errors ------------------


class _CheckedLoss:
    """``loss(outputs, targets)`` (default cross-entropy) that turns bad shapes and labels into clear errors.

    The targets are checked on the first batch only (one read from the device).
    """

    def __init__(self, loss: LossHook | None) -> None:
        self.loss = loss if loss is not None else nn.functional.cross_entropy
        self.has_hook, self.first = loss is not None, True

    def __call__(self, outputs: Any, targets: torch.Tensor) -> torch.Tensor:
        logits = _main_output(outputs, has_loss_hook=self.has_hook)
        if self.first:
            _check_targets(logits, targets)  # a clear message instead of a kernel assert
            self.first = False
        return _check_loss(self.loss(outputs, targets))


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


def _channels_last(channels_last: bool | None, device: torch.device) -> bool:
    """Whether fit and evaluate use the channels-last layout: as asked, else on CUDA and the CPU (not MPS)."""
    return device.type in ("cuda", "cpu") if channels_last is None else channels_last


def _check_every(check_every: int | None, device: torch.device) -> int:
    """How many steps fit trains between two reads of the loss: 1 on the CPU, 50 on other devices."""
    if check_every is None:
        return 1 if device.type == "cpu" else 50
    if isinstance(check_every, bool) or not isinstance(check_every, int) or check_every < 1:
        raise ValueError(f"check_every must be a positive integer (steps between two reads of the loss), got {check_every!r}")
    return check_every


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


def _slices(x: torch.Tensor, y: torch.Tensor, device: torch.device) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The batch itself, or on the CPU its consecutive slices of at most ``CPU_SLICE`` samples (for ``evaluate``)."""
    if device.type != "cpu":
        return [(x, y)]
    return list(zip(x.split(CPU_SLICE), y.split(CPU_SLICE)))


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


def _model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (or buffer); the default device without any."""
    for tensor in list(model.parameters()) + list(model.buffers()):
        return tensor.device
    return get_device()
