"""The package's two wings, read from the source: the student library and the instructor tools.

- The import graph (every ``import`` statement of every module, at the top or
  inside a function) has arrows only from ``cnncourse.tools`` to the library,
  never back, and no circle.
- ``cnncourse.STUDENT_MODULES`` is the one list of the library: it names every
  top-level module, the grader guards each of them, and the README's library
  table lists exactly them.
- No notebook (lectures, instructor and student versions) imports the tools.
- Every ``cnncourse.…`` path written as a string (``-m`` commands, nbgrader
  configs, guard expressions) imports.
- No module is longer than about 400 lines unless its docstring says why.
"""

from __future__ import annotations

import ast
import importlib
import json
import re
from pathlib import Path

import pytest

import cnncourse

PACKAGE = Path(cnncourse.__file__).resolve().parent
REPO = PACKAGE.parent
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(path: Path, name: str, known: set[str]) -> set[str]:
    """The cnncourse modules that ``path`` imports, anywhere in the file."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and target != "cnncourse":
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = package_modules()
    return {name: imported_modules(path, name, set(modules)) for name, path in modules.items()}


def is_tool(name: str) -> bool:
    return name == "cnncourse.tools" or name.startswith("cnncourse.tools.")


def test_the_library_never_imports_the_tools():
    graph = import_graph()
    wrong = sorted(f"{source} imports {target}" for source, targets in graph.items() if not is_tool(source)
                   for target in targets if is_tool(target))
    assert not wrong, "arrows run from the tools to the library, never back: " + "; ".join(wrong)


def test_the_import_graph_has_no_circle():
    graph = import_graph()
    state: dict[str, str] = {}
    circles: list[str] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                circles.append(" -> ".join(path[path.index(target):] + [target]) if target in path else target)
            elif target not in state:
                visit(target, path + [target])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not circles, "import circles: " + "; ".join(circles)


def test_student_modules_name_every_top_level_module():
    top = {path.stem for path in PACKAGE.glob("*.py") if path.stem != "__init__"}
    assert set(cnncourse.STUDENT_MODULES) == top, (
        f"cnncourse.STUDENT_MODULES should name every top-level module of the library; "
        f"missing: {sorted(top - set(cnncourse.STUDENT_MODULES))}, naming no module: "
        f"{sorted(set(cnncourse.STUDENT_MODULES) - top)}")
    for name in cnncourse.STUDENT_MODULES:
        importlib.import_module(f"cnncourse.{name}")


def test_the_grader_guards_every_student_module():
    from cnncourse.tools.grading import tamper

    unguarded = [name for name in cnncourse.STUDENT_MODULES if f"cnncourse.{name}" not in tamper.GUARDED_MODULES]
    assert not unguarded, f"the tamper guard does not protect these student modules: {unguarded}"


def test_the_readme_library_table_lists_the_student_modules():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## The library", 1)[1].split("\nThe instructor tools", 1)[0]
    listed = re.findall(r"^\| `cnncourse\.(\w+)` \|", section, flags=re.M)
    assert listed == list(cnncourse.STUDENT_MODULES), (
        f"the README's library table lists {listed}; cnncourse.STUDENT_MODULES is {list(cnncourse.STUDENT_MODULES)}")


def notebooks() -> list[Path]:
    return sorted(p for folder in ("course", "source", "release") for p in (REPO / folder).rglob("*.ipynb")
                  if ".ipynb_checkpoints" not in p.parts)


def test_no_notebook_imports_the_tools():
    assert notebooks(), "no notebooks found"
    offenders = []
    for path in notebooks():
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        for index, cell in enumerate(cells):
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            if cell["cell_type"] == "code" and re.search(r"\bcnncourse\.tools\b|from cnncourse import tools\b", source):
                offenders.append(f"{path.relative_to(REPO)} cell {index}")
    assert not offenders, "notebooks import the student library only: " + ", ".join(offenders)


STRING_PATH = re.compile(r"""["'](?:-m )?(cnncourse(?:\.\w+)+)(?::\w+)?["' (]""")


def string_paths() -> dict[str, set[str]]:
    """Every cnncourse.… path written inside a string literal, with the files it appears in."""
    files = [*PACKAGE.rglob("*.py"), REPO / "nbgrader_config.py", REPO / "pyproject.toml", REPO / "Makefile",
             *REPO.glob("tests/*.py"), *REPO.glob("bench/*.py")]
    found: dict[str, set[str]] = {}
    for path in files:
        for match in STRING_PATH.finditer(path.read_text(encoding="utf-8")):
            found.setdefault(match.group(1), set()).add(str(path.relative_to(REPO)))
    return found


def resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


def test_every_module_path_written_as_a_string_imports():
    paths = string_paths()
    for expected in ("cnncourse.tools.grading.kernel", "cnncourse.tools.grading.worker", "cnncourse.tools.cli"):
        assert expected in paths, f"{expected} is started by name somewhere; the scan did not find it"
    broken = sorted(f"{dotted} (in {', '.join(sorted(where))})" for dotted, where in paths.items() if not resolves(dotted))
    assert not broken, "module paths written as strings that do not import: " + "; ".join(broken)


@pytest.mark.parametrize("name", sorted(package_modules()))
def test_modules_are_small_or_say_why(name):
    path = package_modules()[name]
    lines = path.read_text(encoding="utf-8").count("\n")
    if lines <= MAX_LINES:
        return
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    assert "Size:" in docstring, (
        f"{path.relative_to(REPO)} has {lines} lines (over about {MAX_LINES}): split it along its seams, "
        f"or say in its docstring, on a line starting 'Size:', why it is one piece")
