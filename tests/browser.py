"""Headless Chromium for page tests: Debian's /usr/bin/chromium driven by Playwright, started
with the flags this closed network needs (no background connections). `loopback` serves the app
they load (cnnlab.serving)."""

import contextlib
from pathlib import Path

import pytest

from cnnlab.serving import loopback  # noqa: F401  (the page tests' server)

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


@contextlib.contextmanager
def chromium_page(errors: list):
    """A fresh page; console errors and uncaught page errors are appended to `errors`. Skips
    the test, saying why, where Chromium or Playwright is missing."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (make test installs it)")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                         args=FLAGS)
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            yield page
        finally:
            browser.close()
