"""The per-layer table of a network: the rows `cnnlab shapes` prints, and their totals.

Layers get the course's names: weight layers are numbered in order (CONV1 ... CONV5, FC6,
FC7, FC8 in AlexNet, so "VGG-16" counts to 16), pools and norms have their own counters.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from cnnlab.arithmetic.layers import Layer

BYTES_PER_VALUE = 4  # float32
_SHOWN_BY_DEFAULT = {"conv", "conv_transpose", "pool", "adaptive_pool", "linear", "norm"}


def format_shape(shape: tuple[int, ...]) -> str:
    """The course's way: HxWxC for feature maps ("55x55x96"), the length for vectors."""
    if len(shape) == 3:
        c, h, w = shape
        return f"{h}x{w}x{c}"
    return "x".join(map(str, shape))


def format_count(value: int) -> str:
    """A multiply-add count at a glance: 105.4M, 1.14G."""
    for unit, scale in (("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if value >= scale:
            return f"{value / scale:.3g}{unit}" if value < 100 * scale else \
                f"{value / scale:.1f}{unit}"
    return str(value)


def format_bytes(count: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} B"


def html_table(header, rows, numeric=(), classes=None) -> str:
    """An HTML table of text cells (escaped); `numeric` columns align right, `classes` gives
    each row a CSS class. The report's and the notebooks' tables."""
    def cell(tag, index, value):
        css = "n" if index in numeric else ""
        return f'<{tag} class="{css}">{html.escape(str(value))}</{tag}>'

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = []
    for number, row in enumerate(rows):
        css = f' class="{classes[number]}"' if classes and classes[number] else ""
        body.append(f"<tr{css}>{''.join(cell('td', i, c) for i, c in enumerate(row))}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _field_text(layer: Layer) -> str:
    if layer.receptive_field is None:
        if layer.kind == "linear":
            return "whole input"
        return "unknown" if len(layer.output_shape) == 3 else ""
    along_h, along_w = layer.receptive_field
    if along_h == along_w:
        return str(along_h)
    return f"{along_h.pixels}x{along_w.pixels} (H: {along_h}; W: {along_w})"


def assign_labels(layers: list[Layer]) -> None:
    weight_layers = pools = norms = 0
    for layer in layers:
        if layer.kind in ("conv", "conv_transpose", "linear"):
            weight_layers += 1
            prefix = {"conv": "CONV", "conv_transpose": "TCONV", "linear": "FC"}[layer.kind]
            layer.label = f"{prefix}{weight_layers}"
        elif layer.kind in ("pool", "adaptive_pool"):
            pools += 1
            layer.label = f"POOL{pools}"
        elif layer.kind == "norm":
            norms += 1
            layer.label = f"NORM{norms}"
        elif layer.kind == "activation":
            layer.label = layer.description.upper()
        elif layer.kind == "merge":
            layer.label = "CONCAT" if layer.description == "concatenate" else "ADD"
        else:
            layer.label = {"reshape": "FLATTEN", "other": "-"}.get(layer.kind, layer.kind.upper())


@dataclass
class LayerTable:
    model: str
    input_shape: tuple[int, ...]  # per sample, channels first
    layers: list[Layer]
    params: int  # every parameter of the model, counted on the model itself
    trainable_params: int
    engine: str = ""
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        assign_labels(self.layers)

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)

    @property
    def activations(self) -> int:
        """Values of every layer's output for one image: what a training step keeps for the
        backward pass (an in-place ReLU would share some of them)."""
        return sum(layer.activations for layer in self.layers)

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.layers[-1].output_shape if self.layers else self.input_shape

    def rows(self, every_layer: bool = False) -> list[Layer]:
        return [layer for layer in self.layers
                if every_layer or layer.kind in _SHOWN_BY_DEFAULT]

    COLUMNS = ("layer", "module", "what it is", "output", "memory", "params", "MACs",
               "receptive field")

    def cells(self, every_layer: bool = False) -> list[tuple[str, ...]]:
        """The table's rows as text cells under COLUMNS, the input first; memory is each
        layer's output for one image in float32."""
        body = [("INPUT", "", "", format_shape(self.input_shape),
                 format_bytes(self._bytes(self.input_shape)), "", "", "")]
        for layer in self.rows(every_layer):
            body.append((layer.label, layer.name, layer.description,
                         format_shape(layer.output_shape),
                         format_bytes(layer.activations * BYTES_PER_VALUE),
                         f"{layer.params:,}" if layer.params else "",
                         format_count(layer.macs) if layer.macs else "", _field_text(layer)))
        return body

    def text(self, every_layer: bool = False) -> str:
        """The table as the course writes it."""
        header = self.COLUMNS
        body = self.cells(every_layer)
        warnings = [f"{layer.label} {message}" for layer in self.rows(every_layer)
                    for message in layer.warnings]
        widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
        numeric = {4, 5, 6}

        def line(row) -> str:
            cells = [cell.rjust(width) if i in numeric else cell.ljust(width)
                     for i, (cell, width) in enumerate(zip(row, widths, strict=True))]
            return "  ".join(cells).rstrip()

        title = f"{self.model} on {format_shape(self.input_shape)}"
        lines = [title + (f" ({self.engine} engine)" if self.engine else ""), "",
                 line(header), line(["-" * w for w in widths]), *map(line, body), ""]
        lines += [f"warning: {message}" for message in warnings]
        lines += [f"note: {note}" for note in self.notes]
        if warnings or self.notes:
            lines.append("")
        lines += self.totals_text()
        return "\n".join(lines) + "\n"

    def totals_text(self) -> list[str]:
        frozen = self.params - self.trainable_params
        return [
            f"parameters: {self.params:,}"
            + (f" ({frozen:,} not trainable)" if frozen else "")
            + f", {format_bytes(self.params * BYTES_PER_VALUE)} as float32",
            f"multiply-adds (MACs): {self.macs:,} ({format_count(self.macs)}); "
            f"FLOPs = 2 x MACs = {format_count(2 * self.macs)}",
            f"memory per image (float32): input {format_bytes(self._bytes(self.input_shape))}, "
            f"layer outputs {format_bytes(self.activations * BYTES_PER_VALUE)}",
        ]

    @staticmethod
    def _bytes(shape: tuple[int, ...]) -> int:
        count = BYTES_PER_VALUE
        for size in shape:
            count *= size
        return count

    def _repr_html_(self) -> str:
        """A notebook's view of the table: the same cells as `text()`, with the totals."""
        body = self.cells()
        title = (f"<p><b>{html.escape(self.model)}</b> on {format_shape(self.input_shape)}"
                 + (f" ({html.escape(self.engine)} engine)" if self.engine else "") + "</p>")
        warnings = "".join(f"<p>warning: {html.escape(layer.label)} {html.escape(message)}</p>"
                           for layer in self.rows() for message in layer.warnings)
        totals = "".join(f"<p>{html.escape(line)}</p>" for line in self.totals_text())
        return title + html_table(self.COLUMNS, body, numeric=(4, 5, 6)) + warnings + totals

    def __repr__(self) -> str:
        return self.text()

    def as_dict(self) -> dict:
        return {
            "model": self.model,
            "engine": self.engine,
            "input_shape": list(self.input_shape),
            "layers": [{
                "label": layer.label, "name": layer.name, "kind": layer.kind,
                "description": layer.description,
                "input_shape": list(layer.input_shape),
                "output_shape": list(layer.output_shape),
                "output": format_shape(layer.output_shape),
                "activation_bytes": layer.activations * BYTES_PER_VALUE,
                "params": layer.params, "macs": layer.macs, "flops": layer.flops,
                "receptive_field": None if layer.receptive_field is None else {
                    "height": layer.receptive_field[0].as_dict(),
                    "width": layer.receptive_field[1].as_dict()},
                "warnings": layer.warnings,
            } for layer in self.layers],
            "totals": {
                "params": self.params, "trainable_params": self.trainable_params,
                "macs": self.macs, "flops": 2 * self.macs,
                "param_bytes": self.params * BYTES_PER_VALUE,
                "activation_bytes": self.activations * BYTES_PER_VALUE,
                "input_bytes": self._bytes(self.input_shape),
            },
            "notes": self.notes,
        }
