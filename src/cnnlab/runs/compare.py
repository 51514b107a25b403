"""Runs side by side (`cnnlab runs`): one row per run folder with its model and dataset, the
settings that differ between the runs, its accuracy and the split it was measured on, its
speed at batch size 4, parameters and multiply-adds."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from cnnlab.arithmetic.table import format_count, html_table
from cnnlab.data.datasets import get_spec
from cnnlab.models.build import build_model
from cnnlab.models.summary import summarize
from cnnlab.runs import folder as layout
from cnnlab.runs.config import TrainConfig

# Where a run lives and what it was named: not settings that make runs differ.
_NOT_SETTINGS = {"model", "dataset", "out", "data_dir", "source", "source_sha256", "threads"}


@dataclass
class RunRow:
    folder: Path
    config: TrainConfig
    accuracy: float | None
    measured_on: str  # "test", "val", "val, epoch 3 of 10 (unfinished)", ""
    images_per_second: float | None
    device: str | None
    params: int | None
    macs: int | None


def _accuracy(folder: Path) -> tuple[float | None, str, float | None, str | None]:
    """(accuracy, its split, images/s at batch 4, on which device): eval.json first, then
    training's own test figure, then the last validation epoch of an unfinished run."""
    speed, device = None, None
    if (folder / layout.EVALUATION).is_file():
        evaluation = layout.read_evaluation(folder)
        if evaluation.get("speed"):
            speed = evaluation["speed"]["images_per_second"]["median"]
            device = (evaluation.get("environment") or {}).get("device", "cpu")
        return evaluation["accuracy"]["top1"], evaluation["split"], speed, device
    result = layout.training_result(folder)
    if result and result.get("test_accuracy") is not None:
        return result["test_accuracy"], "test", None, None
    rows = [row for row in layout.history(folder) if row.get("val_acc") is not None]
    if rows:
        config = layout.read_config(folder)
        return (rows[-1]["val_acc"], f"val, epoch {rows[-1]['epoch']} of {config.epochs} "
                "(unfinished)", None, None)
    return None, "", None, None


def _size(folder: Path, config: TrainConfig) -> tuple[int | None, int | None]:
    spec = get_spec(config.dataset)
    try:
        model = build_model(config.model, spec.shape, len(spec.classes), config.engine,
                            config.dropout, layout.source_copy(folder, config))
        table = summarize(model, spec.shape, config.model)
    except (ValueError, FileNotFoundError):  # a source copy gone: the rest still shows
        return None, None
    return table.params, table.macs


def read_row(folder: Path) -> RunRow:
    config = layout.read_config(folder)
    accuracy, split, speed, device = _accuracy(folder)
    params, macs = _size(folder, config)
    return RunRow(folder, config, accuracy, split, speed, device, params, macs)


@dataclass
class RunsTable:
    rows: list[RunRow]
    differing: list[str]  # the settings whose values differ between the runs

    COLUMNS = ("run", "model", "dataset")
    TAIL = ("accuracy", "measured on", "images/s (bs 4)", "params", "MACs")

    def header(self) -> tuple[str, ...]:
        return (*self.COLUMNS, *self.differing, *self.TAIL)

    def cells(self) -> list[tuple[str, ...]]:
        lines = []
        for row in self.rows:
            settings = asdict(row.config)
            speed = "" if row.images_per_second is None else \
                f"{row.images_per_second:,.0f}" + (f" ({row.device})"
                                                   if row.device not in (None, "cpu") else "")
            lines.append((
                str(row.folder), row.config.model, row.config.dataset,
                *("" if settings[name] is None else str(settings[name])
                  for name in self.differing),
                "" if row.accuracy is None else f"{100 * row.accuracy:.2f}%",
                row.measured_on, speed,
                "" if row.params is None else f"{row.params:,}",
                "" if row.macs is None else format_count(row.macs)))
        return lines

    def text(self) -> str:
        header, body = self.header(), self.cells()
        widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
        numeric = {len(header) - 5, len(header) - 3, len(header) - 2, len(header) - 1}

        def line(cells) -> str:
            return "  ".join(cell.rjust(width) if i in numeric else cell.ljust(width)
                             for i, (cell, width) in enumerate(zip(cells, widths,
                                                                   strict=True))).rstrip()

        lines = [line(header), line(["-" * width for width in widths]), *map(line, body)]
        if not self.differing and len(self.rows) > 1:
            lines.append("(no setting differs between these runs but the model or dataset)")
        return "\n".join(lines) + "\n"

    def __repr__(self) -> str:  # a terminal shows the table (print and the prompt alike)
        return self.text().rstrip("\n")

    def as_dict(self) -> list[dict]:
        return [{"run": str(row.folder), "model": row.config.model,
                 "dataset": row.config.dataset,
                 "settings": {name: asdict(row.config)[name] for name in self.differing},
                 "accuracy": row.accuracy, "measured_on": row.measured_on,
                 "images_per_second": row.images_per_second, "device": row.device,
                 "params": row.params, "macs": row.macs} for row in self.rows]

    def _repr_html_(self) -> str:
        header = self.header()
        numeric = range(len(header) - 5, len(header))
        return (f"<p>{len(self.rows)} run{'s' * (len(self.rows) != 1)}</p>"
                + html_table(header, self.cells(), numeric=tuple(numeric)))


def runs_table(paths: list[str | Path] | str | Path = "runs") -> RunsTable:
    """The table of every run folder in (or named by) `paths`."""
    given = [paths] if isinstance(paths, (str, Path)) else list(paths)
    folders: list[Path] = []
    for path in given:
        folders += [f for f in layout.find_runs(path) if f not in folders]
    if not folders:
        raise ValueError(f"no run folder (one with {layout.CONFIG}) in "
                         f"{', '.join(map(str, given))}")
    rows = [read_row(folder) for folder in folders]
    settings = [asdict(row.config) for row in rows]
    differing = [name for name in settings[0] if name not in _NOT_SETTINGS
                 and len({repr(values[name]) for values in settings}) > 1]
    return RunsTable(rows, differing)

