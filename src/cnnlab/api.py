"""The Python API, for notebooks and scripts: the commands as functions whose results show in
Jupyter as tables and figures.

    import cnnlab
    run = cnnlab.train("net.py:Net", dataset="fashion-mnist", epochs=3, normalize="none")
    cnnlab.evaluate(run, split="test")        # accuracy, per class, speed at batch size 4
    cnnlab.export(run, "net.onnx")            # checked on real images, then written
    cnnlab.shapes("net.py:Net", dataset="fashion-mnist")
    cnnlab.runs("runs")                       # every run side by side
    cnnlab.viz.curves(run, "runs/demo")       # figures: also confusion, pareto, first_kernels,
                                              # feature_maps

Every keyword is the command's option with dashes as underscores (`batch_size=64`,
`label_smoothing=0.1`); results are the same objects the commands print.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path

from cnnlab.arithmetic.table import LayerTable, html_table
from cnnlab.evaluate.evaluation import Evaluation
from cnnlab.evaluate.evaluation import evaluate as evaluate_target
from cnnlab.evaluate.exporting import ExportReport, export_target
from cnnlab.evaluate.targets import load_target
from cnnlab.models.cells import is_kept_cell, network_spec
from cnnlab.models.summary import model_table
from cnnlab.runs import folder as layout
from cnnlab.runs.compare import RunsTable, runs_table
from cnnlab.runs.config import TrainConfig, defaults
from cnnlab.train import launch
from cnnlab.viz import canvas, plots
from cnnlab.viz.notebook import curves


def _model_name(model) -> str:
    """A zoo name or `path:Name` as given; a class or factory as the file (or the notebook
    cell's source, kept in a file) that defines it."""
    if isinstance(model, str):
        return model
    return network_spec(model)


_EPOCH_COLUMNS = ("epoch", "train loss", "train acc", "val loss", "val acc")


@dataclass
class TrainedRun:
    """A finished (or interrupted) run: its folder, configuration, result and history."""

    folder: Path
    config: TrainConfig
    result: dict | None  # None when the run was interrupted
    history: list[dict] = field(default_factory=list)

    def evaluate(self, split: str = "val", **options) -> Evaluation:
        return evaluate(self, split, **options)

    def curves(self):
        return curves(self)

    def __fspath__(self) -> str:  # a run is a folder wherever a path is expected
        return str(self.folder)

    def _headline(self) -> str:
        config = self.config
        if self.result is None:
            return (f"{config.model} on {config.dataset}: interrupted; continue with "
                    f"cnnlab.train(resume='{self.folder}')")
        where = self.result.get("device_name") or self.result.get("device")
        return (f"{config.model} on {config.dataset}: test accuracy "
                f"{100 * self.result['test_accuracy']:.2f}% after {self.result['epochs']} "
                f"epochs in {self.result['train_seconds']:.1f} s on {where}; run folder "
                f"{self.folder}")

    def _epochs(self) -> list[tuple[str, ...]]:
        return [(str(row["epoch"]), f"{row['train_loss']:.4f}", f"{row['train_acc']:.4f}",
                 "-" if row.get("val_loss") is None else f"{row['val_loss']:.4f}",
                 "-" if row.get("val_acc") is None else f"{row['val_acc']:.4f}")
                for row in self.history]

    def text(self) -> str:
        """What a terminal shows (`print(run)`): the result, then the epochs."""
        rows = [_EPOCH_COLUMNS, *self._epochs()]
        widths = [max(len(row[i]) for row in rows) for i in range(len(_EPOCH_COLUMNS))]
        table = ["  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True))
                 for row in rows]
        return "\n".join([self._headline(), *(table if self.history else [])]) + "\n"

    def __repr__(self) -> str:
        return self.text().rstrip("\n")

    def _repr_html_(self) -> str:
        if self.result is None:
            head = (f"<p><b>{html.escape(self.config.model)}</b> on {self.config.dataset}: "
                    f"interrupted; continue with <code>cnnlab.train(resume="
                    f"'{html.escape(str(self.folder))}')</code></p>")
        else:
            where = self.result.get("device_name") or self.result.get("device")
            head = (f"<p><b>{html.escape(self.config.model)}</b> on {self.config.dataset}: "
                    f"test accuracy <b>{100 * self.result['test_accuracy']:.2f}%</b> after "
                    f"{self.result['epochs']} epochs in {self.result['train_seconds']:.1f} s "
                    f"on {html.escape(str(where))}; run folder "
                    f"<code>{html.escape(str(self.folder))}</code></p>")
        table = html_table(_EPOCH_COLUMNS, self._epochs(), numeric=(0, 1, 2, 3, 4))
        figure = ""
        if self.history:
            data = plots.png_bytes(plots.curves_figure(self.history, self.config.model))
            figure = f'<img src="{canvas.png_data_url(data)}" alt="training curves">'
        return head + figure + table


def train(model=None, dataset: str | None = None, *, resume: str | Path | None = None,
          config: str | Path | None = None, quiet: bool = False, **settings) -> TrainedRun:
    """Train `model` (a zoo name, "path/to/net.py:Name" or "package.module:factory") on
    `dataset` with the settings `cnnlab train` takes: epochs=, batch_size=, lr=, optimizer=,
    schedule=, augment=, normalize=, device=, amp=, out=, seed=, ... (see `cnnlab train
    --help` for every default); `recipe=NAME` starts from a named recipe and `config=FILE`
    from a TOML file, which the other settings override (amp="none": float32 where the
    recipe asks for bf16). `resume=FOLDER` continues a run instead (epochs= may extend it).
    Progress shows as a bar; `quiet=True` keeps the per-epoch lines to itself."""
    unknown = sorted(set(settings) - set(defaults()))
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(unknown)}; the settings are "
                         f"{', '.join(sorted(set(defaults()) - {'model', 'dataset'}))}")
    given = {"model": _model_name(model) if model is not None else None, "dataset": dataset,
             **settings}
    try:
        run = launch.prepare(given, config_file=config, resume=resume,
                             report=(lambda line: None) if quiet else print,
                             spell=lambda name: f"{name}=")
    except ValueError as error:
        if is_kept_cell(given["model"]) and "NameError" in str(error):
            raise ValueError(f"{error}: cnnlab keeps the cell that defines "
                             f"{given['model'].rpartition(':')[2]} alone, so write the imports "
                             "it needs in that cell") from None
        raise
    result = launch.run_to_end(run)
    return TrainedRun(run.folder, run.config, result, layout.history(run.folder))


def evaluate(target, split: str = "val", *, engine: str | None = None, device: str = "auto",
             amp: str | None = None, dataset: str | None = None, weights: str | None = None,
             normalize: str | None = None, threads: int = 1, repeats: int = 5,
             speed: bool = True, data_dir: str | None = None,
             out: str | Path | None = None) -> Evaluation:
    """Accuracy and speed at batch size 4 of a run (a TrainedRun or its folder), a
    checkpoint, an .onnx file, or a model named bare with `weights=`, `dataset=` and
    `normalize=`; writes eval.json as `cnnlab eval` does."""
    resolved = load_target(os.fspath(target), dataset, weights, normalize)
    return evaluate_target(resolved, split, engine, threads, repeats, speed, data_dir, out,
                           device, amp)


def export(target, output: str | Path | None, *, quantize: str | None = None,
           dataset: str | None = None, weights: str | None = None,
           normalize: str | None = None, data_dir: str | None = None) -> ExportReport:
    """Export a run (a TrainedRun or its folder), a checkpoint, or a model named bare with
    `weights=`, `dataset=` and `normalize=`, to the .onnx file `output` as `cnnlab export`
    does: checked against the model on real validation images before anything is written
    (`output=None` checks without writing); `quantize="int8"` writes the int8 form."""
    resolved = load_target(os.fspath(target), dataset, weights, normalize)
    return export_target(resolved, output, data_dir, quantize)


def shapes(model, input: str | None = None, *, dataset: str | None = None,
           engine: str | None = None, num_classes: int | None = None) -> LayerTable:
    """The layer table of a zoo model or your network (`input` as "CxHxW", or `dataset=`)."""
    return model_table(_model_name(model), input, engine, num_classes, dataset)


def runs(folders: str | Path | list = "runs") -> RunsTable:
    """Every run under `folders`, side by side (as `cnnlab runs`)."""
    return runs_table(folders)
