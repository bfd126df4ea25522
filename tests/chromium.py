"""Headless Chromium for the browser tests: Debian's package driven by Playwright (never a
downloaded browser), with the flags this machine needs. `open_page` yields a page that records
JavaScript errors and every request that would leave the machine, and fails the test on either."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium not installed (make test installs it with apt-get)"
)


@contextmanager
def open_page(allow: str = "file://") -> Iterator[Any]:
    """A fresh page; requests to URLs not starting with `allow` (and not data:) are aborted and
    counted. After the block: no page error and no outside request, or the test fails."""
    sync_api = pytest.importorskip("playwright.sync_api")
    errors: list[str] = []
    outside: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-background-networking"]
        )
        try:
            page = browser.new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))

            def route(r: Any) -> None:
                url = r.request.url
                if url.startswith(allow) or url.startswith("data:"):
                    r.continue_()
                else:
                    outside.append(url)
                    r.abort()

            page.route("**/*", route)
            yield page
        finally:
            browser.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"
    assert outside == [], f"the page asked for outside resources: {outside}"
