"""Fine-tuning: a run that starts from other weights (`--init RUN_OR_WEIGHTS`) and keeps some
of its layers as they are (`--freeze PREFIX ...`).

The layers whose names and shapes match load; a head whose classes differ starts afresh (the
new task's classes are not the old one's): in number, or, where the init is a run or a
shipped network and so names them, in name (five classes fine-tuned from five others). Any
other layer that differs is refused, naming it, since such weights were made for another
network. What loaded, what started afresh and what the init held beyond the model is said in
the run's first lines.

A frozen layer's parameters get no gradient and no optimizer step, and a frozen batch norm
runs on its loaded statistics (eval mode even while the rest trains), so a frozen layer ends
the run bit-identical to how it began."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnnlab.data.datasets import get_spec
from cnnlab.models.engines import engine_of
from cnnlab.models.pretrained import catalog, is_pretrained, load_pretrained
from cnnlab.models.weights import read_state_dict
from cnnlab.runs import folder as layout


def init_weights(source: str) -> dict[str, np.ndarray]:
    """The weights `source` names: a run folder (its final weights, else its checkpoint's),
    a checkpoint, a .safetensors or torch state-dict file, or cnnlab's `pretrained:NAME`."""
    if is_pretrained(source):
        return load_pretrained(source)[1]
    path = Path(source)
    if path.is_dir():
        path = layout.weights_file(path)
    if path.is_file() and path.name in layout.WEIGHTS_FILES:
        layout.check_weights_file(path)
    return read_state_dict(path)


def init_classes(source: str) -> tuple[str, ...] | None:
    """The classes `source` was trained on, where it says: a shipped network's, or a run's
    (its folder, or a weights file inside it); None for a bare weights file."""
    if is_pretrained(source):
        entry = catalog().get(source.partition(":")[2])
        return get_spec(entry.dataset).classes if entry is not None else None
    path = Path(source)
    folder = path if path.is_dir() else path.parent
    if not (folder / layout.CONFIG).is_file():
        return None
    config = layout.read_config(folder, path)
    return get_spec(config.dataset).only(config.classes).classes


def _head(own: dict[str, tuple[int, ...]], num_classes: int) -> set[str]:
    """The output layer's tensors: those of the last layer with parameters, when its first
    dimension is the number of classes."""
    layers = [key.rpartition(".")[0] for key in own]
    last = layers[-1] if layers else None
    keys = {key for key in own if key.rpartition(".")[0] == last}
    return keys if keys and all(own[key][:1] == (num_classes,) for key in keys) else set()


def initialise(model, source: str, classes: tuple[str, ...]) -> str:
    """Load into `model`, which predicts `classes`, what of `source` fits it; the line the
    run says about it."""
    given = init_weights(source)
    own = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    head = _head(own, len(classes))
    before = init_classes(source)
    renamed = before is not None and len(before) == len(classes) and before != tuple(classes)
    fits = {key: value for key, value in given.items() if key in own and tuple(value.shape)
            == own[key] and not (renamed and key in head)}
    differing = [key for key in own if key in given and key not in fits]  # the model's order
    afresh = [key for key in differing if key in head]
    wrong = [f"{key} (here {own[key]}, in the init {tuple(given[key].shape)})"
             for key in differing if key not in head]
    if wrong:
        raise ValueError(f"--init {source} was made for another network: "
                         f"{', '.join(wrong[:4])}{' and more' if len(wrong) > 4 else ''}")
    if not fits:
        raise ValueError(f"--init {source}: none of its tensors has a name and shape of this "
                         f"model's (it has {', '.join(list(given)[:3])}...; the model "
                         f"{', '.join(list(own)[:3])}...)")
    engine_of(model).load_weights(model, fits)
    line = f"initialised from {source}: {len(fits)} of {len(own)} tensors loaded"
    if afresh and renamed:
        line += (f"; the head ({', '.join(afresh)}) starts afresh: the init's classes are "
                 f"{', '.join(before)}, this run's {', '.join(classes)}")
    elif afresh:
        line += (f"; the head ({', '.join(afresh)}) starts afresh: "
                 f"{given[afresh[0]].shape[0]} classes in the init, {len(classes)} here")
    kept = [key for key in own if key not in fits and key not in afresh]
    if kept:
        line += f"; not in the init, so as initialised: {', '.join(kept)}"
    ignored = [key for key in given if key not in own]
    if ignored:
        line += f"; in the init but not in this model, left out: {', '.join(ignored)}"
    return line


def freeze(model, prefixes: list[str]) -> str:
    """Freeze the parameters whose names start with one of `prefixes` (a module's name, as
    `conv1` or `layer1.0`); the line the run says about it."""
    names = [name for name, _ in model.named_parameters()]
    unmatched = [prefix for prefix in prefixes
                 if not any(_under(name, prefix) for name in names)]
    if unmatched:
        modules = list(dict.fromkeys(name.rpartition(".")[0] for name in names))
        raise ValueError(f"--freeze {' '.join(unmatched)}: no parameter is under it; the "
                         f"model's layers are {', '.join(modules)}")
    frozen = 0
    for name, parameter in model.named_parameters():
        if any(_under(name, prefix) for prefix in prefixes):
            parameter.requires_grad_(False)
            frozen += int(np.prod(parameter.shape))
    for name, module in model.named_modules():
        if name and any(_under(name, prefix) for prefix in prefixes):
            # its batch norm keeps the statistics it was loaded with
            module.register_forward_pre_hook(_stay_in_eval)
    return (f"frozen: {', '.join(prefixes)} ({frozen:,} parameters stay as they are; "
            f"{sum(int(np.prod(p.shape)) for p in model.parameters() if p.requires_grad):,} "
            "train)")


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _stay_in_eval(module, _inputs) -> None:
    module.training = False
