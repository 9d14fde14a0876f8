"""The project's own files install what it needs: pyproject, environment.yml, Makefile, CI.

A student install (``pip install .``) has the library, JupyterLab, ipywidgets
and nbgrader, and none of the test tools; the ``test`` extra declares every
package the tests import that the package itself does not; ``make`` and
environment.yml install the whole set.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _requirements(lines: list[str]) -> dict[str, SpecifierSet]:
    reqs = [Requirement(line) for line in lines]
    return {req.name.lower(): req.specifier for req in reqs}


def _everything() -> list[str]:
    """pyproject's dependencies and every extra: what `make` and environment.yml install."""
    project = _pyproject()["project"]
    return project["dependencies"] + [line for extra in project.get("optional-dependencies", {}).values()
                                      for line in extra]


def _top_level_imports(folders: list[Path]) -> set[str]:
    """The top-level names of the non-standard-library modules imported anywhere in these folders' .py files."""
    found = set()
    for folder in folders:
        for path in folder.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    found |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
    return {name for name in found if name not in sys.stdlib_module_names}


def test_environment_yml_names_the_same_dependencies_as_pyproject():
    """environment.yml's pip section lists pyproject.toml's dependencies and extras, with the same ranges."""
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip_section = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    installs_package = [line for line in pip_section if line.startswith("-e") or line == "."]
    assert installs_package == ["-e ."], f"environment.yml's pip section should install this package with '-e .', found {installs_package}"
    from_env = _requirements([line for line in pip_section if line not in installs_package])
    from_pyproject = _requirements(_everything())
    only_env = sorted(set(from_env) - set(from_pyproject))
    only_pyproject = sorted(set(from_pyproject) - set(from_env))
    assert not only_env and not only_pyproject, f"only in environment.yml: {only_env}; only in pyproject.toml: {only_pyproject}"
    differing = {name: (str(from_env[name]), str(from_pyproject[name])) for name in from_env if from_env[name] != from_pyproject[name]}
    assert not differing, f"version ranges differ (environment.yml, pyproject.toml): {differing}"


def test_a_student_install_has_no_test_tools():
    """pytest, nbval and Playwright are in the `test` extra only; nbgrader (the Validate button) is a dependency."""
    base = _requirements(_pyproject()["project"]["dependencies"])
    test = _requirements(_pyproject()["project"]["optional-dependencies"]["test"])
    for name in ("pytest", "nbval", "playwright"):
        assert name not in base and name in test, f"{name} should be in the `test` extra, not a dependency"
    for name in ("jupyterlab", "ipywidgets", "nbgrader", "torch", "torchvision"):
        assert name in base, f"{name} is needed by students: it should be a dependency, not an extra"


def test_the_test_extra_declares_what_the_tests_import():
    """Every package the tests or benchmarks import, and the package itself does not, is declared."""
    declared = set(_requirements(_everything()))
    own = {"cnncourse", "bench", "fixtures"} | {path.stem for path in (REPO / "tests").rglob("*.py")}  # helpers, tests
    for module in sorted(_top_level_imports([REPO / "tests", REPO / "bench"]) - _top_level_imports([REPO / "cnncourse"])
                         - own):
        distributions = {name.lower() for name in importlib.metadata.packages_distributions().get(module, [])}
        assert distributions & declared, (f"the tests import {module} (from {sorted(distributions) or 'nowhere'}), "
                                          f"which pyproject.toml declares neither as a dependency nor in an extra")


def test_make_installs_every_extra():
    """`make course` and `make test` install the package with every extra (the whole set, as environment.yml)."""
    makefile = (REPO / "Makefile").read_text()
    extras = sorted(_pyproject()["project"]["optional-dependencies"])
    assert f'-e ".[{",".join(extras)}]"' in makefile, f"the Makefile should install -e \".[{','.join(extras)}]\""


def test_python_version_agrees():
    """Both files ask for the same minimum Python."""
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    conda_python = next(item for item in env["dependencies"] if isinstance(item, str) and item.startswith("python"))
    assert conda_python.removeprefix("python") == _pyproject()["project"]["requires-python"]


def test_torch_is_a_range_not_a_cpu_pin():
    """torch and torchvision are ranges: a pinned '+cpu' build cannot pair with the registry's torchvision."""
    deps = _pyproject()["project"]["dependencies"]
    for name in ("torch", "torchvision"):
        (line,) = [d for d in deps if Requirement(d).name == name]
        assert "+cpu" not in line and "==" not in line, f"{name} should be a version range, found {line!r}"


def test_ci_runs_the_readme_test_command():
    """.ci/run calls the README's test command and nothing else."""
    readme = (REPO / "README.md").read_text()
    commands = re.findall(r"^```(?:bash|sh)\n(.*?)^```", readme, flags=re.M | re.S)
    assert "make test\n" in commands, "the README should give `make test` in a code block of its own"
    ci = [line for line in (REPO / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert ci[-1] == "exec make test", f".ci/run should end by running the README's command, found {ci[-1]!r}"


def test_installed_package_imports_without_side_effects(capsys):
    """Importing cnncourse and every submodule prints nothing and downloads nothing."""
    import importlib
    import pkgutil

    import cnncourse

    for module in pkgutil.iter_modules(cnncourse.__path__):
        importlib.import_module(f"cnncourse.{module.name}")
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == "", f"importing cnncourse printed: {captured.out!r} {captured.err!r}"
