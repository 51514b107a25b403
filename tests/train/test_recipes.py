"""The named recipes: each one loads, is a valid configuration of a model the zoo has, trains a
step on the real Fashion-MNIST through `cnnlab train --recipe`, and records its name in the
run; `cnnlab recipes NAME` prints a --config file that gives the same run. Whether a recipe
reaches its target in its time is measured by benchmarks/time_to_accuracy.py, not here."""


import pytest

import cnnlab
from cnnlab.cli import main
from cnnlab.models.zoo import is_zoo_model
from cnnlab.runs import folder as layout
from cnnlab.runs.config import read_toml, resolve
from cnnlab.train import recipes

# a few steps on a small subset: what the test checks is that the recipe runs as written
QUICK = ["--epochs", "1", "--train-size", "512", "--val-size", "100"]


def test_the_recipes_are_shipped_and_each_is_a_valid_configuration():
    shipped = {"fashion-mnist-60s", "fashion-mnist-3min", "fashion-mnist-15min"}
    assert shipped <= set(recipes.names())
    for name in recipes.names():
        recipe = recipes.load(name)
        config = resolve(recipe.configuration(), {})
        assert is_zoo_model(config.model), name
        assert config.dataset == recipe.dataset and config.recipe == name
        assert 0 < recipe.target_accuracy <= 1 and recipe.budget_seconds > 0
        assert "TBD" not in recipe.measured and recipe.measured.strip(), name


@pytest.mark.parametrize("name", recipes.names())
def test_each_recipe_trains_through_the_command_and_records_its_name(tmp_path, capsys, name):
    out = tmp_path / "run"
    assert main(["train", "--recipe", name, *QUICK, "--seed", "3", "--out", str(out)]) == 0
    saved = layout.read_config(out)
    recipe = recipes.load(name)
    assert saved.recipe == name and saved.seed == 3 and saved.epochs == 1  # flags win
    for key, value in recipe.train.items():
        if key not in ("epochs", "train_size", "val_size"):  # what QUICK sets
            assert getattr(saved, key) == value, key
    assert "test accuracy" in capsys.readouterr().out
    assert (out / layout.WEIGHTS).exists()


def test_amp_none_turns_off_the_mixed_precision_a_recipe_asks_for(tmp_path, capsys):
    assert recipes.load("fashion-mnist-60s").train["amp"] == "bf16"
    out = tmp_path / "float32"
    assert main(["train", "--recipe", "fashion-mnist-60s", *QUICK, "--amp", "none",
                 "--out", str(out)]) == 0
    assert layout.read_config(out).amp is None
    assert "mixed precision" not in capsys.readouterr().out.splitlines()[0]


def test_the_printed_recipe_is_a_config_file_for_the_same_run(tmp_path, capsys):
    assert main(["recipes", "fashion-mnist-60s"]) == 0
    text = capsys.readouterr().out
    assert "target: >= 92% on the fashion-mnist test set in 60 s" in text
    (tmp_path / "run.toml").write_text(text)
    assert read_toml(tmp_path / "run.toml") == recipes.load("fashion-mnist-60s").train
    assert main(["recipes"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in recipes.names())
    # shortest budget first
    assert listing.index("fashion-mnist-60s") < listing.index("fashion-mnist-3min")


def test_the_python_api_takes_a_recipe(tmp_path):
    run = cnnlab.train(recipe="fashion-mnist-60s", epochs=1, train_size=512, val_size=100,
                       out=str(tmp_path / "api"), quiet=True)
    assert run.config.recipe == "fashion-mnist-60s" and run.config.model == "fastcnn24"
    assert run.config.amp == "bf16" and run.result["test_accuracy"] > 0.1


@pytest.mark.parametrize("argv, message", [
    (["train", "--recipe", "fashion-mnist-6s"],
     "unknown recipe 'fashion-mnist-6s'; did you mean fashion-mnist-60s"),
    (["train", "--recipe", "fashion-mnist-60s", "--config", "run.toml"],
     "--recipe and --config both give a whole configuration"),
    (["recipes", "nope"], "unknown recipe 'nope'"),
    (["train", "--resume", "somewhere", "--recipe", "fashion-mnist-60s"],
     "only --epochs may change (got --recipe)"),
])
def test_recipe_mistakes_are_one_line(tmp_path, capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


GOOD = """
[recipe]
summary = "s"
dataset = "fashion-mnist"
target_accuracy = 0.9
budget_seconds = 60
hardware = "2 CPU cores"
measured = "m"

[train]
model = "lenet5"
"""


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace('model = "lenet5"', 'modle = "lenet5"'),
     "recipe x [train]: unknown key(s) modle"),
    (lambda t: t.replace("target_accuracy = 0.9", "target_accuracy = 90.0"),
     "target_accuracy is a fraction in (0, 1], got 90.0"),
    (lambda t: t.replace('budget_seconds = 60', 'budget_seconds = "1 min"'),
     "[recipe] needs budget_seconds (a number), got '1 min'"),
    (lambda t: t.replace('hardware = "2 CPU cores"\n', ''),
     "[recipe] needs hardware (a str), got None"),
    (lambda t: t + 'dataset = "cifar10"\n',
     "[recipe] dataset 'fashion-mnist' but [train] trains on 'cifar10'"),
    (lambda t: t + 'recipe = "y"\n', "[train] must not set recipe"),
    (lambda t: t.replace("[train]", "[training]"), "expected a [recipe] and a [train] table"),
    (lambda t: t.replace('summary = "s"', 'summary = s'), "recipe x: not valid TOML"),
])
def test_a_malformed_recipe_file_names_what_is_wrong(edit, message):
    assert recipes.parse("x", GOOD).train == {"dataset": "fashion-mnist", "model": "lenet5"}
    with pytest.raises(ValueError) as error:
        recipes.parse("x", edit(GOOD))
    assert message in str(error.value)


@pytest.mark.parametrize("cap, native", [("AVX2", False), ("avx512_core", False),
                                         ("AVX512_CORE_BF16", None), (None, None)])
def test_native_bf16_is_judged_under_onednns_cap(monkeypatch, cap, native):
    """ONEDNN_MAX_CPU_ISA caps oneDNN's instructions as a CPU without them would; without a
    cap, this CPU's own flags decide (None: whatever they say). Only the judgement runs in
    this process: oneDNN itself reads the cap once, so the run under it is a child process."""
    import torch

    from cnnlab.models.torch_engine import ENGINE, native_cpu_bf16

    _x86_only()
    if cap:
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
    else:
        monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    flags = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    assert native_cpu_bf16() == (flags if native is None else native)
    warning = ENGINE.amp_warning(torch.device("cpu"), "bf16")
    assert (warning is None) == native_cpu_bf16()
    assert ENGINE.amp_warning(torch.device("cpu"), None) is None


@pytest.mark.parametrize("cap", ["AVX2", None])
def test_bf16_on_a_cpu_without_its_instructions_says_so_and_how_to_avoid_it(tmp_path, cap):
    """oneDNN emulates bf16 below AVX-512 BF16 (8x slower than float32 with AVX2, measured):
    a recipe's bf16 must not make a student's laptop crawl in silence."""
    import os
    import subprocess
    import sys

    from cnnlab.models.torch_engine import native_cpu_bf16

    _x86_only()
    env = {key: value for key, value in os.environ.items() if key != "ONEDNN_MAX_CPU_ISA"}
    if cap:
        env["ONEDNN_MAX_CPU_ISA"] = cap
    child = subprocess.run(
        [sys.executable, "-m", "cnnlab", "train", "--recipe", "fashion-mnist-60s", *QUICK,
         "--out", str(tmp_path / "run")], env=env, capture_output=True, text=True, timeout=600)
    assert child.returncode == 0, child.stderr
    warned = "note: this CPU has no bf16 instructions" in child.stdout
    assert warned == (cap == "AVX2" or not native_cpu_bf16()), child.stdout
    if warned:
        assert "add --amp none to train in float32" in child.stdout


def _x86_only():
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("the bf16 instructions judged are x86's")
