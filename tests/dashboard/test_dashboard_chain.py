"""The dashboard's Chain, Security and Bridges views in headless chromium, against a real node.

A block appears without a reload; a transaction page decodes the call, the
event and the revert reason with the ABI the node recorded; search finds a
block, a transaction and an address; the page talks only to the node and
calls only read-only methods; nothing secret is on any page.
"""
from __future__ import annotations

import json

import pytest
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector

from app.dashboard.sources import bridges_view, register_bridge_source
from tests.dashboard.conftest import assert_page_stayed_local_and_read_only
from tests.nodeproc import start_node

SOURCE = '''
# pragma version 0.4.3
event Stored:
    who: indexed(address)
    value: uint256
    note: String[32]

value: public(uint256)

@external
def store(v: uint256, note: String[32]):
    assert v < 1000, "value too big"
    self.value = v
    log Stored(who=msg.sender, value=v, note=note)
'''
DEV0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
DEV1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
DEV0_KEY = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"  # the public dev key: never on a page


def _store(v: int, note: str) -> str:
    return "0x" + (function_signature_to_4byte_selector("store(uint256,string)") + encode(["uint256", "string"], [v, note])).hex()


def _chain_only(workdir) -> tuple[str, str]:
    """Config args for a node without the AI layer: these tests need none, and loading models costs CPU."""
    cfg = workdir / "aivm-config.toml"
    cfg.write_text("[aivm]\nenabled = false\n")
    return "--config", str(cfg)


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("node")
    n = start_node(workdir, *_chain_only(workdir))
    try:
        yield n
    finally:
        n.stop()


def _rpc(node, method, *params):
    reply = node.rpc(method, *params)
    assert "error" not in reply, reply
    return reply["result"]


def test_chain_view_updates_live_decodes_transactions_and_searches(node, browser, tmp_path):
    from vyper import compile_code

    out = compile_code(SOURCE, output_formats=["bytecode", "abi"])
    deployed = _rpc(node, "synergy_deployAIVMContract", out["bytecode"], json.dumps(out["abi"]), "standard")
    contract = deployed["contract_address"]
    head = int(_rpc(node, "eth_blockNumber"), 16)

    browser.goto(node.url + "/dashboard")
    browser.wait(f"#blocks tbody tr[data-number='{head}']")
    browser.wait(f"#view [data-kind='standard'] a[href='#/address/{contract}']")
    browser.eval("() => { window.__sameDocument = true; }")
    browser.wait_for("() => window.__dash.ready")

    # a new block and its transaction appear without a reload
    ok_tx = _rpc(node, "eth_sendTransaction", {"from": DEV0, "to": contract, "data": _store(42, "hello dashboard")})
    browser.wait(f"#blocks tbody tr[data-number='{head + 1}']")
    browser.wait(f"#txs tbody tr[data-hash='{ok_tx}']")
    assert browser.eval("() => window.__sameDocument === true"), "the page reloaded"
    assert "store" in browser.text(f"#txs tbody tr[data-hash='{ok_tx}']")
    browser.screenshot(tmp_path / "chain.png")

    transfer = _rpc(node, "eth_sendTransaction", {"from": DEV0, "to": DEV1, "value": hex(10**18)})
    browser.wait(f"#txs tbody tr[data-hash='{transfer}']")
    browser.wait(f"#blocks tbody tr[data-number='{head + 2}']")

    bad_tx = _rpc(node, "eth_sendTransaction", {"from": DEV0, "to": contract, "data": _store(5000, "too much"),
                                                "gas": hex(200_000)})
    browser.wait(f"#txs tbody tr[data-hash='{bad_tx}']")
    assert "reverted" in browser.text(f"#txs tbody tr[data-hash='{bad_tx}']")

    # the transaction page: decoded call and event
    browser.eval(f"() => {{ location.hash = '#/tx/{ok_tx}'; }}")
    browser.wait("#decoded-call .args")
    call = browser.text("#decoded-call")
    assert "store(uint256,string)" in call and "42" in call and "hello dashboard" in call
    events = browser.text("#events")
    assert "Stored(address,uint256,string)" in events and "hello dashboard" in events
    assert DEV0.lower() in events.lower()
    browser.screenshot(tmp_path / "transaction.png")

    # ... and the revert reason of the failed one
    browser.eval(f"() => {{ location.hash = '#/tx/{bad_tx}'; }}")
    browser.wait("#revert")
    assert "value too big" in browser.text("#revert")
    assert "reverted" in browser.text("#tx-detail")
    browser.screenshot(tmp_path / "revert.png")

    # search: block number, transaction hash, address in sYn… form
    syn = _rpc(node, "dashboard_address", contract)["syn"]
    browser.eval(f"() => {{ location.hash = '#/tx/{deployed['transaction_hash']}'; }}")
    browser.wait_for("() => document.querySelector('#decoded-call') && document.querySelector('#decoded-call').textContent.includes('constructor')")
    assert "contract creation" in browser.text("#tx-detail") and contract in browser.text("#tx-detail")
    browser.eval(f"() => {{ location.hash = '#/tx/{transfer}'; }}")
    browser.wait_for("(h) => { const e = document.querySelector('#tx-detail'); return e && e.textContent.includes(h); }", transfer)
    assert "1.0000 ETH" in browser.text("#tx-detail")
    for query, title in ((str(head + 1), f"Block #{head + 1}"), (ok_tx, "Transaction"), (syn, "Contract")):
        browser.call("fill", selector="#search-input", value=query)
        browser.call("press", selector="#search-input", key="Enter")
        browser.wait_for("(t) => { const e = document.querySelector('#view h2'); return e && e.textContent.startsWith(t); }", title)
    page = browser.text("#view")
    assert contract in page and "store(uint256,string)" in page and "Stored(address,uint256,string)" in page
    browser.call("fill", selector="#search-input", value="not a thing")
    browser.call("press", selector="#search-input", key="Enter")
    browser.wait("#notice:not([hidden])")
    assert "search by block number" in browser.text("#notice")

    # Security and Bridges render; the node has no bridge source
    browser.eval("() => { location.hash = '#/security'; }")
    browser.wait("#levels tbody tr[data-level='Basic']")
    browser.wait("#chart-pqc")
    browser.screenshot(tmp_path / "security.png")
    browser.eval("() => { location.hash = '#/bridges'; }")
    browser.wait("#no-bridges")
    assert browser.text("#no-bridges") == "no bridges configured"
    browser.screenshot(tmp_path / "bridges.png")

    texts = []
    for view in ("#/chain", f"#/tx/{ok_tx}", f"#/address/{DEV0}", "#/ai", "#/security"):
        browser.eval(f"() => {{ location.hash = '{view}'; }}")
        browser.wait_for("() => !document.querySelector('#view').textContent.startsWith('Loading')")
        browser.call("waitFn", js="() => new Promise((r) => setTimeout(() => r(true), 300))")
        texts.append(browser.eval("() => document.documentElement.outerHTML"))
    assert not any(DEV0_KEY in t.lower() for t in texts), "a private key is on the page"
    assert_page_stayed_local_and_read_only(browser, node.port)


def test_the_page_is_announced_served_with_a_strict_policy_and_its_chart_library_is_local(node):
    import requests

    assert f"Dashboard: http://127.0.0.1:{node.port}/dashboard/" in node.log()
    page = requests.get(node.url + "/dashboard", timeout=10)
    assert page.status_code == 200 and page.url.endswith("/dashboard/")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and f"connect-src 'self' ws://127.0.0.1:{node.port}" in csp
    assert "https://" not in page.text and "http://" not in page.text  # nothing from elsewhere
    lib = requests.get(node.url + "/dashboard/static/vendor/chart.umd.min.js", timeout=10)
    assert lib.status_code == 200 and "Chart.js v4.6.1" in lib.text[:300]
    assert requests.get(node.url + "/dashboard/static/../../app/cli.py", timeout=10).status_code in (403, 404)


def test_dashboard_methods_refuse_bad_input_with_clear_errors(node):
    cases = [
        ("dashboard_block", ["ten"], -32602),
        ("dashboard_block", [999_999], -32001),
        ("dashboard_transaction", ["0x" + "ab" * 32], -32001),
        ("dashboard_transaction", ["0x12"], -32602),
        ("dashboard_latest", [0], -32602),
        ("dashboard_latest", [10, 10_000], -32602),
        ("dashboard_address", ["sYnnotanaddress"], -32602),
        ("dashboard_search", ["x" * 500], -32602),
        ("dashboard_history", ["0x00"], -32602),
        ("dashboard_history", [["0x1234"]], -32602),
        ("dashboard_bridges", [0], -32602),
        ("dashboard_computation", ["ai_comp_0_0"], -32001),  # and: AI is disabled on this node
    ]
    for method, params, code in cases:
        reply = node.rpc(method, *params)
        assert "error" in reply, (method, params, reply)
        assert reply["error"]["code"] == code, (method, params, reply)
        assert "internal error" not in reply["error"]["message"]
    assert node.rpc("dashboard_search", "#99999")["result"]["kind"] == "none"
    assert node.rpc("dashboard_bridges")["result"] == {"configured": False, "message": "no bridges configured",
                                                       "lanes": [], "transfers": []}
    assert node.proc.poll() is None


def test_the_page_survives_a_killed_node_and_catches_up_when_it_is_back(browser, tmp_path):
    import signal

    data = tmp_path / "chain"
    first = start_node(tmp_path, *_chain_only(tmp_path), data_dir=data)
    port = first.port
    try:
        _rpc(first, "eth_sendTransaction", {"from": DEV0, "to": DEV1, "value": "0x1"})
        browser.goto(first.url + "/dashboard/")
        browser.wait("#blocks tbody tr[data-number='1']")
        browser.wait_for("() => window.__dash.ready")
        browser.eval("() => { window.__sameDocument = true; }")
    finally:
        first.stop(signal.SIGKILL)
    browser.wait_for("() => document.querySelector('#conn').textContent.startsWith('reconnecting')", timeout=20)
    browser.screenshot(tmp_path / "node-down.png")
    second = start_node(tmp_path, *_chain_only(tmp_path), data_dir=data, port=port)
    try:
        browser.wait_for("() => window.__dash.ready", timeout=40)  # it reconnected and subscribed again
        _rpc(second, "eth_sendTransaction", {"from": DEV0, "to": DEV1, "value": "0x2"})
        browser.wait("#blocks tbody tr[data-number='2']", timeout=20)
        assert browser.eval("() => window.__sameDocument === true")
        assert browser.text("#conn") == "live"
    finally:
        second.stop()


class _Lanes:
    def lanes(self):
        return [{"id": "aivm-anvil", "source_chain": "aivm", "target_chain": "anvil:31338", "status": "open",
                 "transfers": 1, "last_activity": 1.0}]

    def transfers(self, limit):
        return [{"id": "0x01", "lane": "aivm-anvil", "asset": "ETH", "amount": "1", "sender": "0xa", "recipient": "0xb",
                 "state": "Attested", "created": 1.0, "required": 2,
                 "attestations": [{"validator": "sYn1", "valid": True, "time": 1.0}]}][:limit]


def test_bridge_status_source_interface():
    class Node:  # as vm.node.Node declares it
        dashboard_bridge_source = None

    node = Node()
    assert bridges_view(node)["configured"] is False
    with pytest.raises(TypeError):
        register_bridge_source(node, object())
    register_bridge_source(node, _Lanes())
    view = bridges_view(node, limit=5)
    assert view["configured"] and view["lanes"][0]["id"] == "aivm-anvil"
    assert view["transfers"][0]["attestations"][0]["valid"] is True
