"""torchrun with 2 processes (gloo on CPU): each rank trains on its share of every global
batch, so the run follows the single-process one; rank 0 alone writes and prints."""

import os
import subprocess
import sys

import torch
from safetensors.torch import load_file

ARGS = ["lenet5", "--dataset", "fashion-mnist", "--train-size", "512", "--val-size", "256",
        "--epochs", "2", "--batch-size", "64", "--augment", "crop,flip", "--dropout", "0.0"]


def _train(out, processes: int) -> subprocess.CompletedProcess:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc_per_node={processes}"] if processes > 1 else [sys.executable]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([*launcher, "-m", "cnnlab", "train", *ARGS, "--out", str(out)],
                          capture_output=True, text=True, timeout=300, env=environment,
                          check=False)


def test_two_processes_follow_one_process_and_rank_0_alone_writes(tmp_path):
    alone, together = _train(tmp_path / "alone", 1), _train(tmp_path / "together", 2)
    assert alone.returncode == 0, alone.stderr
    assert together.returncode == 0, together.stderr
    assert together.stdout.count("test accuracy:") == 1  # printed once, by rank 0
    assert "2 processes" in together.stdout
    metrics = (tmp_path / "together" / "metrics.jsonl").read_text().splitlines()
    assert len(metrics) == 2
    ours, theirs = (load_file(tmp_path / name / "model.safetensors")
                    for name in ("together", "alone"))
    for key in theirs:  # the same steps on the same data; only the summation order differs
        torch.testing.assert_close(ours[key], theirs[key], rtol=1e-4, atol=1e-5)
    assert not any(path.name.endswith(".tmp") for path in (tmp_path / "together").iterdir())


def test_the_scratch_engine_refuses_several_processes(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "cnnlab", "train", *ARGS, "--engine", "scratch", "--out", str(tmp_path / "x")],
        capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode != 0
    assert "several processes (torchrun) need --engine torch" in result.stderr


def test_each_rank_takes_its_share_of_the_same_global_batch(tmp_path):
    from cnnlab.runs.config import TrainConfig
    from cnnlab.train import loop
    from cnnlab.train.distributed import Cluster

    config = TrainConfig(model="lenet5", train_size=256, val_size=128, batch_size=64,
                         augment="crop,flip", out=str(tmp_path / "r")).validate()
    shares = []
    for rank in (0, 1):
        run = loop.Run(config, report=lambda line: None)
        run.cluster = Cluster(rank=rank, world=2)
        shares.append(list(run.batches()))
    whole = list(loop.Run(config, report=lambda line: None).batches())
    assert len(shares[0]) == len(shares[1]) == len(whole) == 4  # the same number of steps
    for (_, x0, y0), (_, x1, y1), (_, x, y) in zip(*shares, whole, strict=True):
        assert len(y0) == len(y1) == 32
        assert torch.equal(x0, x[0::2]) and torch.equal(x1, x[1::2])
        assert torch.equal(y0, y[0::2]) and torch.equal(y1, y[1::2])
