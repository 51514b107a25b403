"""`cnnlab report RUN`: one self-contained HTML page per run. Every image is embedded as a data
URL and the style is inline, so the page opens offline, from a mail attachment or a USB stick;
it has no script at all."""

from __future__ import annotations

import datetime
import html
from dataclasses import asdict
from pathlib import Path

from cnnlab.arithmetic.table import format_count, html_table
from cnnlab.evaluate.metrics import PER_CLASS_COLUMNS, per_class_cells
from cnnlab.evaluate.targets import Target
from cnnlab.files import write_atomically
from cnnlab.models.summary import summarize
from cnnlab.runs import folder as layout
from cnnlab.viz import canvas, plots, run_data
from cnnlab.viz.run_figures import load_run, run_features, run_kernels

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; color: #222; max-width: 1180px; margin: 2em auto;
       padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
.meta { color: #666; }
.cards { display: flex; flex-wrap: wrap; gap: 0.8em; margin: 1.2em 0; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 0.6em 1em; min-width: 9em; }
.card b { display: block; font-size: 1.4em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border-bottom: 1px solid #e4e4e4; padding: 0.25em 0.7em; text-align: left; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: bold; border-top: 2px solid #bbb; }
img { max-width: 100%; height: auto; display: block; margin: 0.6em 0; }
.warn { color: #a34700; }
"""


def _image(data: bytes, alt: str) -> str:
    return f'<img src="{canvas.png_data_url(data)}" alt="{html.escape(alt)}">'


def _percent(value) -> str:
    return "" if value is None else f"{100 * value:.2f}%"


def _config_section(target: Target) -> str:
    rows = [("what the model receives", target.contract.describe())]
    if target.is_run:
        rows += [(key, "" if value is None else value)
                 for key, value in asdict(target.config).items()]
    else:
        rows += [("model", target.config.model), ("dataset", target.spec.name),
                 ("weights", str(target.weights_file or "initial (random) weights"))]
    return "<h2>Configuration</h2>" + html_table(("setting", "value"), rows)


def _layers_section(target: Target, model) -> tuple[str, object]:
    table = summarize(model, target.spec.shape, target.config.model)
    rows = table.cells(every_layer=True)  # every call site: F.relu and a flatten too
    rows.append(("total", "", "", "", "", f"{table.params:,}", format_count(table.macs), ""))
    warnings = "".join(f'<p class="warn">warning: {html.escape(layer.label)} '
                       f"{html.escape(message)}</p>"
                       for layer in table.rows(every_layer=True)
                       for message in layer.warnings)
    body = (f"<h2>Layers</h2><p>{html.escape(table.model)} on a "
            f"{'x'.join(map(str, target.spec.shape))} input (C x H x W). Output shapes are "
            "H x W x C; memory is one image's output in float32; MACs are multiply-adds.</p>"
            + html_table(table.COLUMNS, rows, numeric=(4, 5, 6),
                     classes=[""] * (len(rows) - 1) + ["total"]) + warnings)
    return body, table


def _training_section(target: Target) -> str:
    if not target.is_run:
        return ("<h2>Training</h2><p>Not a run folder: no training history. Train it with "
                f"<code>cnnlab train {html.escape(target.config.model)}</code> to see its "
                "curves here.</p>")
    history = layout.history(target.folder)
    result = layout.training_result(target.folder) or {}
    parts = ["<h2>Training</h2>"]
    if result:
        device = result.get("device_name") or result.get("device") or "cpu"
        parts.append(f"<p>{result.get('epochs')} epochs in {result.get('train_seconds', 0):.1f} s "
                     f"on the {html.escape(str(result.get('engine')))} engine "
                     f"({html.escape(str(device))}"
                     + (f", {html.escape(result['amp'])}" if result.get("amp") else "") + "), "
                     f"{result.get('train_images', 0):,} training images; test accuracy "
                     f"{_percent(result.get('test_accuracy'))}.</p>")
    else:
        parts.append("<p>The run has not finished: the curves show the epochs so far.</p>")
    if history:
        figure = plots.curves_figure(history, f"{target.config.model} on {target.spec.name}")
        parts.append(_image(plots.png_bytes(figure), "training curves"))

        def cell(value, digits=4):
            return "" if value is None else f"{value:.{digits}f}"

        parts.append(html_table(
            ("epoch", "train loss", "train acc", "val loss", "val acc", "lr", "seconds"),
            [(row["epoch"], cell(row["train_loss"]), cell(row["train_acc"]),
              cell(row.get("val_loss")), cell(row.get("val_acc")), f"{row['lr']:.3g}",
              cell(row["seconds"], 1)) for row in history], numeric=range(7)))
    return "".join(parts)


def _accuracy_section(target: Target, result: dict) -> str:
    accuracy = result["accuracy"]
    macro = accuracy["macro"]
    parts = [f"<h2>Accuracy</h2><p>{accuracy['images']:,} images of the {result['split']} split "
             f"on the {html.escape(result['engine'])} engine: top-1 {_percent(accuracy['top1'])}, "
             f"top-5 {_percent(accuracy['top5'])}; macro precision {_percent(macro['precision'])}"
             f", recall {_percent(macro['recall'])}, F1 {_percent(macro['f1'])}.</p>"]
    parts.append(html_table(PER_CLASS_COLUMNS, per_class_cells(accuracy["per_class"]),
                            numeric=(1, 2, 3, 4)))
    classes = [row["class"] for row in accuracy["per_class"]]
    figure = plots.confusion_figure(accuracy["confusion"], classes,
                                    f"confusion matrix, {result['split']} split")
    parts.append(_image(plots.png_bytes(figure), "confusion matrix"))
    return "".join(parts)


def _speed_section(result: dict) -> str:
    speed, env = result.get("speed"), result.get("environment") or {}
    if not speed:
        return "<h2>Speed</h2><p>Not measured (evaluated with --no-speed).</p>"
    ips, ms, ref = speed["images_per_second"], speed["ms_per_batch"], speed.get("reference")
    rows = [("images per second (median)", f"{ips['median']:,.0f}"),
            ("spread of the passes (max-min)/median", f"{100 * ips['spread']:.1f}%"),
            ("ms per batch: p50 / p90 / p99", f"{ms['p50']:.3f} / {ms['p90']:.3f} / "
                                               f"{ms['p99']:.3f}"),
            ("batch size, images, timed passes", f"{speed['batch_size']}, {speed['images']:,}, "
                                                  f"{speed['repeats']}")]
    if ref:
        rows.append((f"ratio to {ref['model']}", f"{ref['ratio']:.3f} (spread "
                                                 f"{100 * ref['ratio_spread']:.1f}%)"))
    env_rows = [("engine, threads", f"{env.get('engine')}, {env.get('threads')}"),
                ("CPU", f"{env.get('cpu')} ({env.get('logical_cpus')} logical CPUs)"),
                ("system", f"{env.get('os')}, Python {env.get('python')}"),
                ("versions", ", ".join(f"{k} {v}" for k, v in (env.get("versions") or {}).items()
                                       if v)),
                ("measured at", env.get("measured_at", ""))]
    return ("<h2>Speed at batch size 4</h2><p>Measured during the validation pass above: "
            "warm-up, then repeated timed passes, with the LeNet-5 reference timed interleaved "
            "so the ratio stays comparable across machines.</p>"
            + html_table(("figure", "value"), rows) + "<h3>Environment</h3>"
            + html_table(("", ""), env_rows))


def build_report(target: Target | str, split: str | None = None, image: int = 0,
                 data_dir: str | None = None, say=print) -> str:
    """The report's HTML for a run (evaluating it first when eval.json is missing)."""
    target = load_run(target)
    model = target.build()
    result = run_data.evaluation(target, split, data_dir, say)
    layers, table = _layers_section(target, model)
    title = f"{target.config.model} on {target.spec.name}"
    speed = result.get("speed") or {}
    cards = [("top-1 accuracy", f"{_percent(result['accuracy']['top1'])}",
              f"{result['split']} split"),
             ("images/s at batch 4", f"{speed['images_per_second']['median']:,.0f}"
              if speed else "n/a", f"{(speed.get('reference') or {}).get('ratio', 0):.2f}x "
              "the reference" if speed else ""),
             ("parameters", f"{table.params:,}", ""),
             ("multiply-adds", format_count(table.macs), "per image")]
    card_html = "".join(f'<div class="card">{html.escape(name)}<b>{html.escape(value)}</b>'
                        f"{html.escape(note)}</div>" for name, value, note in cards)
    kernels = run_kernels(target, model)
    features = run_features(target, image, data_dir=data_dir, model=model)
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    sections = [
        f'<h1>{html.escape(title)}</h1><p class="meta">'
        f"{'run ' + html.escape(str(target.folder)) if target.is_run else 'model'} &middot; "
        f"report made {now}</p><div class=\"cards\">{card_html}</div>",
        _config_section(target), layers, _training_section(target),
        _accuracy_section(target, result), _speed_section(result),
        "<h2>First-layer kernels</h2>" + _image(canvas.png_bytes(kernels.image), kernels.title),
        f"<h2>Feature maps of test image {image}</h2>"
        f"<p>Through {html.escape(features.through())}.</p>"
        + _image(canvas.png_bytes(features.image), "feature maps"),
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)} - cnnlab report</title><style>{STYLE}</style></head>"
            f"<body>{''.join(sections)}</body></html>\n")


def write_report(target: Target | str, out: str | Path | None = None, **options) -> Path:
    target = load_run(target)
    page = build_report(target, **options)
    path = Path(out) if out else (target.folder / layout.REPORT if target.is_run
                                  else target.result_path().with_name(layout.REPORT))
    write_atomically(path, page.encode("utf-8"))
    return path
