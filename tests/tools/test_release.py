"""cnncourse.tools.release: release/ is current, byte-stable and free of answers; check reports in words."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

import cnncourse.tools.release as release_module
from cnncourse.tools.cli import main as cli_main
from cnncourse.tools.release import known_assignments, normalise_notebook, release, student_files
from pipeline_helpers import FIXTURE, MARKERS, REPO, Assignment, all_assignments, assignment_params, cell_sources
from pipeline_helpers import make_course, secret_lines, split_regions

FIXTURE_ASSIGNMENT = all_assignments()[0]
REPO_ASSIGNMENTS = [a for a in all_assignments() if a.in_repo]


@pytest.fixture(scope="module")
def generated() -> dict[str, dict[str, bytes]]:
    """One nbgrader generation per assignment, shared by the tests of this module."""
    return {}


def generate_once(generated: dict, assignment: Assignment) -> dict[str, bytes]:
    if assignment.name not in generated:
        generated[assignment.name] = student_files(assignment.name, course_dir=assignment.source_root.parent)
    return generated[assignment.name]


@pytest.fixture()
def course(tmp_path: Path, generated: dict, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A course with the fixture assignment released, where generation replays the cached nbgrader output."""
    root = make_course(tmp_path / "course", FIXTURE_ASSIGNMENT)
    files = generate_once(generated, FIXTURE_ASSIGNMENT)
    real = release_module.student_files

    def cached(name: str, *, course_dir) -> dict[str, bytes]:
        source = Path(course_dir) / "source" / name / "fixture.ipynb"
        if name == FIXTURE and source.read_bytes() == (FIXTURE_ASSIGNMENT.folder / "fixture.ipynb").read_bytes():
            return dict(files)
        return real(name, course_dir=course_dir)  # a test edited the source: generate for real

    monkeypatch.setattr(release_module, "student_files", cached)
    assert release([], course_dir=root) == 0
    return root


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- the repository's release/ -------------------------------------------------------------


REPO_PARAMS = [pytest.param(a, id=a.name) for a in REPO_ASSIGNMENTS] or [
    pytest.param(None, marks=pytest.mark.skip(reason="source/ holds no assignment yet"), id="none")]


@pytest.mark.parametrize("assignment", REPO_PARAMS)
def test_committed_release_is_in_sync_with_source(assignment: Assignment, repo: Path, capsys) -> None:
    """CI's check, `cnncourse release --check`, on each assignment of the repository."""
    status = release([assignment.name], check=True, course_dir=repo)
    out = capsys.readouterr().out
    assert status == 0, f"release/{assignment.name} should be in sync with source/ (exit 0), got exit {status}:\n{out}"
    assert "in sync" in out, f"the check should say that release/ is in sync, it printed:\n{out}"


def test_committed_release_has_no_folder_without_source(repo: Path) -> None:
    release_root = repo / "release"
    if not release_root.is_dir():
        pytest.skip("no release/ yet")
    orphans = sorted(p.name for p in release_root.iterdir() if not p.name.startswith(".")
                     and not (repo / "source" / p.name).is_dir())
    assert not orphans, f"every folder in release/ should have a source/ folder; these do not: {orphans} (run `cnncourse release`)"


def test_generation_is_byte_stable_and_leaves_no_trace(tmp_path: Path, generated: dict) -> None:
    """Two generations give identical bytes (for the repository's assignments the sync check above
    compares a fresh generation with the committed one), and nothing lands in the course directory."""
    first = generate_once(generated, FIXTURE_ASSIGNMENT)
    course = make_course(tmp_path, FIXTURE_ASSIGNMENT)
    before = snapshot(course)
    second = student_files(FIXTURE, course_dir=course)
    assert snapshot(course) == before, "generating should not write into the course directory (gradebook, log, release/)"
    assert sorted(second) == sorted(first), f"two generations should release the same files, got {sorted(first)} then {sorted(second)}"
    changed = [name for name in first if first[name] != second[name]]
    assert not changed, f"two generations should be byte-identical, these files differ: {changed}"
    assert sorted(first) == ["fixture.ipynb", "notes.txt"], f"the notebook and the data file should be released, got {sorted(first)}"


@pytest.mark.parametrize("assignment", assignment_params())
def test_student_notebooks_hold_no_answers_hidden_tests_or_outputs(assignment: Assignment, generated: dict) -> None:
    """The committed release/ (the fixture: a fresh generation) against the secret lines of its source."""
    if assignment.in_repo:
        released = REPO / "release" / assignment.name
        texts = {p.relative_to(released).as_posix(): p.read_text(encoding="utf-8") for p in sorted(released.rglob("*.ipynb"))}
    else:
        texts = {k: v.decode("utf-8") for k, v in generate_once(generated, assignment).items() if k.endswith(".ipynb")}
    for source in assignment.notebooks():
        name = source.relative_to(assignment.folder).as_posix()
        assert name in texts, f"release/{assignment.name}/{name} should exist, it does not; run `cnncourse release`"
        cells = json.loads(texts[name])["cells"]
        # The raw JSON escapes quotes and backslashes, so search the decoded sources as well.
        text = texts[name] + "\n".join("".join(cell["source"]) for cell in cells)
        found = [marker for marker in MARKERS if marker in text]
        assert not found, f"release/{assignment.name}/{name} should have no nbgrader markers, found {found}"
        for kind in ("solution", "hidden"):
            leaked = sorted(line for line in secret_lines(source, kind) if line in text)
            assert not leaked, f"release/{assignment.name}/{name} should not contain {kind} lines, found: {leaked[:5]}"
        executed = [i for i, c in enumerate(cells) if c["cell_type"] == "code" and (c["outputs"] or c["execution_count"])]
        assert not executed, f"release/{assignment.name}/{name} should have no outputs or execution counts, cells {executed} have them"
        stubs = [i for i, c in enumerate(cell_sources(source))
                 if c["cell_type"] == "code" and split_regions(c["source"])["solution"]
                 and "raise NotImplementedError()" not in "".join(cells[i]["source"])]
        assert not stubs, f"solution cells {stubs} of {name} should become `raise NotImplementedError()` stubs, they did not"


# --- normalisation --------------------------------------------------------------------------


def executed_notebook() -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell("print(1)\n1 + 1", id="first")
    cell.execution_count = 3
    cell.outputs = [nbformat.v4.new_output("stream", text="1\n"),
                    nbformat.v4.new_output("execute_result", data={"text/plain": "2"}, execution_count=3)]
    cell.metadata["execution"] = {"iopub.execute_input": "2024-01-01T10:00:00.000Z"}
    cell.metadata["nbgrader"] = {"grade": False, "grade_id": "first", "locked": False, "schema_version": 3,
                                 "solution": True, "task": False}
    nb = nbformat.v4.new_notebook(cells=[cell, nbformat.v4.new_markdown_cell("# Title\n\ntext", id="title")])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    return nb


def test_normalise_strips_outputs_and_session_metadata_and_keeps_the_rest() -> None:
    text = normalise_notebook(json.dumps(executed_notebook()))
    nb = json.loads(text)
    code = nb["cells"][0]
    assert code["outputs"] == [] and code["execution_count"] is None, f"outputs should be cleared, got {code}"
    assert "execution" not in code["metadata"], f"cell timings should be dropped, got {code['metadata']}"
    assert code["metadata"]["nbgrader"]["grade_id"] == "first", f"nbgrader metadata should stay, got {code['metadata']}"
    assert "widgets" not in nb["metadata"], f"widget state should be dropped, got {nb['metadata']}"
    assert nb["metadata"]["kernelspec"]["name"] == "python3", f"the kernelspec should stay, got {nb['metadata']}"
    assert text.endswith("}\n") and not text.endswith("\n\n"), "the file should end with exactly one newline"
    nbformat.validate(nbformat.reads(text, as_version=4))


def test_normalise_matches_nbformat_writer_and_ignores_layout() -> None:
    """Reference: what nbformat (Jupyter's writer) writes for the cleaned notebook, plus a newline."""
    nb = executed_notebook()
    clean = normalise_notebook(json.dumps(nb))
    reference = nbformat.writes(nbformat.reads(clean, as_version=4)) + "\n"
    assert clean == reference, "normalised text should be exactly what nbformat writes (indent 1, sorted keys)"
    reordered = json.dumps(dict(reversed(list(nb.items()))), indent=4, ensure_ascii=True)
    assert normalise_notebook(reordered) == clean, "key order, indentation and escaping should not change the result"
    assert normalise_notebook(clean) == clean, "normalising twice should change nothing"


def test_normalise_gives_missing_ids_stable_values_and_does_not_touch_its_input() -> None:
    nb = executed_notebook()
    del nb.cells[1]["id"]
    text = json.dumps(nb)
    first = normalise_notebook(text)
    assert first == normalise_notebook(text), "normalising the same text twice should give the same bytes"
    assert [c["id"] for c in json.loads(first)["cells"]] == ["first", "cell-1"], "a missing id should become cell-<index>"
    assert json.loads(text)["cells"][0]["outputs"], "the input text should be left as it was"
    renamed = normalise_notebook(text, cell_ids=["a", None])
    assert [c["id"] for c in json.loads(renamed)["cells"]] == ["a", "cell-1"], "cell_ids should replace the ids in order"
    with pytest.raises(ValueError, match="cell_ids has 1 entries but the notebook has 2 cells"):
        normalise_notebook(text, cell_ids=["a"])


@pytest.mark.parametrize(("bad", "error", "words"), [
    ("{not json", ValueError, "not valid JSON"),
    ('{"metadata": {}}', ValueError, "no 'cells' list"),
    (b"{}", TypeError, "as str, got bytes"),
])
def test_normalise_rejects_what_is_not_a_notebook(bad, error, words) -> None:
    with pytest.raises(error, match=words):
        normalise_notebook(bad)


# --- check output, on the fixture assignment -------------------------------------------------


def test_check_passes_right_after_a_release_and_changes_nothing(course: Path, capsys) -> None:
    capsys.readouterr()
    before = snapshot(course)
    assert release([], check=True, course_dir=course) == 0, capsys.readouterr().out
    assert "in sync" in capsys.readouterr().out
    assert snapshot(course) == before, "a check should not change any file"
    assert sorted(snapshot(course / "release")) == ["00_fixture/fixture.ipynb", "00_fixture/notes.txt"]
    notes = (course / "release" / FIXTURE / "notes.txt").read_bytes()
    assert notes == (FIXTURE_ASSIGNMENT.folder / "notes.txt").read_bytes(), "other files should be copied verbatim"


def test_check_reports_missing_stale_and_extra_files_in_words(course: Path, capsys) -> None:
    folder = course / "release" / FIXTURE
    (folder / "notes.txt").unlink()
    (folder / "old.ipynb").write_text("{}", encoding="utf-8")
    stale = folder / "fixture.ipynb"
    stale.write_text(stale.read_text(encoding="utf-8").replace("Return twice the integer", "Return double"), encoding="utf-8")
    (course / "release" / "99_retired").mkdir()
    (course / "release" / "99_retired" / "retired.ipynb").write_text("{}", encoding="utf-8")
    capsys.readouterr()
    before = snapshot(course)

    status = release([], check=True, course_dir=course)
    out = capsys.readouterr().out
    assert status == 1, f"an out-of-date release/ should give exit 1, got {status}:\n{out}"
    expected = [
        "release/00_fixture/notes.txt: missing",
        "release/00_fixture/old.ipynb: extra",
        "release/00_fixture/fixture.ipynb: differs",
        "release/99_retired: extra; there is no matching folder in source/",
        "-Return double",
        "+Return twice the integer",
        "cells that differ: [cell 2: markdown]",
        "run `cnncourse release`",
    ]
    absent = [line for line in expected if line not in out]
    assert not absent, f"the check output should mention {absent}, it printed:\n{out}"
    assert snapshot(course) == before, "a check should not change any file"

    assert release([], course_dir=course) == 0
    assert release([], check=True, course_dir=course) == 0, capsys.readouterr().out
    assert not (course / "release" / "99_retired").exists(), "a release should remove folders with no source"
    assert not (folder / "old.ipynb").exists(), "a release should remove files nothing generates"


def test_check_explains_a_metadata_only_difference(course: Path, capsys) -> None:
    path = course / "release" / FIXTURE / "fixture.ipynb"
    path.write_text(json.dumps(json.loads(path.read_text(encoding="utf-8")), indent=2), encoding="utf-8")
    capsys.readouterr()
    assert release([FIXTURE], check=True, course_dir=course) == 1
    out = capsys.readouterr().out
    assert "cell sources are the same; metadata, outputs or JSON layout differ" in out, f"got:\n{out}"


def test_check_notices_a_changed_source(course: Path, capsys) -> None:
    source = course / "source" / FIXTURE / "fixture.ipynb"
    source.write_text(source.read_text(encoding="utf-8").replace("Return twice the integer", "Return 2 times"),
                      encoding="utf-8")
    capsys.readouterr()
    assert release([FIXTURE], check=True, course_dir=course) == 1
    out = capsys.readouterr().out
    assert "+Return 2 times" in out and "-Return twice the integer" in out, f"the diff should show the edit, got:\n{out}"


def test_unknown_assignment_names_the_known_ones(course: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown assignment '02_nope': the folders in source/ are 00_fixture"):
        release(["02_nope"], check=True, course_dir=course)
    with pytest.raises(TypeError, match=r"write \['00_fixture'\]"):
        release("00_fixture", check=True, course_dir=course)
    with pytest.raises(FileNotFoundError, match="must be the course root"):
        known_assignments(course / "source")


def test_cli_exit_status_and_messages(course: Path, capsys) -> None:
    assert cli_main(["release", "--check", "--course-dir", str(course)]) == 0
    (course / "release" / FIXTURE / "notes.txt").write_text("edited by hand\n", encoding="utf-8")
    assert cli_main(["release", "--check", "--course-dir", str(course)]) == 1
    assert cli_main(["release", "02_nope", "--course-dir", str(course)]) == 2
    err = capsys.readouterr().err
    assert "unknown assignment '02_nope'" in err, f"the CLI should print the error in words, got: {err!r}"


def test_broken_source_gives_nbgrader_message(tmp_path: Path) -> None:
    course = make_course(tmp_path, FIXTURE_ASSIGNMENT)
    source = course / "source" / FIXTURE / "fixture.ipynb"
    nb = json.loads(source.read_text(encoding="utf-8"))
    nb["cells"][1]["source"] = "x = 1\n### BEGIN HIDDEN TESTS\nassert x\n### END HIDDEN TESTS"  # not a grade cell
    source.write_text(json.dumps(nb), encoding="utf-8")
    with pytest.raises(RuntimeError, match=r"(?s)generate_assignment 00_fixture failed.*Hidden test region detected"):
        student_files(FIXTURE, course_dir=course)
    assert not (course / "release").exists() and not (course / "gradebook.db").exists(), \
        "generation should leave nothing in the course directory"


def test_nbgrader_by_path_without_an_activated_environment_regenerates_release(tmp_path: Path) -> None:
    """`.venv/bin/nbgrader generate_assignment X --force` with the venv off PATH once deleted release/X and died."""
    import os
    import subprocess
    import sys

    root = make_course(tmp_path / "course", FIXTURE_ASSIGNMENT)
    venv_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != venv_bin)
    env = {**os.environ, "PATH": path or "/usr/bin:/bin", "JUPYTER_NO_CONFIG": "1", "CNNCOURSE_BUDGET": "smoke"}
    env.pop("VIRTUAL_ENV", None)
    nbgrader = str(Path(venv_bin) / "nbgrader")
    for attempt in ("first", "again with --force"):
        done = subprocess.run([nbgrader, "generate_assignment", FIXTURE, "--force"], cwd=root, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{attempt}: nbgrader failed without the environment on PATH:\n{done.stderr[-3000:]}"
        assert (root / "release" / FIXTURE / "fixture.ipynb").is_file(), f"{attempt}: release/{FIXTURE} was left deleted"


def test_check_says_which_assignment_it_is_working_on_as_it_goes(course: Path, capsys) -> None:
    capsys.readouterr()
    assert release([], check=True, course_dir=course) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Checking release/ against source/ with nbgrader"), lines
    assert lines[1].startswith(f"  {FIXTURE} ... in sync ("), lines
