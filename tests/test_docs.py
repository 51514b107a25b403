"""The documentation site (mkdocs.yml, docs/): it builds strictly, its command reference holds
every command the parsers know, its API reference comes from the docstrings, a broken link
fails the build, and its pages load in a real browser."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser import chromium_page

ROOT = Path(__file__).parents[1]
MKDOCS = [sys.executable, "-m", "mkdocs", "build", "--strict"]  # (--quiet stops counting warnings)
QUIET = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}


def _build(config: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*MKDOCS, "-f", str(config), "-d", str(site)], capture_output=True,
                          text=True, env=QUIET, timeout=600)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("site")
    built = _build(ROOT / "mkdocs.yml", folder)
    assert built.returncode == 0, built.stderr
    return folder


def test_the_command_reference_holds_every_command_the_parsers_know(site):
    from cnnlab.cli import build_parser, every_parser

    names = [" ".join(words) for words, _ in every_parser(build_parser()) if len(words) > 1]
    page = (site / "commands.html").read_text()
    assert len(names) > 30 and "cnnlab viz gradcam" in names
    missing = [name for name in names if f"<code>{name}</code>" not in page]
    assert missing == []
    assert "--classes N [N ...]" in page  # an option, as --help prints it


def test_the_api_reference_is_the_docstrings(site):
    import cnnlab.api

    page = (site / "api.html").read_text()
    first_line = cnnlab.api.train.__doc__.split("\n")[0].split("`")[0].strip()
    assert "cnnlab.api.train" in page and first_line in page
    assert "cnnlab.viz.notebook.grad_cam" in page and "cnnlab.models.capture.record" in page


def test_every_notebook_is_a_page(site):
    pages = sorted(path.name for path in (site / "notebooks").glob("*.html"))
    assert pages == sorted(path.stem + ".html" for path in (ROOT / "notebooks").glob("*.ipynb"))


def test_a_broken_link_fails_the_build(tmp_path):
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copytree(ROOT / "docs", tmp_path / "docs", symlinks=True)
    for shared in ("notebooks", "src"):
        (tmp_path / shared).symlink_to(ROOT / shared)
    page = tmp_path / "docs" / "teachers.md"
    page.write_text(page.read_text() + "\nSee [the grading page](grading.md).\n")
    built = _build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert built.returncode != 0
    assert "grading.md" in built.stderr and "teachers.md" in built.stderr


@pytest.mark.browser
def test_the_index_and_an_api_page_load_in_chromium(site):
    errors: list[str] = []
    with chromium_page(errors) as page:
        page.goto((site / "index.html").as_uri())
        assert page.locator("h1").first.inner_text().rstrip("¶") == "cnnlab"
        assert page.locator("a[href='students.html']").count() >= 1
        page.goto((site / "api.html").as_uri())
        assert "Python API" in page.locator("h1").first.inner_text()
        assert page.locator("#cnnlab.api.train, [id='cnnlab.api.train']").count() == 1
    assert errors == []
