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
