"""Fixtures for the browser tests: a real ``streamlit run app.py`` server and Debian's Chromium.

The server is started once per session on a free port of 127.0.0.1 (with its own embedding cache
in a temporary folder) and its whole process group is stopped at the end. Each test gets a new
browser context, which is a new Streamlit session.

Without playwright or ``/usr/bin/chromium`` the tests are skipped, except when ``CI=true``: there
a skipped browser test is a failure.
"""

from __future__ import annotations

import os

import pytest
from streamlit_server import CHROMIUM, CHROMIUM_ARGS, VIEWPORT, StreamlitServer

SERVER_START_TIMEOUT_S = 60
DEFAULT_TIMEOUT_MS = 60_000
"""Playwright's timeout for each wait: generous, a shared 2-core machine can be slow."""


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI=true, where browser tests must run, not be skipped", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser_available() -> None:
    """Skip (or fail under CI=true) when playwright or Debian's Chromium is missing."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("playwright is not installed (pip install playwright; never `playwright install`)")
    if not os.access(CHROMIUM, os.X_OK):
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")


@pytest.fixture(scope="session")
def start_server(browser_available, tmp_path_factory):
    """Factory: start a fresh server (stopped at the end of the session); returns it once healthy."""
    servers: list[StreamlitServer] = []

    def start() -> StreamlitServer:
        folder = tmp_path_factory.mktemp("server")
        server = StreamlitServer(folder / "streamlit.log", env={"SCVI_VIZ_CACHE_DIR": str(folder / "cache")})
        servers.append(server)
        server.wait_healthy(SERVER_START_TIMEOUT_S)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def app_server(start_server) -> StreamlitServer:
    """The app's server shared by the tests."""
    return start_server()


@pytest.fixture(scope="session")
def app_url(app_server) -> str:
    return app_server.url


@pytest.fixture(scope="session")
def browser(browser_available):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser):
    """Factory for pages in fresh contexts (new Streamlit sessions), closed after the test.

    Each page records uncaught JavaScript errors in ``page.js_errors``.
    """
    contexts = []

    def make(viewport: dict | None = None):
        context = browser.new_context(viewport=viewport or VIEWPORT, accept_downloads=True)
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.js_errors = []
        page.on("pageerror", lambda error: page.js_errors.append(str(error)))
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    """A Playwright page (1400 x 1000) in a fresh browser context."""
    return new_page()
