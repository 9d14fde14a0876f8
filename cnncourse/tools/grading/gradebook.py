"""nbgrader's gradebook, as ``cnncourse grade`` reads and writes it.

Scope: everything that touches SQLite. The course's settings read the way
nbgrader reads them (``course_settings``); the assignment's graded cells
(``assignment_layout``); a consistent copy for a grading folder
(``snapshot_gradebook``); what nbgrader's autograde wrote in such a folder
(``read_results``); the merge of those results into the course gradebook
(``merge_results``: the same fields nbgrader's autograde writes, called by one
thread only, so SQLite never sees two writers); and a CSV export
(``export_grades``).
"""

from __future__ import annotations

import csv
import hashlib
import shutil
import sqlite3
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnncourse.tools.grading.report import format_points


@dataclass(frozen=True)
class CourseSettings:
    """What ``cnncourse grade`` needs from a course's ``nbgrader_config.py``.

    Attributes:
        root: the course directory.
        db_url: the gradebook's SQLAlchemy URL.
        course_id: nbgrader's course id.
        config_file: the course's ``nbgrader_config.py``.
        timeout: the course's ``Execute.timeout`` (seconds per cell), if it sets one.
    """

    root: Path
    db_url: str
    course_id: str
    config_file: Path
    timeout: int | None

    def folder(self, step: str, student: str, assignment: str) -> Path:
        """``<root>/<step>/<student>/<assignment>``, e.g. a submission in ``submitted/``."""
        return self.root / step / student / assignment


def course_settings(course_dir: str | Path) -> CourseSettings:
    """The course's nbgrader settings, read the way nbgrader reads them.

    Raises:
        FileNotFoundError: ``course_dir`` has no ``nbgrader_config.py``.
        ValueError: the config moves ``submitted/``, ``autograded/`` or ``source/``.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     _ = Path(folder, "nbgrader_config.py").write_text("c = get_config()\\nc.Execute.timeout = 60\\n")
        ...     course = course_settings(folder)
        ...     course.db_url == f"sqlite:///{Path(folder).resolve()}/gradebook.db", course.timeout
        (True, 60)
    """
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    root = Path(course_dir).resolve()
    config_file = root / "nbgrader_config.py"
    if not config_file.is_file():
        raise FileNotFoundError(f"{config_file} does not exist: course_dir must be the nbgrader course directory "
                                "(the folder with nbgrader_config.py, source/ and submitted/)")
    config = PyFileConfigLoader(config_file.name, path=str(root)).load_config()
    config.CourseDirectory.root = str(root)
    course = CourseDirectory(config=config)
    for step, expected in (("submitted_directory", "submitted"), ("autograded_directory", "autograded"),
                           ("source_directory", "source")):
        if getattr(course, step) != expected:
            raise ValueError(f"nbgrader_config.py sets CourseDirectory.{step} = {getattr(course, step)!r}; "
                             f"cnncourse grade expects nbgrader's default, {expected!r}")
    timeout = config.get("Execute", {}).get("timeout")
    return CourseSettings(root, course.db_url, course.course_id, config_file, timeout)


def assignment_layout(course: CourseSettings, assignment: str) -> tuple[dict[str, list[tuple[str, float, bool]]], str]:
    """Per notebook, its graded cells (name, points, autograded?) in order, and a fingerprint of the source cells.

    Raises:
        FileNotFoundError: the course has no gradebook yet.
        ValueError: the assignment is not in the gradebook.

    Example::

        assignment_layout(course_settings("."), "00_fixture")[0]
        # {'fixture': [('test_double', 40.0, True), ('test_clip_sum', 50.0, True), ('written_clip_order', 10.0, False)]}
    """
    from nbgrader.api import Gradebook, MissingEntry

    require_gradebook(course, assignment)
    with Gradebook(course.db_url, course.course_id) as gb:
        try:
            found = gb.find_assignment(assignment)
        except MissingEntry:
            raise ValueError(f"assignment {assignment!r} is not in the gradebook {course.db_url}; register it with "
                             f"`nbgrader generate_assignment {assignment} --force` (run in {course.root}; it writes "
                             "the same files as `cnncourse release`)") from None
        layout: dict[str, list[tuple[str, float, bool]]] = {}
        digest = hashlib.sha256()
        for notebook in sorted(found.notebooks, key=lambda n: n.name):
            cells = []
            for cell in notebook.source_cells:
                digest.update(f"{notebook.name}\0{cell.name}\0{cell.checksum}\0".encode())
            order = {cell.name: i for i, cell in enumerate(notebook.source_cells)}
            for cell in sorted(notebook.grade_cells, key=lambda c: order.get(c.name, 0)):
                cells.append((cell.name, float(cell.max_score), cell.cell_type == "code"))
            layout[notebook.name] = cells
    if not layout:
        raise ValueError(f"assignment {assignment!r} has no notebooks in the gradebook; run "
                         f"`nbgrader generate_assignment {assignment} --force` again")
    return layout, digest.hexdigest()


def require_gradebook(course: CourseSettings, assignment: str) -> None:
    """Refuse to go on (and to create an empty gradebook) when the course has none yet.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     _ = Path(folder, "nbgrader_config.py").write_text("")
        ...     require_gradebook(course_settings(folder), "00_fixture")
        Traceback (most recent call last):
        ...
        FileNotFoundError: there is no gradebook at .../gradebook.db; create it and register the assignment with ...
    """
    if course.db_url.startswith("sqlite:///") and not Path(course.db_url[len("sqlite:///"):]).is_file():
        raise FileNotFoundError(f"there is no gradebook at {course.db_url[len('sqlite:///'):]}; create it and register "
                                f"the assignment with `nbgrader generate_assignment {assignment} --force` "
                                f"(run in {course.root})")


def snapshot_gradebook(db_url: str, target: str | Path) -> None:
    """Write a consistent copy of the gradebook to ``target`` (SQLite's backup API, safe while others use it).

    Example::

        snapshot_gradebook("sqlite:////course/gradebook.db", Path("/tmp/copy.db"))
    """
    if not db_url.startswith("sqlite:///"):
        raise ValueError(f"cnncourse grade needs an SQLite gradebook (sqlite:///...), the course uses {db_url!r}")
    source_path = db_url[len("sqlite:///"):]
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
    try:
        copy = sqlite3.connect(target)
        with copy:
            source.backup(copy)
        copy.close()
    finally:
        source.close()


def read_results(folder: str | Path, assignment: str, student: str) -> dict[str, Any] | None:
    """What nbgrader's autograde wrote to ``<folder>/gradebook.db`` for this student; None if it wrote nothing.

    Returns:
        ``{"timestamp", "notebooks": {name: {"late_penalty", "grades": {cell: (auto_score,
        needs_manual_grade)}, "comments": {cell: auto_comment}}}}``.

    Example::

        results = read_results("/tmp/grading/slot0-x", "00_fixture", "alice")
        results["notebooks"]["fixture"]["grades"]
        # {'test_double': (40.0, False), 'test_clip_sum': (50.0, False), 'written_clip_order': (None, True)}
    """
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{Path(folder) / 'gradebook.db'}") as gb:
        try:
            submission = gb.find_submission(assignment, student)
        except MissingEntry:
            return None
        results: dict[str, Any] = {"timestamp": submission.timestamp, "notebooks": {}}
        for notebook in submission.notebooks:
            results["notebooks"][notebook.name] = {
                "late_penalty": notebook.late_submission_penalty,
                "grades": {g.name: (g.auto_score, g.needs_manual_grade) for g in notebook.grades},
                "comments": {c.name: c.auto_comment for c in notebook.comments},
            }
    return results


def merge_results(course: CourseSettings, assignment: str, student: str, results: dict[str, Any] | None, *,
                  autograded: Path | None) -> None:
    """Write one submission's results into the course gradebook, and its graded folder into ``autograded/``.

    The fields are those nbgrader's autograde writes (student, submission and
    its timestamp, auto scores, needs-manual-grade flags, auto comments, late
    penalties); a manual score already given is kept and flagged for review.
    A notebook that could not be graded (``results`` None, or marked failed)
    gets 0 everywhere, as nbgrader does for a missing notebook. Call it from
    one thread only: that makes it the gradebook's single writer.

    Example::

        merge_results(course, "00_fixture", "alice", results, autograded=folder)
    """
    from nbgrader.api import Gradebook

    with warnings.catch_warnings(), Gradebook(course.db_url, course.course_id) as gb:
        warnings.simplefilter("ignore")  # nbgrader's own SQLAlchemy 2 "not in session" warnings, harmless
        gb.update_or_create_student(student)
        timestamp = results.get("timestamp") if results else None
        if timestamp is not None:
            submission = gb.update_or_create_submission(assignment, student, timestamp=timestamp)
        else:
            submission = gb.update_or_create_submission(assignment, student)
        for notebook in submission.notebooks:
            found = (results or {}).get("notebooks", {}).get(notebook.name)
            failed = found is None or found.get("failed") or "grades" not in found
            if not failed:
                notebook.late_submission_penalty = found["late_penalty"]
            for grade in notebook.grades:
                auto, needs_manual = (0.0, False) if failed else found["grades"].get(grade.name, (None, True))
                grade.auto_score = auto
                grade.needs_manual_grade = bool(needs_manual or grade.manual_score is not None)
            for comment in notebook.comments:
                comment.auto_comment = None if failed else found["comments"].get(comment.name)
        gb.db.commit()
    target = course.folder("autograded", student, assignment)
    if target.exists():
        shutil.rmtree(target)
    if autograded is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(autograded, target, symlinks=True,
                        ignore=lambda d, names: [n for n in names if not (Path(d, n).is_file() or Path(d, n).is_dir())
                                                 or Path(d, n).is_symlink()])
        target.chmod(0o755)  # nbgrader's own mode for autograded folders (the sandbox made it private)


def export_grades(assignment: str, path: str | Path, *, course_dir: str | Path = ".") -> Path:
    """Write one CSV row per student: total score, max, each graded cell's score, cells left to grade by hand.

    Example::

        export_grades("01_conv_arithmetic", "grades-01.csv")
        # PosixPath('grades-01.csv')
    """
    from nbgrader.api import Gradebook, MissingEntry

    course = course_settings(course_dir)
    layout, _ = assignment_layout(course, assignment)
    cells = [name for notebook in layout.values() for name, _, _ in notebook]
    path = Path(path)
    with Gradebook(course.db_url, course.course_id) as gb, open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student_id", "assignment", "score", "max_score", "needs_manual_grade", *cells])
        for student in sorted(s.id for s in gb.students):
            try:
                submission = gb.find_submission(assignment, student)
            except MissingEntry:
                continue
            scores = {g.name: g.score for nb in submission.notebooks for g in nb.grades}
            manual = sum(g.needs_manual_grade for nb in submission.notebooks for g in nb.grades)
            writer.writerow([student, assignment, format_points(submission.score),
                             format_points(submission.max_score), manual,
                             *(format_points(scores.get(c, 0)) for c in cells)])
    return path
