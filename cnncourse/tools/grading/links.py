"""Copying folders a student controls without ever following a link.

Scope: the two places where the grader copies files a submission chose:
the submission into its grading folder (``copy_without_links``, used by
``cnncourse.tools.grading.submission``) and ``autograded/`` into feedback, which
nbgrader copies with ``shutil.copy`` (``remove_links`` first, used by
``cnncourse.tools.grading.grade.generate_feedback``). A symbolic link is never
followed and never copied: an absolute link to the course's ``gradebook.db``
must not bring every student's grades into one student's feedback.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path


def copy_without_links(source: str | Path, target: str | Path) -> list[str]:
    """Copy the folders and regular files of ``source`` to ``target``; links and special files are left out, unfollowed.

    Returns what was left out, as ``relative/path -> link target`` (or ``relative/path (special file)``).

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     _ = (Path(folder) / "in").mkdir(), (Path(folder) / "in" / "a.txt").write_text("hi")
        ...     (Path(folder) / "in" / "db").symlink_to("/course/gradebook.db")
        ...     left_out = copy_without_links(Path(folder) / "in", Path(folder) / "out")
        ...     left_out, sorted(p.name for p in (Path(folder) / "out").iterdir())
        (['db -> /course/gradebook.db'], ['a.txt'])
    """
    source, target = Path(source), Path(target)
    target.mkdir(parents=True, exist_ok=True)
    skipped = []
    for parent, dirs, files in os.walk(source, followlinks=False):
        here = Path(parent)
        for name in sorted(dirs + files):
            path, relative = here / name, (here / name).relative_to(source)
            mode = path.lstat().st_mode
            if stat.S_ISDIR(mode):
                (target / relative).mkdir(exist_ok=True)
            elif stat.S_ISREG(mode):
                flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK  # never a link, never stuck on a FIFO
                with open(os.open(path, flags), "rb") as f, open(target / relative, "wb") as out:
                    shutil.copyfileobj(f, out)
            else:
                skipped.append(f"{relative.as_posix()} -> {os.readlink(path)}" if stat.S_ISLNK(mode)
                               else f"{relative.as_posix()} (special file)")
        dirs[:] = [d for d in dirs if stat.S_ISDIR((here / d).lstat().st_mode)]
    return skipped


def remove_links(folder: str | Path) -> list[Path]:
    """Remove every link and special file in ``folder`` (``folder`` itself too, if it is a link); return them.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     (Path(folder) / "db").symlink_to("/course/gradebook.db")
        ...     [p.name for p in remove_links(folder)], os.listdir(folder)
        (['db'], [])
    """
    folder = Path(folder)
    if folder.is_symlink():
        folder.unlink()
        return [folder]
    removed = []
    for parent, dirs, files in os.walk(folder, followlinks=False):
        for name in dirs + files:
            path = Path(parent, name)
            if not (stat.S_ISREG(path.lstat().st_mode) or stat.S_ISDIR(path.lstat().st_mode)):
                path.unlink()
                removed.append(path)
    return removed
