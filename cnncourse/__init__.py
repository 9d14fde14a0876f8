"""cnncourse: the helper library every notebook of the course imports.

Infrastructure only (data, training loop, metrics, pictures, model inspection);
never the code that students are asked to write. Submodules are imported on
demand, so ``import cnncourse`` is cheap and has no side effects.

Two wings. The modules named in ``STUDENT_MODULES`` are the student library:
what notebooks import, and nothing else. Everything behind the ``cnncourse``
command (grading, sandbox, release, site, check, doctor, the CLI) lives in
``cnncourse.tools``, which imports the library and is never imported by it or
by a notebook. ``STUDENT_MODULES`` is the one list of the library: the grader
guards these modules, the README's library table lists them, and
``tests/test_layout.py`` checks both wings against it.
"""

__version__ = "0.1.0"

# The student library, in the order the README's table lists it.
STUDENT_MODULES = (
    "settings",
    "runtime",
    "downloads",
    "imagedataset",
    "readers",
    "datasets",
    "data",
    "standins",
    "batches",
    "modes",
    "train",
    "history",
    "checkpoints",
    "runs",
    "verify",
    "metrics",
    "viz",
    "inspect",
    "preprocess",
    "backbone",
    "pretrained",
    "explain",
)
