"""Debian's Chromium driven by Playwright, for every browser test (the report, the console)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from coach.sim.browser import CHROMIUM, CHROMIUM_ARGS

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "PAGES", "PC", "PHONE", "SCREENSHOTS", "go", "launch_browser", "open_report"]

PHONE = {"width": 390, "height": 844}
PC = {"width": 1280, "height": 800}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"   # kept after the test, to look at
# the console's pages by task, by their hash route, and a section each shows
PAGES = {"box": "#box", "patienten": "#patients", "stem": "#voice", "instellingen": "#backup", "accounts": "#mine"}


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


def go(page, name: str) -> None:
    """To one of the console's pages, by its link in the navigation bar."""
    from playwright.sync_api import expect
    page.click(f"#nav a[href='#/{name}']")
    expect(page.locator(PAGES[name])).to_be_visible()
    expect(page.locator(f"#nav a[href='#/{name}']")).to_have_attribute("aria-current", "page")


def open_report(context, page):
    """The open patient's report, as the console opens it: in a tab of its own, loaded."""
    with context.expect_page() as opened:
        page.click("#patient-report")
    report = opened.value
    report.wait_for_load_state()
    return report
