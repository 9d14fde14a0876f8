"""Copying a submission never follows or copies a link; feedback folders lose theirs before nbgrader copies them."""

from __future__ import annotations

import os
from pathlib import Path

from cnncourse.tools.grading.links import copy_without_links, remove_links


def test_links_and_special_files_are_neither_followed_nor_copied(tmp_path: Path) -> None:
    secret = tmp_path / "course"
    (secret / "source").mkdir(parents=True)
    (secret / "gradebook.db").write_text("every student's grades")
    submitted = tmp_path / "submitted"
    (submitted / "data").mkdir(parents=True)
    (submitted / "answer.ipynb").write_text("{}")
    (submitted / "data" / "x.csv").write_text("1,2")
    (submitted / "gradebook.db").symlink_to(secret / "gradebook.db")  # absolute
    (submitted / "data" / "up").symlink_to("../../course/gradebook.db")  # relative
    (submitted / "source").symlink_to(secret / "source", target_is_directory=True)  # a folder
    os.mkfifo(submitted / "pipe")
    left_out = copy_without_links(submitted, tmp_path / "copy")
    copied = sorted(p.relative_to(tmp_path / "copy").as_posix() for p in (tmp_path / "copy").rglob("*"))
    assert copied == ["answer.ipynb", "data", "data/x.csv"], f"only folders and regular files may be copied: {copied}"
    assert sorted(left_out) == sorted([f"gradebook.db -> {secret / 'gradebook.db'}", "data/up -> ../../course/gradebook.db",
                                       f"source -> {secret / 'source'}", "pipe (special file)"]), left_out
    assert (tmp_path / "copy" / "data" / "x.csv").read_text() == "1,2"


def test_remove_links_empties_a_feedback_source_of_links_only(tmp_path: Path) -> None:
    folder = tmp_path / "autograded" / "alice" / "a1"
    folder.mkdir(parents=True)
    (folder / "answer.ipynb").write_text("{}")
    (folder / "gradebook.db").symlink_to("/nonexistent/gradebook.db")
    assert remove_links(folder) == [folder / "gradebook.db"]
    assert sorted(os.listdir(folder)) == ["answer.ipynb"]
    linked = tmp_path / "autograded" / "bob"
    linked.symlink_to(folder, target_is_directory=True)
    assert remove_links(linked) == [linked] and not linked.exists() and (folder / "answer.ipynb").exists(), \
        "a linked folder is removed itself; what it points to is left alone"
