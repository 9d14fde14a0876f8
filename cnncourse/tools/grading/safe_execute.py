"""nbgrader's autograde steps, made safe for untrusted notebooks.

Scope: the nbgrader preprocessors that ``cnncourse grade`` swaps into
``nbgrader autograde`` (through the grading folder's ``nbgrader_config.py``);
everything else is nbgrader's own autograde.

``DeduplicateCells`` keeps only the last copy of a duplicated graded cell
graded, as nbgrader means to (nbgrader 0.9's own step leaves metadata behind
that makes the whole notebook fail).

``RestoreCells`` is nbgrader's ``OverwriteCells`` with ``add_missing_cells``
on and a sturdier placement: a deleted test cell is put back (with its hidden
tests) after the nearest earlier graded cell still present, so the original
tests always run. (nbgrader's own placement fails when the cell before the
deleted one is a read-only text cell, and its task-cell pass fails on a
notebook with a duplicated graded cell.)

``SafeExecute`` runs the cells. On top of nbgrader's ``Execute``:

- a dead kernel (``os._exit``, a crash, running out of memory) fails the cell
  it died in and every later cell, so a test that never ran is never counted
  as passed (nbgrader gives full marks to a test cell without output);
- a cell past its timeout is interrupted; a kernel that still does not answer
  ``interrupt_grace`` seconds later is killed and the later cells fail with a
  note, so one endless loop costs one timeout, not one per cell;
- a cell's output past ``max_output_bytes`` is dropped, the cell is
  interrupted and fails (the grader never holds hundreds of megabytes);
  display updates (in every output they rewrite) and widget messages count too;
- before every test cell the library functions tests use are put back
  (``cnncourse.tools.grading.tamper``) and what had been changed is noted in the cell;
  after it, a change made while the test ran fails the test (a submission
  that patches ``numpy.allclose`` from inside the function under test);
  ``clear_output`` during a test cell is ignored, so an error stays visible;
- results and displays (``execute_result``, ``display_data``) are dropped
  from test cells: nbgrader reads a test cell's first result as its score,
  and a test's score must come from pass or fail (a result is noted where
  it would have changed nbgrader's score: a number, or a result ahead of an error). A
  challenge cell (``cnncourse.tools.grading.challenge``) is scored on a scale
  by its one result: it is kept, last, when it is a plain number from 0 to
  the cell's points and the cell raised nothing; a cell without such a
  result fails (nbgrader would give full points for a missing or non-numeric one);
- files written or changed in the working folder once the first test cell
  has started are removed afterwards (hidden tests had run in the kernel by
  then; such files would reach feedback; ``written_to`` keeps them elsewhere),
  and writing during a test is noted;
- afterwards, links and special files the submission left in its folder are
  removed before nbgrader (as the instructor) writes or changes anything there;
- what happened goes to ``report_file`` (JSON lines), for the grading table.

Size: one piece, under 500 lines: SafeExecute's safeguards share one
cell loop, and the two small sanitizing steps sit beside it because the
grading config swaps all three into nbgrader together.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import stat
from pathlib import Path
from queue import Empty
from time import monotonic
from typing import Any

from jupyter_core.utils import ensure_async, run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import DeduplicateIds, Execute, OverwriteCells
from traitlets import Bool, Float, Integer, Unicode

from cnncourse.tools.grading.challenge import is_challenge, points_from_text

GUARD_EXPRESSION = "__import__('cnncourse.tools.grading.tamper', fromlist=['restore_report']).restore_report()"
NOTE_PREFIX = "Grader: "


class DeduplicateCells(DeduplicateIds):
    """nbgrader's ``DeduplicateIds`` that drops the grading metadata of all but the last copy of a cell.

    nbgrader's leaves an empty ``nbgrader`` dict behind, which later fails
    its own metadata check, so a notebook with a duplicated cell could not be
    graded at all.

    Example::

        c.Autograde.sanitize_preprocessors = [..., "cnncourse.tools.grading.safe_execute.DeduplicateCells", ...]
    """

    def preprocess_cell(self, cell: NotebookNode, resources: dict, cell_index: int) -> tuple[NotebookNode, dict]:
        """Drop the metadata of an earlier copy (cells come in reverse order), keep the last copy's."""
        if not (utils.is_grade(cell) or utils.is_solution(cell) or utils.is_locked(cell)):
            return cell, resources
        grade_id = cell.metadata.nbgrader.get("grade_id")
        if grade_id in self.grade_ids:
            self.log.warning("Cell with id '%s' exists multiple times; grading the last copy", grade_id)
            del cell.metadata["nbgrader"]
        else:
            self.grade_ids.add(grade_id)
        return cell, resources


class RestoreCells(OverwriteCells):
    """nbgrader's ``OverwriteCells`` that always puts deleted graded cells back, in a sensible place.

    Example::

        c.Autograde.sanitize_preprocessors = [..., "cnncourse.tools.grading.safe_execute.RestoreCells", ...]
    """

    add_missing_cells = Bool(True, help="Put deleted grade cells back from the gradebook").tag(config=True)

    def add_missing_grade_cells(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        """Insert each missing grade cell after the nearest earlier source cell still in the notebook."""
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        order = [cell.name for cell in source_nb.source_cells]
        solutions = {cell.name for cell in source_nb.solution_cells}
        for grade_cell in sorted(source_nb.grade_cells, key=lambda c: order.index(c.name) if c.name in order else 0):
            present = [cell.metadata.get("nbgrader", {}).get("grade_id") for cell in nb.cells]
            if grade_cell.name in present or grade_cell.name not in order:
                continue
            self.log.warning("Missing grade cell %s: putting it back from the gradebook", grade_cell.name)
            position = 0
            for earlier in reversed(order[:order.index(grade_cell.name)]):
                if earlier in present:
                    position = len(present) - present[::-1].index(earlier)
                    break
            source_cell = source_nb.source_cells[order.index(grade_cell.name)]
            nb.cells.insert(position, self.missing_cell_transform(source_cell, grade_cell.max_score,
                                                                  is_solution=grade_cell.name in solutions))
        return nb, resources

    def add_missing_task_cells(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        """nbgrader's, minus its crash on cells whose nbgrader metadata ``DeduplicateIds`` emptied."""
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        order = [cell.name for cell in source_nb.source_cells]
        present = {cell.metadata.get("nbgrader", {}).get("grade_id") for cell in nb.cells}
        for task_cell in source_nb.task_cells:
            if task_cell.name not in present and task_cell.name in order:
                source_cell = source_nb.source_cells[order.index(task_cell.name)]
                nb.cells.append(self.missing_cell_transform(source_cell, task_cell.max_score, is_task=True))
        return nb, resources


class SafeExecute(Execute):
    """nbgrader's ``Execute`` with dead-kernel, timeout, output-size and tampering safeguards.

    Example::

        c.Autograde.autograde_preprocessors = [
            "cnncourse.tools.grading.safe_execute.SafeExecute", "nbgrader.preprocessors.IgnorePattern", ...]
    """

    max_output_bytes = Integer(10_000_000, help="Most output one cell may produce (bytes of text and data)"
                               ).tag(config=True)
    interrupt_grace = Float(10.0, help="Seconds a kernel has to stop after an interrupt before it is killed"
                            ).tag(config=True)
    guard_tests = Bool(True, help="Put back guarded library functions before each test cell").tag(config=True)
    report_file = Unicode("", help="Where to append what happened (JSON lines); empty: nowhere").tag(config=True)
    sandbox_uid = Integer(None, allow_none=True, help="The sandbox user id whose leftover processes to kill"
                          ).tag(config=True)
    written_to = Unicode("", help="Where files written once the first test started go, instead of being deleted "
                         "(CNNCOURSE_RETRAIN: the verdict pass grades the runs trained then); empty: deleted"
                         ).tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict, km: Any = None) -> tuple[NotebookNode, dict]:
        """Execute the notebook (see the module docstring), then tidy its folder and write the report."""
        self._events: list[dict] = []
        self._stopped = ""
        self._pending: set[asyncio.Future] = set()
        self._files_at_first_test: dict[str, tuple[int, int]] | None = None
        try:
            return super().preprocess(nb, resources, km)
        except Exception as err:
            self._event(None, None, "error", f"the notebook could not be executed: {type(err).__name__}: {err}")
            raise
        finally:
            self._tidy(resources)
            self._write_report(resources)

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int) -> tuple[NotebookNode, dict]:
        """Run one cell with the safeguards; never raise for what a submission does."""
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, resources
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        is_test = utils.is_grade(cell)
        notes: list[str] = []
        if is_test and self.guard_tests and not self._stopped:
            notes = self._guard(index, grade_id)
        if self._stopped:
            cell.outputs = [_error("CellNotRun", f"this cell was not run: {self._stopped}")]
            cell.execution_count = None
            return cell, resources
        self._cell_bytes, self._cut, self._in_test = 0, False, is_test
        folder = resources.get("metadata", {}).get("path")
        files_before = _files(folder) if is_test else {}
        if is_test and self._files_at_first_test is None:
            self._files_at_first_test = files_before
        timed_out = False
        try:
            cell = self.execute_cell(cell, index, store_history=True)
        except DeadKernelError:
            cell.outputs.append(_error("DeadKernelError", "the kernel died while this cell ran (os._exit, a crash or "
                                       "running out of memory); the cells after it were not run"))
            self._stop(index, grade_id, "dead_kernel", f"the kernel died in cell {index}")
        except CellTimeoutError:
            cell.outputs.append(_error("CellTimeoutError", f"this cell ran longer than {self.timeout} s"))
            timed_out = True
        else:
            timed_out = any(o.get("ename") == "CellTimeoutError" for o in cell.outputs)
        if self._cut:
            cell.outputs.append(_error("OutputLimitExceeded", f"this cell printed more than {self.max_output_bytes:,} "
                                       "bytes; the rest was dropped and the cell was stopped"))
            self._event(index, grade_id, "output_limit", f"output over {self.max_output_bytes:,} bytes; cell stopped")
        if timed_out and not self._stopped:
            self._event(index, grade_id, "timeout", f"ran past the {self.timeout} s timeout and was interrupted")
            if not self._responds():
                self._kill()
                self._stop(index, grade_id, "killed", f"the kernel did not stop within {self.interrupt_grace:g} s of "
                           f"the interrupt after cell {index} timed out, and was killed")
        self._note_errors(cell, index, grade_id, interrupted=timed_out or self._cut)
        if is_test:
            self._test_outputs_only(cell, index, grade_id)
            written = sorted(k for k, v in _files(folder).items() if files_before.get(k) != v)
            if written:
                self._event(index, grade_id, "wrote_files", "files were written while the test ran (they were "
                            "removed and never reach feedback): " + ", ".join(written[:5]))
        if is_test and self.guard_tests and not self._stopped:
            during = self._guard(index, grade_id, when="while")
            if during:
                cell.outputs.append(_error("TamperingDetected", "library functions or IPython hooks were changed while "
                                           "this test ran (" + "; ".join(during) + "); the test does not count"))
        if notes:
            text = "".join(f"{NOTE_PREFIX}{note}\n" for note in notes)
            cell.outputs.insert(0, NotebookNode(output_type="stream", name="stdout", text=text))
        if is_test and is_challenge(grade_id) and not utils.is_solution(cell):
            self._challenge_score(cell, index, grade_id)
        return cell, resources

    # -- output handling ---------------------------------------------------------

    def _test_outputs_only(self, cell: NotebookNode, index: int, grade_id: str | None) -> None:
        """Drop results and displays from a test cell: nbgrader would read the first result as its score.

        A challenge cell's results are set aside for ``_challenge_score``, which decides what nbgrader reads.
        """
        kept = [o for o in cell.outputs if o.get("output_type") not in ("execute_result", "display_data")]
        results = [o for o in cell.outputs if o.get("output_type") == "execute_result"]
        if is_challenge(grade_id) and not utils.is_solution(cell):
            self._challenge_results = results
        elif result_changes_score(cell, kept):  # a test's own last expression (e.g. a report object) changes nothing
            self._event(index, grade_id, "test_result", "the test cell produced a result (execute_result), which "
                        "nbgrader would read as its score; it was removed: the score comes from pass or fail")
        cell.outputs = kept

    def _challenge_score(self, cell: NotebookNode, index: int, grade_id: str) -> None:
        """Put a challenge cell's one numeric result back, last, or fail the cell (nbgrader reads it as the points)."""
        results, self._challenge_results = getattr(self, "_challenge_results", []), []
        if any(o.get("output_type") == "error" or (o.get("output_type") == "stream" and o.get("name") == "stderr")
               for o in cell.outputs):
            return  # nbgrader gives 0 for the error; the result goes
        points = float(cell.metadata.get("nbgrader", {}).get("points", 0))
        found = [points_from_text(o.get("data", {}).get("text/plain"), points) for o in results]
        if len(results) == 1 and found[0] is not None:
            cell.outputs.append(results[0])
            return
        problem = (f"it gave {len(results)} results" if len(results) != 1 else
                   f"its result is not a plain number from 0 to {points:g}")
        self._event(index, grade_id, "challenge_score", f"the challenge cell should end with one result, its "
                    f"points from 0 to {points:g}; {problem}: it counts 0")
        cell.outputs.append(_error("ChallengeScoreMissing", f"this challenge test should end with its points, one "
                                   f"plain number from 0 to {points:g}; {problem}"))

    def output(self, outs: list, msg: dict, display_id: str | None, cell_index: int) -> NotebookNode | None:
        """Keep outputs until the cell's limit; past it, drop them and interrupt the cell once."""
        if self._over_limit(msg):
            return None
        return super().output(outs, msg, display_id, cell_index)

    def _update_display_id(self, display_id: str, msg: dict) -> None:
        """Displays with an id rewrite every earlier output with that id: count what they write, in every copy."""
        copies = sum(len(i) for i in self._display_id_map.get(display_id, {}).values())
        if self._over_limit(msg, copies=copies):
            return None
        return super()._update_display_id(display_id, msg)

    def handle_comm_msg(self, outs: list, msg: dict, cell_index: int) -> None:
        """Widget state (kept in the notebook's metadata) counts against the cell's limit too."""
        if self._over_limit(msg):
            return None
        return super().handle_comm_msg(outs, msg, cell_index)

    def _over_limit(self, msg: dict, *, copies: int = 1) -> bool:
        """Count ``copies`` times a message's bytes; past the cell's limit, interrupt the cell once and say True."""
        self._cell_bytes = getattr(self, "_cell_bytes", 0) + copies * _size(msg.get("content", {}))
        if self._cell_bytes > self.max_output_bytes:
            if not getattr(self, "_cut", False):
                self._cut = True
                future = asyncio.ensure_future(ensure_async(self.km.interrupt_kernel()))
                self._pending.add(future)
                future.add_done_callback(self._pending.discard)
            return True
        return False

    def clear_output(self, outs: list, msg: dict, cell_index: int) -> None:
        """Ignore ``clear_output`` in test cells (it could hide a failure); obey it elsewhere."""
        if getattr(self, "_in_test", False):
            self._event(cell_index, None, "clear_output_ignored", "a clear_output call during a test cell was ignored")
            return None
        return super().clear_output(outs, msg, cell_index)

    # -- kernel checks -----------------------------------------------------------

    def _note_errors(self, cell: NotebookNode, index: int, grade_id: str | None, *, interrupted: bool) -> None:
        """Events for errors worth an instructor's look: sys.exit anywhere, any error in an answer cell."""
        expected = {"NotImplementedError", "OutputLimitExceeded", "CellTimeoutError", "DeadKernelError"}
        if interrupted:
            expected.add("KeyboardInterrupt")  # the grader's own interrupt
        for output in cell.outputs:
            if output.get("output_type") != "error":
                continue
            name = output.get("ename", "")
            if name == "SystemExit":
                self._event(index, grade_id, "exit", "the code called sys.exit() or exit()")
            elif utils.is_solution(cell) and name not in expected:
                self._event(index, grade_id, "answer_error",
                            f"the answer cell raised {name}: {str(output.get('evalue', ''))[:200]}")
            break

    def _guard(self, index: int, grade_id: str | None, *, when: str = "before") -> list[str]:
        """Put back guarded functions in the kernel; return what had changed (``when``: "before"/"while" the test)."""
        try:
            reply = run_sync(self._async_request)("execute", self.interrupt_grace + 30,
                                                 code="", silent=True, store_history=False,
                                                 user_expressions={"guard": GUARD_EXPRESSION})
        except DeadKernelError:
            self._stop(index, grade_id, "dead_kernel", f"the kernel died before test cell {index}")
            return []
        if reply is None:
            self._kill()
            self._stop(index, grade_id, "killed", f"the kernel did not answer before test cell {index}, and was killed")
            return []
        result = reply["content"].get("user_expressions", {}).get("guard", {})
        try:
            changes = json.loads(ast.literal_eval(result["data"]["text/plain"]))["changes"]
        except (KeyError, ValueError, SyntaxError, TypeError):
            detail = f"{result.get('ename', 'no answer')}: {result.get('evalue', '')}".strip(": ")
            changes = [f"the grader's guard could not check the library functions ({detail})"]
        for change in changes:
            self._event(index, grade_id, "tamper", f"{when} the test ran: {change}")
        return [f"before this test ran, {change}" for change in changes] if when == "before" else changes

    def _responds(self) -> bool:
        try:
            return run_sync(self._async_request)("kernel_info", self.interrupt_grace) is not None
        except DeadKernelError:
            return False

    async def _async_request(self, kind: str, timeout: float, **kwargs: Any) -> dict | None:
        """Send one shell request; the reply, or None if none came within ``timeout`` seconds."""
        if not await ensure_async(self.km.is_alive()):
            raise DeadKernelError("Kernel died")
        msg_id = self.kc.execute(**kwargs) if kind == "execute" else self.kc.kernel_info()
        deadline = monotonic() + timeout
        while (left := deadline - monotonic()) > 0:
            try:
                msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=min(left, 1.0)))
            except Empty:
                if not await ensure_async(self.km.is_alive()):
                    raise DeadKernelError("Kernel died") from None
                continue
            if msg["parent_header"].get("msg_id") == msg_id:
                return msg
        return None

    def _kill(self) -> None:
        try:
            run_sync(self._async_kill)()
        except Exception as err:  # a kernel that is already gone is fine
            self.log.warning("could not kill the kernel: %s", err)

    async def _async_kill(self) -> None:
        if await ensure_async(self.km.is_alive()):
            await ensure_async(self.km.shutdown_kernel(now=True))

    # -- bookkeeping -------------------------------------------------------------

    def _stop(self, index: int, grade_id: str | None, kind: str, reason: str) -> None:
        self._stopped = reason
        self._event(index, grade_id, kind, reason)

    def _event(self, index: int | None, grade_id: str | None, kind: str, message: str) -> None:
        self._events.append({"cell": index, "grade_id": grade_id, "kind": kind, "message": message})
        self.log.warning("cell %s: %s", index, message)

    def _tidy(self, resources: dict) -> None:
        """Kill leftovers, then remove links and special files from the working folder, and take it back."""
        folder = resources.get("metadata", {}).get("path")
        if self.sandbox_uid is not None:
            from cnncourse.tools.grading.sandbox import kill_leftovers

            kill_leftovers(self.sandbox_uid)
        if not folder or not os.path.isdir(folder):
            return
        if self._files_at_first_test is not None:  # what was written once hidden tests had run never reaches feedback
            for name, state in _files(folder).items():
                if self._files_at_first_test.get(name) != state and self.written_to:  # kept outside the folder
                    os.makedirs(os.path.dirname(os.path.join(self.written_to, name)), exist_ok=True)
                    os.replace(os.path.join(folder, name), os.path.join(self.written_to, name))
                elif self._files_at_first_test.get(name) != state:
                    os.unlink(os.path.join(folder, name))
        removed = []
        for parent, dirs, files in os.walk(folder, followlinks=False):
            for name in dirs + files:
                path = os.path.join(parent, name)
                mode = os.lstat(path).st_mode
                if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                    os.unlink(path)
                    removed.append(os.path.relpath(path, folder))
        if removed:
            self._event(None, None, "removed_links", "removed links or special files the submission created: "
                        + ", ".join(sorted(removed)[:10]))
        if self.sandbox_uid is not None:
            for parent, dirs, files in os.walk(folder, followlinks=False):
                for name in [parent, *(os.path.join(parent, n) for n in dirs + files)]:
                    os.lchown(name, os.getuid(), os.getgid())

    def _write_report(self, resources: dict) -> None:
        if not self.report_file:
            return
        notebook = resources.get("nbgrader", {}).get("notebook", "")
        with open(self.report_file, "a", encoding="utf-8") as f:
            f.write(json.dumps({"notebook": notebook, "events": self._events}) + "\n")


def _error(name: str, message: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=name, evalue=message,
                        traceback=[f"\x1b[0;31m{name}\x1b[0m: {message}"])


def _files(folder: str | None) -> dict[str, tuple[int, int]]:
    """``(size, mtime_ns)`` of every regular file under ``folder`` (links not followed), by relative path."""
    found: dict[str, tuple[int, int]] = {}
    if not folder or not os.path.isdir(folder):
        return found
    for parent, _, files in os.walk(folder, followlinks=False):
        for name in files:
            path = os.path.join(parent, name)
            info = os.lstat(path)
            if stat.S_ISREG(info.st_mode):
                found[os.path.relpath(path, folder)] = (info.st_size, info.st_mtime_ns)
    return found


def _size(content: dict[str, Any]) -> int:
    """Roughly how many bytes an output message adds to the notebook."""
    size = len(content.get("text", "")) + sum(len(line) for line in content.get("traceback", []))
    for value in (content.get("data") or {}).values():
        size += len(value) if isinstance(value, str) else len(json.dumps(value))
    return size


def read_report(path: str | Path) -> dict[str, list[dict]]:
    """The events of a ``report_file``, by notebook name (missing file: no events).

    Example:
        >>> read_report("/nonexistent/report.jsonl")
        {}
    """
    events: dict[str, list[dict]] = {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return events
    for line in lines:
        entry = json.loads(line)
        events.setdefault(entry["notebook"], []).extend(entry["events"])
    return events


def result_changes_score(cell: NotebookNode, kept: list) -> bool:
    """Whether nbgrader would score test ``cell`` otherwise with its results than with only the ``kept`` outputs.

    nbgrader takes a test cell's first result, if no error came before it, as the
    score: a number as partial credit, anything else as full marks (even when
    an error follows). A result that changes nothing (a test's last expression
    evaluating to a report object) is no sign of anything.
    """
    if not any(o.get("output_type") == "execute_result" for o in cell.outputs):
        return False
    try:
        return utils.determine_grade(cell)[0] != utils.determine_grade(NotebookNode({**cell, "outputs": kept}))[0]
    except (ValueError, KeyError, TypeError):  # e.g. a partial score above the cell's points
        return True
