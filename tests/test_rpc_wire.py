"""The wire stays what it was: codes, messages and result shapes of ~85 requests (most of them bad).

`rpc_wire_golden.jsonl` was recorded from the tree before the node-API refactor (issue 10) with
the same requests; the refactor had to reproduce it exactly. Each row: block-time mode, method,
params (cut), the error object or null, the result's shape (short literals as themselves).
Regenerate it only for a deliberate, documented change: `python -m tests.test_rpc_wire > tests/rpc_wire_golden.jsonl`.
"""
import asyncio
import json
from pathlib import Path

from eth_abi import encode
from eth_utils import keccak

from tests.contracts import compiled
from vm.node import Node, NodeOptions
from app.rpc import dispatch
from app.rpc import server  # noqa: F401  (registers every method)

GOLDEN = Path(__file__).with_name("rpc_wire_golden.jsonl")
VOLATILE = {"evm_setNextBlockTimestamp"}  # its message names the head's wall-clock timestamp


async def _wire() -> list:
    out = []
    for block_time in (0, 3600):
        node = Node(NodeOptions(block_time=block_time)); await node.start()
        a0 = node.chain.accounts[0].address; a0x = "0x" + a0.hex()
        art = compiled()
        d = await node.run(node.chain.transact, a0, None, bytes.fromhex(art["bytecode"][2:]) + encode(["uint256"], [10**24]))
        token = "0x" + d.contract_address.hex()
        bad_call = {"from": a0x, "to": token, "data": "0x" + (keccak(b"transfer(address,uint256)")[:4] + encode(["address", "uint256"], [b"\x22" * 20, 10**30])).hex()}
        Z = "0x" + "00" * 32
        reqs = [
            ("eth_getBalance", [a0x, "0x99"]), ("eth_getBalance", ["0x12", "latest"]), ("eth_getBalance", [a0x, Z]),
            ("eth_getBalance", [a0x, "pending"]), ("eth_getCode", [token, "pending"]),
            ("eth_call", [bad_call, "latest"]), ("eth_call", [bad_call, "pending"]), ("eth_call", [{"to": 5}, "latest"]),
            ("eth_call", [bad_call, "latest", {"0x12": {}}]), ("eth_call", [bad_call, "latest", []]),
            ("eth_estimateGas", [bad_call]), ("eth_createAccessList", [bad_call, "latest", 5]), ("eth_createAccessList", [bad_call, "latest", []]), ("eth_estimateGas", [bad_call, "latest", 0]), ("eth_createAccessList", [{"from": a0x, "to": token}, "latest"]),
            ("eth_feeHistory", ["0x4", "latest", [50, 10]]), ("eth_feeHistory", ["0x4", "latest", [101]]),
            ("eth_feeHistory", ["0x4", "0x99", [10]]), ("eth_feeHistory", ["0x2", "latest", [10, 90]]),
            ("eth_getLogs", [{"fromBlock": "0x99"}]), ("eth_getLogs", [{"fromBlock": "0x1", "toBlock": "0x0"}]),
            ("eth_getLogs", [{"blockHash": Z}]), ("eth_getLogs", [{"bogus": 1}]), ("eth_getLogs", [{"address": 5}]),
            ("eth_sendRawTransaction", ["0x"]), ("eth_sendRawTransaction", ["0x1234"]),
            ("eth_sendTransaction", [{"to": a0x}]), ("eth_sendTransaction", [{"from": "0x" + "11" * 20, "to": a0x}]),
            ("eth_sendTransaction", [{**bad_call}]),
            ("eth_sign", ["0x" + "11" * 20, "0x00"]), ("personal_sign", [5, a0x]),
            ("eth_signTransaction", [{"to": a0x}]), ("eth_signTransaction", [{"from": "0x" + "11" * 20, "to": a0x}]),
            ("eth_getBlockByNumber", ["0x99", False]), ("eth_getBlockByHash", [Z, False]),
            ("eth_getBlockTransactionCountByNumber", ["pending"]), ("eth_getBlockTransactionCountByNumber", ["0x99"]),
            ("eth_getTransactionByBlockNumberAndIndex", ["pending", "0x0"]), ("eth_getBlockReceipts", ["pending"]),
            ("eth_getRawTransactionByBlockNumberAndIndex", ["pending", "0x0"]),
            ("eth_getTransactionByHash", [Z]), ("eth_getTransactionReceipt", [Z]), ("eth_getRawTransactionByHash", [Z]),
            ("eth_getProof", [a0x, 5]), ("eth_getProof", [a0x, ["0x" + "ff" * 33]]), ("eth_getProof", [a0x, [], "0x99"]),
            ("eth_simulateV1", [{"blockStateCalls": []}]), ("eth_simulateV1", [{"blockStateCalls": [{}], "validation": 1}]),
            ("eth_newFilter", [{"bogus": 1}]), ("eth_getFilterChanges", ["0x1"]), ("eth_getFilterLogs", ["0x1"]),
            ("eth_uninstallFilter", ["0x1"]), ("eth_subscribe", ["newHeads"]), ("eth_unsubscribe", ["0x1"]),
            ("evm_revert", ["0x0"]), ("evm_mine", ["xyz"]), ("hardhat_mine", ["0x2711"]), ("hardhat_mine", ["0x1", "0x0"]),
            ("evm_setBlockGasLimit", ["0x1"]), ("anvil_setBlockTimestampInterval", [0]), ("anvil_removeBlockTimestampInterval", []),
            ("hardhat_setStorageAt", [a0x, "0x0", "0x00"]), ("anvil_loadState", ["zz"]), ("anvil_reset", [{"x": 1}]),
            ("anvil_reset", [{"forking": {"jsonRpcUrl": "ftp://x"}}]), ("evm_setNextBlockTimestamp", [1]),
            ("anvil_dropTransaction", [Z]), ("txpool_status", []), ("txpool_contentFrom", [a0x]),
            ("debug_traceTransaction", [Z]), ("debug_traceCall", [bad_call, "latest", 5]),
            ("debug_traceCall", [bad_call, "latest", {"tracer": "nope"}]), ("debug_traceBlockByNumber", ["0x99"]),
            ("synergy_deployAIVMContract", ["0x", "[]"]), ("synergy_deployAIVMContract", ["0x60", "{"]),
            ("synergy_deployAIVMContract", ["0x6000", "[]", "weird"]),
            ("synergy_deployAIVMContract", ["0xfe", "[]"]),
            ("synergy_getAIVMContract", ["0x12"]), ("synergy_getAIVMContract", [token]),
            ("synergy_getValidatorSet", ["digits_cnn"]), ("synergy_getClusterAIStats", [1]),
            ("synergy_initiateDistributedAI", ["digits_cnn", "0x00", 999]),
            ("synergy_initiateCrossChainTransfer", ["a", "b", 1, "c", "d"]),
            ("web3_clientVersion", []), ("eth_blobBaseFee", []), ("eth_maxPriorityFeePerGas", []),
        ]
        for m, p in reqs:
            r = await dispatch.handle_one(node, {"jsonrpc": "2.0", "id": 1, "method": m, "params": p})
            res = r.get("result", "<none>")
            shape = type(res).__name__ if not isinstance(res, (str, bool, type(None))) or (isinstance(res, str) and len(res) > 20) else res
            out.append([block_time, m, json.dumps(p)[:60], r.get("error"), shape])
        await node.stop()
    return out



def _rows(rows: list) -> list:
    return [json.loads(json.dumps(r)) for r in rows if r[1] not in VOLATILE]


def test_codes_messages_and_shapes_are_unchanged():
    expected = [json.loads(line) for line in GOLDEN.read_text().splitlines() if line.strip()]
    got = _rows(asyncio.run(_wire()))
    assert [r[:3] for r in got] == [r[:3] for r in expected]  # the same requests
    for g, e in zip(got, expected):
        assert g == e, f"{g[1]} {g[2]}: {g[3:]} != {e[3:]}"


if __name__ == "__main__":
    for row in _rows(asyncio.run(_wire())):
        print(json.dumps(row))
