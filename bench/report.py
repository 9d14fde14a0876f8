"""The suite's output: one Markdown file of tables and one plot of the ratios.

Scope: the ``Table`` each benchmark returns, the ``Ratio`` figures it states
(with the goal of the issue where there is one), and ``write_results``, which
writes ``results.md`` (machine, versions, date, settings, a summary and every
table) and ``results.png`` (every ratio as a bar, goals marked).
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.clock import Timing
from bench.settings import REPO, Settings


@dataclass(frozen=True)
class Ratio:
    """One figure of the suite: how many times faster (or what fraction) ``cnncourse`` is.

    Example:
        >>> Ratio("fit vs the best usual loop", 2.4, goal=2.0).met
        True
    """

    label: str
    value: float | None  # None: could not be measured (e.g. a target accuracy never reached)
    goal: float | None = None  # at least this much, when the issue sets a goal

    @property
    def met(self) -> bool | None:
        """Whether the goal is reached; None without a goal or a value."""
        if self.goal is None or self.value is None:
            return None
        return self.value >= self.goal


@dataclass
class Table:
    """What one benchmark measured, ready for the Markdown file.

    Example:
        >>> Table("demo", "Demo", "1 run", ["side", "seconds"], [["a", "1.0"]]).to_markdown().splitlines()[0]
        '## Demo'
    """

    key: str
    title: str
    setup: str
    columns: list[str]
    rows: list[list[str]]
    ratios: list[Ratio] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_markdown(self) -> str:
        """The table as a Markdown section: title, setup, table, ratios, notes."""
        lines = [f"## {self.title}", "", self.setup, ""]
        lines.append("| " + " | ".join(self.columns) + " |")
        lines.append("|" + "|".join("---" for _ in self.columns) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        if self.ratios:
            lines.append("")
            lines += [f"- **{r.label}: {ratio_text(r)}**" for r in self.ratios]
        if self.notes:
            lines.append("")
            lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


def ratio_text(ratio: Ratio) -> str:
    """``2.41×`` plus the goal and whether it is met, e.g. ``2.41× (goal ≥ 2×: met)``.

    Example:
        >>> ratio_text(Ratio("x", 0.93, goal=0.9))
        '0.93× (goal ≥ 0.9×: met)'
    """
    value = "not measured" if ratio.value is None else f"{ratio.value:.2f}×"
    if ratio.goal is None:
        return value
    verdict = {True: "met", False: "NOT met", None: "unknown"}[ratio.met]
    return f"{value} (goal ≥ {ratio.goal:g}×: {verdict})"


def seconds_text(timing: Timing) -> str:
    """The median and the range of a side's runs, e.g. ``12.3 s (11.9–13.0)``.

    Example:
        >>> seconds_text(Timing("a", [1.0, 1.2, 1.1]))
        '1.10 s (1.00–1.20)'
    """
    low, high = min(timing.seconds), max(timing.seconds)
    return f"{timing.median:.2f} s ({low:.2f}–{high:.2f})"


def machine_lines(settings: Settings, *, load_before: tuple[float, ...], command: str) -> list[str]:
    """The header of results.md: date, machine, load, versions, settings, command.

    Example:
        >>> machine_lines(settings, load_before=(0.1, 0.2, 0.3), command="python -m bench")[0]
        '- date: 2026-...'
    """
    import numpy
    import torch
    import torchvision

    load_after = os.getloadavg()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- machine: {_cpu_name()}, {cores} cores available, {_memory_gib()} GiB memory, {platform.system()} {platform.release()}",
        f"- GPU: {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none (all figures are CPU figures)'}",
        f"- load average (1, 5, 15 min): {_load(load_before)} at the start, {_load(load_after)} at the end"
        + (" — the machine was busy: ratios are noisy" if max(load_before[0], load_after[0]) > 0.5 * (cores or 1) else ""),
        f"- versions: Python {platform.python_version()}, torch {torch.__version__}, torchvision {torchvision.__version__}, "
        f"numpy {numpy.__version__}, cnncourse at {_commit()}",
        f"- settings: size {settings.size}, {settings.repeats} timed runs per side (median shown, range in brackets), "
        f"torch.set_num_threads({settings.threads})",
        f"- command: `{command}`",
    ]


def write_results(tables: list[Table], folder: Path, header: list[str], *, failures: dict[str, str]) -> tuple[Path, Path]:
    """Write ``results.md`` and ``results.png`` into ``folder``; returns both paths.

    Args:
        tables: what the benchmarks measured, in order.
        folder: where to write (created if missing).
        header: the lines of ``machine_lines``.
        failures: benchmark name -> error message, for those that failed.

    Example:
        >>> write_results(tables, Path("bench"), machine_lines(...), failures={})
        (PosixPath('bench/results.md'), PosixPath('bench/results.png'))
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["# Benchmark results", "", "Written by `python -m bench` (see bench/README.md for what each benchmark "
             "measures and how). Every ratio compares runs made side by side in one process: same model, data, "
             "seed and epochs, timed by an outside wall clock that includes data loading and evaluation.", ""]
    lines += header + ["", "## Summary", "", "| benchmark | figure | ratio |", "|---|---|---|"]
    for table in tables:
        lines += [f"| {table.title} | {r.label} | {ratio_text(r)} |" for r in table.ratios]
    for name, message in failures.items():
        lines.append(f"| {name} | failed | {message} |")
    lines.append("")
    lines += [table.to_markdown() for table in tables]
    markdown = folder / "results.md"
    markdown.write_text("\n".join(lines))
    picture = folder / "results.png"
    plot_ratios(tables, picture)
    return markdown, picture


def plot_ratios(tables: list[Table], path: Path) -> Path:
    """Every ratio as a horizontal bar (log scale), its goal as a black tick; saved to ``path``.

    Example:
        >>> plot_ratios(tables, Path("bench/results.png"))
        PosixPath('bench/results.png')
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    ratios = [(f"{t.key}: {r.label}", r) for t in tables for r in t.ratios if r.value is not None]
    figure = Figure(figsize=(11, 0.45 * max(len(ratios), 1) + 1.6), layout="constrained")
    ax = figure.add_subplot()
    if ratios:
        labels, values = [label for label, _ in ratios], [r.value for _, r in ratios]
        colours = ["tab:green" if r.met or (r.goal is None and r.value >= 1) else "tab:red" if r.met is False else "tab:grey"
                   for _, r in ratios]
        positions = list(range(len(ratios)))[::-1]
        ax.barh(positions, values, color=colours)
        for y, (_, r) in zip(positions, ratios):
            ax.text(r.value, y, f" {r.value:.2f}×", va="center", fontsize=8)
            if r.goal is not None:
                ax.plot([r.goal, r.goal], [y - 0.4, y + 0.4], color="black", linewidth=2)
        ax.set_yticks(positions, labels, fontsize=8)
        ax.set_xscale("log")
        ax.axvline(1.0, color="grey", linestyle=":", linewidth=1)
        ax.set_xlim(min(0.5, min(values) * 0.8), max(values) * 2.5)
    ax.set_xlabel("ratio (× as fast as the comparison; black tick: the goal)")
    figure.suptitle("cnncourse against the usual loops, side by side on this machine")
    figure.savefig(path, dpi=120)
    return Path(path)


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> str:
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        return f"{pages * size / 2**30:.0f}"
    except (ValueError, OSError, AttributeError):
        return "?"


def _load(values: tuple[float, ...]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def _commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError):
        return "an unknown commit (not a git checkout)"
    return head.stdout.strip() + (" with local changes" if dirty.stdout.strip() else "")


def python_command() -> str:
    """The command line this process was started with, for the record.

    Example:
        >>> python_command()
        'python -m bench --size reduced'
    """
    args = sys.argv[1:]
    return "python -m bench" + ("" if not args else " " + " ".join(args))
