"""Benchmark 2: the distance to the limit, ``fit`` against a bare loop over batches already in memory.

Scope: how much of the time ``fit`` adds around forward, backward and step.
The batches are prepared once, before the clock starts, and shared by the
bare loop and by ``fit``; a last side lets ``fit`` build them itself with a
``TensorBatcher`` while it trains, as the course runs it. Every side trains the
same LeNet-5 from the same weights with the same SGD, without evaluation.

``fit`` keeps images and convolution weights channels-last on the CPU, so the
bare loop runs twice: as usually written (NCHW) and with fit's layout; the
goal compares like with like (the same layout).
"""

from __future__ import annotations

import torch

from bench import loops
from bench.clock import Side, side_by_side
from bench.files import real_digits, repeat_to
from bench.models import lenet
from bench.report import Ratio, Table, seconds_text
from bench.settings import Settings

SIZES = {
    "full": {"train": 60_000, "epochs": 2},
    "reduced": {"train": 10_000, "epochs": 1},
    "tiny": {"train": 256, "epochs": 1},
}
BATCH, SEED = 64, 0
CPU = torch.device("cpu")
BARE, BARE_CL = "bare loop, NCHW (as usually written)", "bare loop, channels-last (fit's layout)"
FIT_PREPARED, FIT_BATCHER = "fit over the same prepared batches", "fit + TensorBatcher (batches built while training)"


def run(settings: Settings) -> Table:
    """Time every side and return the table.

    Example:
        >>> run(Settings("tiny", 1, 1, SHARED_MNIST, Path("/tmp/bench"))).ratios[0].goal
        0.9
    """
    from cnncourse.batches import TensorBatcher
    from cnncourse.data import ImageDataset

    size = settings.pick(SIZES)
    images, labels = repeat_to(*real_digits(settings.digits), size["train"])
    digits = ImageDataset(images, labels, mean=(0.1307,), std=(0.3081,), name="mnist")
    batches = list(TensorBatcher(digits, BATCH, shuffle=True, seed=SEED, device=CPU))  # before the clock
    batches_cl = [(x.contiguous(memory_format=torch.channels_last), y) for x, y in batches]
    epochs = size["epochs"]

    def bare(prepared: list, channels_last: bool) -> dict:
        model = lenet(seed=SEED)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        loops.bare_loop(model, prepared, epochs=epochs, optimizer=_sgd(model))
        return {}

    def with_fit(data) -> dict:
        from cnncourse.train import fit

        model = lenet(seed=SEED)
        history = fit(model, data, epochs=epochs, optimizer=_sgd(model), device=CPU)
        return {"train_loss": history.train_loss[-1]}

    sides = [
        Side(BARE, lambda: bare(batches, False)),
        Side(BARE_CL, lambda: bare(batches_cl, True)),
        Side(FIT_PREPARED, lambda: with_fit(batches)),
        Side(FIT_BATCHER, lambda: with_fit(TensorBatcher(digits, BATCH, shuffle=True, seed=SEED, device=CPU))),
    ]
    timings = side_by_side(sides, repeats=settings.repeats)
    steps = len(batches) * epochs
    limit = timings[BARE_CL].median
    rows = [[name, seconds_text(t), f"{t.median / steps * 1e3:.2f} ms", f"{limit / t.median:.2f}"]
            for name, t in timings.items()]
    return Table(
        key="limit",
        title="2. Distance to the limit: fit against a bare loop",
        setup=(f"{size['train']:,} MNIST digits, {epochs} epoch(s), batch {BATCH} ({steps:,} steps), SGD lr 0.05 "
               f"with Nesterov momentum 0.9, no evaluation, progress bar on (to /dev/null), "
               f"{settings.repeats} runs per side."),
        columns=["side", "wall clock", "per step", "throughput as a fraction of the bare loop (fit's layout)"],
        rows=rows,
        ratios=[
            Ratio("fit over prepared batches vs the bare loop", limit / timings[FIT_PREPARED].median, goal=0.9),
            Ratio("fit + TensorBatcher vs the bare loop", limit / timings[FIT_BATCHER].median, goal=0.9),
            Ratio("bare loop: channels-last vs NCHW", timings[BARE].median / limit),
        ],
        notes=[
            "fit reads the loss once per step on the CPU (free there: nothing is queued) and every 50 steps on "
            "a GPU, where each read makes the CPU wait for the GPU; see check_every in cnncourse/train.py.",
        ],
    )


def _sgd(model: torch.nn.Module) -> torch.optim.Optimizer:
    """fit's default optimizer, given explicitly to every side."""
    return torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
