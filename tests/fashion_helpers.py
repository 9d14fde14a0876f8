"""The course's LeNet-5 recipe on the real Fashion-MNIST, sized for a 2-core CPU: used by tests/test_fashion_full.py.

Scope: the network (LeNet-5 as assignment 2 builds it, written here because the
library never holds it), the recipe, and a command line that measures the test
accuracy over several seeds, from which the test's bar is set:

    CNNCOURSE_BUDGET=smoke .venv/bin/python tests/fashion_helpers.py --seeds 0 1 2 3 4

The recipe is assignment 2's at ``budget(full=...)`` (source/02_lenet/lenet.ipynb,
the instructor's ``train_model``): LeNet-5 (LeCun et al., 1998, "Gradient-based
learning applied to document recognition", with ReLU and max pooling), AdamW
(lr 1e-3, weight decay 0.01), OneCycleLR (max lr 3e-3, stepped per batch),
batches of 128, 15 epochs on the 55,000 training images the notebook keeps
after holding 5,000 out for validation (the same seeded split), then the
10,000 test images. ``THREADS`` is 1: on this small network one thread is
faster than two (75-96 s of CPU for the whole run at 1 thread; 222 s wall at 2
threads on a quiet machine, where the two threads mostly wait for each other).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

EPOCHS = 15  # the full budget's epochs (source/02_lenet: EPOCHS = budget(full=15, ...))
BATCH_SIZE = 128
VAL_SIZE = 5000  # held out of the 60,000 training images as the notebook does (never used here)
THREADS = 1  # faster than 2 on this small network (see above)


def lenet5(*, seed: int) -> nn.Sequential:
    """LeNet-5 for 1×28×28 images (61,706 parameters), initialised from ``seed``.

    Example:
        >>> lenet5(seed=0)(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # 6×14×14
        nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2),  # 16×5×5
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10),
    )


def train_and_test(*, seed: int, epochs: int = EPOCHS) -> dict[str, float]:
    """Train the recipe on all of Fashion-MNIST's training images and return the test accuracy and the time.

    Returns:
        ``{"test_acc": ..., "wall_s": ..., "cpu_s": ...}`` (the clocks cover loading, training and testing).

    Raises:
        FileNotFoundError: the Fashion-MNIST files are nowhere ``cnncourse.data.load`` looks (it says where).

    Example:
        >>> train_and_test(seed=0)["test_acc"]
        0.91...
    """
    from cnncourse.batches import TensorBatcher
    from cnncourse.data import load
    from cnncourse.train import evaluate, fit

    wall, cpu = time.perf_counter(), time.process_time()
    train_set = load("fashion_mnist", "train", download=False)
    test_set = load("fashion_mnist", "test", download=False)
    if train_set.standin or len(train_set) != 60_000 or len(test_set) != 10_000:
        raise FileNotFoundError(f"expected the real Fashion-MNIST (60,000 + 10,000 images), got {train_set} and {test_set}")
    cpu_device = torch.device("cpu")
    order = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(0))
    train_set = train_set.subset(order[VAL_SIZE:])  # the notebook's 55,000 training images
    train = TensorBatcher(train_set, BATCH_SIZE, shuffle=True, seed=seed, device=cpu_device)
    model = lenet5(seed=seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, epochs=epochs, steps_per_epoch=len(train))
    fit(model, train, epochs=epochs, optimizer=optimizer, scheduler=scheduler, scheduler_interval="batch",
        device=cpu_device, progress=False)
    accuracy = evaluate(model, TensorBatcher(test_set, 1000, shuffle=False, device=cpu_device))["top1"]
    return {"test_acc": accuracy, "wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}


def main() -> None:
    """Measure the recipe over the seeds given; print each run, the mean, the standard deviation and mean - 3 sd."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--threads", type=int, default=THREADS, help="torch threads (the test uses THREADS)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    accuracies = []
    for seed in args.seeds:
        load_before = open("/proc/loadavg").read().split()[0]
        result = train_and_test(seed=seed, epochs=args.epochs)
        accuracies.append(result["test_acc"])
        print(f"seed {seed}: test accuracy {result['test_acc']:.4f}, wall {result['wall_s']:.0f} s, "
              f"CPU {result['cpu_s']:.0f} s, load average before {load_before}", flush=True)
    if len(accuracies) > 1:
        mean, sd = statistics.mean(accuracies), statistics.stdev(accuracies)
        print(f"{len(accuracies)} seeds, {args.epochs} epoch(s): mean {mean:.4f}, sd {sd:.4f}, mean - 3 sd {mean - 3 * sd:.4f}")


if __name__ == "__main__":
    main()
