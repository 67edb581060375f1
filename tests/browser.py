"""Debian's Chromium driven by Playwright: the tests' and benchmarks' one way to start a real browser.

Chromium comes from Debian (``apt-get install -y chromium``, done by ``make setup``); Playwright drives it
through ``executable_path``, so no browser is ever downloaded. ``RCU_CHROMIUM`` points at another binary.

    with sync_playwright() as playwright:
        browser = launch(playwright)
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

#: Chromium's flags on a closed network: without the background-networking ones it keeps trying (and
#: failing) to reach Google's hosts; headless without GPU or sandbox, as root in a container
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


class ChromiumNotFoundError(FileNotFoundError):
    pass


def chromium_path() -> str:
    """``RCU_CHROMIUM``, else the ``chromium`` on the PATH, else Debian's; :class:`ChromiumNotFoundError` saying
    how to install it when there is none."""
    path = os.environ.get("RCU_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        raise ChromiumNotFoundError(
            f"Chromium not found at {path}: install Debian's package (`apt-get install -y chromium`, run by "
            "`make setup`) or point RCU_CHROMIUM at a Chromium binary."
        )
    return path


def launch(playwright):
    """A headless Chromium browser of ``playwright`` (``sync_playwright()``'s)."""
    return playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)
