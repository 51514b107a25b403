"""Evaluating one submission, in a child process of the worker (`python -m
cnnlab.leaderboard.verify JOB.json`): the file is checked again, run by ONNX Runtime over
the whole hidden test set at batch size 4 under the speed protocol of `cnnlab eval`, and
scored on the public and private halves. The child prints one JSON line; the parent imposes
the memory limit, the timeout and the thread count.

An exception here is the submission's failure, reported with its first line (an index out
of range, a tensor too large); it never reaches the service."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import numpy as np

from cnnlab.data import datasets
from cnnlab.data.contract import unit_pixels
from cnnlab.errors import first_line
from cnnlab.evaluate.environment import environment
from cnnlab.evaluate.metrics import classification_report
from cnnlab.evaluate.onnx_check import check_onnx
from cnnlab.evaluate.onnx_cost import multiply_adds, parameter_count
from cnnlab.evaluate.predictors import OnnxPredictor, fixed_threads
from cnnlab.evaluate.reference import reference
from cnnlab.evaluate.speed import measure
from cnnlab.leaderboard.canonical_weights import (
    WEIGHTS_FILE,
    architecture,
    canonical_layers,
    packed,
)
from cnnlab.leaderboard.child import child_reason
from cnnlab.leaderboard.hidden import hidden_split
from cnnlab.leaderboard.near_copies import encoded


class VerificationFailed(ValueError):
    """The model ran but its output cannot be scored; the message says why."""


def verify(model_path: str, dataset: str, seed: int, threads: int = 1, repeats: int = 3,
           max_bytes: int = 100 * 2**20, data_dir: str | None = None,
           test_set: str | None = None) -> dict:
    spec = datasets.get_spec(dataset)
    data = Path(model_path).read_bytes()
    check_onnx(data, spec.shape, len(spec.classes), max_bytes)
    images, labels, public, private = hidden_split(dataset, seed, data_dir, test_set)
    pixels = unit_pixels(images)
    outputs: list[np.ndarray] = []
    with fixed_threads(threads):
        predict = OnnxPredictor(data, threads)
        speed = measure(predict, pixels, engine="onnx", threads=threads, repeats=repeats,
                        reference=reference("onnx", threads), keep=outputs)
    logits = np.concatenate(outputs)
    if logits.shape != (len(labels), len(spec.classes)):
        raise VerificationFailed(f"the model's output has shape {logits.shape}; expected "
                                 f"({len(labels)}, {len(spec.classes)})")
    bad = int((~np.isfinite(logits)).any(axis=1).sum())
    if bad:
        raise VerificationFailed(f"the model's logits are not finite (NaN or infinity) for "
                                 f"{bad} of {len(labels)} images")
    halves_order = np.concatenate([public, private])
    halves = {name: classification_report(logits[index], labels[index], spec.classes)
              for name, index in (("public", public), ("private", private))}
    summary = speed.summary()
    layers = canonical_layers(data)  # here, in the child: the file is the student's
    return {
        "status": "finished",
        "public_accuracy": halves["public"].top1,
        "private_accuracy": halves["private"].top1,
        "images_per_s": summary["images_per_second"]["median"],
        "reference_ratio": summary["reference"]["ratio"],
        "params": parameter_count(data),
        "macs": multiply_adds(data),
        # for the near-copy comparison and the Ladder (never shown): the public half's images
        # first, then the private half's (leaderboard.near_copies.encoded)
        "predictions": base64.b64encode(encoded(logits.argmax(axis=1)[halves_order],
                                                labels[halves_order])).decode("ascii"),
        "weights_architecture": None if layers is None else _kept(layers, model_path),
        "details": {"public": halves["public"].as_dict(),
                    "private": halves["private"].as_dict(),
                    "speed": summary, "environment": environment("onnx", threads)},
    }


def _kept(layers, model_path: str) -> str:
    """Write the canonical weights beside the model, for the worker to store (too large for
    the line of JSON); their architecture's digest."""
    (Path(model_path).parent / WEIGHTS_FILE).write_bytes(packed(layers))
    return architecture(layers)


def main(job_file: str) -> int:
    job = json.loads(Path(job_file).read_text())
    folder = str(Path(job_file).parent)
    try:
        result = verify(**job)
    except FileNotFoundError as error:  # the server's dataset, not the student's file
        result = {"status": "failed", "fault": "server",
                  "error": f"the leaderboard cannot load its test set ({first_line(error)}); "
                           "this does not count against your daily limit"}
    except Exception as error:  # whatever the file makes go wrong, say it
        reason = child_reason(first_line(error), folder)
        if not isinstance(error, ValueError):  # OnnxRejected and ours are already sentences
            reason = f"ONNX Runtime could not run the model: {reason}"
        result = {"status": "failed", "fault": "file", "error": reason}
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
