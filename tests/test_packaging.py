"""The project's own files install what it needs: pyproject, environment.yml, Makefile, CI."""

from __future__ import annotations

import re
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


def test_environment_yml_names_the_same_dependencies_as_pyproject():
    """environment.yml's pip section and pyproject.toml list the same packages and ranges."""
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip_section = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    installs_package = [line for line in pip_section if line.startswith("-e") or line == "."]
    assert installs_package == ["-e ."], f"environment.yml's pip section should install this package with '-e .', found {installs_package}"
    from_env = _requirements([line for line in pip_section if line not in installs_package])
    from_pyproject = _requirements(_pyproject()["project"]["dependencies"])
    only_env = sorted(set(from_env) - set(from_pyproject))
    only_pyproject = sorted(set(from_pyproject) - set(from_env))
    assert not only_env and not only_pyproject, f"only in environment.yml: {only_env}; only in pyproject.toml: {only_pyproject}"
    differing = {name: (str(from_env[name]), str(from_pyproject[name])) for name in from_env if from_env[name] != from_pyproject[name]}
    assert not differing, f"version ranges differ (environment.yml, pyproject.toml): {differing}"


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
