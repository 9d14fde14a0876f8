"""Benchmark 5: transfer learning, a linear probe on cached features against the loop that runs the backbone every epoch.

Scope: a frozen ImageNet backbone (``cnncourse.pretrained("efficientnet_lite0")``,
whose weights ship with the course's packages, so this runs offline) and a new
linear head trained on real MNIST digits, resized by the backbone's own
preprocessing. Both sides train the same head from the same weights, with the
same optimizer and the same batch order, for the same epochs, evaluating after
each epoch, so they reach the same accuracy:

- cached (the cnncourse way): compute every image's feature vector once, then
  ``fit`` the head on the stored vectors;
- common loop: every batch of every epoch goes through the frozen backbone
  (in eval mode, under ``no_grad``) and then the head.

The clock covers building the backbone, preprocessing, features and training.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from bench.clock import Side, side_by_side
from bench.files import real_digits
from bench.report import Ratio, Table, seconds_text
from bench.settings import Settings

SIZES = {
    "full": {"train": 2_000, "val": 500, "side": 96, "epochs": 8},
    "reduced": {"train": 600, "val": 200, "side": 64, "epochs": 4},
    "tiny": {"train": 32, "val": 16, "side": 32, "epochs": 1},
}
BATCH, SEED, BACKBONE = 64, 0, "efficientnet_lite0"
CPU = torch.device("cpu")
CACHED, COMMON = "cnncourse: features cached once, then fit on them", "common loop: frozen backbone every epoch"


def run(settings: Settings) -> Table:
    """Time both sides and return the table.

    Example:
        >>> run(Settings("tiny", 1, 1, SHARED_MNIST, Path("/tmp/bench"))).ratios[0].label
        'cached features vs the backbone every epoch'
    """
    from cnncourse.data import ImageDataset

    size = settings.pick(SIZES)
    images, labels = real_digits(settings.digits)
    n, m = size["train"], size["val"]
    train = ImageDataset(images[:n], labels[:n], mean=(0.1307,), std=(0.3081,), name="mnist")
    val = ImageDataset(images[n:n + m], labels[n:n + m], mean=(0.1307,), std=(0.3081,), name="mnist", split="test")
    sides = [
        Side(CACHED, lambda: _cached_side(train, val, size["side"], size["epochs"])),
        Side(COMMON, lambda: _common_side(train, val, size["side"], size["epochs"])),
    ]
    timings = side_by_side(sides, repeats=settings.repeats)
    rows = [[name, seconds_text(t), f"{t.extra('val_acc'):.4f}", f"{t.median / timings[CACHED].median:.1f}×"]
            for name, t in timings.items()]
    return Table(
        key="transfer",
        title="5. Transfer learning: linear probe on cached features",
        setup=(f"Frozen EfficientNet-Lite0 (ImageNet weights), {n:,} real MNIST digits for training and {m:,} for "
               f"validation at {size['side']}×{size['side']} pixels, a linear head, Adam lr 1e-3, batch {BATCH}, "
               f"{size['epochs']} epochs, {settings.repeats} runs per side."),
        columns=["side", "wall clock", "validation accuracy", "caching is faster by"],
        rows=rows,
        ratios=[Ratio("cached features vs the backbone every epoch", timings[COMMON].median / timings[CACHED].median)],
        notes=["The head sees the same feature vectors in the same order on both sides, so the accuracies agree "
               "up to rounding; the speed-up grows with the number of epochs (one backbone pass instead of one per epoch)."],
    )


def _backbone_and_data(train, val, side: int) -> tuple[nn.Module, object, object]:
    """The frozen backbone's feature extractor (eval mode) and both data sets prepared for it."""
    from cnncourse.pretrained import pretrained

    backbone = pretrained(BACKBONE)
    backbone.requires_grad_(False)
    features = backbone.features.eval()  # batch-norm statistics stay ImageNet's
    prepare = backbone.preprocess.prepare
    return features, prepare(train, size=side), prepare(val, size=side)


def _head(dim: int) -> nn.Linear:
    torch.manual_seed(SEED)
    return nn.Linear(dim, 10)


def _order() -> torch.Generator:
    """The generator both sides shuffle with: the same batches in the same order."""
    return torch.Generator().manual_seed(SEED)


def _cached_side(train, val, side: int, epochs: int) -> dict:
    """Features once, under no_grad, then fit the head on them (evaluated after each epoch)."""
    from cnncourse.batches import TensorBatcher
    from cnncourse.train import fit

    features, train_p, val_p = _backbone_and_data(train, val, side)

    def embed(dataset) -> torch.Tensor:
        with torch.no_grad():  # not inference_mode: the head's backward needs these as ordinary tensors
            return torch.cat([features(x) for x, _ in TensorBatcher(dataset, 256, shuffle=False, device=CPU)])

    f_train, f_val = embed(train_p), embed(val_p)
    head = _head(f_train.shape[1])
    batches = DataLoader(TensorDataset(f_train, train_p.targets), batch_size=BATCH, shuffle=True, generator=_order())
    history = fit(head, batches, [(f_val, val_p.targets)], epochs=epochs,
                  optimizer=torch.optim.Adam(head.parameters(), lr=1e-3), device=CPU)
    return {"val_acc": history.val_acc[-1]}


def _common_side(train, val, side: int, epochs: int) -> dict:
    """The common loop: the frozen backbone runs on every batch of every epoch."""
    features, train_p, val_p = _backbone_and_data(train, val, side)
    head = _head(_feature_dim(features, train_p))
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-3)
    train_loader = DataLoader(train_p, batch_size=BATCH, shuffle=True, generator=_order())
    val_loader = DataLoader(val_p, batch_size=256)
    accuracy = 0.0
    for epoch in range(epochs):
        head.train()
        for x, y in train_loader:
            with torch.no_grad():
                f = features(x)
            loss = F.cross_entropy(head(f), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        head.eval()
        correct = 0
        with torch.no_grad():
            for x, y in val_loader:
                correct += (head(features(x)).argmax(dim=1) == y).sum().item()
        accuracy = correct / len(val_p)
    return {"val_acc": accuracy}


def _feature_dim(features: nn.Module, dataset) -> int:
    """The length of the feature vector, from one image."""
    with torch.no_grad():
        return features(dataset[0][0][None]).shape[1]
