"""The dashboard's fixtures: the app served on a loopback port and one headless Chromium
(Debian's, through its chromedriver: no browser is downloaded), from :mod:`smcore.web.testing`."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from selenium import webdriver

from smcore.web.testing import CHROMEDRIVER, CHROMIUM, chromium, serving


@pytest.fixture(scope="session")
def served() -> Callable[[Any], AbstractContextManager[str]]:
    """``with served(app) as base_url:`` the app on a free loopback port."""
    return serving


@pytest.fixture(scope="session")
def browser() -> Iterator[webdriver.Chrome]:
    """One headless Chromium for the session (each test signs out or uses its own server)."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if shutil.which(p) is None]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} missing: install Debian's chromium and chromium-driver "
            "(bash .ci/run does)"
        )
    driver = chromium()
    try:
        yield driver
    finally:
        driver.quit()
