"""cnncourse grade end to end: the bad-submission corpus through nbgrader's real autograde, in parallel and sandboxed.

In temporary course directories (the fixture assignment, plus assignment 1 for
one real-assignment case): generate_assignment, write the corpus of
bench/submissions/ into submitted/, grade with 2 workers, then check
each student's points per test cell and notes, the gradebook rows, the
submitted files' bytes, the sandbox, feedback without hidden tests, resuming,
and equality with nbgrader's own sequential autograde.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import html
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from cnncourse.tools.grading import sandbox
from cnncourse.tools.cli import main
from cnncourse.tools.grading.grade import GradingReport, export_grades, file_hashes, generate_feedback, grade
from bench.submissions import corpus
from pipeline_helpers import FIXTURE, FIXTURE_SOURCE, REPO, html_text, run_nbgrader, secret_lines

pytestmark = pytest.mark.slow

CELL_TIMEOUT = 5  # seconds per cell: the endless loops cost this much
GRACE = 3  # seconds a kernel has to obey an interrupt
OUTPUT_LIMIT = 1_000_000  # bytes per cell; the huge_output case tries to print 500 MB


def make_course(root: Path, *assignments: tuple[str, Path]) -> Path:
    """A course directory with these (name, source folder) assignments, generated and registered in a gradebook."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    for name, folder in assignments:
        shutil.copytree(folder, root / "source" / name, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        run_nbgrader(root, "generate_assignment", name, "--force")
    return root


def submit(course: Path, assignment: str, cases: list[corpus.Case], *, port: int = 9) -> None:
    """Write (or overwrite) each case's notebook in submitted/<case name>/<assignment>/."""
    name = corpus.notebook_name(assignment)
    release = json.loads((course / "release" / assignment / name).read_text(encoding="utf-8"))
    source = json.loads((course / "source" / assignment / name).read_text(encoding="utf-8"))
    for case in cases:
        folder = course / "submitted" / case.name / assignment
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(corpus.build(case, release, source, course=course, port=port))
        for link, target in corpus.links(case, course=course).items():
            (folder / link).unlink(missing_ok=True)
            (folder / link).symlink_to(target)


def all_hashes(course: Path) -> dict[str, dict[str, str]]:
    return {p.name: file_hashes(p) for p in sorted((course / "submitted").iterdir())}


def outputs_text(path: Path) -> str:
    """Every text output of a notebook, joined."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    texts = []
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            texts.append("".join(output.get("text", "")))
            texts.append(str(output.get("evalue", "")))
    return "\n".join(texts)


def submission_rows(course: Path, assignment: str) -> list[str]:
    """The student ids of the gradebook's submission rows for an assignment, duplicates kept."""
    with sqlite3.connect(course / "gradebook.db") as db:
        return [row[0] for row in db.execute(
            "SELECT s.student_id FROM submitted_assignment s JOIN assignment a ON s.assignment_id = a.id "
            "WHERE a.name = ?", (assignment,))]


def auto_scores(course: Path, assignment: str) -> dict[str, dict[str, tuple[float | None, bool]]]:
    """Per student, per graded cell, (auto score, needs manual grade) as nbgrader's gradebook holds them."""
    with sqlite3.connect(course / "gradebook.db") as db:
        rows = db.execute(
            "SELECT sa.student_id, bc.name, g.auto_score, g.needs_manual_grade FROM grade g "
            "JOIN submitted_notebook sn ON g.notebook_id = sn.id "
            "JOIN submitted_assignment sa ON sn.assignment_id = sa.id "
            "JOIN assignment a ON sa.assignment_id = a.id "
            "JOIN base_cell bc ON g.cell_id = bc.id WHERE a.name = ?", (assignment,)).fetchall()
    scores: dict[str, dict[str, tuple[float | None, bool]]] = {}
    for student, cell, score, manual in rows:
        scores.setdefault(student, {})[cell] = (score, bool(manual))
    return scores


@dataclass
class Graded:
    course: Path
    report: GradingReport
    before: dict[str, dict[str, str]]
    after: dict[str, dict[str, str]]

    def result(self, student: str):
        return next(r for r in self.report.results if r.student == student)


@pytest.fixture(scope="module")
def graded_corpus(tmp_path_factory: pytest.TempPathFactory) -> Graded:
    """The whole fixture corpus graded once, 2 workers, sandbox "auto"."""
    course = make_course(tmp_path_factory.mktemp("corpus") / "course", (FIXTURE, FIXTURE_SOURCE / FIXTURE))
    with socket.socket() as listener:  # something to connect to, for the no-network check
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        submit(course, FIXTURE, corpus.cases(FIXTURE), port=listener.getsockname()[1])
        before = all_hashes(course)
        report = grade(FIXTURE, course_dir=course, workers=2, timeout=CELL_TIMEOUT, interrupt_grace=GRACE,
                       max_output_bytes=OUTPUT_LIMIT, progress=False)
    return Graded(course, report, before, all_hashes(course))


@pytest.mark.parametrize("case", corpus.cases(FIXTURE), ids=lambda c: c.name)
def test_each_corpus_submission_gets_its_expected_grade_and_note(graded_corpus: Graded, case: corpus.Case) -> None:
    result = graded_corpus.result(case.name)
    expected = case.expected(graded_corpus.report.test_cells)
    assert result.cells == expected, (f"{case.name} ({case.about}) should score {expected} per test cell, "
                                      f"got {result.cells}; notes: {result.notes}")
    joined = "\n".join(result.notes)
    for words in case.notes:
        assert words in joined, \
            f"the grading table should note {words!r} for {case.name}; its notes are: {result.notes}"
    if not case.notes:
        assert not result.notes, f"{case.name} ({case.about}) should need no attention, got notes {result.notes}"


def test_submitted_files_are_left_byte_for_byte_as_they_were(graded_corpus: Graded) -> None:
    changed = {s: h for s, h in graded_corpus.after.items() if graded_corpus.before.get(s) != h}
    assert not changed, f"grading must not change submitted/; these students' files changed: {sorted(changed)}"
    assert len(graded_corpus.before) == len(corpus.cases(FIXTURE)), "every corpus case should have been submitted"


def test_the_gradebook_has_exactly_one_submission_row_per_student(graded_corpus: Graded) -> None:
    rows = submission_rows(graded_corpus.course, FIXTURE)
    names = sorted(c.name for c in corpus.cases(FIXTURE))
    assert sorted(rows) == names, \
        f"the gradebook should hold one row per student ({len(names)}), got {len(rows)}: {rows}"


def test_the_sandbox_hides_the_gradebook_the_source_other_students_and_the_network(graded_corpus: Graded) -> None:
    if graded_corpus.report.sandbox == "off":
        pytest.skip("no sandbox on this machine (not root, no user namespaces): "
                    "submissions run with the grader's rights")
    text = outputs_text(graded_corpus.course / "autograded" / "read_secrets" / FIXTURE / "fixture.ipynb")
    assert "LEAKED" not in text, f"a submission could read what it must not; its output was:\n{text}"
    assert text.count("blocked") == 7, f"all 7 attempts should have been made and blocked; the output was:\n{text}"
    if graded_corpus.report.sandbox in ("full", "user"):
        assert f"running as uid {os.getuid()}" not in text, f"the kernel should not run as the grader's user:\n{text}"


def test_no_submission_reads_or_keeps_what_it_must_not(graded_corpus: Graded) -> None:
    """Every case that tries prints LEAKED when it gets through: links, another checkout, missing limits, ..."""
    if graded_corpus.report.sandbox == "off":
        pytest.skip("no sandbox on this machine: submissions run with the grader's rights")
    for case in corpus.cases(FIXTURE):
        notebook = graded_corpus.course / "autograded" / case.name / FIXTURE / "fixture.ipynb"
        text = outputs_text(notebook) if notebook.is_file() else ""
        assert "LEAKED" not in text, f"{case.name} ({case.about}) got through; its output was:\n{text}"
    for case in ("absolute_links", "other_checkout", "process_limit"):
        text = outputs_text(graded_corpus.course / "autograded" / case / FIXTURE / "fixture.ipynb")
        assert "blocked" in text, f"{case} should have run its checks; its output was:\n{text}"
    kept = sorted(p.name for p in (graded_corpus.course / "autograded" / "absolute_links" / FIXTURE).iterdir())
    assert not {"gradebook.db", "instructor.ipynb"} & set(kept), \
        f"links in a submission must be neither followed nor copied, got {kept}"


def test_nothing_a_kernel_made_outlives_its_grading(graded_corpus: Graded) -> None:
    """host_leftovers made a 64 MB System V segment and files in /run/lock, /dev/shm, /tmp and /var/tmp."""
    if graded_corpus.report.sandbox == "off":
        pytest.skip("mode off: the kernel is the grader's user, and what it leaves is not cleaned up")
    text = outputs_text(graded_corpus.course / "autograded" / "host_leftovers" / FIXTURE / "fixture.ipynb")
    assert "shared memory" in text, f"host_leftovers should have run; its output was:\n{text}"
    segments = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    assert not [line for line in segments if line.split()[0] == str(0x434E4E)], \
        f"the shared-memory segment of host_leftovers outlived grading:\n{segments}"
    left = [f"{folder}/cnncourse-leftover" for folder in ("/run/lock", "/dev/shm", "/tmp", "/var/tmp")
            if os.path.lexists(f"{folder}/cnncourse-leftover")]
    assert not left, f"files of host_leftovers outlived grading: {left}"


@pytest.mark.parametrize("case", ["huge_output", "display_update_flood"])
def test_a_huge_output_is_cut_at_the_limit(graded_corpus: Graded, case: str) -> None:
    notebook = graded_corpus.course / "autograded" / case / FIXTURE / "fixture.ipynb"
    size = notebook.stat().st_size
    assert size < 3 * OUTPUT_LIMIT, \
        f"the autograded notebook should hold about {OUTPUT_LIMIT:,} bytes of output, has {size:,}"
    assert "OutputLimitExceeded" in notebook.read_text(encoding="utf-8"), "the cut cell should say why it stopped"


def test_the_table_shows_scores_pass_rates_and_what_needs_attention(graded_corpus: Graded) -> None:
    report = graded_corpus.report
    table = report.table()
    for case in corpus.cases(FIXTURE):
        assert case.name in table, f"the table should list {case.name}"
    rates = report.pass_rates()
    cases = corpus.cases(FIXTURE)
    for cell, points in report.test_cells.items():
        expected = sum(c.expected(report.test_cells)[cell] >= points for c in cases) / len(cases)
        assert rates[cell] == pytest.approx(expected), \
            f"{cell} should be passed by {expected:.0%}, the report says {rates[cell]:.0%}"
        assert f"{rates[cell]:6.0%}" in table, f"the table should show {cell}'s pass rate"
    attention = {r.student for r in report.attention()}
    expected_attention = {c.name for c in cases if c.notes}
    assert attention == expected_attention, \
        f"needs attention should be {sorted(expected_attention)}, got {sorted(attention)}"
    assert "needs attention" in table and "kernel_crash" in table.split("needs attention")[1]


def test_feedback_hides_hidden_tests_even_in_restored_cells(graded_corpus: Graded) -> None:
    course = graded_corpus.course
    status = generate_feedback(FIXTURE, course_dir=course)
    assert status == 0, f"nbgrader generate_feedback should exit 0, got {status}"
    secrets = secret_lines(FIXTURE_SOURCE / FIXTURE / "fixture.ipynb", "hidden")
    for student in ("good", "deleted_test", "edited_test", "read_secrets"):
        page = course / "feedback" / student / FIXTURE / "fixture.html"
        assert page.is_file(), f"generate_feedback should write {page}"
        text = html_text(page.read_text(encoding="utf-8"))
        leaked = sorted(line for line in secrets if line in text)
        assert not leaked, f"{student}'s feedback shows hidden test code: {leaked}"
    given = sorted(p.name for p in (course / "feedback" / "absolute_links" / FIXTURE).rglob("*"))
    assert "fixture.html" in given and not {"gradebook.db", "instructor.ipynb"} & set(given), \
        f"a submission's links must not bring the gradebook or the instructor's notebook into its feedback: {given}"


def test_feedback_shows_no_hidden_test_that_the_submission_printed_or_wrote(graded_corpus: Graded) -> None:
    """exfiltrate_hidden_tests prints each cell's source plainly, in base64 and as HTML, and appends it to a file."""
    course, student = graded_corpus.course, "exfiltrate_hidden_tests"
    assert generate_feedback(FIXTURE, course_dir=course) == 0
    graded = json.loads((course / "autograded" / student / FIXTURE / "fixture.ipynb").read_text(encoding="utf-8"))
    tests = ["".join(c["source"]) for c in graded["cells"] if c["metadata"].get("nbgrader", {}).get("grade")
             and c["cell_type"] == "code"]
    encoded = [base64.b64encode(source.encode()).decode() for source in tests]
    assert all(e in json.dumps(graded) for e in encoded), \
        "the attack should have printed the test cells in base64 during grading (else this test proves nothing)"
    folder = course / "feedback" / student / FIXTURE
    page = (folder / "fixture.html").read_text(encoding="utf-8")
    secrets = secret_lines(FIXTURE_SOURCE / FIXTURE / "fixture.ipynb", "hidden")
    forms = {line: (line, html.escape(line), html.escape(html.escape(line))) for line in secrets}
    shown = sorted(line for line, variants in forms.items() if any(v in page for v in variants))
    shown += [e[:32] for e in encoded if any(e[i:i + 32] in page for i in range(0, len(e) - 32, 8))]
    assert not shown, f"{student}'s feedback shows hidden test code: {shown}"
    assert not (folder / "leak.txt").exists() and \
        not (course / "autograded" / student / FIXTURE / "leak.txt").exists(), \
        "a file written while hidden tests ran must not reach the feedback folder"


def test_export_writes_every_students_scores(graded_corpus: Graded, tmp_path: Path) -> None:
    path = export_grades(FIXTURE, tmp_path / "grades.csv", course_dir=graded_corpus.course)
    with open(path, newline="", encoding="utf-8") as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f)}
    assert set(rows) == {c.name for c in corpus.cases(FIXTURE)}, \
        f"grades.csv should list every student, got {sorted(rows)}"
    for result in graded_corpus.report.results:
        row = rows[result.student]
        assert float(row["score"]) == result.score, f"{result.student}: CSV score {row['score']}, report {result.score}"
        for cell, points in result.cells.items():
            assert float(row[cell]) == points, f"{result.student}'s {cell}: CSV {row[cell]}, report {points}"


# ---------------------------------------------------------------------------
# parallel = sequential, bad arguments; then resuming (last: it changes the corpus course)


NORMAL = ("good", "untouched", "edited_test")  # where nbgrader alone grades correctly


def test_two_workers_give_the_same_scores_as_nbgrader_sequential_autograde(graded_corpus: Graded,
                                                                                    tmp_path: Path) -> None:
    sequential = make_course(tmp_path / "sequential", (FIXTURE, graded_corpus.course / "source" / FIXTURE))
    for student in NORMAL:
        shutil.copytree(graded_corpus.course / "submitted" / student, sequential / "submitted" / student)
    run_nbgrader(sequential, "autograde", FIXTURE, "--force")
    ours = {s: v for s, v in auto_scores(graded_corpus.course, FIXTURE).items() if s in NORMAL}
    theirs = auto_scores(sequential, FIXTURE)
    assert ours == theirs, f"parallel grading should give nbgrader's scores:\nours     {ours}\nnbgrader {theirs}"


def test_bad_arguments_fail_with_a_clear_message(graded_corpus: Graded, tmp_path: Path) -> None:
    course = graded_corpus.course
    with pytest.raises(ValueError, match="no submission of 00_fixture for nobody"):
        grade(FIXTURE, course_dir=course, students=["nobody"], progress=False)
    with pytest.raises(ValueError, match="workers must be a whole number >= 1"):
        grade(FIXTURE, course_dir=course, workers=0, progress=False)
    with pytest.raises(FileNotFoundError, match="nbgrader_config.py does not exist"):
        grade(FIXTURE, course_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="unknown sandbox mode 'chroot'"):
        grade(FIXTURE, course_dir=course, sandbox="chroot", progress=False)
    with pytest.raises(ValueError, match="unknown assignment 'nope'"):
        grade("nope", course_dir=course, progress=False)


def test_the_cli_prints_the_table_and_exports(graded_corpus: Graded, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "grades.csv"
    status = main(["grade", FIXTURE, "--course-dir", str(graded_corpus.course), "--no-progress",
                   "--timeout", str(CELL_TIMEOUT), "--max-output-bytes", str(OUTPUT_LIMIT), "--export", str(target)])
    out = capsys.readouterr().out
    assert status == 0, f"cnncourse grade should exit 0, got {status}; output:\n{out}"
    assert "passed by" in out and "0 graded now" in out and f"grades written to {target}" in out, out
    assert target.is_file(), "--export should write the CSV"
    status = main(["grade", "no_such_assignment", "--course-dir", str(graded_corpus.course)])
    err = capsys.readouterr().err
    assert status == 2 and "unknown assignment 'no_such_assignment'" in err and "Traceback" not in err, err


def test_a_second_run_grades_only_what_is_new_or_changed(graded_corpus: Graded) -> None:
    course = graded_corpus.course
    settings = dict(course_dir=course, workers=2, timeout=CELL_TIMEOUT, interrupt_grace=GRACE,
                    max_output_bytes=OUTPUT_LIMIT, progress=False)
    again = grade(FIXTURE, **settings)
    assert {r.status for r in again.results} <= {"unchanged", "failed"}, \
        f"nothing changed, so nothing should be regraded: {[(r.student, r.status) for r in again.results]}"
    first = {r.student: r.score for r in again.results}
    notebook = course / "submitted" / "untouched" / FIXTURE / "fixture.ipynb"
    fixed = json.loads(notebook.read_text(encoding="utf-8"))
    answer = next(cell for cell in fixed["cells"] if cell["id"] == "double")
    answer["source"] = "def double(x):\n    return 2 * x\n"  # the student answers Task 1 and submits again
    notebook.write_text(json.dumps(fixed), encoding="utf-8")
    newcomer = corpus.Case(FIXTURE, "late_student", "a new submission", {"base": "solutions"})
    submit(course, FIXTURE, [newcomer])
    third = grade(FIXTURE, **settings)
    statuses = {r.student: r.status for r in third.results}
    assert statuses.pop("untouched") == "graded" and statuses.pop("late_student") == "graded", statuses
    assert set(statuses.values()) <= {"unchanged", "failed"}, f"the other submissions should not be regraded: {statuses}"
    scores = {r.student: r.score for r in third.results}
    assert scores["untouched"] == 40, f"after answering Task 1 the student should get 40, got {scores['untouched']}"
    assert scores["late_student"] == 90, f"the new, right submission should get 90, got {scores['late_student']}"
    assert all(scores[s] == first[s] for s in first if s != "untouched"), "unchanged submissions keep their scores"
    rows = submission_rows(course, FIXTURE)
    assert sorted(rows) == sorted({*first, "late_student"}), f"one row per student after three runs, got {sorted(rows)}"


def test_the_manifest_records_run_files_and_the_table_names_identical_ones(tmp_path: Path) -> None:
    """Two students hand in the same runs/lenet.pt (a third trained their own): a note for both, in the manifest too.

    The instructor ran the notebook in source/ too, which saved their own runs there: grading never
    puts those over a student's runs, nor beside them.
    """
    course = make_course(tmp_path / "course", (FIXTURE, FIXTURE_SOURCE / FIXTURE))
    instructor_runs = course / "source" / FIXTURE / "runs"
    instructor_runs.mkdir()
    (instructor_runs / "lenet.pt").write_bytes(b"the instructor's weights")
    (instructor_runs / "vgg.pt").write_bytes(b"the instructor's other weights")
    cases = [corpus.Case(FIXTURE, name, "a right submission", {"base": "solutions"}) for name in ("alice", "bob", "carol")]
    submit(course, FIXTURE, cases)
    for student, weights in {"alice": b"weights-1", "bob": b"weights-1", "carol": b"weights-2"}.items():
        (course / "submitted" / student / FIXTURE / "runs").mkdir()
        (course / "submitted" / student / FIXTURE / "runs" / "lenet.pt").write_bytes(weights)
    report = grade(FIXTURE, course_dir=course, workers=2, timeout=60, progress=False, sandbox="off")
    notes = {r.student: r.notes for r in report.results}
    assert "runs/lenet.pt identical to bob's" in notes["alice"], notes
    assert "runs/lenet.pt identical to alice's" in notes["bob"], notes
    assert not any("identical" in note for note in notes["carol"]), notes
    assert "alice: runs/lenet.pt identical to bob's" in report.table(), report.table()
    for student, weights in {"alice": b"weights-1", "carol": b"weights-2"}.items():
        graded_runs = course / "autograded" / student / FIXTURE / "runs"
        assert sorted(p.name for p in graded_runs.iterdir()) == ["lenet.pt"], (
            f"{student}'s graded runs/ should hold only what they submitted, got {sorted(graded_runs.iterdir())}")
        assert (graded_runs / "lenet.pt").read_bytes() == weights, f"{student}'s runs/lenet.pt was replaced while grading"
    manifest = json.loads((course / "autograded" / ".cnncourse" / f"{FIXTURE}.json").read_text(encoding="utf-8"))
    recorded = {s: e["runs"] for s, e in manifest["students"].items()}
    assert recorded == {"alice": {"runs/lenet.pt": hashlib.sha256(b"weights-1").hexdigest()},
                        "bob": {"runs/lenet.pt": hashlib.sha256(b"weights-1").hexdigest()},
                        "carol": {"runs/lenet.pt": hashlib.sha256(b"weights-2").hexdigest()}}, recorded
    again = grade(FIXTURE, course_dir=course, workers=2, timeout=60, progress=False, sandbox="off")  # nothing changed
    assert {r.student: r.status for r in again.results} == dict.fromkeys(notes, "unchanged"), again.table()
    assert "runs/lenet.pt identical to bob's" in next(r for r in again.results if r.student == "alice").notes


RETRAIN_TRAINING = """def train(model):
    ### BEGIN SOLUTION
    torch.manual_seed(int.from_bytes(os.urandom(4), "little"))  # every training gives other weights
    batch = (torch.randn(16, 4), torch.randint(0, 2, (16,)))
    return fit(model, [batch], epochs=1, optimizer=torch.optim.SGD(model.parameters(), lr=0.5), progress=False)
    ### END SOLUTION
"""
RETRAIN_TEST = """\"\"\"Fails on purpose, naming the weights it graded.\"\"\"
digest = hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in model.parameters())).hexdigest()[:16]
assert False, f"graded weights {digest}"
"""


def test_with_retrain_the_verdict_pass_grades_the_weights_nbgraders_pass_trained(tmp_path: Path,
                                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """CNNCOURSE_RETRAIN=1: the fresh interpreter loads the runs the kernel has just trained (after a first test)."""
    import nbformat

    def cell(source: str, **nbgrader: object) -> nbformat.NotebookNode:
        meta = {"schema_version": 3, "grade": False, "solution": False, "locked": False, **nbgrader} if nbgrader else {}
        return nbformat.v4.new_code_cell(source, metadata={"nbgrader": meta} if meta else {})

    notebook = nbformat.v4.new_notebook(cells=[
        cell("import hashlib, os\nimport torch\nfrom torch import nn\nfrom cnncourse.runs import trained_or_loaded\n"
             "from cnncourse.train import fit"),
        cell(RETRAIN_TRAINING, grade_id="train", solution=True),
        cell('"""A first test: what the training cell writes after it is kept out of the graded folder."""\n'
             'assert callable(train), "define train"', grade_id="test_train", grade=True, locked=True, points=1),
        cell('model = nn.Linear(4, 2)\nhistory = trained_or_loaded("tiny", model, lambda: train(model))'),
        cell(RETRAIN_TEST, grade_id="test_weights", grade=True, locked=True, points=1),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    source = tmp_path / "src" / "00_retrain"
    source.mkdir(parents=True)
    nbformat.write(notebook, source / "retrain.ipynb")
    course = make_course(tmp_path / "course", ("00_retrain", source))
    folder = course / "submitted" / "alice" / "00_retrain"
    folder.mkdir(parents=True)
    shutil.copy2(course / "source" / "00_retrain" / "retrain.ipynb", folder / "retrain.ipynb")
    monkeypatch.setenv("CNNCOURSE_RETRAIN", "1")
    monkeypatch.setenv("CNNCOURSE_BUDGET", "smoke")
    report = grade("00_retrain", course_dir=course, workers=1, timeout=120, progress=False, sandbox="off")
    graded = json.loads((course / "autograded" / "alice" / "00_retrain" / "retrain.ipynb").read_text(encoding="utf-8"))
    test = next(c for c in graded["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "test_weights")
    kernel = next(o["evalue"] for o in test["outputs"] if o["output_type"] == "error")
    fresh = test["metadata"]["cnncourse"]["message"]
    assert kernel.startswith("graded weights ") and fresh == f"AssertionError: {kernel}", (
        f"the verdict pass should grade the weights nbgrader's pass trained ({kernel!r}), it graded {fresh!r}; "
        f"notes: {report.results[0].notes}")
    assert report.results[0].cells["test_train"] == 1, report.table()


# ---------------------------------------------------------------------------
# the other sandbox modes, and a real assignment


def test_a_policy_hides_the_course_keeps_python_and_passes_no_secrets(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADER_SECRET_TOKEN", "do-not-leak")
    monkeypatch.setenv("CNNCOURSE_BUDGET", "smoke")
    course = tmp_path / "course"
    course.mkdir()
    policy = sandbox.make_policy("full", run_dir=tmp_path / "run", home=tmp_path / "home", slot=3, hide=[course])
    assert str(course.resolve()) in policy.hide and "/tmp" in policy.hide, policy.hide
    assert str(Path(sys.prefix).resolve()) in policy.expose_ro, \
        f"the Python installation must stay readable: {policy.expose_ro}"
    assert policy.uid == sandbox.DEFAULT_UID_BASE + 3, f"slot 3 should run as uid base + 3, got {policy.uid}"
    assert "GRADER_SECRET_TOKEN" not in policy.env and policy.env["CNNCOURSE_BUDGET"] == "smoke", policy.env
    assert policy.env["HOME"] == str((tmp_path / "home").resolve())
    assert sandbox.SandboxPolicy.load(policy.save(tmp_path / "policy.json")) == policy, "a policy should survive JSON"
    unavailable = [m for m in sandbox.MODES if m not in sandbox.available_modes()]
    for mode in unavailable:
        with pytest.raises(ValueError, match=f"sandbox mode '{mode}' is not available on this machine"):
            sandbox.choose_mode(mode)
    assert sandbox.choose_mode("auto") == sandbox.available_modes()[0]


SAME_IN_EVERY_MODE = ("process_limit", "other_checkout")  # limits, and the allowlist view


@pytest.mark.parametrize("mode", ["namespaces", "user"])
def test_other_sandbox_modes_also_block_the_secrets(mode: str, graded_corpus: Graded, tmp_path: Path) -> None:
    if mode not in sandbox.available_modes():
        pytest.skip(f"sandbox mode {mode!r} is not available here (available: {', '.join(sandbox.available_modes())})")
    course = tmp_path / "course"
    shutil.copytree(graded_corpus.course, course)
    checks = SAME_IN_EVERY_MODE if mode == "namespaces" else ("process_limit",)  # user: file permissions only
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        submit(course, FIXTURE, [c for c in corpus.cases(FIXTURE) if c.name == "read_secrets"],
               port=listener.getsockname()[1])
        report = grade(FIXTURE, course_dir=course, students=["read_secrets", *checks], workers=1,
                       timeout=60, sandbox=mode, force=True, progress=False)
    assert report.sandbox == mode and {r.score for r in report.results} == {90}, report.table()
    for student in checks:
        text = outputs_text(course / "autograded" / student / FIXTURE / "fixture.ipynb")
        assert "blocked" in text and "LEAKED" not in text, f"mode {mode} let {student} through:\n{text}"
    text = outputs_text(course / "autograded" / "read_secrets" / FIXTURE / "fixture.ipynb")
    if mode == "user":  # file permissions only: the network stays open
        text = "\n".join(line for line in text.splitlines() if "network" not in line)
        assert f"running as uid {os.getuid()}" not in text, f"the kernel should not run as the grader's user:\n{text}"
    assert "LEAKED" not in text and text.count("blocked") == (6 if mode == "user" else 7), \
        f"mode {mode} let something through:\n{text}"


@pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")  # nbgrader's sessions, two courses in one process
def test_two_grading_runs_at_once_never_share_user_ids(graded_corpus: Graded, tmp_path: Path) -> None:
    """Two runs (two courses) on one host at the same time: each keeps its kernels, under user ids of its own."""
    if not sandbox.own_user_ids(graded_corpus.report.sandbox):
        pytest.skip(f"mode {graded_corpus.report.sandbox!r} gives kernels no user ids of their own")
    slow = corpus.Case(FIXTURE, "slow", "prints its uid, then takes a while", {"base": "solutions", "set": {
        "double": "import os, time\n\nprint('uid', os.getuid())\ntime.sleep(3)\n\n\ndef double(x):\n    return 2 * x\n"}})
    courses = [tmp_path / "a", tmp_path / "b"]
    for course in courses:
        shutil.copytree(graded_corpus.course, course)
        submit(course, FIXTURE, [slow])
    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(lambda course: grade(FIXTURE, course_dir=course, students=["slow"], workers=1,
                                                     timeout=60, force=True, progress=False), courses))
    assert [r.results[0].score for r in reports] == [90, 90], [r.table() for r in reports]
    uids = [outputs_text(c / "autograded" / "slow" / FIXTURE / "fixture.ipynb").split("uid")[1].split()[0]
            for c in courses]
    assert uids[0] != uids[1], f"two runs at once graded under the same sandbox user id {uids[0]}"


USER_MODE_SCRIPT = r'''
import json, sys
from cnncourse.tools.grading.grade import grade
report = grade("00_fixture", course_dir=sys.argv[1], students=["read_secrets", "os_exit", "host_leftovers"], workers=2, timeout=60,
               sandbox="user", force=True, progress=False)
print(json.dumps({r.student: [r.score, r.notes] for r in report.results}))
'''


def test_user_mode_where_python_is_reachable(graded_corpus: Graded, tmp_path: Path) -> None:
    """Mode "user" needs the interpreter reachable by other users; where it is not (Python under /root), make it so
    in a private mount namespace (an empty /root with only the Python tree put back) and grade there."""
    if "user" in sandbox.available_modes():
        pytest.skip("mode 'user' is available here; test_other_sandbox_modes_also_block_the_secrets covers it")
    if "full" not in sandbox.available_modes():
        pytest.skip("needs root and mount namespaces to make the interpreter reachable for the sandbox user")
    python = Path(sys.executable).resolve()
    closed = next((p for p in reversed(python.parents) if not p.stat().st_mode & 0o001), None)
    if closed is None:
        pytest.skip(f"{python} is reachable, yet mode 'user' is not available: nothing to work around")
    kept = closed / python.relative_to(closed).parts[0]
    stage = tmp_path / "stage"
    stage.mkdir()
    course = tmp_path / "course"
    shutil.copytree(graded_corpus.course, course)
    course.chmod(0o700)
    script = (f"mount --bind {kept} {stage} && mount -t tmpfs -o mode=755 tmpfs {closed} && mkdir -p {kept} && "
              f"mount --bind {stage} {kept} && exec {sys.executable} -c '{USER_MODE_SCRIPT}' {course}")
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert results["read_secrets"] == [90, []], f"read_secrets should get 90 and no note in mode user: {results}"
    assert results["os_exit"][0] == 40 and "dead kernel" in " ".join(results["os_exit"][1]), results
    score, notes = results["host_leftovers"]
    assert score == 90 and "System V shm" in " ".join(notes) and "/run/lock/cnncourse-leftover" in " ".join(notes), \
        f"in mode user what the kernel leaves is removed after grading, with a note: {results['host_leftovers']}"
    assert not os.path.lexists("/run/lock/cnncourse-leftover"), "the file the kernel left in /run/lock should be gone"
    segments = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    assert not [line for line in segments if line.split()[0] == str(0x434E4E)], "the kernel's segment should be gone"
    text = outputs_text(course / "autograded" / "read_secrets" / FIXTURE / "fixture.ipynb")
    files = [line for line in text.splitlines() if line.startswith(("LEAKED", "blocked")) and "network" not in line]
    assert len(files) == 6 and not any(line.startswith("LEAKED") for line in files), \
        f"mode user should block every file read (its network stays open):\n{text}"
    assert f"running as uid {os.getuid()}" not in text, f"the kernel should run as a sandbox user:\n{text}"


def test_a_real_assignment_catches_numpy_patched_inside_the_function_under_test(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNNCOURSE_BUDGET", "smoke")
    assignment = "01_conv_arithmetic"
    course = make_course(tmp_path / "course", (assignment, REPO / "source" / assignment))
    cases = corpus.cases(assignment)
    submit(course, assignment, [c for c in cases if c.name == "patch_numpy"])
    report = grade(assignment, course_dir=course, workers=1, timeout=300, progress=False)
    case = next(c for c in cases if c.name == "patch_numpy")
    result = report.results[0]
    assert result.cells == case.expected(report.test_cells), \
        f"patch_numpy should lose only test_max_pool2d's points, got {result.cells}; notes {result.notes}"
    assert result.notes and all("test_max_pool2d" in note and "while the test ran" in note for note in result.notes), \
        f"only test_max_pool2d should be noted (no false alarm on the other cells), got {result.notes}"
    assert any("numpy.array_equal" in note for note in result.notes), result.notes
