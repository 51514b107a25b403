"""The `cnnlab` command: a file per command, each thin: it parses arguments and calls the
modules that do the work (imported inside the handlers, so `cnnlab --help` and `cnnlab submit`
start at once)."""

from __future__ import annotations

import argparse
import os
import sys

from cnnlab.cli.evaluate import add_evaluate
from cnnlab.cli.exercise import add_exercise
from cnnlab.cli.lab import add_lab
from cnnlab.cli.leaderboard import add_leaderboard
from cnnlab.cli.runs import add_runs
from cnnlab.cli.shapes import add_shapes
from cnnlab.cli.submit import add_submit
from cnnlab.cli.train import add_recipes, add_train
from cnnlab.cli.viz import add_viz


class _Parser(argparse.ArgumentParser):
    """Usage mistakes get one line, like every other error of the command."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cnnlab", description="A lab for convolutional networks.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    add_shapes(commands)
    add_train(commands)
    add_recipes(commands)
    add_evaluate(commands)
    add_runs(commands)
    add_viz(commands)
    add_lab(commands)
    add_leaderboard(commands)
    add_submit(commands)
    add_exercise(commands)
    return parser


def every_parser(parser: argparse.ArgumentParser, words: tuple[str, ...] = ("cnnlab",)):
    """(words, parser) for `parser` and each command and subcommand below it, depth first:
    what the command reference and the documentation's checks walk."""
    yield words, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for word, child in action.choices.items():
                yield from every_parser(child, (*words, word))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (ValueError, TypeError, FileNotFoundError, FloatingPointError, ImportError) as error:
        print(f"cnnlab {args.command}: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `cnnlab shapes vgg16 | head`: the reader left, nothing to say
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - stays open until exit
        return 0
    except KeyboardInterrupt:
        print(f"cnnlab {args.command}: interrupted", file=sys.stderr)
        return 130
