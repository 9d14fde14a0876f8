"""Timing side by side: threads pinned, runs interleaved, the median of the repeats.

Scope: a benchmark describes each contestant as a ``Side`` (a name and a
function doing all the work to be timed: reading the files, building the
batches, training, evaluating) and ``side_by_side`` times them with a wall clock
that stays outside the code under test. Repeats are interleaved (A B C, then
C B A, ...) so that a machine getting busier or quieter during the run treats
every side alike, and the median ignores one disturbed run.
"""

from __future__ import annotations

import contextlib
import gc
import os
import statistics
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class Side:
    """One contestant: ``run()`` does everything that is timed and returns extra measurements.

    Example:
        >>> Side("sleep", lambda: {"slept": 0.01}).name
        'sleep'
    """

    name: str
    run: Callable[[], dict[str, float | None]]


@dataclass
class Timing:
    """The timed runs of one side: seconds per run and what each run returned.

    Example:
        >>> Timing("a", [3.0, 1.0, 2.0]).median
        2.0
    """

    name: str
    seconds: list[float] = field(default_factory=list)
    extras: list[dict[str, float | None]] = field(default_factory=list)

    @property
    def median(self) -> float:
        """The median of the wall-clock seconds."""
        return statistics.median(self.seconds)

    def extra(self, key: str) -> float | None:
        """The median of one extra measurement over the runs (None when a run had none).

        Example:
            >>> Timing("a", [1.0, 1.0], [{"acc": 0.9}, {"acc": 0.8}]).extra("acc")
            0.85
        """
        values = [e.get(key) for e in self.extras]
        if not values or any(v is None for v in values):
            return None
        return statistics.median(values)


def pin_threads(threads: int) -> int:
    """Fix PyTorch's intra-op threads for this process; returns the number it had before.

    DataLoader workers run one thread each whatever this says (PyTorch sets that).

    Example:
        >>> before = pin_threads(2); torch.get_num_threads()
        2
    """
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    return before


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Send prints and progress bars to /dev/null, the same for every side.

    Also silences DataLoader's warning about more workers than cores: the d2l
    book's 4 workers on a 2-core machine are what is being measured.

    Example:
        >>> with quiet():
        ...     print("not shown")
    """
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="This DataLoader will create", category=UserWarning)
            yield


def side_by_side(sides: list[Side], *, repeats: int) -> dict[str, Timing]:
    """Run every side ``repeats`` times, interleaved, each timed by an outside wall clock.

    Args:
        sides: the contestants; their names must differ.
        repeats: runs per side (the suite uses at least 3 and reports the median).

    Returns:
        One ``Timing`` per side, by name, in the order given.

    Example:
        >>> timings = side_by_side([Side("a", dict), Side("b", dict)], repeats=3)
        >>> len(timings["a"].seconds)
        3
    """
    names = [side.name for side in sides]
    if len(set(names)) != len(names):
        raise ValueError(f"the sides need different names, got {names}")
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    timings = {side.name: Timing(side.name) for side in sides}
    for repeat in range(repeats):
        order = sides if repeat % 2 == 0 else sides[::-1]
        for side in order:
            gc.collect()  # garbage of the previous run is not this run's cost
            with quiet():
                started = time.perf_counter()
                extras = side.run()
                seconds = time.perf_counter() - started
            timings[side.name].seconds.append(seconds)
            timings[side.name].extras.append(dict(extras or {}))
    return timings
