"""The Bridges view in headless chromium, fed by a registered bridge status source.

The bridge package registers its own source; until it lands, this test's
source implements the same `BridgeStatusSource` interface on an in-process
node, so the view's lanes, transfers, states and attestations are checked in
a real browser, and its live refresh with them.
"""
from __future__ import annotations

import asyncio
import threading
import time

import pytest

from app.dashboard.sources import register_bridge_source
from tests.dashboard.conftest import assert_page_stayed_local_and_read_only
from tests.nodeproc import free_port


class Lanes:
    """A thread-safe status source whose one transfer gains attestations over time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.attestations: list = []
        self.state = "Attesting"

    def attest(self, validator: str) -> None:
        with self._lock:
            self.attestations.append({"validator": validator, "valid": True, "time": time.time()})
            if len(self.attestations) >= 2:
                self.state = "Completed"

    def lanes(self) -> list[dict]:
        return [{"id": "aivm-31337->anvil-31338", "source_chain": "aivm:31337", "target_chain": "anvil:31338",
                 "status": "open", "transfers": 1, "last_activity": time.time()}]

    def transfers(self, limit: int) -> list[dict]:
        with self._lock:
            return [{"id": "0x" + "ab" * 32, "lane": "aivm-31337->anvil-31338", "asset": "ETH", "amount": "1.5",
                     "sender": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
                     "recipient": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "state": self.state,
                     "created": time.time(), "required": 2, "attestations": list(self.attestations)}][:limit]


@pytest.fixture
def node_with_bridge():
    from vm.node import Node, NodeOptions, Services
    from app.rpc.server import serve

    port = free_port()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict = {}

    async def main() -> None:
        node = Node(NodeOptions(), Services())
        await node.start()
        runner = await serve(node, "127.0.0.1", port)
        box.update(node=node, runner=runner, stop=asyncio.Event())
        ready.set()
        await box["stop"].wait()
        await runner.cleanup()
        await node.stop()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(60), "in-process node did not start"
    source = Lanes()
    register_bridge_source(box["node"], source)
    try:
        yield port, source
    finally:
        loop.call_soon_threadsafe(box["stop"].set)
        thread.join(30)
        loop.close()


def test_bridges_view_lists_lanes_transfers_and_attestations_live(node_with_bridge, browser, tmp_path):
    port, source = node_with_bridge
    browser.goto(f"http://127.0.0.1:{port}/dashboard/#/bridges")
    browser.wait("#lanes tbody tr[data-lane='aivm-31337->anvil-31338']")
    lane = browser.text("#lanes tbody tr")
    assert "aivm:31337" in lane and "anvil:31338" in lane and "open" in lane
    row = browser.text("#transfers tbody tr")
    assert "1.5 ETH" in row and "Attesting" in row and "0 / 2" in row
    source.attest("sYnvalidatorone")
    source.attest("sYnvalidatortwo")
    browser.wait_for("() => document.querySelector('#transfers tbody tr').textContent.includes('Completed')", timeout=20)
    assert "2 / 2" in browser.text("#transfers tbody tr")
    browser.screenshot(tmp_path / "bridges.png")
    assert_page_stayed_local_and_read_only(browser, port)
