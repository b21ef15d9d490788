"""Headless Chromium (Debian's ``chromium`` package) driven by Playwright, closed to the network.

The one list of the browser's flags, used by the report tests and ``scripts/report_screenshot.py``.
Playwright never downloads a browser here: it drives the system's ``/usr/bin/chromium``
(``make test`` installs it). Without the background flags Chromium tries to reach Google's
services at start, which fails (and logs) on a closed network.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


@dataclass
class Visit:
    """The page opened, and what it tried while loading."""

    page: Page
    console_errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)  # requests other than the file, aborted
    requests: list[str] = field(default_factory=list)


@contextmanager
def open_offline(html: Path, width: int = 1100, height: int = 900) -> Iterator[Visit]:
    """``html`` opened in a fresh profile with every request but the file itself aborted."""
    url = html.resolve().as_uri()
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=list(FLAGS),
            viewport={"width": width, "height": height},
            offline=True,
        )
        try:
            page = context.new_page()
            visit = Visit(page)
            page.on(
                "console",
                lambda m: visit.console_errors.append(m.text) if m.type == "error" else None,
            )
            page.on("pageerror", lambda e: visit.console_errors.append(str(e)))
            page.on("request", lambda r: visit.requests.append(r.url))

            def route(r):
                if r.request.url == url:
                    r.continue_()
                else:
                    visit.blocked.append(r.request.url)
                    r.abort()

            context.route("**/*", route)
            page.goto(url, wait_until="load")
            yield visit
        finally:
            context.close()
