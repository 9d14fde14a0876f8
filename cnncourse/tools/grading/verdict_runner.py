"""The verdict pass's own process: a submission's code and the tests, again, in a plain Python interpreter.

Scope: the side of ``cnncourse.tools.grading.verdict`` that runs inside the
sandbox (started as ``python -P -m cnncourse.tools.grading.kernel verdict
--policy FILE -f JOB``, which enters the sandbox as for a kernel and then calls
``main`` here instead of ipykernel). No IPython, no ipykernel, no
jupyter_client: nothing of the notebook machinery a submission could rewire.

Order of events, all before the first line of student code:

1. read the nonce (stdin) and the job (the ``-f`` file: every code cell in
   notebook order; test cells' code comes from the gradebook, never from the
   submission), then delete the job file;
2. compile every cell (a test cell in visible and hidden parts) with the real
   ``compile``: a later swap of the compiler changes nothing;
3. import the libraries the notebook uses and install the tamper guard in
   strict mode (``cnncourse.tools.grading.tamper``: every later change is put
   back, library-looking code included);
4. move the result channel (stdout) to a high file descriptor and send
   ``ready``; point fds 0, 1 and 2 at ``/dev/null`` (nothing the submission
   prints goes anywhere).

Then the cells run in one namespace, in order, each under a time limit, errors
caught per cell. Before each test the guard puts back what was changed; a
test passes when its code raises nothing and nothing guarded changed while it
ran. One JSON line per test goes to the channel, with the nonce; the process
ends with ``os._exit`` (no atexit handler of the submission runs).

A challenge test cell (``scaled`` in the job: ``cnncourse.tools.grading.challenge``)
is scored on a scale: its last expression is evaluated here, by the runner, and
its value must be a plain ``int`` or ``float`` from 0 to the cell's points
(else the test fails); the report carries it as ``score``, with the
``challenge_facts`` the test bound (``facts``) for the leaderboard.

Limit: the submission runs in this process. Code written against this runner
(finding the channel and the nonce in memory) can forge its reports; the
grader counts a test only when nbgrader's run passed it too, and says so in
the README.
"""

from __future__ import annotations

import ast
import builtins
import fcntl
import importlib
import json
import os
import random
import signal
import sys
import types
from typing import Any

from cnncourse.tools.grading.challenge import FACTS_NAME, facts_from_value, points_from_value

# Packages whose modules the notebook imports are imported before the guard records (a library that wraps
# another's function on import, as torchvision does torch.manual_seed, does it before, not during a test).
PRELOAD = ("numpy", "torch", "torchvision", "matplotlib", "math", "cnncourse")
# Modules a preloaded package imports lazily and that then wrap its functions: torch._dynamo wraps
# torch.manual_seed the first time anything (torchvision, an optimiser's step) imports it.
LAZY_WRAPPERS = {"torch": ("torch._dynamo",)}
SEGMENT_KINDS = ("visible", "hidden")
_BEGIN, _END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"


class CellTimeout(BaseException):
    """A cell ran past its time limit (a BaseException: ``except Exception`` in student code does not stop it)."""


class _NoShell:
    """What ``get_ipython()`` returns here: magics and shell commands do nothing, anything else is missing."""

    def run_line_magic(self, *args: Any, **kwargs: Any) -> None:
        return None

    def run_cell_magic(self, *args: Any, **kwargs: Any) -> None:
        return None

    def system(self, *args: Any, **kwargs: Any) -> None:
        return None

    getoutput = system


def split_test(source: str) -> list[tuple[str, str]]:
    """A test cell's source as ``(kind, text)`` parts: "visible" before and after the hidden region, "hidden" inside.

    Each part keeps the cell's line numbers (earlier lines are blank), so
    tracebacks point at the right line.

    Example:
        >>> [kind for kind, _ in split_test("a = 1\\n### BEGIN HIDDEN TESTS\\nassert a\\n### END HIDDEN TESTS\\nb = 2")]
        ['visible', 'hidden', 'visible']
    """
    parts: list[tuple[str, list[str]]] = []
    kind = "visible"
    lines = source.split("\n")
    for number, line in enumerate(lines):
        if kind == "visible" and _BEGIN in line:
            kind = "hidden"
        elif kind == "hidden" and _END in line:
            kind = "visible"
        elif line.strip():
            if not parts or parts[-1][0] != kind:
                parts.append((kind, [""] * number))
            parts[-1][1].append(line)
    return [(kind, "\n".join(text)) for kind, text in parts]


def compile_cell(cell: dict[str, Any], real_compile: Any = compile) -> dict[str, Any]:
    """One job cell compiled: ``{"kind", "grade_id", "parts": [(kind, code, mode)], "error": str}``.

    ``mode`` is "exec", or "eval" for the last expression of a challenge test
    cell (``cell["scaled"]``), whose value the runner reads as its points. A
    test cell whose parts do not compile one by one (a hidden region inside a
    block) is compiled whole, as one hidden part.

    Example:
        >>> cell = compile_cell({"kind": "test", "grade_id": "challenge_x", "scaled": True, "source": "p = 2\\np * 3"})
        >>> [(kind, mode) for kind, _, mode in cell["parts"]]
        [('visible', 'exec'), ('visible', 'eval')]
    """
    name = f"<{cell['kind']} {cell.get('grade_id') or 'cell'}>"
    pieces = split_test(cell["source"]) if cell["kind"] == "test" else [("visible", cell["source"])]
    scaled = cell["kind"] == "test" and bool(cell.get("scaled"))
    try:
        parts = [(kind, real_compile(text, name, "exec", dont_inherit=True), "exec") for kind, text in pieces]
        if scaled and pieces:
            parts[-1:] = _split_last_expression(*pieces[-1], name, real_compile)
        return {**cell, "parts": parts, "error": ""}
    except (SyntaxError, ValueError) as err:
        if cell["kind"] == "test":
            try:
                whole = [("hidden", real_compile(cell["source"], name, "exec", dont_inherit=True), "exec")]
                if scaled:
                    whole = _split_last_expression("hidden", cell["source"], name, real_compile)
                return {**cell, "parts": whole, "error": ""}
            except (SyntaxError, ValueError):
                pass
        return {**cell, "parts": [], "error": f"{type(err).__name__}: {err}"}


def _split_last_expression(kind: str, text: str, name: str, real_compile: Any) -> list[tuple[str, Any, str]]:
    """``text`` as an "exec" part and, when it ends with an expression statement, an "eval" part of that expression."""
    tree = ast.parse(text, name)
    if not tree.body or not isinstance(tree.body[-1], ast.Expr):
        return [(kind, real_compile(tree, name, "exec", dont_inherit=True), "exec")]
    last = ast.Expression(tree.body.pop().value)
    before = [(kind, real_compile(tree, name, "exec", dont_inherit=True), "exec")] if tree.body else []
    return [*before, (kind, real_compile(last, name, "eval", dont_inherit=True), "eval")]


def imported_names(sources: list[str]) -> set[str]:
    """The module names that ``import`` statements in ``sources`` name (cells that do not parse: none).

    Example:
        >>> sorted(imported_names(["import numpy as np\\nfrom torch.nn import functional", "x = ("]))
        ['numpy', 'torch.nn']
    """
    names: set[str] = set()
    for source in sources:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
    return names


def main(args: list[str]) -> None:
    """Run a verdict job (see the module docstring); ``args`` are ``-f JOB``. Never returns."""
    try:
        job_file = args[args.index("-f") + 1]
    except (ValueError, IndexError):
        raise SystemExit("usage: python -P -m cnncourse.tools.grading.kernel verdict --policy FILE -f JOB "
                         "(started by cnncourse grade)")
    nonce = sys.stdin.readline().strip()
    with open(job_file, encoding="utf-8") as f:
        job = json.load(f)
    try:
        os.unlink(job_file)
    except OSError:
        pass
    cells = [compile_cell(cell) for cell in job["cells"]]
    timeout = float(job.get("timeout", 60))
    os.environ.setdefault("MPLBACKEND", "Agg")  # before matplotlib is imported: no window to open
    wanted = sorted(n for n in imported_names([c["source"] for c in job["cells"]]) if n.split(".")[0] in PRELOAD)
    for name in wanted + [lazy for top in {n.split(".")[0] for n in wanted} for lazy in LAZY_WRAPPERS.get(top, ())]:
        try:
            importlib.import_module(name)
        except Exception:  # the notebook's own import will report it
            pass
    from cnncourse.tools.grading import tamper

    tamper.install(strict=True)
    restore = tamper.restore
    channel = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, random.randint(300, 900))
    _send(channel, {"nonce": nonce, "ready": True})
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    sys.stdin = open(os.devnull, encoding="utf-8")
    sys.stdout = sys.stderr = open(os.devnull, "w", encoding="utf-8")
    main_module = types.ModuleType("__main__")
    main_module.__dict__.update({"__builtins__": builtins, "get_ipython": _NoShell,
                                 "display": lambda *a, **k: None})
    sys.modules["__main__"] = main_module
    sys.path.insert(0, os.getcwd())  # like a kernel: the notebook imports its own helper files
    namespace = main_module.__dict__

    def expire(signum: int, frame: Any) -> None:
        raise CellTimeout(f"ran longer than {timeout:g} s")

    for cell in cells:
        signal.signal(signal.SIGALRM, expire)
        if cell["kind"] != "test":
            _run(cell, namespace, timeout)
            continue
        try:
            restore()
        except BaseException:  # noqa: BLE001  (a broken guard must not stop the other tests)
            pass
        scaled = bool(cell.get("scaled"))
        if scaled:
            namespace.pop(FACTS_NAME, None)  # only what this test binds counts
        passed, message, where, value = _run(cell, namespace, timeout)
        try:
            during = restore()
        except BaseException as err:  # noqa: BLE001
            during = [f"the guard failed: {type(err).__name__}"]
        if passed and during:
            passed, message, where = False, "guarded functions changed while the test ran", "grader"
        report = {"nonce": nonce, "test": cell["grade_id"], "passed": passed, "message": message[:500],
                  "where": where, "during": during[:5]}
        if scaled and passed:
            score = points_from_value(value, cell.get("points", 0))
            if score is None:
                report.update(passed=False, where="grader", message=(
                    f"the challenge test should end with its points, a plain int or float from 0 to "
                    f"{cell.get('points', 0):g}; its last expression gave {type(value).__name__}"))
            else:
                report.update(score=score, facts=facts_from_value(namespace.get(FACTS_NAME)))
        _send(channel, report)
    _send(channel, {"nonce": nonce, "done": True})
    os._exit(0)


def _run(cell: dict[str, Any], namespace: dict[str, Any], timeout: float) -> tuple[bool, str, str, Any]:
    """Run one compiled cell; ``(passed, "ErrorName: message", where, value)``.

    ``where`` is the failing part's kind; ``value`` that of an "eval" part (a
    challenge cell's last expression), else None.
    """
    if cell["error"]:
        return False, cell["error"], "visible", None
    value = None
    for kind, code, mode in cell["parts"]:
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            if mode == "eval":
                value = eval(code, namespace)  # noqa: S307  (the test's own last expression)
            else:
                exec(code, namespace)  # noqa: S102  (the point of this module)
        except BaseException as err:  # noqa: BLE001  (SystemExit and timeouts fail the cell too)
            signal.setitimer(signal.ITIMER_REAL, 0)
            try:
                text = f"{type(err).__name__}: {err}"
            except BaseException:  # noqa: BLE001  (an exception whose str() raises)
                text = "an exception that cannot be shown"
            return False, text, kind, None
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    return True, "", "", value


def _send(channel: int, message: dict[str, Any]) -> None:
    data = (json.dumps(message) + "\n").encode()
    while data:
        data = data[os.write(channel, data):]
