"""Fixtures for the dashboard's browser tests: a headless chromium per test, always closed."""
from __future__ import annotations

import pytest

from tests.dashboard.browser import Browser


@pytest.fixture
def browser(tmp_path):
    b = Browser(tmp_path)
    try:
        yield b
    finally:
        try:  # what the page showed when a test failed, for a person to look at
            b.screenshot(tmp_path / "last.png")
        except Exception:
            pass
        b.close()


READ_ONLY = {
    "dashboard_overview", "dashboard_latest", "dashboard_block", "dashboard_transaction", "dashboard_address",
    "dashboard_contracts", "dashboard_search", "dashboard_validators", "dashboard_computations",
    "dashboard_computation", "dashboard_history", "dashboard_bridges", "eth_subscribe",
}


def assert_page_stayed_local_and_read_only(browser, port: int) -> None:
    """Every request went to this node, and every JSON-RPC method the page called only reads."""
    origins = (f"http://127.0.0.1:{port}/", f"ws://127.0.0.1:{port}/")
    requests = browser.call("requests")
    assert requests, "the page made no requests at all"
    for r in requests:
        assert r["url"].startswith(origins), f"the page reached outside the node: {r['url']}"
        for m in r["rpc"]:
            assert m in READ_ONLY, f"the page called {m}, which is not a read-only dashboard method"
    assert browser.call("problems") == [], browser.call("problems")
