"""Tests of cnncourse.train: fit, evaluate, History and checkpoints.

Most tests train tiny models on a synthetic, linearly separable problem (six
Gaussian blobs); the one marked slow trains a small CNN on real MNIST digits.
"""

from __future__ import annotations

import math
import time

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from cnncourse.train import CPU_SLICE, History, evaluate, fit, load_checkpoint, save_checkpoint

CLASSES = 6
FEATURES = 8


def blobs(n: int = 600, *, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Six well-separated Gaussian blobs in 8 dimensions."""
    generator = torch.Generator().manual_seed(seed)
    centers = torch.randn(CLASSES, FEATURES, generator=torch.Generator().manual_seed(123)) * 4
    y = torch.randint(0, CLASSES, (n,), generator=generator)
    x = centers[y] + torch.randn(n, FEATURES, generator=generator)
    return x, y


def batches_of(x: torch.Tensor, y: torch.Tensor, size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(x[i : i + size], y[i : i + size]) for i in range(0, len(y), size)]


def small_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(FEATURES, 32), nn.ReLU(), nn.Linear(32, CLASSES))


@pytest.fixture()
def train_batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
    return batches_of(*blobs(600, seed=0), 50)


@pytest.fixture()
def val_batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
    return batches_of(*blobs(300, seed=1), 64)


def sgd(model: nn.Module, lr: float = 0.05) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)


def test_fit_learns_and_returns_a_history(train_batches, val_batches) -> None:
    model = small_net()
    history = fit(model, train_batches, val_batches, epochs=4, device="cpu", progress=False)
    assert isinstance(history, History), f"expected a History, got {type(history).__name__}"
    assert len(history) == 4, f"expected 4 epochs in the history, got {len(history)}"
    for name, values in history.as_dict().items():
        assert len(values) == 4, f"expected 4 entries in history.{name}, got {len(values)}"
    assert history.val_acc[-1] > 0.9, f"expected val accuracy well above chance (1/6), got {history.val_acc[-1]}"
    assert history.train_loss[-1] < history.train_loss[0], f"training loss did not fall: {history.train_loss}"
    assert all(t is not None and 0 <= t <= 1 for t in history.val_top5), f"val_top5 with 6 classes: {history.val_top5}"
    assert history.val_top5[-1] >= history.val_acc[-1], "top-5 accuracy cannot be below top-1"


def test_fit_without_val_leaves_val_lists_empty_and_takes_a_dataloader() -> None:
    x, y = blobs(300)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32, shuffle=True)
    history = fit(small_net(), loader, epochs=2, device="cpu", progress=False)
    assert len(history) == 2, f"expected 2 epochs, got {len(history)}"
    assert history.val_loss == [] and history.val_acc == [], f"expected empty val lists, got {history.val_loss}"
    assert history.train_acc[-1] > 0.8, f"expected training accuracy well above chance, got {history.train_acc[-1]}"


def test_fit_does_not_modify_the_data(train_batches) -> None:
    before = [(x.clone(), y.clone()) for x, y in train_batches]
    fit(small_net(), train_batches, epochs=1, device="cpu", progress=False)
    for (x, y), (x0, y0) in zip(train_batches, before):
        assert torch.equal(x, x0) and torch.equal(y, y0), "fit changed the training batches"


def test_progress_bar_shows_epoch_loss_and_val_accuracy(train_batches, val_batches, capsys) -> None:
    fit(small_net(), train_batches, val_batches, epochs=1, device="cpu", progress=True)
    err = capsys.readouterr().err
    for expected in ("epoch 1/1", "loss=", "acc=", "val_acc="):
        assert expected in err, f"expected {expected!r} in the progress output, got {err[-300:]!r}"


def test_scheduler_per_epoch_changes_lr(train_batches) -> None:
    model = small_net()
    optimizer = sgd(model, lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    history = fit(model, train_batches, epochs=3, optimizer=optimizer, scheduler=scheduler, device="cpu", progress=False)
    assert history.lr == pytest.approx([0.1, 0.05, 0.025]), f"expected lr halving per epoch, got {history.lr}"
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0125), "the scheduler was not stepped after the last epoch"


def test_scheduler_per_batch_changes_lr(train_batches) -> None:
    model = small_net()
    optimizer = sgd(model, lr=0.1)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.9)
    steps = len(train_batches)
    history = fit(
        model, train_batches, epochs=2, optimizer=optimizer, scheduler=scheduler,
        scheduler_interval="batch", device="cpu", progress=False,
    )
    expected = [0.1, 0.1 * 0.9**steps]
    assert history.lr == pytest.approx(expected), f"expected lr {expected} at the epoch starts, got {history.lr}"
    final = optimizer.param_groups[0]["lr"]
    assert final == pytest.approx(0.1 * 0.9 ** (2 * steps)), f"expected one scheduler step per batch, lr is {final}"


class RecordingPlateau(torch.optim.lr_scheduler.ReduceLROnPlateau):
    """ReduceLROnPlateau that remembers the values it was stepped with."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.values: list[float] = []

    def step(self, metrics, *args, **kwargs) -> None:
        self.values.append(float(metrics))
        super().step(metrics, *args, **kwargs)


@pytest.mark.parametrize("with_val", [True, False])
def test_reduce_on_plateau_is_stepped_with_the_loss(train_batches, val_batches, with_val: bool) -> None:
    model = small_net()
    optimizer = sgd(model, lr=0.1)
    scheduler = RecordingPlateau(optimizer, patience=0, factor=0.5)
    history = fit(
        model, train_batches, val_batches if with_val else None, epochs=3,
        optimizer=optimizer, scheduler=scheduler, device="cpu", progress=False,
    )
    expected = history.val_loss if with_val else history.train_loss
    assert scheduler.values == pytest.approx(expected), f"expected steps with {expected}, got {scheduler.values}"


def test_checkpoint_round_trip_restores_parameters_and_optimizer(tmp_path, train_batches) -> None:
    model = small_net(seed=0)
    optimizer = sgd(model)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    path = tmp_path / "runs" / "blobs.pt"
    history = fit(
        model, train_batches, epochs=2, optimizer=optimizer, scheduler=scheduler,
        device="cpu", progress=False, checkpoint=path,
    )
    assert sorted(p.name for p in path.parent.iterdir()) == ["blobs.pt"], "a temporary file was left behind"

    restored = small_net(seed=1)
    restored_optimizer = sgd(restored)
    restored_scheduler = torch.optim.lr_scheduler.StepLR(restored_optimizer, step_size=1, gamma=0.5)
    extra = load_checkpoint(path, restored, restored_optimizer, restored_scheduler)

    for (name, saved), loaded in zip(model.state_dict().items(), restored.state_dict().values()):
        assert torch.equal(saved, loaded), f"parameter {name} differs after loading the checkpoint"
    saved_state = optimizer.state_dict()["state"]
    loaded_state = restored_optimizer.state_dict()["state"]
    assert saved_state.keys() == loaded_state.keys() and saved_state, "optimizer state keys differ or are empty"
    for key in saved_state:
        assert torch.equal(saved_state[key]["momentum_buffer"], loaded_state[key]["momentum_buffer"]), (
            f"momentum buffer of parameter {key} differs after loading"
        )
    lr, restored_lr = optimizer.param_groups[0]["lr"], restored_optimizer.param_groups[0]["lr"]
    assert restored_lr == pytest.approx(0.05 * 0.5**2), f"expected the lr after 2 halvings, 0.0125, got {restored_lr}"
    assert restored_lr == lr, f"the optimizer lr was not restored: expected {lr}, got {restored_lr}"
    assert restored_scheduler.last_epoch == scheduler.last_epoch, "the scheduler state was not restored"
    assert extra["epoch"] == 2, f"expected epoch=2 in the extras, got {extra.get('epoch')}"
    assert extra["history"] == history.as_dict(), "the saved history differs from the returned one"


def test_load_checkpoint_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.pt", small_net())

    path = save_checkpoint(tmp_path / "small.pt", small_net())
    wider = nn.Sequential(nn.Linear(FEATURES, 64), nn.ReLU(), nn.Linear(64, CLASSES))
    with pytest.raises(ValueError, match=r"another architecture: '0\.weight' has shape \(32, 8\)"):
        load_checkpoint(path, wider)
    deeper = nn.Sequential(nn.Linear(FEATURES, 32), nn.ReLU(), nn.Linear(32, CLASSES), nn.Linear(CLASSES, CLASSES))
    with pytest.raises(ValueError, match=r"the model has '3\.weight' but the checkpoint does not"):
        load_checkpoint(path, deeper)
    model = small_net()
    with pytest.raises(ValueError, match="no optimizer state"):
        load_checkpoint(path, model, sgd(model))


def test_evaluate_matches_a_manual_computation() -> None:
    x, y = blobs(203, seed=5)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(FEATURES, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, CLASSES))
    data = batches_of(x, y, 50)  # the last batch has 3 samples: batches must count by size

    model.eval()
    with torch.no_grad():
        logits = model(x)
    expected_loss = F.cross_entropy(logits, y).item()
    expected_top1 = (logits.argmax(dim=1) == y).float().mean().item()
    expected_top5 = (logits.topk(5, dim=1).indices == y[:, None]).any(dim=1).float().mean().item()

    model.train()
    got = evaluate(model, data)
    assert got["loss"] == pytest.approx(expected_loss, rel=1e-5), f"expected loss {expected_loss}, got {got['loss']}"
    assert got["top1"] == pytest.approx(expected_top1), f"expected top1 {expected_top1}, got {got['top1']}"
    assert got["top5"] == pytest.approx(expected_top5), f"expected top5 {expected_top5}, got {got['top5']}"
    assert model.training, "evaluate did not put the model back in train mode"

    model.eval()
    evaluate(model, data)
    assert not model.training, "evaluate did not leave an eval-mode model in eval mode"


def test_evaluate_on_the_cpu_slices_large_batches_and_uses_channels_last_with_the_same_numbers() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(8 * 4 * 4, 10))
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):  # running statistics far from 0 and 1, so that eval mode matters
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    x, y = torch.randn(CPU_SLICE * 2 + 37, 3, 8, 8), torch.randint(0, 10, (CPU_SLICE * 2 + 37,))
    model.eval()
    with torch.no_grad():
        logits = model(x)
    expected = {"loss": F.cross_entropy(logits, y).item(), "top1": (logits.argmax(1) == y).float().mean().item()}
    calls = []
    model.register_forward_pre_hook(lambda module, inputs: calls.append(inputs[0]))
    got = evaluate(model, [(x, y)], device="cpu")
    assert [len(c) for c in calls] == [CPU_SLICE, CPU_SLICE, 37], (
        f"a batch of {len(x)} on the CPU should run in slices of {CPU_SLICE}, ran {[len(c) for c in calls]}")
    assert all(c.is_contiguous(memory_format=torch.channels_last) for c in calls), "the images should be channels-last"
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last), "the conv weights should be channels-last"
    assert got["loss"] == pytest.approx(expected["loss"], rel=1e-5), f"expected loss {expected['loss']}, got {got['loss']}"
    assert got["top1"] == pytest.approx(expected["top1"]), f"expected top1 {expected['top1']}, got {got['top1']}"
    calls.clear()
    evaluate(model, [(x, y)], device="cpu", channels_last=False)
    assert not calls[0].is_contiguous(memory_format=torch.channels_last) and calls[0].is_contiguous(), (
        "channels_last=False should pass the images in the usual layout")


def test_evaluate_top5_is_none_below_five_classes() -> None:
    x, y = blobs(60)
    model = nn.Linear(FEATURES, 4)
    got = evaluate(model, [(x, y % 4)])
    assert got["top5"] is None, f"expected top5=None with 4 classes, got {got['top5']}"


class NaNAtStep(nn.Module):
    """A small net whose output becomes NaN at a known training step (counted across epochs)."""

    def __init__(self, bad_step: int) -> None:
        super().__init__()
        self.net = small_net()
        self.bad_step = bad_step
        self.calls = 0
        self.weights_before_bad_step: dict[str, torch.Tensor] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        if self.training:
            self.calls += 1
            if self.calls == self.bad_step:
                self.weights_before_bad_step = {k: v.detach().clone() for k, v in self.state_dict().items()}
                return out * float("nan")
        return out


def test_nan_loss_stops_with_epoch_step_and_history(train_batches) -> None:
    steps = len(train_batches)  # 12
    model = NaNAtStep(bad_step=steps + 5)  # epoch 2, step 5
    with pytest.raises(FloatingPointError, match=rf"epoch 2/3, step 5/{steps}.*smaller learning rate") as caught:
        fit(model, train_batches, epochs=3, device="cpu", progress=False)
    history = caught.value.history
    assert isinstance(history, History) and len(history) == 1, f"expected the history of 1 finished epoch, got {history}"
    for name, value in model.state_dict().items():
        assert torch.equal(value, model.weights_before_bad_step[name]), f"{name} was updated with the NaN loss"


@pytest.mark.parametrize(
    ("steps", "bad_step", "expected"),
    [
        (12, 6, r"step 6/12: .*updates of steps 6 to 7 reached the weights"),  # noticed at step 8, before its update
        (12, 8, r"step 8/12: .*stopped before this step's update"),  # the checked step itself
        (10, 9, r"step 9/10: .*updates of steps 9 to 10 reached the weights"),  # noticed at the end of the epoch
    ],
)
def test_check_every_names_the_bad_step_and_the_updates_that_got_through(steps, bad_step, expected) -> None:
    batches = batches_of(*blobs(8 * steps), 8)
    with pytest.raises(FloatingPointError, match=rf"the loss became nan at epoch 1/2, {expected}") as caught:
        fit(NaNAtStep(bad_step), batches, epochs=2, device="cpu", check_every=4, progress=False)
    assert len(caught.value.history) == 0, "no epoch finished, so the history should be empty"


def test_check_every_does_not_change_what_is_measured() -> None:
    batches = [blobs(10 + s, seed=s) for s in range(7)]  # batches of different sizes
    histories = [fit(NaNAtStep(bad_step=0), batches, epochs=2, device="cpu", check_every=n, progress=False)
                 for n in (1, 3, 50)]  # bad_step=0: never NaN
    for history in histories[1:]:
        assert history.train_loss == histories[0].train_loss and history.train_acc == histories[0].train_acc, (
            f"check_every changed the measured history: {history.train_loss} vs {histories[0].train_loss}")
    with pytest.raises(ValueError, match="check_every must be a positive integer"):
        fit(NaNAtStep(bad_step=0), batches, epochs=1, device="cpu", check_every=0)


def test_running_loss_and_accuracy_are_sample_weighted_means() -> None:
    torch.manual_seed(0)
    model = nn.Linear(FEATURES, CLASSES)
    batches = [blobs(n, seed=n) for n in (5, 17, 3)]
    frozen = torch.optim.SGD(model.parameters(), lr=0.0)  # no update: the epoch's figures are plain averages
    history = fit(model, batches, epochs=1, optimizer=frozen, device="cpu", check_every=2, progress=False)
    x, y = torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])
    with torch.no_grad():
        logits = model(x)
    assert history.train_loss[0] == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-5), (
        f"expected the cross-entropy over all 25 samples, {F.cross_entropy(logits, y).item()}, got {history.train_loss}")
    expected_acc = (logits.argmax(1) == y).float().mean().item()
    assert history.train_acc[0] == pytest.approx(expected_acc), f"expected accuracy {expected_acc}, got {history.train_acc}"


def test_fit_uses_channels_last_on_the_cpu_by_default() -> None:
    def conv_net() -> nn.Module:
        return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))

    data = [(torch.randn(8, 1, 12, 12), torch.arange(8) % 3)]
    model = conv_net()
    fit(model, data, epochs=1, device="cpu", progress=False)
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last), "conv weights should be channels-last"
    plain = conv_net()
    fit(plain, data, epochs=1, device="cpu", channels_last=False, progress=False)
    assert plain[0].weight.is_contiguous(), "channels_last=False should keep the usual layout"


def test_fit_matches_a_plain_pytorch_loop() -> None:
    """The reference: forward, cross-entropy, zero_grad, backward, step, written out with PyTorch alone."""
    batches = [blobs(32, seed=s) for s in range(4)]
    reference, fitted = small_net(seed=5), small_net(seed=5)
    optimizer = sgd(reference)
    reference.train()
    for _ in range(2):
        for x, y in batches:
            optimizer.zero_grad()
            F.cross_entropy(reference(x), y).backward()
            optimizer.step()
    fit(fitted, batches, epochs=2, optimizer=sgd(fitted), device="cpu", progress=False)
    for (name, a), b in zip(reference.named_parameters(), fitted.parameters()):
        assert torch.allclose(a, b, atol=1e-6), f"{name} differs from the plain loop's by {(a - b).abs().max():.2g}"


def frozen_batch_norm_net() -> nn.Module:
    """A model in training mode whose batch-norm layer was put in eval mode on purpose (frozen statistics)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(FEATURES, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, CLASSES))
    model.train()
    model[1].eval()
    return model


def test_fit_and_evaluate_keep_a_frozen_batch_norm_layer_in_eval_mode(train_batches, val_batches) -> None:
    model = frozen_batch_norm_net()
    statistics = model[1].running_mean.clone()
    fit(model, train_batches, val_batches, epochs=2, device="cpu", progress=False)
    modes = [module.training for module in model]
    assert modes == [True, False, True, True, True], f"after fit with validation, expected only the batch norm in eval mode, got {modes}"
    assert torch.equal(model[1].running_mean, statistics), "the frozen batch norm's running statistics changed during fit"
    evaluate(model, val_batches)
    modes = [module.training for module in model]
    assert modes == [True, False, True, True, True], f"after evaluate, expected the modes from before, got {modes}"


def test_fit_puts_a_model_in_eval_mode_into_training_mode(train_batches) -> None:
    model = frozen_batch_norm_net()
    model.eval()
    statistics = model[1].running_mean.clone()
    fit(model, train_batches, epochs=1, device="cpu", progress=False)
    assert all(module.training for module in model.modules()), "fit should train a model that was in eval mode"
    assert not torch.equal(model[1].running_mean, statistics), "the batch norm statistics should have been updated"


def test_tuple_output_needs_a_loss_hook(train_batches) -> None:
    class TwoHeads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Linear(FEATURES, 32), nn.ReLU())
            self.main, self.aux = nn.Linear(32, CLASSES), nn.Linear(32, CLASSES)

        def forward(self, x):
            h = self.body(x)
            return (self.main(h), self.aux(h)) if self.training else self.main(h)

    with pytest.raises(TypeError, match=r"returned a tuple of 2 outputs.*loss="):
        fit(TwoHeads(), train_batches, epochs=1, device="cpu", progress=False)

    calls = []

    def aux_loss(outputs, targets):
        calls.append(type(outputs).__name__)
        if isinstance(outputs, tuple):
            main, aux = outputs
            return F.cross_entropy(main, targets) + 0.3 * F.cross_entropy(aux, targets)
        return F.cross_entropy(outputs, targets)

    torch.manual_seed(0)
    model = TwoHeads()
    val = batches_of(*blobs(200, seed=2), 50)
    history = fit(model, train_batches, val, epochs=3, loss=aux_loss, device="cpu", progress=False)
    assert "tuple" in calls and "Tensor" in calls, f"the hook should see tuples (train) and tensors (eval): {set(calls)}"
    assert history.val_acc[-1] > 0.9, f"expected the two-headed model to learn, val accuracy {history.val_acc[-1]}"


def test_targets_out_of_range_fail_before_any_update(train_batches) -> None:
    model = small_net()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    bad = [(x, y + 1) for x, y in train_batches]  # labels 1..6 for 6 outputs
    with pytest.raises(ValueError, match=r"labels from \d to 6, but the model outputs 6 classes"):
        fit(model, bad, epochs=1, device="cpu", progress=False)
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), f"{name} changed although the targets were rejected"


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        ([], ValueError, "training data is empty"),
        ([torch.zeros(4, FEATURES)], TypeError, "pair \\(x, y\\)"),
        ([(torch.zeros(4, FEATURES).tolist(), torch.zeros(4, dtype=torch.long))], TypeError, "got \\(list, Tensor\\)"),
        ([(torch.zeros(4, FEATURES), torch.zeros(4))], TypeError, "integer class labels"),
        ([(torch.zeros(4, FEATURES), torch.zeros(3, dtype=torch.long))], ValueError, "4 inputs but 3 targets"),
    ],
)
def test_bad_training_data_gives_clear_errors(data, error, message) -> None:
    with pytest.raises(error, match=message):
        fit(small_net(), data, epochs=1, device="cpu", progress=False)


def test_a_used_up_generator_is_reported(train_batches) -> None:
    with pytest.raises(ValueError, match="epoch 2: it is an iterator that was used up"):
        fit(small_net(), (batch for batch in train_batches), epochs=2, device="cpu", progress=False)


def test_bad_options_give_clear_errors(train_batches) -> None:
    model = small_net()
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        fit(model, train_batches, epochs=0, device="cpu")
    with pytest.raises(ValueError, match="scheduler_interval"):
        fit(model, train_batches, epochs=1, scheduler_interval="step", device="cpu")
    other = torch.optim.lr_scheduler.StepLR(sgd(small_net()), step_size=1)
    with pytest.raises(ValueError, match="another optimizer"):
        fit(model, train_batches, epochs=1, scheduler=other, device="cpu")
    image_model = nn.Conv2d(3, CLASSES, 3)
    with pytest.raises(ValueError, match="flatten"):
        fit(image_model, [(torch.zeros(2, 3, 8, 8), torch.zeros(2, dtype=torch.long))], epochs=1, device="cpu")
    with pytest.raises(ValueError, match="scalar"):
        fit(model, train_batches, epochs=1, loss=nn.CrossEntropyLoss(reduction="none"), device="cpu", progress=False)


def test_amp_and_channels_last_on_cpu() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3)
    )
    x = torch.randn(32, 3, 8, 8)
    y = torch.arange(32) % 3
    x_before = x.clone()
    dtypes = []
    model[0].register_forward_hook(lambda module, args, out: dtypes.append((module.training, out.dtype)))
    history = fit(model, [(x, y)], [(x, y)], epochs=2, device="cpu", amp=True, channels_last=True, progress=False)
    assert (True, torch.bfloat16) in dtypes, f"expected bfloat16 convolutions in training with amp=True, saw {dtypes}"
    assert (False, torch.float32) in dtypes, f"expected float32 convolutions in evaluation, saw {dtypes}"
    assert all(math.isfinite(v) for v in history.train_loss + history.val_loss), f"non-finite losses: {history}"
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last), "the conv weights are not channels-last"
    assert torch.equal(x, x_before), "fit changed the input batch"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("bf16", [True, False])
def test_cuda_defaults_use_amp_and_channels_last(monkeypatch, bf16: bool) -> None:
    # bf16=False takes the float16 path with its gradient scaler, as on older GPUs.
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: bf16)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3))
    x, y = torch.randn(64, 3, 8, 8), torch.arange(64) % 3
    history = fit(model, [(x, y)] * 4, [(x, y)], epochs=2, device="cuda", progress=False)
    assert all(math.isfinite(v) for v in history.train_loss + history.val_loss), f"non-finite losses: {history}"
    assert model[0].weight.is_cuda, "the model was not moved to the GPU"
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last), "CUDA default should be channels-last"


# --- real data --------------------------------------------------------------


class TwoConvNet(nn.Module):
    """A small CNN for 28x28 digits: two 3x3 conv blocks and two linear layers."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 16x14x14
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 32x7x7
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@pytest.fixture()
def one_thread():
    """Train on one CPU thread: the same numbers on any machine, and no slowdown from
    threads waiting for each other when other processes share the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_small_cnn_learns_real_mnist_digits(shared_mnist, one_thread) -> None:
    from cnncourse.batches import TensorBatcher
    from cnncourse.data import load
    from cnncourse.runtime import seed_everything

    seed_everything(0)
    digits = load("mnist", split="test", root=shared_mnist.parent)
    assert not digits.standin, "expected the real MNIST files, got a stand-in"
    train_set, val_set = digits.subset(range(8000)), digits.subset(range(8000, 10000))
    train = TensorBatcher(train_set, 64, shuffle=True, augment=False, device="cpu", seed=0)
    val = TensorBatcher(val_set, 500, shuffle=False, augment=False, device="cpu")
    model = TwoConvNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=4)

    started = time.perf_counter()
    history = fit(model, train, val, epochs=4, optimizer=optimizer, scheduler=scheduler, device="cpu", progress=False)
    seconds = time.perf_counter() - started
    print(f"MNIST: {len(history)} epochs in {seconds:.1f} s, val accuracy {history.val_acc}")
    assert history.val_acc[-1] >= 0.97, f"expected >= 97% on the 2,000 held-out digits, got {history.val_acc[-1]:.4f}"
