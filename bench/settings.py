"""What one run of the suite is set up with: the size, the repeats, the threads and the folders.

Scope: the ``Settings`` every benchmark receives, and the three sizes: "full"
(the published numbers, tens of minutes on a 2-core CPU), "reduced" (the same
benchmarks on smaller data, a few minutes) and "tiny" (seconds: for the tests).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SIZES = ("full", "reduced", "tiny")
REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"  # the official MNIST test-set files


@dataclass(frozen=True)
class Settings:
    """How to run the benchmarks.

    Attributes:
        size: "full", "reduced" or "tiny"; each benchmark maps it to its data sizes and epochs.
        repeats: timed runs of every side; the tables show the median.
        threads: ``torch.set_num_threads`` for every run (DataLoader workers use one each).
        digits: the folder with ``t10k-images-idx3-ubyte.gz`` and ``t10k-labels-idx1-ubyte.gz``.
        work: a scratch folder for the data files the benchmarks write.

    Example:
        >>> Settings(size="tiny", repeats=1, threads=1, digits=SHARED_MNIST, work=Path("/tmp/bench")).size
        'tiny'
    """

    size: str
    repeats: int
    threads: int
    digits: Path
    work: Path

    def __post_init__(self) -> None:
        if self.size not in SIZES:
            raise ValueError(f"size must be one of {', '.join(SIZES)}, got {self.size!r}")
        if isinstance(self.repeats, bool) or not isinstance(self.repeats, int) or self.repeats < 1:
            raise ValueError(f"repeats must be a positive integer, got {self.repeats!r}")
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1:
            raise ValueError(f"threads must be a positive integer, got {self.threads!r}")

    def pick(self, table: dict[str, dict]) -> dict:
        """The entry of ``table`` for this run's size.

        Example:
            >>> Settings("tiny", 1, 1, SHARED_MNIST, Path("/tmp")).pick({"full": {"n": 60000}, "reduced": {"n": 10000}, "tiny": {"n": 256}})
            {'n': 256}
        """
        return table[self.size]
