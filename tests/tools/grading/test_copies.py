"""The copy signal: run files byte-identical between students reach the grading table's "needs attention" list."""

from __future__ import annotations

from pathlib import Path

from cnncourse.tools.grading.copies import copy_notes, run_files
from cnncourse.tools.grading.report import GradingReport, SubmissionResult
from cnncourse.tools.grading.submission import file_hashes


def submit(root: Path, student: str, files: dict[str, bytes]) -> dict[str, str]:
    folder = root / student / "02_lenet"
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return file_hashes(folder)


def test_identical_run_files_are_named_with_the_other_students(tmp_path: Path) -> None:
    notebook = b'{"cells": []}'  # the same notebook bytes are no copy signal: only runs/ counts
    hashes = {
        "alice": submit(tmp_path, "alice", {"lenet.ipynb": notebook, "runs/lenet.pt": b"w1", "runs/lenet.json": b"h1"}),
        "bob": submit(tmp_path, "bob", {"lenet.ipynb": notebook, "runs/lenet.pt": b"w1", "runs/lenet.json": b"h1"}),
        "carol": submit(tmp_path, "carol", {"lenet.ipynb": notebook, "runs/lenet.pt": b"w1", "runs/lenet.json": b"h3"}),
        "dave": submit(tmp_path, "dave", {"lenet.ipynb": notebook, "runs/lenet.pt": b"w4", "runs/lenet.json": b"h4"}),
        "erin": submit(tmp_path, "erin", {"lenet.ipynb": notebook}),
    }
    runs = {student: run_files(h) for student, h in hashes.items()}
    assert set(runs["alice"]) == {"runs/lenet.pt", "runs/lenet.json"}, runs["alice"]
    assert runs["erin"] == {}, runs["erin"]
    notes = copy_notes(runs)
    assert notes == {
        "alice": ["runs/lenet.json identical to bob's", "runs/lenet.pt identical to bob's and carol's"],
        "bob": ["runs/lenet.json identical to alice's", "runs/lenet.pt identical to alice's and carol's"],
        "carol": ["runs/lenet.pt identical to alice's and bob's"],
    }, notes


def test_files_shared_with_the_same_students_make_one_note() -> None:
    runs = {"alice": {"runs/lenet.pt": "a", "runs/lenet.json": "b"}, "bob": {"runs/lenet.pt": "a", "runs/lenet.json": "b"}}
    assert copy_notes(runs) == {"alice": ["runs/lenet.json, runs/lenet.pt identical to bob's"],
                                "bob": ["runs/lenet.json, runs/lenet.pt identical to alice's"]}


def test_links_and_unique_runs_give_no_note(tmp_path: Path) -> None:
    (tmp_path / "alice" / "runs").mkdir(parents=True)
    (tmp_path / "bob" / "runs").mkdir(parents=True)
    (tmp_path / "alice" / "runs" / "lenet.pt").symlink_to("/etc/hostname")
    (tmp_path / "bob" / "runs" / "lenet.pt").symlink_to("/etc/hostname")
    runs = {s: run_files(file_hashes(tmp_path / s)) for s in ("alice", "bob")}
    assert runs == {"alice": {}, "bob": {}}  # links are never copied into grading: another note names them
    assert copy_notes({"alice": {"runs/lenet.pt": "a"}, "bob": {"runs/lenet.pt": "b"}}) == {}


def test_the_table_lists_the_copy_note_under_needs_attention() -> None:
    notes = copy_notes({"alice": {"runs/lenet.pt": "a"}, "bob": {"runs/lenet.pt": "a"}, "carol": {"runs/lenet.pt": "c"}})
    results = [SubmissionResult(s, "graded", 100, 100, notes=notes.get(s, [])) for s in ("alice", "bob", "carol")]
    table = GradingReport("02_lenet", results, test_cells={}, workers=1, sandbox="full", seconds=1).table()
    attention = table.split("needs attention (2):\n", 1)[1]
    assert "alice: runs/lenet.pt identical to bob's" in attention, table
    assert "bob: runs/lenet.pt identical to alice's" in attention, table
    assert "carol" not in attention, table
