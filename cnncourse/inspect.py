"""A per-layer table of a model: output shapes, parameters, activations and memory.

``layer_table(model, input_size)`` runs one forward pass on a zero input with
hooks on every leaf module and reports, in execution order, what each layer
outputs and holds. It is the table of CS231n's VGG-16 note, built from the
model itself.

Counting rule. A row's *activations* are the elements of its output for one
example. A layer whose output shares its input's memory (``ReLU(inplace=True)``,
``Dropout`` in eval mode, ``nn.Identity``, ``nn.Flatten``, which is a view)
allocates nothing: it is shown, with memory 0, but not added to
``total_activations``. The input counts, as in CS231n's table. For torchvision's
``vgg16`` at 3x224x224 this gives 15,262,696 activations per image: the
15,237,608 of CS231n's rows (input, 13 conv, 5 pool and 3 fc outputs) plus
torchvision's ``AdaptiveAvgPool2d`` (7x7x512 = 25,088), which allocates a new
tensor even though it changes nothing at that size. In float32 that is about
61 MB per image, forward only; CS231n's summary line "24M * 4 bytes ~= 93MB"
does not match its own rows, which add up to 15.2M (about 61 MB).

``find_layer(model, layer)`` names a layer of a model (by name or module), for the
pictures of ``viz`` and the maps of ``explain``.

The model is run in eval mode under ``torch.no_grad()``; each module's mode is
restored afterwards and every hook removed, so nothing about it changes.
"""

from __future__ import annotations

import difflib
import html
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn

from cnncourse.modes import eval_mode

__all__ = ["LayerRow", "LayerTable", "layer_table", "find_layer"]


@dataclass(frozen=True)
class LayerRow:
    """One line of a :class:`LayerTable`.

    Attributes:
        name: the module's name in ``model.named_modules()`` ("input" for the input row).
        type: the module's class name.
        output_shape: shape of the output, batch dimension included
            (a tuple of shapes when the module returns several tensors).
        params: parameters held by this module itself (0 when a shared module runs again).
        activations: elements of the output per example.
        memory: bytes the output takes per example; 0 when it shares its input's memory.
        counted: whether the row adds to ``total_activations`` and ``total_memory``.
    """

    name: str
    type: str
    output_shape: tuple
    params: int
    activations: int
    memory: int
    counted: bool


class LayerTable:
    """The rows of :func:`layer_table` and their totals; iterable like a list of :class:`LayerRow`.

    Attributes:
        rows: the input row, then one row per leaf module call, in execution order.
        not_run: names of modules with parameters that the forward pass never called
            (their parameters still count in ``total_params``).

    Example:
        >>> table = layer_table(nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(inplace=True)), (1, 8, 8))
        >>> table.total_params, table.total_activations
        (40, 208)
    """

    def __init__(self, rows: Sequence[LayerRow], *, total_params: int, trainable_params: int,
                 not_run: Sequence[str] = ()) -> None:
        self.rows = list(rows)
        self.not_run = list(not_run)
        self._total_params = total_params
        self._trainable_params = trainable_params

    @property
    def total_params(self) -> int:
        """Parameters of the whole model, each shared tensor counted once."""
        return self._total_params

    @property
    def trainable_params(self) -> int:
        """The parameters with ``requires_grad=True``."""
        return self._trainable_params

    @property
    def total_activations(self) -> int:
        """Elements of all counted outputs (input included) for one example."""
        return sum(row.activations for row in self.rows if row.counted)

    @property
    def total_memory(self) -> int:
        """Bytes of all counted outputs for one example, forward pass only."""
        return sum(row.memory for row in self.rows if row.counted)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[LayerRow]:
        return iter(self.rows)

    def __getitem__(self, index: int) -> LayerRow:
        return self.rows[index]

    def to_dict(self) -> dict[str, list]:
        """The table as columns, ready for plotting.

        Example:
            >>> columns = table.to_dict()
            >>> plt.bar(columns["name"], columns["activations"])
        """
        columns: dict[str, list] = {key: [] for key in LayerRow.__dataclass_fields__}
        for row in self.rows:
            for key, value in asdict(row).items():
                columns[key].append(value)
        return columns

    def _cells(self) -> tuple[list[str], list[list[str]], list[str]]:
        header = ["layer", "type", "output shape", "params", "activations", "memory"]
        body = []
        for row in self.rows:
            activations = f"{row.activations:,}" if row.counted else f"({row.activations:,})"
            memory = format_bytes(row.memory) if row.counted else "0 (shares input)"
            body.append([row.name, row.type, _shape_text(row.output_shape), f"{row.params:,}",
                         activations, memory])
        total = ["total", "", "", f"{self.total_params:,}", f"{self.total_activations:,}",
                 format_bytes(self.total_memory)]
        return header, body, total

    def _notes(self) -> list[str]:
        notes = ["Per example. Activations in parentheses share their input's memory and are not in the total."]
        if self.trainable_params != self.total_params:
            notes.append(f"Trainable parameters: {self.trainable_params:,} of {self.total_params:,}.")
        if self.not_run:
            notes.append("Not run in this forward pass: " + ", ".join(self.not_run) + ".")
        return notes

    def __str__(self) -> str:
        header, body, total = self._cells()
        lines = [header, *body, total]
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        right = {3, 4, 5}

        def fmt(cells: list[str]) -> str:
            return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                             for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

        rule = "  ".join("-" * w for w in widths)
        return "\n".join([fmt(header), rule, *(fmt(b) for b in body), rule, fmt(total), *self._notes()])

    def __repr__(self) -> str:
        return (f"LayerTable({len(self.rows)} rows, total_params={self.total_params:,}, "
                f"total_activations={self.total_activations:,}, total_memory={self.total_memory:,} B)")

    def to_markdown(self) -> str:
        """The table as GitHub-flavoured Markdown.

        Example:
            >>> print(layer_table(model, (3, 32, 32)).to_markdown())
        """
        header, body, total = self._cells()
        total = [f"**{cell}**" if cell else "" for cell in total]
        align = ["---", "---", "---", "---:", "---:", "---:"]
        lines = [header, align, *body, total]
        text = "\n".join("| " + " | ".join(cell.replace("|", "\\|") for cell in line) + " |" for line in lines)
        return text + "\n\n" + " ".join(self._notes())

    def _repr_html_(self) -> str:
        header, body, total = self._cells()
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in line) + "</tr>" for line in body)
        foot = "<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in total) + "</tr>"
        notes = "<br>".join(html.escape(n) for n in self._notes())
        return (f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody>"
                f"<tfoot>{foot}</tfoot></table><p><small>{notes}</small></p>")


def format_bytes(n: int) -> str:
    """A byte count in B, KB, MB or GB (powers of 1000).

    Example:
        >>> format_bytes(61_050_784)
        '61.1 MB'
    """
    for unit, size in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def layer_table(model: nn.Module, input_size: Sequence[int], *, batch_size: int = 1,
                device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> LayerTable:
    """Runs ``model`` on a zero input and tabulates every leaf layer it calls.

    Args:
        model: any ``nn.Module``; it is neither moved nor changed.
        input_size: the shape of one example, e.g. ``(3, 224, 224)``.
        batch_size: examples in the forward pass; counts are reported per example.
        device: where to build the input; default: where the model's parameters are.
        dtype: dtype of the input; default: that of the model's floating-point parameters.

    Returns:
        A :class:`LayerTable`; see the module docstring for the counting rule.

    Raises:
        TypeError: ``model`` is not a module.
        ValueError: a bad ``input_size``/``batch_size``, or the model cannot run on that
            input (the message names the layer where it failed and the shape it received).

    Example:
        >>> from torchvision.models import vgg16
        >>> table = layer_table(vgg16(weights=None), (3, 224, 224))
        >>> table.total_params, table.total_activations
        (138357544, 15262696)
        >>> print(table)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"layer_table needs an nn.Module, got {type(model).__name__}")
    if isinstance(input_size, int) or not all(isinstance(s, int) and s > 0 for s in input_size):
        raise ValueError(f"input_size must be a tuple of positive ints for one example, e.g. (3, 224, 224); "
                         f"got {input_size!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    device, dtype = _device_and_dtype(model, device, dtype)
    x = torch.zeros((batch_size, *input_size), device=device, dtype=dtype)

    names = {module: name for name, module in model.named_modules(remove_duplicate=False)}
    names[model] = names.get(model) or "(model)"
    watched = [m for m in model.modules()
               if not list(m.children()) or list(m.parameters(recurse=False))]
    rows = [LayerRow("input", "Input", tuple(x.shape), 0, x[0].numel(),
                     x[0].numel() * x.element_size(), True)]
    seen_params: set[int] = set()
    ran: set[nn.Module] = set()
    running: list[tuple[nn.Module, tuple]] = []

    def before(module: nn.Module, args: tuple) -> None:
        running.append((module, _shapes(args)))

    def after(module: nn.Module, args: tuple, output: object) -> None:
        if running and running[-1][0] is module:
            running.pop()
        ran.add(module)
        params = 0
        for p in module.parameters(recurse=False):
            if id(p) not in seen_params:
                seen_params.add(id(p))
                params += p.numel()
        outputs = _tensors(output)
        inputs = {t.untyped_storage().data_ptr() for t in _tensors(args)}
        shared = bool(outputs) and all(t.untyped_storage().data_ptr() in inputs for t in outputs)
        per_example = sum(t.numel() for t in outputs) // batch_size
        memory = 0 if shared else sum(t.numel() * t.element_size() for t in outputs) // batch_size
        shape = tuple(outputs[0].shape) if len(outputs) == 1 else tuple(tuple(t.shape) for t in outputs)
        rows.append(LayerRow(names.get(module, "?"), type(module).__name__, shape, params,
                             per_example, memory, not shared))

    handles = []
    try:
        for module in watched:
            handles.append(module.register_forward_pre_hook(before))
            handles.append(module.register_forward_hook(after))
        with eval_mode(model), torch.no_grad():  # each module's own mode comes back afterwards
            try:
                model(x)
            except Exception as err:  # turn a deep torch error into one that names the layer
                raise ValueError(_failure_message(model, input_size, running, rows, names, err)) from err
    finally:
        for handle in handles:
            handle.remove()

    all_params = {id(p): p for p in model.parameters()}
    not_run = [names[m] for m in watched if m not in ran and list(m.parameters(recurse=False))]
    return LayerTable(rows,
                      total_params=sum(p.numel() for p in all_params.values()),
                      trainable_params=sum(p.numel() for p in all_params.values() if p.requires_grad),
                      not_run=not_run)


def _device_and_dtype(model: nn.Module, device: str | torch.device | None,
                      dtype: torch.dtype | None) -> tuple[torch.device, torch.dtype]:
    tensors = list(model.parameters()) + list(model.buffers())
    floats = [t for t in tensors if t.is_floating_point()]
    model_device = tensors[0].device if tensors else torch.device("cpu")
    if device is None:
        device = model_device
    device = torch.device(device)
    if tensors and device.type != model_device.type:
        raise ValueError(f"the model's parameters are on {model_device} but device={str(device)!r}; "
                         f"pass device={str(model_device)!r} or move the model with model.to(...)")
    if dtype is None:
        dtype = floats[0].dtype if floats else torch.float32
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"dtype must be a torch.dtype such as torch.float32, got {dtype!r}")
    return device, dtype


def _failure_message(model: nn.Module, input_size: Sequence[int], running: list, rows: list[LayerRow],
                     names: dict, err: Exception) -> str:
    first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    given = tuple(input_size)
    if running:
        module, shapes = running[-1]
        where = (f"layer {names.get(module, '?')!r} ({type(module).__name__}) failed on an input of shape "
                 f"{_shape_text(shapes[0] if len(shapes) == 1 else shapes)}")
    else:
        last = rows[-1]
        where = (f"the model failed after layer {last.name!r}, whose output has shape "
                 f"{_shape_text(last.output_shape)}")
    return (f"{type(model).__name__} cannot run on input_size={given}: {where} ({first_line}). "
            f"Check input_size: channels first, without the batch dimension, e.g. (3, 224, 224).")


def _tensors(value: object) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in _tensors(item)]
    if isinstance(value, dict):
        return [t for item in value.values() for t in _tensors(item)]
    return []


def _shapes(args: tuple) -> tuple:
    return tuple(tuple(t.shape) for t in _tensors(args))


def _shape_text(shape: tuple) -> str:
    if shape and all(isinstance(s, tuple) for s in shape):
        return ", ".join(_shape_text(s) for s in shape)
    return "(" + ", ".join(str(s) for s in shape) + ")"


def find_layer(model: nn.Module, layer: str | nn.Module) -> tuple[str, nn.Module]:
    """A layer of ``model`` given by its name (as in ``model.named_modules()``) or as the module itself.

    Returns ``(name, module)``; a name the model does not have raises ValueError with the closest names.

    Example:
        >>> find_layer(nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU()), "0")[0]
        '0'
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    named = dict(model.named_modules())
    if isinstance(layer, nn.Module):
        for name, module in named.items():
            if module is layer:
                return name or "(model)", module
        raise ValueError(f"the {type(layer).__name__} passed as layer is not part of the model; "
                         f"pass one of its modules or a name such as {_some_names(named)}")
    if not isinstance(layer, str):
        raise TypeError(f"layer must be a name such as 'features.0' or a module, got {type(layer).__name__}")
    if layer not in named or layer == "":
        close = difflib.get_close_matches(layer, [n for n in named if n], n=3)
        hint = f"did you mean {', '.join(map(repr, close))}? " if close else ""
        raise ValueError(f"the model has no layer named {layer!r}; {hint}valid names include {_some_names(named)} "
                         f"(see [name for name, _ in model.named_modules()])")
    return layer, named[layer]


def _some_names(named: Mapping[str, nn.Module]) -> str:
    names = [n for n in named if n]
    shown = ", ".join(repr(n) for n in names[:8])
    return shown + (", ..." if len(names) > 8 else "")
