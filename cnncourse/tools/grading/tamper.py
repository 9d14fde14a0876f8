"""Keep the functions that test cells rely on as they were, whatever a submission does.

Scope: code that runs inside a grading kernel (``cnncourse.tools.grading.sandbox`` installs
it before the first cell). ``install`` records the library functions tests
use (``numpy.allclose``, ``math.isclose``, ``torch.allclose``, the
``cnncourse`` helpers, the builtins, ...) as each module is first imported,
plus the parts of IPython that decide whether a cell failed and what it
reports (custom exception handlers, AST and input transformers and their
manager, the compiler, the display hook, the event registry and all four
execution events, trace hooks, the shell's and kernel's methods, the kernel's
jupyter_client session). Before each test cell the grader calls ``restore_report()``: every
replaced function, changed function body, swapped ``sys.modules`` entry or
added hook is put back, and the changes come back as sentences for the
grading table.

Guarantee and limit: replacing a function through any public name, or
changing its code, no longer changes a test's outcome, and is reported. A
replacement whose code comes from an installed package or the standard
library is the library's own doing (torchvision wraps ``torch.manual_seed``
when imported) and is accepted, except with ``install(strict=True)`` (the
verdict pass, ``cnncourse.tools.grading.verdict_runner``), since a forged code
object can claim any file. The guard lives in the same process as the
submission, so code written to find and disable the guard itself can still
defeat it: it is the second line; the verdict pass, in a fresh interpreter,
is the first.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import json
import os
import site
import sys
import sysconfig
import threading
import types
from typing import Any

import cnncourse

# Every module of the student library (cnncourse.STUDENT_MODULES, the one list), plus what tests call.
GUARDED_MODULES = (
    "builtins", "math", "operator", "numpy", "numpy.testing", "numpy.linalg", "torch", "torch.testing",
    "torch.nn.functional", *(f"cnncourse.{name}" for name in cnncourse.STUDENT_MODULES),
)
GUARDED_CLASSES = {"torch": ("Tensor",)}
# The builtins that tests call; IPython itself swaps others (exit, quit, display) around each cell.
GUARDED_BUILTINS = (
    "abs", "all", "any", "bool", "callable", "dict", "enumerate", "eval", "exec", "filter", "float", "getattr",
    "globals", "hasattr", "int", "isinstance", "issubclass", "iter", "len", "list", "map", "max", "min", "next",
    "pow", "range", "repr", "round", "set", "setattr", "sorted", "str", "sum", "tuple", "type", "vars", "zip",
    "__import__", "__build_class__",
)
_SHELL_LISTS = ("ast_transformers", "input_transformers_post")
_TRANSFORMER_LISTS = ("cleanup_transforms", "line_transforms", "token_transformers")
_EVENTS = ("pre_execute", "pre_run_cell", "post_execute", "post_run_cell")
# The objects a cell's code and its report go through: replacing one, or one of its methods, is put back.
_SHELL_PARTS = ("events", "input_transformer_manager", "compile", "displayhook", "display_pub", "display_formatter")
_KERNEL_PARTS = ("session", "shell")
_MACHINERY = ("IPython", "ipykernel", "jupyter_client")
# Entries a class gets by itself; __slotnames__ is copyreg's cache, written on torch.Tensor by torch.save or deepcopy.
_IGNORED_CLASS_ENTRIES = ("__dict__", "__weakref__", "__doc__", "__annotations__", "__slotnames__")

_guard: "_Guard | None" = None


def install(*, shell: Any = None, kernel: Any = None, strict: bool = False) -> None:
    """Start guarding: record what is imported now and watch later imports of the guarded modules.

    Args:
        shell: the kernel's IPython shell (``app.shell``), or None outside a kernel.
        kernel: the ipykernel kernel (``app.kernel``), or None.
        strict: put back every change, even one whose code claims to come from
            a library (a forged code object can claim any file name); for the
            verdict pass, which imports the libraries before installing.

    Example::

        install()
    """
    global _guard, _LIBRARY_ROOTS
    if _guard is None:
        _LIBRARY_ROOTS = () if strict else _library_roots()
        _guard = _Guard(shell, kernel)


def installed() -> bool:
    """Whether ``install`` ran in this process.

    Example::

        installed()
        # False
    """
    return _guard is not None


def restore() -> list[str]:
    """Put every guarded function and hook back as recorded; return one sentence per change found.

    Raises:
        RuntimeError: ``install`` was not called in this process.

    Example::

        restore()
        # ['numpy.allclose had been replaced; the original was put back']
    """
    if _guard is None:
        raise RuntimeError("the tamper guard is not installed in this process: call cnncourse.tools.grading.tamper.install() first")
    return _guard.restore()


def restore_report() -> str:
    """``restore()`` as JSON text (``{"changes": [...]}``), for the grader to read back from the kernel.

    Example::

        json.loads(restore_report())["changes"]
        # []
    """
    return json.dumps({"changes": restore()})


class _Record:
    """One function as recorded: the object and, for Python functions, its code and defaults."""

    __slots__ = ("obj", "code", "defaults", "kwdefaults")

    def __init__(self, obj: Any) -> None:
        self.obj = obj
        func = obj if isinstance(obj, types.FunctionType) else None
        self.code = func.__code__ if func else None
        self.defaults = func.__defaults__ if func else None
        self.kwdefaults = func.__kwdefaults__ if func else None


class _Guard:
    def __init__(self, shell: Any, kernel: Any) -> None:
        self.modules: dict[str, tuple[types.ModuleType, dict[str, _Record]]] = {}
        self.classes: dict[str, tuple[type, dict[str, Any]]] = {}
        self.shell, self.kernel = shell, kernel
        self.instances: dict[str, tuple[Any, dict[str, Any]]] = {}
        self.parts: dict[str, tuple[Any, dict[str, Any]]] = {}
        self.lists: dict[str, tuple[Any, str, list]] = {}
        self.trace, self.profile = sys.gettrace(), sys.getprofile()
        self.streams = (sys.stdout, sys.stderr)
        for name in GUARDED_MODULES:
            if name in sys.modules:
                self.record_module(name)
        self._record_shell()
        self.watcher = _Watcher(self)
        sys.meta_path.insert(0, self.watcher)

    # recording -------------------------------------------------------------

    def record_module(self, name: str) -> None:
        module = sys.modules.get(name)
        if module is None or name in self.modules:
            return
        if name == "builtins":
            names = [n for n in GUARDED_BUILTINS if hasattr(module, n)]
        else:
            names = [n for n, v in vars(module).items() if not n.startswith("_") and callable(v)]
        self.modules[name] = (module, {n: _Record(getattr(module, n)) for n in names})
        for class_name in GUARDED_CLASSES.get(name, ()):
            cls = getattr(module, class_name, None)
            if isinstance(cls, type):
                self.record_class(f"{name}.{class_name}", cls)

    def record_class(self, label: str, cls: type) -> None:
        entries = {k: v for k, v in vars(cls).items() if k not in _IGNORED_CLASS_ENTRIES}
        self.classes[label] = (cls, entries)

    def _record_shell(self) -> None:
        self.displayhook = sys.displayhook
        owners = [("shell", self.shell), ("kernel", self.kernel)]
        for label, owner, parts in (("shell", self.shell, _SHELL_PARTS), ("kernel", self.kernel, _KERNEL_PARTS)):
            if owner is not None:
                self.parts[label] = (owner, {name: getattr(owner, name) for name in parts if hasattr(owner, name)})
                owners += [(f"{label}.{name}", value) for name, value in self.parts[label][1].items()]
        events = getattr(self.shell, "events", None)
        if isinstance(getattr(events, "callbacks", None), dict):  # the event registry itself, not only its lists
            self.parts["shell.events"] = (events, {"callbacks": events.callbacks})
        for owner_label, owner in owners:
            if owner is None or isinstance(owner, (list, dict)):
                continue
            for cls in type(owner).__mro__:
                if cls.__module__.split(".")[0] in _MACHINERY:
                    self.record_class(f"{cls.__module__}.{cls.__qualname__}", cls)
            if hasattr(owner, "__dict__"):
                self.instances[owner_label] = (owner, {k: v for k, v in vars(owner).items() if callable(v)})
        if self.shell is not None:
            for attr in _SHELL_LISTS:
                if isinstance(getattr(self.shell, attr, None), list):
                    self.lists[f"shell.{attr}"] = (self.shell, attr, list(getattr(self.shell, attr)))
            manager = getattr(self.shell, "input_transformer_manager", None)
            for attr in _TRANSFORMER_LISTS:
                if isinstance(getattr(manager, attr, None), list):
                    self.lists[f"input transformers ({attr})"] = (manager, attr, list(getattr(manager, attr)))
            callbacks = getattr(getattr(self.shell, "events", None), "callbacks", {})
            for event in _EVENTS:
                if isinstance(callbacks.get(event), list):
                    self.lists[f"'{event}' event callbacks"] = (callbacks, event, list(callbacks[event]))

    # restoring -------------------------------------------------------------

    def restore(self) -> list[str]:
        changes: list[str] = []
        for name, (module, records) in self.modules.items():
            if sys.modules.get(name) is not module:
                sys.modules[name] = module
                changes.append(f"sys.modules[{name!r}] had been replaced; the original module was put back")
            for attr, record in records.items():
                changes += _restore_function(module, attr, record, f"{name}.{attr}")
        for label, (cls, entries) in self.classes.items():
            changes += _restore_class(cls, entries, label)
        for label, (owner, recorded) in self.parts.items():
            for attr, value in recorded.items():
                if getattr(owner, attr, _MISSING) is not value:
                    setattr(owner, attr, value)
                    changes.append(f"the {label}'s {attr} had been replaced; the original was put back")
        if self.shell is not None and sys.displayhook is not self.displayhook:
            sys.displayhook = self.displayhook
            changes.append("sys.displayhook had been replaced; the original was put back")
        for label, (owner, recorded) in self.instances.items():
            for attr, value in list(vars(owner).items()):
                if callable(value) and recorded.get(attr) is not value and _defined_on_class(owner, attr) \
                        and not _library_code(value):
                    if attr in recorded:
                        setattr(owner, attr, recorded[attr])
                    else:
                        delattr(owner, attr)
                    changes.append(f"the {label}'s method {attr} had been replaced; the original was put back")
        for label, (owner, attr, recorded) in self.lists.items():
            current = owner[attr] if isinstance(owner, dict) else getattr(owner, attr, None)
            if not isinstance(current, list) or len(current) != len(recorded) or \
                    any(a is not b for a, b in zip(current, recorded)):
                if isinstance(current, list) and _library_additions(recorded, current):
                    self.lists[label] = (owner, attr, list(current))  # matplotlib's inline backend, say
                    continue
                if isinstance(owner, dict):
                    owner[attr] = list(recorded)
                else:
                    setattr(owner, attr, list(recorded))
                changes.append(f"{label} had been changed; they were reset")
        if self.shell is not None and getattr(self.shell, "custom_exceptions", ()) != ():
            self.shell.set_custom_exc((), None)
            changes.append("a custom exception handler (set_custom_exc) had been installed; it was removed")
        if sys.gettrace() is not self.trace:
            sys.settrace(self.trace)
            threading.settrace(self.trace)  # type: ignore[arg-type]
            changes.append("a trace function (sys.settrace) had been installed; it was removed")
        if sys.getprofile() is not self.profile:
            sys.setprofile(self.profile)
            changes.append("a profile function (sys.setprofile) had been installed; it was removed")
        if (sys.stdout, sys.stderr) != self.streams:
            sys.stdout, sys.stderr = self.streams
            changes.append("sys.stdout or sys.stderr had been replaced; the kernel's streams were put back")
        if self.watcher not in sys.meta_path:
            sys.meta_path.insert(0, self.watcher)
            changes.append("the grader's import watcher had been removed from sys.meta_path; it was put back")
        for name in GUARDED_MODULES:
            if name in sys.modules and name not in self.modules:
                changes.append(f"{name} was imported in a way the grader could not watch; "
                               "its functions are not guarded")
                self.record_module(name)
        return changes


def _restore_function(owner: Any, attr: str, record: _Record, label: str) -> list[str]:
    current = getattr(owner, attr, _MISSING)
    if current is not record.obj and _library_code(current):
        record.__init__(current)  # a library wrapping its own function later (torchvision wraps torch.manual_seed)
        return []
    if current is not record.obj:
        setattr(owner, attr, record.obj)
        what = "had been deleted" if current is _MISSING else "had been replaced"
        return [f"{label} {what}; the original was put back"]
    if record.code is not None and (record.obj.__code__ is not record.code or
                                    record.obj.__defaults__ is not record.defaults or
                                    record.obj.__kwdefaults__ is not record.kwdefaults):
        record.obj.__code__ = record.code
        record.obj.__defaults__ = record.defaults
        record.obj.__kwdefaults__ = record.kwdefaults
        return [f"the code of {label} had been changed; the original was put back"]
    return []


def _restore_class(cls: type, entries: dict[str, Any], label: str) -> list[str]:
    changes = []
    current = vars(cls)
    for attr, value in entries.items():
        if current.get(attr, _MISSING) is not value and _library_code(current.get(attr)):
            entries[attr] = current[attr]
        elif current.get(attr, _MISSING) is not value:
            setattr(cls, attr, value)
            changes.append(f"{label}.{attr} had been replaced; the original was put back")
    for attr in [a for a in current if a not in entries and a not in _IGNORED_CLASS_ENTRIES]:
        if attr.startswith("__") or any(attr in vars(base) for base in cls.__mro__[1:]):
            delattr(cls, attr)
            changes.append(f"{label}.{attr} had been added over an inherited one; it was removed")
    return changes


def _library_code(obj: Any) -> bool:
    """Whether ``obj`` is a Python function whose code lives in an installed package or the standard library.

    Libraries replace some of their functions after import (torchvision wraps
    ``torch.manual_seed``); such a change is accepted. A submission's own
    functions are compiled from the notebook, whose file names are not there.
    """
    code = getattr(obj, "__code__", None)
    if code is None or not _LIBRARY_ROOTS:
        return False
    path = os.path.realpath(code.co_filename)
    return any(path.startswith(root) for root in _LIBRARY_ROOTS)


def _library_additions(recorded: list, current: list) -> bool:
    """Whether ``current`` is ``recorded`` plus library code only (matplotlib_inline registers ``flush_figures``).

    Its ``post_execute`` callback arrives with the first figure, in a test cell as well as anywhere.
    """
    it = iter(current)
    if not all(any(item is old for item in it) for old in recorded):  # recorded, in order, still there
        return False
    kept = {id(old) for old in recorded}
    return all(_library_code(item) for item in current if id(item) not in kept)


def _library_roots() -> tuple[str, ...]:
    roots = {os.path.realpath(p) for p in (*site.getsitepackages(), sysconfig.get_paths()["stdlib"])}
    roots.add(os.path.realpath(os.path.dirname(cnncourse.__file__)))  # the package, wherever it is installed
    return tuple(root.rstrip(os.sep) + os.sep for root in sorted(roots))


_LIBRARY_ROOTS: tuple[str, ...] = ()


def _defined_on_class(owner: Any, attr: str) -> bool:
    return any(attr in vars(cls) for cls in type(owner).__mro__)


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


class _Watcher(importlib.abc.MetaPathFinder):
    """Records a guarded module right after its first import, before any cell can touch it."""

    def __init__(self, guard: _Guard) -> None:
        self.guard = guard
        self.busy: set[str] = set()

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in GUARDED_MODULES or fullname in self.guard.modules or fullname in self.busy:
            return None
        self.busy.add(fullname)
        try:
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
            else:
                return None
        finally:
            self.busy.discard(fullname)
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _RecordingLoader(spec.loader, self.guard)
        return spec


class _RecordingLoader(importlib.abc.Loader):
    def __init__(self, loader: Any, guard: _Guard) -> None:
        self.loader, self.guard = loader, guard

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        if getattr(module, "__spec__", None) is not None:
            module.__spec__.loader = self.loader
        module.__loader__ = self.loader
        self.loader.exec_module(module)
        self.guard.record_module(module.__name__)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loader, name)

