"""nbgrader configuration: the repository root is the nbgrader course directory.

nbgrader reads this file when it runs in the repository root (and
``cnncourse release`` copies it into the temporary course it generates in).
Grading state (gradebook.db, submitted/, autograded/, feedback/) lands here
too and is ignored by git. See CONTRIBUTING.md for the workflow.
"""

import os
import sys

c = get_config()  # noqa: F821  (nbgrader provides get_config when it loads this file)

# nbgrader runs the `alembic` executable to set up gradebook.db; in a virtual environment it lives beside
# the interpreter, which is not on PATH unless the environment is activated. Without it,
# `.venv/bin/nbgrader generate_assignment X --force` deletes release/X and then fails. Put it first.
_bin = os.path.dirname(sys.executable)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = os.pathsep.join([_bin, os.environ.get("PATH", "")])

# The course: this folder, with nbgrader's default layout source/ -> release/.
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "cnncourse"
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
# The gradebook is nbgrader's default, sqlite:///<root>/gradebook.db (left unset so
# that --CourseDirectory.root=elsewhere keeps its grading state there too).

# Autograding executes whole notebooks, training cells included: allow 30 minutes per cell.
c.Execute.timeout = 1800

# Feedback shows test results and the visible part of each test cell, never the
# hidden tests (their source, or source lines quoted in tracebacks and warnings).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "cnncourse.tools.feedback.HideHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

# Saved training runs (runs/ beside a notebook, cnncourse.runs) are the student's own work and the
# instructor's reference runs are the instructor's: running a notebook in source/ saves runs there.
# nbgrader copies every non-notebook file of source/NAME into release/NAME (generate_assignment) and
# over each student's files while autograding. So: generate_assignment never copies runs/, and
# autograding never overwrites a student's runs/ with the instructor's (nor adds them where a student
# has none). The list is read when nbgrader starts, from source/*/runs/ beside this file.
_RUNS = "runs"  # cnncourse.settings.RUNS_FOLDER (tests/tools/test_release.py checks they agree)
_IGNORED = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]  # nbgrader's default CourseDirectory.ignore
c.GenerateAssignmentApp.CourseDirectory.ignore = _IGNORED + [_RUNS]


def _instructor_runs(root):
    """{assignment: [runs/... files, relative to source/assignment]} for every assignment with saved runs."""
    found = {}
    source = os.path.join(root, "source")
    for assignment in sorted(os.listdir(source)) if os.path.isdir(source) else []:
        runs = os.path.join(source, assignment, _RUNS)
        files = [os.path.relpath(os.path.join(folder, name), os.path.join(source, assignment))
                 for folder, _, names in os.walk(runs) for name in names]
        if files:
            found[assignment] = sorted(files)
    return found


c.Autograde.exclude_overwriting = _instructor_runs(os.path.dirname(os.path.abspath(__file__)))
