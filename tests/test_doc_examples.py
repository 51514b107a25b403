"""The examples of the README and of docs/: every `cnnlab` command in a shell block is one the
parsers take (a renamed option or a removed command fails here), every other command is one
of the few the pages may name, and every Python block runs, in a course folder holding what
the pages assume (`net.py`, the tutorial's network, and `runs/demo`), unless a comment before
it says it needs the internet, a GPU or a server, and then it must compile."""

import contextlib
import io
import os
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from cnnlab.cli import build_parser

ROOT = Path(__file__).parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NEEDS = ("needs the internet", "needs a GPU", "needs a server")
MARK = re.compile(r"<!-- example: (.+?) -->")
OTHER_COMMANDS = {"make", "source", "pip", "sqlite3", "pg_dump"}


@dataclass
class Example:
    page: Path
    line: int  # of the opening fence
    language: str
    body: str
    needs: str | None  # what the comment before it says it needs

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def examples_of(page: Path) -> list[Example]:
    found, lines = [], page.read_text().splitlines()
    index = 0
    while index < len(lines):
        fence = re.fullmatch(r"```(\w*)", lines[index])
        if fence is None:
            index += 1
            continue
        end = lines.index("```", index + 1)
        before = next((line for line in reversed(lines[:index]) if line.strip()), "")
        mark = MARK.fullmatch(before.strip())
        found.append(Example(page, index + 1, fence.group(1), "\n".join(lines[index + 1:end]),
                             mark.group(1) if mark else None))
        index = end + 1
    return found


EXAMPLES = [example for page in PAGES for example in examples_of(page)]


def commands(body: str) -> list[list[str]]:
    """A shell block's commands as their words: continuation lines joined, comments and blank
    lines left out."""
    joined = body.replace("\\\n", " ")
    return [words for line in joined.splitlines() if (words := shlex.split(line, comments=True))]


def test_the_pages_have_examples_of_known_kinds():
    assert len(EXAMPLES) > 25
    assert {example.language for example in EXAMPLES} <= {"sh", "python", "text", ""}
    unknown = [(example.name, example.needs) for example in EXAMPLES
               if example.needs and not example.needs.startswith(NEEDS)]
    assert unknown == []


SHELL = [(example, words) for example in EXAMPLES if example.language == "sh"
         for words in commands(example.body)]


@pytest.mark.parametrize("example, words", SHELL,
                         ids=[f"{example.name}:{shlex.join(words)[:40]}"
                              for example, words in SHELL])
def test_a_command_in_the_pages_is_one_cnnlab_takes(example, words):
    command = shlex.join(words)
    if words[0] != "cnnlab":
        assert words[0] in OTHER_COMMANDS, f"{example.name}: `{command}` is no command we know"
        if words[0] == "make":
            targets = re.findall(r"(?m)^([\w-]+):", (ROOT / "Makefile").read_text())
            assert set(words[1:]) <= set(targets), f"{example.name}: no such make target"
        return
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            build_parser().parse_args(words[1:])
    except SystemExit as stopped:
        assert stopped.code == 0, (f"{example.name}: `{command}` is refused: "
                                   f"{errors.getvalue().strip().splitlines()[-1]}")


def test_a_renamed_option_is_caught():
    with pytest.raises(AssertionError, match=r"is refused: .*unrecognized arguments: "
                                             r"--learning-rate"):
        test_a_command_in_the_pages_is_one_cnnlab_takes(
            EXAMPLES[0], ["cnnlab", "train", "lenet5", "--learning-rate", "0.1"])


PYTHON = [example for example in EXAMPLES if example.language == "python"]

# What the pages' Python assumes: the network of PyTorch's tutorial in net.py (one input
# channel, one pooling layer called twice) and the demo's run.
NET = '''import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, num_classes=10, in_channels=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 4 * 4, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))
'''


@pytest.mark.slow
@pytest.mark.parametrize("example", PYTHON, ids=[example.name for example in PYTHON])
def test_a_python_example_runs(example, trained_run, tmp_path, monkeypatch):
    code = compile(example.body, example.name, "exec")
    if example.needs:
        return  # compiled: what it needs is not here
    (tmp_path / "net.py").write_text(NET)
    shutil.copytree(trained_run, tmp_path / "runs" / "demo")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.syspath_prepend(str(tmp_path))
    exec(code, {"__name__": "__example__"})
    assert os.getcwd() == str(tmp_path)
