"""Benchmark 9: ``evaluate`` against a plain inference loop, ResNet-20 on CIFAR-shaped images.

Scope: what grading a saved run costs most of (issue #16): one pass of a
trained network over a test set. Every side runs the same ResNet-20 (He et
al., 2015, "Deep Residual Learning for Image Recognition"; ``bench.gpu_models``)
in eval mode over the same batches of 1,000 images, already in memory (as the
notebooks pass them: ``TensorBatcher(test_set, 1000)``):

- the plain loop, as usually written: ``model.eval()``, ``torch.inference_mode()``,
  one forward pass per batch, NCHW;
- ``evaluate(..., channels_last=False)``: the library's pass in the usual layout,
  which on the CPU cuts each batch into slices of ``CPU_SLICE`` images;
- ``evaluate`` with its defaults: slices and channels-last.

The images are random (the time of a forward pass does not depend on them);
every side must return the same accuracy, which the table shows.
"""

from __future__ import annotations

import torch

from bench.clock import Side, side_by_side
from bench.gpu_models import resnet20
from bench.report import Ratio, Table, seconds_text
from bench.settings import Settings

SIZES = {"full": {"images": 10_000}, "reduced": {"images": 2_000}, "tiny": {"images": 300}}
BATCH, SEED = 1000, 0
CPU = torch.device("cpu")
PLAIN = "plain loop: eval mode, inference mode, NCHW, batches of 1,000"
SLICED = "evaluate(channels_last=False): slices on the CPU, NCHW"
DEFAULT = "evaluate (defaults): slices and channels-last"


def run(settings: Settings) -> Table:
    """Time the three sides and return the table.

    Example:
        >>> run(Settings("tiny", 1, 1, SHARED_MNIST, Path("/tmp/bench"))).key
        'evaluation'
    """
    from cnncourse.train import CPU_SLICE, evaluate

    n = settings.pick(SIZES)["images"]
    generator = torch.Generator().manual_seed(SEED)
    images, labels = torch.randn(n, 3, 32, 32, generator=generator), torch.randint(0, 10, (n,), generator=generator)
    batches = [(images[i:i + BATCH], labels[i:i + BATCH]) for i in range(0, n, BATCH)]  # before the clock

    def network() -> torch.nn.Module:
        torch.manual_seed(SEED)
        return resnet20()

    def plain() -> dict:
        model, hits = network().eval(), 0
        with torch.inference_mode():
            for x, y in batches:
                hits += int((model(x).argmax(1) == y).sum())
        return {"top1": hits / n}

    sides = [
        Side(PLAIN, plain),
        Side(SLICED, lambda: {"top1": evaluate(network(), batches, device=CPU, channels_last=False)["top1"]}),
        Side(DEFAULT, lambda: {"top1": evaluate(network(), batches, device=CPU)["top1"]}),
    ]
    timings = side_by_side(sides, repeats=settings.repeats)
    base = timings[PLAIN].median
    rows = [[name, seconds_text(t), f"{t.median / n * 1e3:.2f} ms", f"{base / t.median:.2f}", f"{t.extra('top1'):.4f}"]
            for name, t in timings.items()]
    return Table(
        key="evaluation",
        title="9. Evaluation: evaluate against a plain inference loop",
        setup=(f"ResNet-20 (269,722 parameters), {n:,} random 3×32×32 images in batches of {BATCH:,} already in "
               f"memory, eval mode; evaluate slices CPU batches into {CPU_SLICE} images; {settings.repeats} runs per side."),
        columns=["side", "wall clock", "per image", "speed against the plain loop", "top-1 (same on every side)"],
        rows=rows,
        ratios=[Ratio("evaluate vs a plain inference loop, ResNet-20", base / timings[DEFAULT].median),
                Ratio("slices alone (evaluate, NCHW) vs the plain loop", base / timings[SLICED].median)],
        notes=[],
    )
