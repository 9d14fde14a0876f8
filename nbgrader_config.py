"""nbgrader configuration: the repository root is the nbgrader course directory.

nbgrader reads this file when it runs in the repository root (and
``cnncourse release`` copies it into the temporary course it generates in).
Grading state (gradebook.db, submitted/, autograded/, feedback/) lands here
too and is ignored by git. See CONTRIBUTING.md for the workflow.
"""

import os

c = get_config()  # noqa: F821  (nbgrader provides get_config when it loads this file)

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
