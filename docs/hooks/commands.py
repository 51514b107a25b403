"""A MkDocs hook: the command reference (docs/commands.md) written from cnnlab's own parsers at
build time, so it cannot drift from what `cnnlab COMMAND --help` prints."""

from __future__ import annotations

import argparse
import os

MARKER = "<!-- every command, from the parsers -->"


def _subcommands(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.items()


def _sections(parser: argparse.ArgumentParser, words: list[str], depth: int) -> list[str]:
    """`parser`'s help as a section, then each of its subcommands' below it."""
    name = " ".join(words)
    lines = [f"{'#' * min(depth, 4)} `{name}`", "", "```text", parser.format_help().rstrip(),
             "```", ""]
    for word, child in _subcommands(parser):
        lines += _sections(child, [*words, word], depth + 1)
    return lines


def reference() -> str:
    from cnnlab.cli import build_parser

    os.environ.setdefault("COLUMNS", "100")  # argparse wraps to the terminal's width
    parser = build_parser()
    parser.prog = "cnnlab"
    lines = []
    for word, child in _subcommands(parser):
        lines += _sections(child, ["cnnlab", word], 2)
    return "\n".join(lines)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if page.file.src_uri == "commands.md":
        return markdown.replace(MARKER, reference())
    return markdown
