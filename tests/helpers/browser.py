"""Debian's Chromium driven by Playwright, for every browser test (the report, the console)."""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def launch_browser(args: list[str] | None = None):
    """A generator fixture body: yields a Chromium browser, or skips where none can run."""
    if os.environ.get("RUGCOACH_NO_BROWSER"):   # scripts/arm64-check.sh: Chromium cannot run under qemu-user
        pytest.skip(f"browser tests skipped: {os.environ['RUGCOACH_NO_BROWSER']}")
    if not os.path.exists(CHROMIUM):
        pytest.fail("chromium is needed (make test installs it)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args or CHROMIUM_ARGS)
        yield browser
        browser.close()
