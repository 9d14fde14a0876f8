"""cnncourse.verify: the short verification run passes a working recipe and catches broken ones."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnncourse.train import fit
from cnncourse.verify import TrainingCheckError, verify_training


def make_net() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 4))


BATCH = (torch.randn(32, 1, 8, 8, generator=torch.Generator().manual_seed(0)),
         torch.randint(0, 4, (32,), generator=torch.Generator().manual_seed(1)))


def recipe(lr: float):
    """The way a notebook's train_model is passed: a function of (model, batches) that calls fit."""
    def train(model, batches):
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        return fit(model, batches, [BATCH], epochs=1, optimizer=optimizer, progress=False, device="cpu")
    return train


def test_a_working_recipe_passes_and_the_given_model_is_untouched():
    model = make_net()
    before = [p.clone() for p in model.parameters()]
    state = torch.random.get_rng_state()
    check = verify_training(model, recipe(1e-2), BATCH, steps=30)
    assert check.steps == 30 and check.moved == check.trainable == 4
    assert check.loss_after < 0.5 * check.loss_before, check
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters())), "the model passed in must not change"
    assert torch.equal(state, torch.random.get_rng_state()), "the global random state is restored"
    assert verify_training(make_net, recipe(1e-2), BATCH).steps == 30, "a model factory works as well"


def test_learning_rate_zero_is_caught():
    with pytest.raises(TrainingCheckError, match="no parameter changed"):
        verify_training(make_net, recipe(0.0), BATCH)


def test_a_nan_loss_is_caught():
    def nan_loss(model, batches):
        return fit(model, batches, epochs=1, loss=lambda out, y: (out * float("nan")).mean(), progress=False,
                   device="cpu")

    with pytest.raises(TrainingCheckError, match="NaN or infinite"):
        verify_training(make_net, nan_loss, BATCH)


def test_a_loss_that_does_not_fall_is_caught():
    def wrong_labels(model, batches):  # trains on labels shifted by one: the loss on the real batch rises
        shifted = [(x, (y + 1) % 4) for x, y in batches]
        return fit(model, shifted, epochs=1, optimizer=torch.optim.Adam(model.parameters(), lr=1e-2),
                   progress=False, device="cpu")

    with pytest.raises(TrainingCheckError, match="should fall by at least 10%"):
        verify_training(make_net, wrong_labels, BATCH)


def test_training_that_draws_no_batch_is_caught_and_bad_options_refused():
    with pytest.raises(TrainingCheckError, match="drew no batch"):
        verify_training(make_net, lambda model, batches: None, BATCH)
    with pytest.raises(ValueError, match="steps"):
        verify_training(make_net, recipe(1e-2), BATCH, steps=0)
    with pytest.raises(TypeError, match="nn.Module"):
        verify_training(lambda: "not a model", recipe(1e-2), BATCH)


def test_a_batch_norm_network_at_a_high_learning_rate_passes():
    """The full budgets' recipes (one-cycle SGD up to 0.2, batch norm): the loss is judged in training mode."""
    def bn_net():
        return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                             nn.Conv2d(16, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 4))

    def one_cycle(model, batches):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9, nesterov=True, weight_decay=5e-4)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.2, total_steps=len(batches))
        return fit(model, batches, epochs=1, optimizer=optimizer, scheduler=scheduler, scheduler_interval="batch",
                   progress=False, device="cpu")

    check = verify_training(bn_net, one_cycle, BATCH, steps=30)
    assert check.loss_after < 0.9 * check.loss_before, check
