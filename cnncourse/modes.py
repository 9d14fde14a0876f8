"""A model's train/eval modes, switched for a while and then put back module by module.

Scope: one context manager, ``eval_mode``. ``model.eval()`` followed by
``model.train(was_training)`` restores only the top-level flag: every
sub-module comes back in the top-level mode, so a batch-norm layer that a
notebook had deliberately put in eval mode (a frozen backbone) is switched back
to training. ``eval_mode`` records each module's own flag and restores exactly
that. ``evaluate``, ``fit``'s validation pass, ``Backbone.predict``, the
pictures in ``viz`` and ``inspect.layer_table`` all use it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn

__all__ = ["eval_mode"]


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put every module of ``model`` in eval mode, and on exit each back in its own mode.

    Example:
        >>> import torch
        >>> net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
        >>> _ = net[1].eval()  # a frozen batch-norm layer inside a model that trains
        >>> with eval_mode(net):
        ...     _ = net(torch.zeros(1, 2))
        >>> net.training, net[0].training, net[1].training
        (True, True, False)
    """
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training
