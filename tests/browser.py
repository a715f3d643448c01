"""Headless Chromium for page tests (Debian's chromium + chromium-driver, driven by selenium).

Without a browser the tests skip, unless ``FES_BENCH_REQUIRE_BROWSER=1`` (CI), where a
missing browser is a failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("FES_BENCH_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("FES_BENCH_CHROMEDRIVER", "/usr/bin/chromedriver")
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1000,1400",
)


def _unavailable(reason: str) -> None:
    if os.environ.get("FES_BENCH_REQUIRE_BROWSER") == "1":
        pytest.fail(f"FES_BENCH_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@contextlib.contextmanager
def chromium(work: Path, downloads: Path | None = None) -> Iterator:
    """A selenium Chrome driver on a fresh profile under ``work``; files it downloads land in
    ``downloads``. Skips (or fails under FES_BENCH_REQUIRE_BROWSER=1) when unavailable."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _unavailable("selenium is not installed (pip install -e '.[test]')")
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (Path(path).is_file() or shutil.which(path)):
            _unavailable(f"{path} not found (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={work / 'chromium-profile'}")
    if downloads is not None:
        downloads.mkdir(parents=True, exist_ok=True)
        options.add_experimental_option(
            "prefs",
            {
                "download.default_directory": str(downloads),
                "download.prompt_for_download": False,
                "download.directory_upgrade": True,
            },
        )
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()
