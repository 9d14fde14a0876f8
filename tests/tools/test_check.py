"""cnncourse check: structure against the release version, saved output size, and Restart & Run All.

The submissions come from the bad-submission corpus (bench/submissions/),
built on the fixture assignment's release version, which nbgrader generates once
for this module. Checksums are nbgrader's own (nbgrader.utils.compute_checksum).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest

from cnncourse.tools.check import check, check_notebook
from cnncourse.tools.compare import Problem, compare_with_reference, find_reference, read_notebook
from cnncourse.tools.cli import main
from cnncourse.tools.grading.grade import file_hashes
from cnncourse.tools.release import student_files
from bench.submissions import corpus
from pipeline_helpers import FIXTURE, FIXTURE_SOURCE, REPO


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A course folder: source/ and release/ of the fixture, and every corpus case in submitted/<case>/."""
    root = tmp_path_factory.mktemp("check") / "course"
    shutil.copytree(FIXTURE_SOURCE / FIXTURE, root / "source" / FIXTURE)
    shutil.copy2(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    for name, data in student_files(FIXTURE, course_dir=root).items():
        (root / "release" / FIXTURE / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "release" / FIXTURE / name).write_bytes(data)
    release = json.loads((root / "release" / FIXTURE / "fixture.ipynb").read_text(encoding="utf-8"))
    source = json.loads((root / "source" / FIXTURE / "fixture.ipynb").read_text(encoding="utf-8"))
    for case in corpus.cases(FIXTURE):
        target = root / "submitted" / case.name / FIXTURE / "fixture.ipynb"
        target.parent.mkdir(parents=True)
        target.write_bytes(corpus.build(case, release, source, course=root))
    return root


def submission(course: Path, name: str) -> Path:
    return course / "submitted" / name / FIXTURE / "fixture.ipynb"


def problems_of(course: Path, name: str) -> list[Problem]:
    return check_notebook(submission(course, name), reference=course / "release" / FIXTURE / "fixture.ipynb", run=False)


STRUCTURE = {  # case -> (kind, words) the structural check must report
    "deleted_answer": ("missing_cell", "answer cell double was deleted"),
    "deleted_test": ("missing_cell", "test cell test_clip_sum was deleted"),
    "edited_test": ("edited_cell", "test cell test_clip_sum was edited"),
    "duplicated_cells": ("duplicated_cell", "answer cell double appears 2 times"),
    "reordered_cells": ("reordered", "clip_sum, test_clip_sum now come before double"),
    "invalid_json": ("invalid_json", "is not valid notebook JSON"),
}


@pytest.mark.parametrize("name", sorted(STRUCTURE))
def test_structural_problems_are_reported_in_plain_words(course: Path, name: str) -> None:
    kind, words = STRUCTURE[name]
    found = problems_of(course, name)
    assert [p.kind for p in found] == [kind], f"{name} should give exactly one {kind} problem, got {found}"
    assert words in found[0].message, f"the {kind} message should say {words!r}, it says {found[0].message!r}"


@pytest.mark.parametrize("name", ["good", "untouched", "infinite_loop", "patch_isclose", "huge_output"])
def test_answers_alone_are_not_structural_problems(course: Path, name: str) -> None:
    assert problems_of(course, name) == [], f"{name} changes only answer cells; check should find nothing structural"


def test_changed_points_and_a_foreign_cell_are_reported(course: Path, tmp_path: Path) -> None:
    nb, _ = read_notebook(submission(course, "good"))
    reference, _ = read_notebook(course / "release" / FIXTURE / "fixture.ipynb")
    test_cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_double")
    test_cell.metadata.nbgrader.points = 400
    foreign = nbformat.v4.new_code_cell("x = 1", metadata={"nbgrader": {"grade": True, "grade_id": "test_from_elsewhere",
                                                                         "locked": True, "points": 5, "solution": False,
                                                                         "schema_version": 3}})
    nb.cells.append(foreign)
    found = {p.kind: p.message for p in compare_with_reference(nb, reference)}
    assert set(found) == {"changed_metadata", "unknown_cell"}, found
    assert "points 40 -> 400" in found["changed_metadata"], found["changed_metadata"]
    assert "test_from_elsewhere" in found["unknown_cell"], found["unknown_cell"]


def test_without_a_release_version_edited_read_only_cells_are_found_by_their_checksum(course: Path) -> None:
    found = check_notebook(submission(course, "edited_test"), reference=None, run=False)
    kinds = [p.kind for p in found]
    assert kinds == ["no_reference", "edited_cell"], f"expected a no-reference note and one edited cell, got {found}"
    assert "test_clip_sum" in found[1].message
    assert [p.kind for p in check_notebook(submission(course, "good"), reference=None, run=False)] == ["no_reference"]


def test_large_saved_outputs_are_reported_with_the_limit(course: Path, tmp_path: Path) -> None:
    nb = json.loads(submission(course, "good").read_text(encoding="utf-8"))
    code = next(c for c in nb["cells"] if c["cell_type"] == "code")
    code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "x" * 300_000}]
    path = tmp_path / "fixture.ipynb"
    path.write_text(json.dumps(nb), encoding="utf-8")
    found = check_notebook(path, reference=course / "release" / FIXTURE / "fixture.ipynb", run=False,
                           max_output_bytes=100_000)
    assert [p.kind for p in found] == ["large_output"], found
    assert "0.3 MB (limit 0.1 MB)" in found[0].message and "cell 1" in found[0].message, found[0].message
    assert check_notebook(path, reference=course / "release" / FIXTURE / "fixture.ipynb", run=False,
                          max_output_bytes=1_000_000) == [], "under the limit, nothing to report"


def test_restart_and_run_all_passes_a_good_notebook_and_names_failing_cells(course: Path) -> None:
    reference = course / "release" / FIXTURE / "fixture.ipynb"
    assert check_notebook(submission(course, "good"), reference=reference, timeout=60) == [], \
        "the right answers should run without a failing cell"
    found = check_notebook(submission(course, "syntax_error"), reference=reference, timeout=60)
    messages = [p.message for p in found if p.kind == "failing_cell"]
    assert len(messages) == 2, f"the broken answer cell and its test should both be reported, got {found}"
    assert "answer cell clip_sum" in messages[0] and "SyntaxError" in messages[0], messages[0]
    assert "test cell test_clip_sum" in messages[1] and "not right yet" in messages[1], messages[1]


def test_a_kernel_that_dies_is_reported(course: Path) -> None:
    found = check_notebook(submission(course, "os_exit"), reference=None, timeout=60)
    assert "kernel_died" in [p.kind for p in found], f"os._exit should be reported as a dead kernel, got {found}"


def test_check_on_a_folder_prints_a_report_returns_1_and_changes_nothing(
        course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = course / "submitted"
    before = file_hashes(folder)
    status = check([folder / "good", folder / "deleted_test", folder / "invalid_json"], run=False)
    out = capsys.readouterr().out
    assert status == 1, f"a folder with problems should give exit status 1, got {status}"
    assert "no problems found (compared with" in out, out
    assert "test cell test_clip_sum was deleted" in out and "not valid notebook JSON" in out, out
    assert "1 of 3 notebooks have no problems." in out, out
    assert check([folder / "good"], run=False) == 0, "a good notebook alone should give exit status 0"
    capsys.readouterr()
    check([folder / "good"], run=True, timeout=60)
    assert file_hashes(folder) == before, "check must not change the notebooks or their folders, not even by running them"


def test_the_release_version_is_found_from_the_course_layout_or_given(course: Path, tmp_path: Path) -> None:
    release = course / "release" / FIXTURE / "fixture.ipynb"
    assert find_reference(submission(course, "good")) == release
    assert find_reference(submission(course, "good"), release=release.parent) == release
    lonely = tmp_path / "fixture.ipynb"
    shutil.copy2(submission(course, "good"), lonely)
    assert find_reference(lonely) is None, "outside a course there is nothing to compare with"
    with pytest.raises(FileNotFoundError, match="no release version of fixture.ipynb"):
        find_reference(lonely, release=tmp_path / "nowhere")


def test_the_cli_reports_and_sets_the_exit_status(course: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(submission(course, "good")), "--no-run"]) == 0
    assert main(["check", str(submission(course, "edited_test")), "--no-run"]) == 1
    assert "was edited" in capsys.readouterr().out
    assert main(["check", str(tmp_path / "missing.ipynb")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err, err
    (tmp_path / "empty").mkdir()
    assert main(["check", str(tmp_path / "empty")]) == 2
    assert "no notebooks (.ipynb) found" in capsys.readouterr().err


def test_bad_arguments_raise_clear_errors(course: Path) -> None:
    with pytest.raises(TypeError, match="list of paths"):
        check(str(submission(course, "good")), run=False)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown sandbox mode 'jail'"):
        check_notebook(submission(course, "good"), run=True, sandbox="jail")


def test_restart_and_run_all_also_works_in_the_sandbox_with_or_without_setpriv(
        course: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cnncourse.tools.grading import sandbox

    reference = course / "release" / FIXTURE / "fixture.ipynb"
    assert check_notebook(submission(course, "good"), reference=reference, timeout=60, sandbox="auto") == []
    left = kernels_left()
    assert not left, f"check should stop the kernels it started; still running: {left}"
    real_which = shutil.which
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None if name == "setpriv" else real_which(name))
    assert check_notebook(submission(course, "good"), reference=reference, timeout=60, sandbox="auto") == [], \
        "without setpriv the kernel should start through the Python first stage and run the same"
    assert not kernels_left(), "no kernel may outlive check, with or without setpriv"


def kernels_left() -> list[str]:
    """Command lines of sandboxed kernels that descend from this process."""
    children: dict[int, list[int]] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                commands[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, frontier = [], [os.getpid()]
    while frontier:
        for child in children.get(frontier.pop(), []):
            frontier.append(child)
            if "cnncourse.tools.grading.kernel" in commands.get(child, ""):
                found.append(commands[child])
    return found


def test_outside_a_course_a_missing_release_version_is_a_note_and_errors_read_cleanly(
        course: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("good", "untouched"):
        (tmp_path / name).mkdir()
        shutil.copy2(submission(course, name), tmp_path / name / "fixture.ipynb")
    assert check([tmp_path / "good" / "fixture.ipynb"], run=True, timeout=60) == 0
    good = capsys.readouterr().out
    assert "no problems found (no release version to compare with" in good, good
    assert "\n  note: no release version found" in good, good
    assert check([tmp_path / "untouched" / "fixture.ipynb"], run=True, timeout=60) == 1
    out = capsys.readouterr().out
    head, *rest = out.strip().splitlines()
    bullets = [line for line in rest if line.startswith("  - ")]
    assert head.split(": ", 1)[1].startswith(f"{len(bullets)} problem"), \
        f"the count must match the problems listed, the missing release version not among them: {out}"
    assert not any("release version" in line for line in bullets), out
    assert "\n  note: no release version found" in out, out
    assert "raises NotImplementedError under Restart & Run All: your answer is not right yet" in out, out
    assert ":;" not in out and "Error:" not in out, f"no stray punctuation after an error without text: {out}"


# ---------------------------------------------------------------------------
# saved training runs (cnncourse.runs) beside the notebook


def notebook_saving_runs(folder: Path, *names: str) -> Path:
    """A notebook whose code trains (or loads) each named run, the way assignments 2-5 do."""
    cells = [nbformat.v4.new_code_cell(f'history = trained_or_loaded(\n    "{name}", model, lambda: train())')
             for name in names]
    path = folder / "lenet.ipynb"
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    return path


def save_tiny_run(folder: Path, name: str) -> None:
    import torch

    from cnncourse.runs import save_run

    torch.manual_seed(0)
    save_run(name, torch.nn.Linear(3, 2), {"train_loss": [1.0], "val_loss": [1.0], "val_accuracy": [0.5]},
             folder=folder / "runs")


def run_kinds(path: Path, **options: str) -> list[str]:
    from cnncourse.tools.check import saved_run_problems

    nb, _ = read_notebook(path)
    return [p.kind for p in saved_run_problems(path, nb, **options)]


def test_a_notebook_without_runs_has_no_run_problems(course: Path) -> None:
    assert run_kinds(submission(course, "good")) == []


def test_a_run_named_in_the_code_but_not_saved_is_reported(tmp_path: Path) -> None:
    path = notebook_saving_runs(tmp_path / "a", "lenet", "mlp")
    save_tiny_run(tmp_path / "a", "lenet")
    found = check_notebook(path, run=False)
    missing = [p for p in found if p.kind == "run_missing"]
    assert [p.kind for p in found if p.kind.startswith("run_")] == ["run_missing"], found
    assert "no saved run 'mlp' (runs/mlp.pt)" in missing[0].message and "submit the runs/ folder" in missing[0].message, \
        missing[0].message
    assert main(["check", str(path), "--no-run"]) == 1


def test_a_smoke_run_is_a_problem_only_under_the_full_budget(tmp_path: Path) -> None:
    path = notebook_saving_runs(tmp_path / "a", "lenet")
    save_tiny_run(tmp_path / "a", "lenet")  # the tests run in the smoke budget: the run says "smoke"
    assert run_kinds(path, budget="smoke") == []
    assert run_kinds(path, budget="full") == ["run_smoke"]


def test_a_modified_incomplete_or_damaged_run_is_reported(tmp_path: Path) -> None:
    path = notebook_saving_runs(tmp_path / "a", "lenet", "mlp", "vgg")
    for name in ("lenet", "mlp", "vgg"):
        save_tiny_run(tmp_path / "a", name)
    runs = tmp_path / "a" / "runs"
    (runs / "lenet.pt").write_bytes((runs / "lenet.pt").read_bytes() + b"\0")  # changed after saving
    (runs / "mlp.json").unlink()  # half a run
    (runs / "vgg.json").write_text("{not json", encoding="utf-8")
    assert run_kinds(path, budget="smoke") == ["run_modified", "run_missing", "run_unloadable"]
    nb, _ = read_notebook(path)
    from cnncourse.tools.check import saved_run_problems

    messages = [p.message for p in saved_run_problems(path, nb, budget="smoke")]
    assert "runs/lenet.pt is not the weights file saved with runs/lenet.json" in messages[0], messages[0]
    assert "mlp.json is missing from runs/" in messages[1], messages[1]


def test_a_run_in_the_folder_that_the_code_does_not_name_is_still_checked(tmp_path: Path) -> None:
    path = notebook_saving_runs(tmp_path / "a")
    save_tiny_run(tmp_path / "a", "old")
    assert run_kinds(path, budget="full") == ["run_smoke"]
