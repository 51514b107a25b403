"""A run folder's layout and its readers and writers, shared by train, evaluate, viz and the
leaderboard's client: the one place that knows which file holds what.

    config.toml        the resolved configuration (what --config reads back)
    metrics.jsonl      one JSON line per finished epoch
    checkpoint.pt      the last checkpoint (model, optimizer, step, random states)
    result.json        training's result: test accuracy, time, device
    model.safetensors  the final weights
    source/            a copy of the user's network file, when the model is one
    eval.json          `cnnlab eval`'s result
    model.onnx         the run exported under its preprocessing contract
    report.html        `cnnlab report`'s page
    digests.json       the sha256 of each weights file above, checked whenever one is read

Datasets are checksummed; so are the weights a run writes: a flipped bit in the exponent of
a few weights gives a model at chance with no other sign.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from cnnlab.files import write_atomically
from cnnlab.runs.config import TrainConfig, read_toml, to_toml

CONFIG = "config.toml"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.pt"
RESULT = "result.json"
WEIGHTS = "model.safetensors"
SOURCE = "source"
EVALUATION = "eval.json"
ONNX = "model.onnx"
REPORT = "report.html"
DIGESTS = "digests.json"


def is_run(folder: str | Path) -> bool:
    return (Path(folder) / CONFIG).is_file()


def find_runs(root: str | Path) -> list[Path]:
    """`root` itself when it is a run, else the run folders anywhere below it, sorted."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder")
    if is_run(root):
        return [root]
    return sorted(path.parent for path in root.rglob(CONFIG) if path.is_file())


# ------------------------------------------------------------------ configuration
def read_config(folder: str | Path, what: str | Path | None = None) -> TrainConfig:
    folder = Path(folder)
    if not (folder / CONFIG).is_file():
        raise ValueError(f"{what or folder} has no {CONFIG} beside it to say which model and "
                         "dataset it is; point at the run folder that `cnnlab train --out` "
                         "made")
    return TrainConfig(**read_toml(folder / CONFIG)).validate()


def write_config(folder: Path, config: TrainConfig) -> None:
    write_atomically(folder / CONFIG, to_toml(config).encode())


# ------------------------------------------------------------------ the user's network
def sha256_of(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def copy_source(folder: Path, file: Path) -> tuple[str, str]:
    """Copy the network's source file into the run folder: (its path relative to the folder,
    its sha256), as config.toml records them."""
    copy = folder / SOURCE / file.name
    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(file, copy)
    return f"{SOURCE}/{file.name}", sha256_of(copy)


def source_copy(folder: Path, config: TrainConfig) -> Path | None:
    """The run's own copy of its network's source (checked against its sha256), or None for
    a zoo model."""
    if config.source is None:
        return None
    copy = Path(folder) / config.source
    if not copy.is_file():
        raise ValueError(f"{folder} trained {config.model}, but its copy of the source, "
                         f"{copy}, is missing")
    if config.source_sha256 and sha256_of(copy) != config.source_sha256:
        raise ValueError(f"{copy} was changed after the run started (its sha256 differs from "
                         f"the one in {folder / CONFIG}); restore it, it is what the weights "
                         "belong to")
    return copy


# ------------------------------------------------------------------ weights files
def _digests(folder: Path) -> dict[str, list[str]]:
    path = folder / DIGESTS
    if not path.is_file():
        return {}
    value = _read_json(path, "weights' digests")
    return {name: list(digests) for name, digests in value.items()}


WEIGHTS_FILES = (WEIGHTS, CHECKPOINT, ONNX)


def write_weights_file(path: str | Path, data: bytes) -> None:
    """Write a file atomically; one of a run's weights files gets its sha256 recorded. Until
    the new file is in place the record accepts the previous digest too, so a crash between
    the two writes is never taken for damage."""
    path = Path(path)
    if path.name not in WEIGHTS_FILES or not is_run(path.parent):
        write_atomically(path, data)
        return
    folder, name, digest = path.parent, path.name, hashlib.sha256(data).hexdigest()
    digests = _digests(folder)
    write_json(folder / DIGESTS, {**digests, name: [digest, *digests.get(name, [])[:1]]})
    write_atomically(path, data)
    write_json(folder / DIGESTS, {**digests, name: [digest]})


def weights_file(folder: str | Path) -> Path:
    """The weights a run folder holds: its final model.safetensors, else (a run still under
    way) its last checkpoint."""
    folder = Path(folder)
    for name in (WEIGHTS, CHECKPOINT):
        if (folder / name).is_file():
            return folder / name
    raise ValueError(f"{folder} holds neither {WEIGHTS} nor {CHECKPOINT}; is it a run folder?")


def check_weights_file(path: str | Path) -> None:
    """ValueError naming the file when a weights file of a run is not what the run wrote (a
    file of an older run, with no digest recorded, is taken as it is)."""
    path = Path(path)
    recorded = _digests(path.parent).get(path.name)
    if not recorded:
        return
    actual = sha256_of(path)
    if actual not in recorded:
        raise ValueError(f"{path} has changed since cnnlab wrote it (its sha256 is "
                         f"{actual[:16]}..., {path.parent / DIGESTS} recorded "
                         f"{recorded[0][:16]}...): the file is damaged or was replaced; "
                         "restore it from a backup or train the run again")


# ------------------------------------------------------------------ history and results
def _read_json(path: Path, what: str) -> dict:
    try:
        value = json.loads(_text(path, what))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: cannot read the {what} ({error})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path}: cannot read the {what} (not a JSON object)")
    return value


def history(folder: str | Path) -> list[dict]:
    """One dict per finished epoch, from metrics.jsonl."""
    path = Path(folder) / METRICS
    if not path.is_file():
        raise ValueError(f"{folder} has no {METRICS}: point at a run folder that `cnnlab "
                         "train` wrote")
    rows = []
    for number, line in enumerate(_text(path, "training history").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}, line {number}: not JSON ({error.msg})") from None
    return rows


def start_history(folder: Path) -> None:
    (folder / METRICS).write_text("")


def append_history(folder: Path, row: dict) -> None:
    with open(folder / METRICS, "a") as handle:
        handle.write(json.dumps(row) + "\n")


def write_history(folder: Path, rows: list[dict]) -> None:
    """metrics.jsonl as exactly these epochs (what a resumed run's checkpoint holds)."""
    write_atomically(folder / METRICS, "".join(json.dumps(row) + "\n" for row in rows)
                     .encode())


def keep_history(folder: Path, epochs: int) -> None:
    """Drop the lines of epochs after `epochs` (those a resumed run will train again). A torn
    last line, the one a crash was writing, is dropped too; a bad line before it is an
    error naming the file and the line."""
    path = folder / METRICS
    lines = _text(path, "training history").splitlines() if path.exists() else []
    kept = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            if number == len(lines):
                break  # torn by a crash while it was written
            raise ValueError(f"{path}, line {number}: not JSON ({error.msg})") from None
        if row["epoch"] <= epochs:
            kept.append(line)
    write_atomically(path, "".join(line + "\n" for line in kept).encode())


def _text(path: Path, what: str) -> str:
    """A run file's text; ValueError naming the file when it is not UTF-8 (garbage)."""
    try:
        return path.read_text()
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: cannot read the {what}: it is not UTF-8 text (byte "
                         f"{error.start}); the file is damaged") from None


def training_result(folder: str | Path) -> dict | None:
    path = Path(folder) / RESULT
    return _read_json(path, "training result") if path.is_file() else None


def write_json(path: Path, value: dict) -> None:
    write_atomically(path, (json.dumps(value, indent=2) + "\n").encode())


def read_evaluation(path: str | Path) -> dict:
    """An eval.json (a file, or the one in a run folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / EVALUATION
    result = _read_json(path, "evaluation")
    if "accuracy" not in result:
        raise ValueError(f"{path} is not an evaluation written by `cnnlab eval`")
    return result
