"""The examples of the README and of docs/: every `cnnlab` command in a shell block is one the
parsers take (a renamed option or a removed command fails here), every other command is one
of the few the pages may name; every Python block runs, in a course folder holding what the
pages assume (`net.py`, the tutorial's network, and `runs/demo`), and every page's `cnnlab`
commands run in page order in one such folder, unless a comment before the block says it
needs the internet, a GPU or a server: then it must compile or parse."""

import argparse
import contextlib
import io
import os
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from cnnlab.cli import build_parser, every_parser, main
from cnnlab.data import datasets
from cnnlab.data.idx import write_idx

ROOT = Path(__file__).parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NEEDS = ("needs the internet", "needs a GPU", "needs a server")
AFTER_CLOSING = "after the task closes"  # runs with the leaderboard's clock past --closes
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
        shown = self.page.relative_to(ROOT) if self.page.is_relative_to(ROOT) else self.page.name
        return f"{shown}:{self.line}"


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
               if example.needs and not example.needs.startswith(NEEDS)
               and example.needs != AFTER_CLOSING]
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
            exact_parser().parse_args(words[1:])
    except SystemExit as stopped:
        assert stopped.code == 0, (f"{example.name}: `{command}` is refused: "
                                   f"{errors.getvalue().strip().splitlines()[-1]}")


def exact_parser() -> argparse.ArgumentParser:
    """The command's parser, taking no abbreviation: `--epoch` for `--epochs` works at a
    prompt, but a page should spell the option out."""
    parser = build_parser()
    for _, each in every_parser(parser):
        each.allow_abbrev = False
    return parser


def test_an_abbreviated_option_is_caught():
    with pytest.raises(AssertionError, match=r"is refused: .*unrecognized arguments: --epoch"):
        test_a_command_in_the_pages_is_one_cnnlab_takes(
            EXAMPLES[0], ["cnnlab", "train", "lenet5", "--epoch", "3"])


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
def test_a_python_example_runs(example, request):
    code = compile(example.body, example.name, "exec")
    if example.needs and example.needs.startswith(NEEDS):
        return  # compiled: what it needs is not here
    folder = request.getfixturevalue("course")
    exec(code, {"__name__": "__example__"})
    assert os.getcwd() == str(folder)


# The shell commands run for real, a page at a time, in page order in one course folder (a
# command may use what an earlier one made), on a slice of the real Fashion-MNIST so that a
# page takes seconds (the Python blocks too, each in a folder of its own): what breaks an
# example in the pages breaks it on the slice too. A block
# marked as needing the internet (CIFAR-10), a GPU or a server is parsed above, not run; so are
# the set-up commands (make, source, pip), which CI runs itself, and sqlite3 and pg_dump.
SLICE = {"train": 10_000, "test": 2_000}
# What a command is documented to exit with when all went well, where that is not 0
EXITS = {("exercise", "check"): 1}  # a fresh exercise scores below full marks, and says so


def slice_of_the_data(monkeypatch):
    whole = datasets.load

    def sliced(spec, *args, **kwargs):
        return {split: (images[:SLICE[split]], labels[:SLICE[split]])
                for split, (images, labels) in whole(spec, *args, **kwargs).items()}

    monkeypatch.setattr(datasets, "load", sliced)


@pytest.fixture(scope="session")
def student_run(tmp_path_factory, fashion_mnist):
    """A short run of the tutorial's network from net.py, a student's second run."""
    folder = tmp_path_factory.mktemp("student")
    (folder / "net.py").write_text(NET)
    assert main(["train", f"{folder / 'net.py'}:Net", "--dataset", "fashion-mnist",
                 "--train-size", "2000", "--val-size", "500", "--epochs", "1",
                 "--out", str(folder / "mine")]) == 0
    return folder / "mine"


@pytest.fixture(scope="session")
def course_files(tmp_path_factory, trained_run, student_run) -> Path:
    """What every course folder starts with, made once: the tutorial's network in net.py and
    its weights saved as the course's own loop would (w.pt), the demo's run and a student's
    own (mine), a roster, and an exam set no student has (Fashion-MNIST training images
    turned on their side, which no public split holds)."""
    import torch

    folder = tmp_path_factory.mktemp("course")
    (folder / "net.py").write_text(NET)
    namespace: dict = {}
    exec(NET, namespace)
    torch.save(namespace["Net"]().state_dict(), folder / "w.pt")
    shutil.copytree(trained_run, folder / "runs" / "demo")
    shutil.copytree(student_run, folder / "runs" / "mine")
    (folder / "roster.csv").write_text("student_id,name,email\n"
                                       "s1,Ana Lima,ana@example.org\n"
                                       "s2,Ben Okafor,ben@example.org\n")
    images, labels = datasets.load(datasets.FASHION_MNIST, allow_download=False)["train"]
    write_idx(folder / "exam-images.idx.gz",
              np.ascontiguousarray(images[:600, 0].transpose(0, 2, 1)))
    write_idx(folder / "exam-labels.idx.gz", labels[:600].astype(np.uint8))
    return folder


@pytest.fixture
def course(course_files, tmp_path, monkeypatch):
    """A course folder of the test's own (`course_files`, copied), the working directory and
    on the import path, on a slice of Fashion-MNIST."""
    tmp_path = Path(shutil.copytree(course_files, tmp_path / "course"))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    slice_of_the_data(monkeypatch)
    return tmp_path


def after_closing(page: Path, monkeypatch):
    """Move the leaderboard's clock a minute past the last --closes of the page's commands."""
    import datetime

    from cnnlab.leaderboard import tasks

    closes = [datetime.datetime.fromisoformat(words[index + 1])
              for example in examples_of(page) if example.language == "sh"
              for words in commands(example.body)
              for index, word in enumerate(words) if word == "--closes"]
    assert closes, f"{page.name}: a block runs {AFTER_CLOSING}, but no command sets --closes"
    later = max(closes) + datetime.timedelta(minutes=1)
    monkeypatch.setattr(tasks, "utcnow", lambda: later.astimezone(datetime.UTC))


SHELL_PAGES = sorted({example.page for example, _ in SHELL})


@pytest.mark.slow
@pytest.mark.parametrize("page", SHELL_PAGES, ids=[str(p.relative_to(ROOT)) for p in SHELL_PAGES])
def test_the_commands_of_a_page_run_in_order(page, course, capfd, monkeypatch):
    assert run_commands_of(page, capfd, monkeypatch) > 0, \
        f"{page.name}: every command is marked as not runnable here"


@pytest.mark.slow
def test_a_command_that_fails_is_caught(course, capfd, monkeypatch):
    page = course / "page.md"
    page.write_text("```sh\ncnnlab eval runs/demo --split test --no-speed\n"
                    "cnnlab eval runs/elsewhere\n```\n")
    with pytest.raises(AssertionError, match=r"page.md:1: `cnnlab eval runs/elsewhere` exited "
                                             r"with 2:\n.*runs/elsewhere"):
        run_commands_of(page, capfd, monkeypatch)


def run_commands_of(page: Path, capfd, monkeypatch) -> int:
    """Run the page's commands in order; each must exit as documented and write its -o."""
    ran = 0
    for example in (example for example in examples_of(page) if example.language == "sh"):
        if example.needs == AFTER_CLOSING:
            after_closing(page, monkeypatch)
        elif example.needs:
            continue
        for words in commands(example.body):
            if words[0] != "cnnlab":
                continue
            try:
                code = main(words[1:])
            except SystemExit as stopped:
                code = stopped.code
            said = capfd.readouterr()
            expected = EXITS.get(tuple(words[1:3]), 0)
            assert (code or 0) == expected, (
                f"{example.name}: `{shlex.join(words)}` exited with {code}:\n"
                f"{(said.out + said.err)[-2000:]}")
            if "-o" in words:
                written = Path(words[words.index("-o") + 1])
                assert written.exists(), f"{example.name}: `{shlex.join(words)}` wrote no {written}"
            ran += 1
    return ran
