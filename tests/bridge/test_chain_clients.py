"""Small parts of the chains layer without a devnet: the one JSON-RPC client, revert reasons from
either EVM client, and the attesters' Solana policy (parsing and its rate-limit window)."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from eth_abi import encode

from bridge.evm import ERROR_STRING, error_string
from bridge.jsonrpc import ChainError, JsonRpcClient
from interop.message import NATIVE_TOKEN, word
from bridge.solana.policy import Policy, PolicyError, PolicyFile
from tests.bridge.conftest import transfer_message
from tests.nodeproc import free_port


@pytest.fixture
def server():
    """A tiny JSON-RPC endpoint whose answers the test chooses."""
    answers: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            out = answers[body["method"]]
            if callable(out):
                out = json.dumps({"jsonrpc": "2.0", "id": 0, "result": out(body["params"])}).encode() \
                    .replace(b'"id": 0', b'"id": ID')
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(out.replace(b"ID", str(body["id"]).encode()))

        def log_message(self, *a):
            pass

    httpd = HTTPServer(("127.0.0.1", free_port()), Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", answers
    httpd.shutdown()
    httpd.server_close()


def test_one_client_results_errors_and_garbage(server):
    url, answers = server
    c = JsonRpcClient(url, timeout=5)
    answers["ok"] = b'{"jsonrpc":"2.0","id":ID,"result":"0x1"}'
    answers["bad"] = b'{"jsonrpc":"2.0","id":ID,"error":{"code":3,"message":"execution reverted","data":"0x08"}}'
    answers["junk"] = b"<html>"
    answers["empty"] = b'{"jsonrpc":"2.0","id":ID}'
    assert c.rpc("ok") == "0x1"
    with pytest.raises(ChainError, match=r"bad: execution reverted \(0x08\)") as exc:
        c.rpc("bad", "secret-param")
    assert (exc.value.code, exc.value.data) == (3, "0x08") and "secret-param" not in str(exc.value)
    with pytest.raises(ChainError, match="junk failed"):
        c.rpc("junk")
    with pytest.raises(ChainError, match="neither result nor error"):
        c.rpc("empty")
    with pytest.raises(ChainError, match="127.0.0.1:1: ok failed"):
        JsonRpcClient("http://127.0.0.1:1", timeout=2).rpc("ok")


def test_revert_reason_from_anvil_and_hardhat_shapes():
    data = "0x" + (ERROR_STRING + encode(["string"], ["bridge: paused"])).hex()
    assert error_string(data) == "bridge: paused"                      # Anvil and Hardhat: a hex string
    assert error_string({"message": "x", "data": data}) == "bridge: paused"   # nested form
    assert error_string("0x12345678") is None and error_string(None) is None and error_string("zz") is None


ROUTE = (777, 777, word(b"\x33" * 20))


def msg(amount):
    return transfer_message(b"\x55" * 20, dst_chain=900001, amount=amount)


def test_policy_window_counts_each_digest_once_and_resets():
    p = Policy(limits={ROUTE: 5 * 10**18}, window_seconds=100)
    windows: dict = {}
    assert p.refusal(msg(3 * 10**18), windows, 1000.0, True) is None
    assert "rate limit" in p.refusal(msg(3 * 10**18), windows, 1050.0, True)
    assert p.refusal(msg(3 * 10**18), windows, 1050.0, False) is None       # a re-signed, counted digest
    assert p.refusal(msg(2 * 10**18), windows, 1050.0, True) is None        # exactly the limit
    assert "rate limit" in p.refusal(msg(1), windows, 1099.0, True)
    assert p.refusal(msg(5 * 10**18), windows, 1100.0, True) is None        # the next window
    assert "not enabled" in p.refusal(transfer_message(b"\x55" * 20, token_chain=778), windows, 1100.0, True)
    p.paused = True
    assert "paused" in p.refusal(msg(1), windows, 1100.0, False)             # pause stops re-signing too


def test_policy_file_is_strict_round_trips_and_fails_closed(tmp_path):
    path = tmp_path / "solana-policy.toml"
    pf = PolicyFile(path)
    with pytest.raises(PolicyError, match="no policy file"):
        pf.current()
    big = 10**24                                        # past TOML's 64-bit integers: written as a string
    Policy(limits={ROUTE: big, (1, 2, NATIVE_TOKEN): 7}).save(path)
    p = pf.current()
    assert p.limits == {ROUTE: big, (1, 2, NATIVE_TOKEN): 7} and not p.paused
    assert 'token = "native"' in path.read_text()
    cases = [
        ("pause = true", "unknown key 'pause'"),
        ("paused = 1", "paused: true or false"),
        ("window_seconds = 0", "window_seconds"),
        ('[[limit]]\nsource_chain = 1\ntoken_chain = 2\ntoken = "native"', "limit[0]: missing 'per_window'"),
        ('[[limit]]\nsource_chain = 1\ntoken_chain = 2\ntoken = "native"\nper_window = "0"', "must be positive"),
        ('[[limit]]\nsource_chain = 0\ntoken_chain = 2\ntoken = "native"\nper_window = 5', "source_chain"),
        ('[[limit]]\nsource_chain = 1\ntoken_chain = 2\ntoken = "0x12"\nper_window = 5', "limit[0].token"),
        ('[[limit]]\nsource_chain = 1\ntoken_chain = 2\ntoken = "native"\nper_window = 5\nextra = 1',
         "unknown key 'extra'"),
        ("paused = ", "solana-policy.toml"),
    ]
    for text, words in cases:
        path.write_text(text)
        with pytest.raises(PolicyError, match=words.replace("[", r"\[").replace("]", r"\]")):
            pf.current()
    from bridge.solana.policy import main

    Policy(limits={ROUTE: 5}).save(path)
    assert main(["pause", str(path)]) == 0 and pf.current().paused and pf.current().limits == {ROUTE: 5}
    assert main(["resume", str(path)]) == 0 and not pf.current().paused


def test_attester_says_when_messages_wait_on_a_chain_that_stopped_mining(server, tmp_path, monkeypatch, caplog):
    """An automine chain mines only on transactions: a message 1 block deep on a lane that needs 3
    never confirms without traffic. The attester does not attest it, and says why, once."""
    from bridge import attester as mod
    from bridge.keys import AttesterKeys
    from bridge.testing import DevGuardians

    url, answers = server
    answers["eth_blockNumber"] = b'{"jsonrpc":"2.0","id":ID,"result":"0xa"}'
    log_entry = {"address": "0x" + "11" * 20, "blockNumber": "0xa", "topics": [], "data": "0x"}
    answers["eth_getLogs"] = lambda params: [log_entry] if int(params[0]["fromBlock"], 16) <= 10 <= \
        int(params[0]["toBlock"], 16) else []
    monkeypatch.setattr(mod, "STALL_WARNING_S", 0.0)
    a = mod.Attester("http://127.0.0.1:1", AttesterKeys.from_keyset(DevGuardians(1).pqc(0)), tmp_path)
    lane = {"name": "polygon", "rpc_url": url, "confirmations": 3, "bridge_address": "0x" + "11" * 20}
    with caplog.at_level("WARNING", logger="aivm.bridge.attester"):
        for _ in range(3):
            assert a._scan(lane) == 0                    # 1 of 3 confirmations: nothing attested
    assert a.stalls == 1 and "automine" in caplog.text and "wait for 3 confirmations" in caplog.text
    answers["eth_blockNumber"] = b'{"jsonrpc":"2.0","id":ID,"result":"0xb"}'
    a._scan(lane)                                        # the head moved: a new stall may be reported later
    assert a.stalls == 1 and a._heads["polygon"][0] == 11
    a._scan(lane)
    assert a.stalls == 2


def test_sigterm_stops_a_relayer_blocked_on_a_node_that_never_answers(tmp_path):
    """A pass waiting on a node that accepted the connection and never answers (one shutting down, say; the
    client's timeout is 30 s) still ends at SIGTERM, at once and with exit status 0."""
    import signal
    import socket
    import subprocess
    import sys
    import time

    from bridge.devnet import RELAYER_INDEX, dev_key

    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)  # the kernel accepts the connections; nobody ever reads or answers
    log = tmp_path / "relayer.log"
    proc = subprocess.Popen([sys.executable, "-m", "bridge.relayer", "--rpc", f"http://127.0.0.1:{hung.getsockname()[1]}",
                             "--key", dev_key(RELAYER_INDEX)], stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "relayer delivering" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.1)
        time.sleep(1.0)  # inside its first pass: blocked on the silent node
        assert proc.poll() is None
        t = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(20)
        took = time.monotonic() - t
        assert rc == 0 and took < 3, f"rc {rc} after {took:.1f} s:\n{log.read_text()[-2000:]}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        hung.close()
