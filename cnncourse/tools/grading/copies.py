"""The copy signal: saved training runs that are byte-identical between students.

Scope: from the SHA-256 of each submitted file (``file_hashes``, recorded per
student in the grading manifest), the files under ``runs/`` (``cnncourse.runs``)
that two or more students handed in with the very same bytes, as one note per
student for the "needs attention" list of the grading table. Two independent
trainings never write the same weights file (random initialisation, float
rounding), so an identical file is a copied run; the note is a signal for the
instructor to look, not a verdict.
"""

from __future__ import annotations

from collections import defaultdict

from cnncourse.settings import RUNS_FOLDER


def run_files(hashes: dict[str, str]) -> dict[str, str]:
    """The files under ``runs/`` of one ``file_hashes`` result, with their SHA-256 (links left out).

    Example:
        >>> run_files({"lenet.ipynb": "aa", "runs/lenet.pt": "bb", "runs/x.pt": "link:/etc/passwd"})
        {'runs/lenet.pt': 'bb'}
    """
    prefix = RUNS_FOLDER + "/"
    return {path: sha for path, sha in hashes.items() if path.startswith(prefix) and not sha.startswith("link:")}


def copy_notes(runs: dict[str, dict[str, str]]) -> dict[str, list[str]]:
    """Per student, a note naming their run files that are byte-identical to another student's.

    Args:
        runs: per student, ``run_files`` of their submission (path -> SHA-256).

    Example:
        >>> copy_notes({"alice": {"runs/lenet.pt": "aa", "runs/lenet.json": "cc"},
        ...             "bob": {"runs/lenet.pt": "aa", "runs/lenet.json": "dd"}, "carol": {"runs/lenet.pt": "ee"}})
        {'alice': ["runs/lenet.pt identical to bob's"], 'bob': ["runs/lenet.pt identical to alice's"]}
    """
    owners: dict[str, set[str]] = defaultdict(set)
    for student, files in runs.items():
        for sha in files.values():
            owners[sha].add(student)
    notes: dict[str, list[str]] = {}
    for student in sorted(runs):
        same: dict[tuple[str, ...], list[str]] = defaultdict(list)  # the other students -> the files shared with them
        for path, sha in sorted(runs[student].items()):
            others = tuple(sorted(owners[sha] - {student}))
            if others:
                same[others].append(path)
        notes_of = [f"{', '.join(paths)} identical to {_names(others)}" for others, paths in sorted(same.items())]
        if notes_of:
            notes[student] = notes_of
    return notes


def _names(students: tuple[str, ...]) -> str:
    """``("bob",)`` -> "bob's"; ``("bob", "carol")`` -> "bob's and carol's"."""
    owned = [f"{s}'s" for s in students]
    return owned[0] if len(owned) == 1 else ", ".join(owned[:-1]) + " and " + owned[-1]
