"""Debian's Chromium driven by Playwright, for every browser test (the report, the console)."""

from __future__ import annotations

import os

import pytest

from coach.sim.browser import CHROMIUM, CHROMIUM_ARGS

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "launch_browser"]


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
