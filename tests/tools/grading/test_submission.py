"""cnncourse.tools.grading.submission's parts that need no kernel: the worker pool's folder, the grading
folder's nbgrader config, and the notes for the instructor (seconds; the whole grading is test_grade.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import nbformat
import pytest

from cnncourse.tools.grading import sandbox
from cnncourse.tools.grading.gradebook import course_settings
from cnncourse.tools.grading.submission import (GradingOptions, WorkerPool, event_notes, file_hashes, structure_notes,
                                                worker_config)
from demo_assignment import NOTEBOOK, demo_notebook

OPTIONS = GradingOptions(timeout=60, max_output_bytes=1000, interrupt_grace=2.0, mode="off", workers=2,
                         submission_timeout=600.0, uid_base=sandbox.DEFAULT_UID_BASE)


@pytest.fixture()
def course(gradebook: Path):
    (gradebook.parent / "nbgrader_config.py").write_text("c = get_config()\n", encoding="utf-8")
    return course_settings(gradebook.parent)


def test_the_pool_hands_out_each_slot_once_and_leaves_nothing_behind(course) -> None:
    with WorkerPool(course, 2) as pool:
        assert pool.template.is_file() and oct(pool.template.stat().st_mode & 0o777) == "0o600", \
            "the pool should hold a private snapshot of the gradebook"
        with pool.slot() as first, pool.slot() as second:
            assert {first.index, second.index} == {0, 1}, "two slots in use should be slots 0 and 1"
        root = pool.root
    assert not root.exists(), f"the pool's temporary folder {root} should be gone after the run"
    with pytest.raises(ValueError, match="at least one worker"):
        WorkerPool(course, 0)


def test_the_grading_config_loads_the_course_and_swaps_in_the_safe_steps(course, tmp_path: Path) -> None:
    folder = tmp_path / "slot0-x"
    namespaces = replace(OPTIONS, mode="namespaces")
    policy = sandbox.make_policy("namespaces", run_dir=folder / "run", home=folder / "home")
    text = worker_config(course, folder, namespaces, policy)
    compile(text, "nbgrader_config.py", "exec")
    for line in (f"load_subconfig({str(course.config_file)!r})", "c.SafeExecute.timeout = 60",
                 "c.SafeExecute.max_output_bytes = 1000", "c.RestoreCells.add_missing_cells = True",
                 "from cnncourse.tools.grading.safe_execute import DeduplicateCells, RestoreCells, SafeExecute",
                 'c.KernelManager.transport = "ipc"'):
        assert line in text, f"the grading folder's config should contain {line!r}:\n{text}"
    assert "sandbox_uid" not in text, "only the 'user' mode names a sandbox uid to clean up after"
    plain = worker_config(course, folder, OPTIONS, sandbox.make_policy("off", run_dir=folder / "run", home=folder))
    assert "KernelManager.transport" not in plain, "without a network namespace the kernel keeps TCP on localhost"


def test_notes_name_missing_and_moved_cells_and_what_the_kernel_reported(tmp_path: Path) -> None:
    submitted = tmp_path / "submitted"
    submitted.mkdir()
    nb = demo_notebook()
    nb.cells[2], nb.cells[3] = nb.cells[3], nb.cells[2]
    nbformat.write(nb, submitted / f"{NOTEBOOK}.ipynb")
    references = {NOTEBOOK: demo_notebook(), "extra": demo_notebook()}
    notes = structure_notes(submitted, references)
    assert notes[0].startswith(f"{NOTEBOOK}.ipynb: the cells are in a different order"), notes
    assert notes[1] == "extra.ipynb was not submitted; it counts 0", notes
    report = tmp_path / "events.jsonl"
    report.write_text(json.dumps({"notebook": NOTEBOOK, "events": [
        {"kind": "timeout", "grade_id": "test_double", "message": "ran past the 60 s timeout"},
        {"kind": "clear_output_ignored", "grade_id": "test_double", "message": "ignored"}]}) + "\n")
    assert event_notes(report) == [f"{NOTEBOOK}.ipynb (test_double), timeout: ran past the 60 s timeout"]
    assert event_notes(tmp_path / "none.jsonl") == [], "no report file: no events"
    hashes = file_hashes(submitted)
    assert list(hashes) == [f"{NOTEBOOK}.ipynb"] and len(hashes[f"{NOTEBOOK}.ipynb"]) == 64, hashes


def test_feedback_leaves_out_the_saved_training_runs(tmp_path):
    """nbgrader's generate_feedback copies a graded folder's other files with FEEDBACK_IGNORED: runs/ stays behind."""
    from nbgrader.utils import find_all_files

    from cnncourse.settings import RUNS_FOLDER
    from cnncourse.tools.grading.grade import FEEDBACK_IGNORED

    (tmp_path / RUNS_FOLDER).mkdir()
    (tmp_path / RUNS_FOLDER / "lenet.pt").write_bytes(b"weights")
    (tmp_path / "helpers.py").write_text("x = 1\n")
    copied = {Path(path).relative_to(tmp_path).as_posix() for path in find_all_files(str(tmp_path), list(FEEDBACK_IGNORED))}
    assert copied == {"helpers.py"}, f"feedback would copy {sorted(copied)}; the runs/ folder must stay out of it"


def test_retraining_refuses_a_sandbox_it_cannot_save_in(tmp_path, monkeypatch):
    """CNNCOURSE_RETRAIN=1 under a sandbox: a clear refusal before anything is graded, naming what to do."""
    import pytest

    from cnncourse.tools.grading.grade import grade

    course = tmp_path / "course"
    (course / "source" / "a1").mkdir(parents=True)
    (course / "submitted" / "alice" / "a1").mkdir(parents=True)
    (course / "nbgrader_config.py").write_text("c = get_config()\n")
    monkeypatch.setenv("CNNCOURSE_RETRAIN", "1")
    with pytest.raises(ValueError, match=r"CNNCOURSE_RETRAIN=1 .*--sandbox off"):
        grade("a1", course_dir=course, sandbox="namespaces", progress=False)
