"""The model every training benchmark uses: LeNet-5 as lecture 2 builds it.

Scope: one small network for 1×28×28 digits (ReLU, max pooling, 61,706
parameters), so that each side of a comparison trains exactly the same model.
It is the benchmark's own copy: the library does not offer LeNet-5, which
students write in assignment 2.
"""

from __future__ import annotations

import torch
from torch import nn


def lenet(*, seed: int = 0) -> nn.Sequential:
    """A freshly initialised LeNet-5 for 28×28 digits; the same weights for the same seed.

    Example:
        >>> lenet()(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        return nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # 6×14×14
            nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2),  # 16×5×5
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, 10),
        )
    finally:
        torch.random.set_rng_state(generator_state)
