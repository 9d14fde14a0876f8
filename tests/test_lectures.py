"""What a self-study reader relies on in every lecture, read from the notebooks (nothing is executed).

- The first markdown cell of every lecture links the Russian–English glossary,
  ``course/glossary.md``, and the glossary holds the course's core terms.
- Every lecture ends with exercises whose answers can be revealed
  (``<details><summary>Answer</summary>``), one per question, three or more,
  and has a references section.
- No instructor or student notebook links into the repository (``../../course/…``):
  such links break once ``nbgrader fetch_assignment`` copies the notebook into a
  student's home; assignments name the lecture's page on the course site instead.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
LECTURES = sorted((REPO / "course").glob("*.ipynb"))
ASSIGNMENTS = sorted((REPO / "source").glob("*/*.ipynb")) + sorted((REPO / "release").glob("*/*.ipynb"))
GLOSSARY = REPO / "course" / "glossary.md"
CORE_TERMS = ("свёртка", "шаг", "дополнение нулями", "подвыборка", "карта признаков", "рецептивное поле", "ядро",
              "фильтр", "пулинг", "полносвязный слой", "функция активации", "переобучение", "аугментация",
              "пакетная нормализация", "остаточная связь", "перенос обучения", "дообучение")
ANSWER = "<details><summary>Answer</summary>"
QUESTION = re.compile(r"^\*\*\d+\.\*\* ", re.M)  # "**1.** ...": a paragraph; inside a list item nbconvert leaves <details> empty
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")


def markdown_cells(path: Path) -> list[str]:
    """The sources of the notebook's markdown cells, in order."""
    return [cell.source for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "markdown"]


def test_there_are_lectures_and_assignments() -> None:
    assert len(LECTURES) >= 6, f"expected the six lectures in course/, found {[p.name for p in LECTURES]}"
    assert ASSIGNMENTS, "expected assignment notebooks in source/ and release/"


def test_glossary_holds_the_core_terms() -> None:
    assert GLOSSARY.is_file(), f"{GLOSSARY.relative_to(REPO)} is missing: the lectures link it"
    text = GLOSSARY.read_text(encoding="utf-8").lower()
    missing = [term for term in CORE_TERMS if term not in text]
    assert not missing, f"the glossary should translate every core term; missing: {missing}"


@pytest.mark.parametrize("lecture", LECTURES, ids=lambda path: path.name)
def test_first_cell_links_the_glossary(lecture: Path) -> None:
    first = markdown_cells(lecture)[0]
    targets = MARKDOWN_LINK.findall(first)
    assert "glossary.md" in targets, f"{lecture.name}: the first markdown cell should link glossary.md; it links {targets}"
    assert (lecture.parent / "glossary.md").is_file()


@pytest.mark.parametrize("lecture", LECTURES, ids=lambda path: path.name)
def test_exercises_with_answers_and_references(lecture: Path) -> None:
    cells = markdown_cells(lecture)
    exercises = [text for text in cells if text.startswith("## Exercises")]
    assert len(exercises) == 1, f"{lecture.name}: expected one '## Exercises' cell, found {len(exercises)}"
    questions = len(QUESTION.findall(exercises[0]))
    answers = exercises[0].count(ANSWER)
    assert questions >= 3, f"{lecture.name}: expected at least 3 exercises, found {questions}"
    assert answers == questions and exercises[0].count("</details>") == answers, \
        f"{lecture.name}: every exercise needs one revealable answer; {questions} questions, {answers} answers"
    assert any(re.search(r"^## References$", text, re.M) for text in cells), f"{lecture.name}: no '## References' section"
    from nbconvert.filters.markdown import markdown2html  # the renderer of the lecture site

    empty = len(re.findall(r"<details><summary>Answer</summary>\s*</details>", markdown2html(exercises[0])))
    assert not empty, (f"{lecture.name}: {empty} answers render as an empty <details> on the site (the answer lands "
                       f"outside it): keep a blank line around each answer, and questions out of lists")


@pytest.mark.parametrize("notebook", ASSIGNMENTS, ids=lambda path: path.relative_to(REPO).as_posix())
def test_assignments_do_not_link_into_the_repository(notebook: Path) -> None:
    links = [target for text in markdown_cells(notebook) for target in MARKDOWN_LINK.findall(text)
             if target.startswith("../")]
    assert not links, (f"{notebook.relative_to(REPO)} links {links}, which break once nbgrader copies the notebook "
                       f"into a student's home; name the lecture and its page on the course site instead")
