"""debug_traceTransaction / debug_traceCall in geth's formats, through web3.py against the real node."""
import pytest
from web3 import Web3

from tests.contracts import compiled
from tests.eth.conftest import rpc_error

CALLER = '''
# pragma version 0.4.3
interface Token:
    def transfer(to: address, amount: uint256) -> bool: nonpayable

last: public(uint256)

@external
def forward(token: address, to: address, amount: uint256):
    self.last = amount
    extcall Token(token).transfer(to, amount)

@external
def guarded():
    raw_revert(abi_encode(msg.sender, method_id=method_id("OwnableUnauthorizedAccount(address)")))
'''


@pytest.fixture(scope="module")
def caller(w3, token):
    art = compiled(CALLER)
    C = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    r = w3.eth.wait_for_transaction_receipt(C.constructor().transact({"from": w3.eth.accounts[0]}))
    c = w3.eth.contract(address=r.contractAddress, abi=art["abi"])
    w3.eth.wait_for_transaction_receipt(token.functions.transfer(c.address, 1000).transact({"from": w3.eth.accounts[0]}))
    return c


def _trace(node, h, opts=None):
    resp = node.rpc("debug_traceTransaction", "0x" + bytes(h).hex(), *([opts] if opts is not None else []))
    assert "result" in resp, resp
    return resp["result"]


def test_call_tracer_nested_frames(w3, node, token, caller):
    a = w3.eth.accounts
    h = caller.functions.forward(token.address, a[2], 5).transact({"from": a[1]})
    r = w3.eth.wait_for_transaction_receipt(h)
    top = _trace(node, h, {"tracer": "callTracer"})
    assert top["type"] == "CALL" and top["from"] == a[1] and top["to"] == caller.address
    assert int(top["gasUsed"], 16) == r.gasUsed
    assert top["input"] == caller.functions.forward(token.address, a[2], 5)._encode_transaction_data()
    (inner,) = top["calls"]
    assert inner["type"] == "CALL" and inner["from"] == caller.address and inner["to"] == token.address
    assert int(inner["output"], 16) == 1
    with_logs = _trace(node, h, {"tracer": "callTracer", "tracerConfig": {"withLog": True}})
    assert with_logs["calls"][0]["logs"][0]["topics"][0] == "0x" + Web3.keccak(text="Transfer(address,address,uint256)").hex()
    only_top = _trace(node, h, {"tracer": "callTracer", "tracerConfig": {"onlyTopCall": True}})
    assert "calls" not in only_top


def test_struct_logger_steps(w3, node, token, caller):
    a = w3.eth.accounts
    h = caller.functions.forward(token.address, a[2], 6).transact({"from": a[1]})
    r = w3.eth.wait_for_transaction_receipt(h)
    out = _trace(node, h)
    assert out["gas"] == r.gasUsed and out["failed"] is False
    logs = out["structLogs"]
    assert logs[0]["pc"] == 0 and logs[0]["depth"] == 1
    ops = [s["op"] for s in logs]
    assert "CALL" in ops and "SSTORE" in ops and "LOG3" in ops
    assert {s["depth"] for s in logs} == {1, 2}
    sstore = next(s for s in logs if s["op"] == "SSTORE" and s["depth"] == 1)
    assert list(sstore["storage"].values()) == [(6).to_bytes(32, "big").hex()]
    assert all(s["gasCost"] >= 0 and isinstance(s["stack"], list) for s in logs)
    # a CALL's cost counts the gas it hands to the child frame, as geth's does
    i = next(i for i, s in enumerate(logs) if s["op"] == "CALL")
    assert logs[i + 1]["depth"] == 2 and logs[i]["gasCost"] >= logs[i + 1]["gas"]
    assert not any(k.startswith("_") for s in logs for k in s)
    mem = _trace(node, h, {"enableMemory": True, "disableStack": True})["structLogs"]
    assert "stack" not in mem[5] and any(s.get("memory") for s in mem)


def test_prestate_tracer_and_diff_mode(w3, node, token, caller):
    a = w3.eth.accounts
    before = token.functions.balanceOf(a[3]).call()
    h = token.functions.transfer(a[3], 11).transact({"from": a[0]})
    w3.eth.wait_for_transaction_receipt(h)
    pre = _trace(node, h, {"tracer": "prestateTracer"})
    assert a[0] in pre and token.address in pre
    assert pre[token.address]["code"] == "0x" + bytes(w3.eth.get_code(token.address)).hex()
    slots = pre[token.address]["storage"]
    assert sorted(int(v, 16) for v in slots.values()) == sorted([before, token.functions.balanceOf(a[0]).call() + 11])
    diff = _trace(node, h, {"tracer": "prestateTracer", "tracerConfig": {"diffMode": True}})
    post_slots = diff["post"][token.address]["storage"]
    assert before + 11 in [int(v, 16) for v in post_slots.values()]
    assert int(diff["post"][a[0]]["balance"], 16) < int(diff["pre"][a[0]]["balance"], 16)


def test_revert_reasons_and_custom_errors_decoded(w3, node, token, caller):
    a = w3.eth.accounts
    data = token.functions.transfer(a[1], 10**30)._encode_transaction_data()
    top = node.rpc("debug_traceCall", {"from": a[7], "to": token.address, "data": data}, "latest",
                   {"tracer": "callTracer"})["result"]
    assert top["error"] == "execution reverted" and top["revertReason"] == "insufficient balance"
    # a revert that happens in a mined transaction, in a nested frame
    h = caller.functions.forward(token.address, a[2], 10**9).transact({"from": a[1], "gas": 300_000})
    assert w3.eth.wait_for_transaction_receipt(h).status == 0
    frame = _trace(node, h, {"tracer": "callTracer"})
    assert frame["error"] == "execution reverted" and frame["calls"][0]["revertReason"] == "insufficient balance"
    custom = node.rpc("debug_traceCall", {"from": a[7], "to": caller.address,
                                          "data": caller.functions.guarded()._encode_transaction_data()},
                      "latest", {"tracer": "callTracer"})["result"]
    assert custom["revertReason"] == f"OwnableUnauthorizedAccount({a[7]})"


def test_trace_call_with_overrides_and_trace_block(w3, node, token):
    target = "0x" + "42" * 20
    out = node.rpc("debug_traceCall", {"to": target}, "latest",
                   {"stateOverrides": {target: {"code": "0x602a60005260206000f3"}}})["result"]
    assert [s["op"] for s in out["structLogs"]] == ["PUSH1", "PUSH1", "MSTORE", "PUSH1", "PUSH1", "RETURN"]
    assert int(out["returnValue"], 16) == 42
    h = token.functions.transfer(w3.eth.accounts[3], 1).transact({"from": w3.eth.accounts[0]})
    n = w3.eth.wait_for_transaction_receipt(h).blockNumber
    blk = node.rpc("debug_traceBlockByNumber", hex(n), {"tracer": "callTracer"})["result"]
    assert blk[0]["txHash"] == "0x" + bytes(h).hex() and blk[0]["result"]["to"] == token.address


def test_trace_after_dev_edit_replays_the_edited_state(w3, node, token):
    a = w3.eth.accounts
    node.rpc("hardhat_setBalance", a[8], hex(3 * 10**18))
    h = w3.eth.send_transaction({"from": a[8], "to": a[2], "value": 10**18})
    w3.eth.wait_for_transaction_receipt(h)
    pre = _trace(node, h, {"tracer": "prestateTracer"})
    assert int(pre[a[8]]["balance"], 16) == 3 * 10**18


def test_tracing_bad_input(node):
    assert rpc_error(node, "debug_traceTransaction", "0x" + "00" * 32)["code"] == -32001
    assert rpc_error(node, "debug_traceTransaction", "0x12")["code"] == -32602
    assert rpc_error(node, "debug_traceCall", {"to": "0x" + "11" * 20}, "latest", {"tracer": "4byteTracer"})["code"] == -32602
    assert rpc_error(node, "debug_traceCall", {"to": "0x" + "11" * 20}, "latest", "callTracer")["code"] == -32602
    assert rpc_error(node, "debug_traceBlockByNumber", "0x99999")["code"] == -32001
