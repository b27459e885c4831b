"""Bad input gets a standard JSON-RPC error in words a person understands; the node survives."""
import json
import random

import pytest
import requests
from eth_account import Account

from app.rpc.dispatch import MAX_BATCH
from app.rpc.server import MAX_BODY

KEY0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


def post(node, body, raw=False):
    data = body if raw else json.dumps(body)
    return requests.post(node.url, data=data, headers={"Content-Type": "application/json"}, timeout=30)


def call(node, method, params):
    return post(node, {"jsonrpc": "2.0", "id": 7, "method": method, "params": params}).json()


@pytest.mark.parametrize("payload,code,words", [
    (b"{not json", -32700, "parse error"),
    (b"", -32700, "parse error"),
    (b"[]", -32600, "empty batch"),
    (b"42", -32600, "JSON object"),
    (b'{"id":1,"method":"eth_chainId"}', -32600, '"jsonrpc" must be "2.0"'),
    (b'{"jsonrpc":"2.0","id":1}', -32600, '"method" must be a string'),
    (b'{"jsonrpc":"2.0","id":{},"method":"eth_chainId"}', -32600, "id must be"),
    (b'{"jsonrpc":"2.0","id":1,"method":"eth_nope","params":[]}', -32601, "does not exist"),
    (b'{"jsonrpc":"2.0","id":1,"method":"eth_fillTransaction","params":[{}]}', -32601, "does not exist"),
    (b'{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":{}}', -32602, "must be a list"),
])
def test_envelope_errors(node, payload, code, words):
    r = post(node, payload, raw=True).json()
    assert r["error"]["code"] == code
    assert words in r["error"]["message"]


@pytest.mark.parametrize("method,params,words", [
    ("eth_getBalance", [], "expects 1 to 2 params, got 0"),
    ("eth_getBalance", ["0x12", "latest"], "40 hex digits"),
    ("eth_getBalance", ["0xzz" + "0" * 38, "latest"], "invalid hex"),
    ("eth_getBalance", ["0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92267", "latest"], "checksum"),
    ("eth_getBalance", ["0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266", "tomorrow"], "expected a block"),
    ("eth_getBalance", [123, "latest"], "expected an address"),
    ("eth_blockNumber", [1], "expects 0 params, got 1"),
    ("eth_getBlockByNumber", ["0x1", "yes"], "true or false"),
    ("eth_sendRawTransaction", ["0x"], "empty transaction"),
    ("eth_sendRawTransaction", ["0x1"], "odd number"),
    ("eth_sendRawTransaction", ["0xdeadbeef"], "invalid raw transaction"),
    ("eth_call", [{"to": "0x12"}], "40 hex digits"),
    ("eth_call", [{"bogus": 1}], "unknown transaction field"),
    ("eth_getLogs", [{"topics": "x"}], "topics must be a list"),
    ("eth_feeHistory", ["0x2", "latest", [50, 10]], "ascending"),
    ("eth_getStorageAt", ["0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266", "0xnothex"], "slot"),
])
def test_parameter_errors(node, method, params, words):
    r = call(node, method, params)
    assert r["error"]["code"] == -32602, r
    assert words in r["error"]["message"]


def _signed(w3, **over):
    acct = Account.from_key(KEY0)
    tx = {"to": w3.eth.accounts[1], "value": 1, "gas": 21000, "maxFeePerGas": 10**10,
          "maxPriorityFeePerGas": 10**9, "chainId": 31337,
          "nonce": w3.eth.get_transaction_count(acct.address, "pending"), **over}
    return acct.sign_transaction(tx).raw_transaction.hex()


def test_transaction_rejections(node, w3):
    assert "result" in call(node, "eth_sendRawTransaction", ["0x" + _signed(w3)])
    low = call(node, "eth_sendRawTransaction", ["0x" + _signed(w3, nonce=0, value=2)])
    assert low["error"]["code"] == -32000 and "nonce too low" in low["error"]["message"]
    high = call(node, "eth_sendRawTransaction", ["0x" + _signed(w3, nonce=10**6)])
    assert "nonce too high" in high["error"]["message"]
    rich = call(node, "eth_sendRawTransaction", ["0x" + _signed(w3, value=10**30)])
    assert rich["error"]["code"] == -32000 and "insufficient funds" in rich["error"]["message"]
    chain = call(node, "eth_sendRawTransaction", ["0x" + _signed(w3, chainId=1)])
    assert "chain id" in chain["error"]["message"]
    cheap = call(node, "eth_sendRawTransaction", ["0x" + _signed(w3, gas=20000)])
    assert "intrinsic gas too low" in cheap["error"]["message"]
    fee = call(node, "eth_sendRawTransaction", ["0x" + _signed(w3, maxFeePerGas=1, maxPriorityFeePerGas=1)])
    assert "base fee" in fee["error"]["message"]
    # a signature that does not verify
    good = bytearray(bytes.fromhex(_signed(w3)))
    good[-5] ^= 0xFF
    bad = call(node, "eth_sendRawTransaction", ["0x" + good.hex()])
    assert bad["error"]["code"] in (-32602, -32000)
    # the same transaction twice
    raw = "0x" + _signed(w3)
    assert "result" in call(node, "eth_sendRawTransaction", [raw])
    again = call(node, "eth_sendRawTransaction", [raw])
    assert "already known" in again["error"]["message"]


def test_oversized_body_and_batch(node):
    big = post(node, b"[" + b" " * (MAX_BODY + 10) + b"]", raw=True)
    assert big.status_code == 413 and "too large" in big.json()["error"]["message"]
    batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_chainId", "params": []} for i in range(MAX_BATCH + 1)]
    r = post(node, batch).json()
    assert r["error"]["code"] == -32600 and "batch too large" in r["error"]["message"]


def test_batch_with_mixed_errors(node):
    body = [{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, 5,
            {"jsonrpc": "2.0", "id": 3, "method": "eth_nope"}]
    out = post(node, body).json()
    assert out[0]["result"] == "0x7a69"
    assert out[1]["error"]["code"] == -32600
    assert out[2]["error"]["code"] == -32601


def test_get_is_not_rpc(node):
    r = requests.get(node.url, timeout=10)
    assert r.status_code == 405


def _random_value(rng, depth=0):
    choices = [
        lambda: None, lambda: rng.choice([True, False]), lambda: rng.randint(-2**70, 2**70),
        lambda: rng.random() * 1e30, lambda: "0x" + rng.randbytes(rng.randint(0, 40)).hex(),
        lambda: "0x" + "".join(rng.choice("0123456789abcdefxyz") for _ in range(rng.randint(0, 70))),
        lambda: rng.choice(["latest", "pending", "earliest", "", "💥", "\x00"]),
        lambda: rng.randbytes(rng.randint(0, 20)).decode("latin-1"),
    ]
    if depth < 2:
        choices.append(lambda: [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))])
        choices.append(lambda: {rng.choice(["from", "to", "data", "value", "gas", "topics", "address", "fromBlock", "x"]):
                                _random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))})
    return rng.choice(choices)()


def test_fuzz_thousands_of_bad_requests_then_node_is_intact(node, w3):
    from app.rpc.dispatch import method_names

    a = w3.eth.accounts
    w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": a[0], "to": a[2], "value": 1}))
    head, bal = w3.eth.block_number, w3.eth.get_balance(a[2])
    root = w3.eth.get_block("latest")["stateRoot"]
    rng = random.Random(1234)
    names = [n for n in method_names() if not n.startswith(("evm_", "anvil_", "hardhat_", "eth_send", "synergy_deploy", "personal", "eth_sign"))]
    names += ["eth_nope", "", "eth_getBalance "]
    session = requests.Session()
    for i in range(2500):
        kind = rng.random()
        if kind < 0.1:
            payload = rng.randbytes(rng.randint(0, 200))
        elif kind < 0.2:
            payload = json.dumps([{"jsonrpc": "2.0", "id": j, "method": rng.choice(names),
                                   "params": _random_value(rng)} for j in range(rng.randint(1, 5))]).encode()
        else:
            req = {"jsonrpc": rng.choice(["2.0", "2.0", "2.0", "1.0", None]), "id": rng.choice([i, str(i), None]),
                   "method": rng.choice(names), "params": [_random_value(rng) for _ in range(rng.randint(0, 4))]}
            payload = json.dumps(req).encode()
        r = session.post(node.url, data=payload, headers={"Content-Type": "application/json"}, timeout=30)
        assert r.status_code in (200, 204), (payload[:200], r.status_code, r.text[:200])
        if r.status_code == 200:
            body = r.json()
            for resp in body if isinstance(body, list) else [body]:
                if "error" in resp:
                    assert resp["error"]["code"] != -32603, (payload[:300], resp)
    assert w3.eth.block_number == head
    assert w3.eth.get_balance(a[2]) == bal
    assert w3.eth.get_block("latest")["stateRoot"] == root
    w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": a[0], "to": a[2], "value": 1}))
    assert w3.eth.get_balance(a[2]) == bal + 1
