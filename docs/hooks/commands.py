"""A MkDocs hook: the command reference (docs/commands.md) written from cnnlab's own parsers at
build time, so it cannot drift from what `cnnlab COMMAND --help` prints."""

from __future__ import annotations

import os

MARKER = "<!-- every command, from the parsers -->"


def reference() -> str:
    """Every command's and subcommand's help as a section, nested as the commands are."""
    from cnnlab.cli import build_parser, every_parser

    os.environ.setdefault("COLUMNS", "100")  # argparse wraps to the terminal's width
    parser = build_parser()
    parser.prog = "cnnlab"
    lines = []
    for words, child in every_parser(parser):
        if len(words) > 1:  # `cnnlab` itself is the page
            lines += [f"{'#' * min(len(words), 4)} `{' '.join(words)}`", "", "```text",
                      child.format_help().rstrip(), "```", ""]
    return "\n".join(lines)


def on_page_markdown(markdown: str, page, config, files) -> str:
    if page.file.src_uri == "commands.md":
        return markdown.replace(MARKER, reference())
    return markdown
