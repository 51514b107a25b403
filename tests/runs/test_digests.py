"""Issue 18, point 13: a weights file that changed after the run wrote it is named, never used.
Flipping the exponent of 64 values per tensor gave 7.8% test accuracy with no warning."""

import json
import struct

import pytest
import torch

from cnnlab.cli import main
from cnnlab.runs import folder as layout


def _flip_exponents(path, count: int = 64) -> None:
    """Flip a bit of the exponent of the first `count` float32 values of every tensor."""
    data = bytearray(path.read_bytes())
    header_size = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + header_size])
    for name, tensor in header.items():
        if name == "__metadata__" or tensor["dtype"] != "F32":
            continue
        start = 8 + header_size + tensor["data_offsets"][0]
        end = 8 + header_size + tensor["data_offsets"][1]
        for value in range(start, min(end, start + 4 * count), 4):
            data[value + 3] ^= 0x40  # the high byte: sign and exponent
    path.write_bytes(bytes(data))


def _one_line_error(capsys) -> str:
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1, error
    return error


def test_changed_weights_are_named_by_eval_report_and_export(run_copy, capsys):
    weights = run_copy / layout.WEIGHTS
    assert json.loads((run_copy / layout.DIGESTS).read_text())[layout.WEIGHTS] == \
        [layout.sha256_of(weights)]
    _flip_exponents(weights)
    for command in (["eval", str(run_copy)], ["report", str(run_copy)],
                    ["export", str(run_copy), "-o", str(run_copy / "m.onnx")],
                    ["eval", str(weights)]):
        assert main(command) == 2
        error = _one_line_error(capsys)
        assert f"{weights} has changed since cnnlab wrote it" in error, command
        assert "restore it from a backup or train the run again" in error
    assert not (run_copy / layout.REPORT).exists() and not (run_copy / "m.onnx").exists()


def test_a_changed_checkpoint_is_not_resumed(run_copy, capsys):
    checkpoint = run_copy / layout.CHECKPOINT
    data = bytearray(checkpoint.read_bytes())
    data[len(data) // 2] ^= 0x40  # a byte inside the weights' storage
    checkpoint.write_bytes(bytes(data))
    assert main(["train", "--resume", str(run_copy), "--epochs", "3"]) == 2
    assert f"{checkpoint} has changed since cnnlab wrote it" in _one_line_error(capsys)


def test_a_crash_between_the_file_and_its_digest_is_not_taken_for_damage(run_copy, capsys):
    """write_weights_file records the new digest beside the old one before it replaces the
    file: a crash before the rename leaves the old file, which is accepted, and the run
    resumes."""
    checkpoint = run_copy / layout.CHECKPOINT
    old = layout.sha256_of(checkpoint)
    state = torch.load(checkpoint, weights_only=True)
    digests = json.loads((run_copy / layout.DIGESTS).read_text())
    # what the record holds while a new checkpoint is being written
    digests[layout.CHECKPOINT] = ["0" * 64, old]
    (run_copy / layout.DIGESTS).write_text(json.dumps(digests))
    layout.check_weights_file(checkpoint)
    assert main(["train", "--resume", str(run_copy), "--epochs", str(state["epoch"] + 1)]) == 0
    after = json.loads((run_copy / layout.DIGESTS).read_text())
    assert after[layout.CHECKPOINT] == [layout.sha256_of(checkpoint)]


def test_a_run_from_before_digests_is_read_as_it_is(run_copy):
    (run_copy / layout.DIGESTS).unlink()
    assert main(["eval", str(run_copy)]) == 0


def test_a_damaged_digest_record_is_named(run_copy, capsys):
    (run_copy / layout.DIGESTS).write_text("{not json")
    assert main(["eval", str(run_copy)]) == 2
    error = _one_line_error(capsys)
    assert str(run_copy / layout.DIGESTS) in error and "weights' digests" in error


@pytest.mark.parametrize("name", [layout.WEIGHTS, layout.CHECKPOINT])
def test_every_weights_file_training_writes_is_recorded(trained_run, name):
    digests = json.loads((trained_run / layout.DIGESTS).read_text())
    assert digests[name] == [layout.sha256_of(trained_run / name)]
