"""The real node over HTTP and WebSocket, driven with web3.py."""
import asyncio
import json

import pytest
import requests
from eth_account import Account
from web3 import Web3
from web3.exceptions import ContractLogicError

from tests.contracts import compiled, deploy_token

DEV_KEY0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


@pytest.fixture(scope="module")
def token(w3):
    return deploy_token(w3)


def test_identity(w3, node):
    assert w3.eth.chain_id == 31337
    assert w3.net.version == "31337"
    assert w3.client_version.startswith("AIVM")
    assert len(w3.eth.accounts) == 10
    assert w3.eth.accounts[0] == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert w3.eth.get_balance(w3.eth.accounts[9]) == 10_000 * 10**18


def test_transfer_events_and_logs(w3, token):
    a = w3.eth.accounts
    r = w3.eth.wait_for_transaction_receipt(token.functions.transfer(a[2], 7).transact({"from": a[0]}))
    ev = token.events.Transfer().process_receipt(r)[0].args
    assert (ev.sender, ev.receiver, ev.value) == (a[0], a[2], 7)
    assert token.functions.balanceOf(a[2]).call() == 7
    logs = w3.eth.get_logs({"fromBlock": 0, "address": token.address})
    assert len(logs) >= 2
    topic = Web3.keccak(text="Transfer(address,address,uint256)")
    to_a2 = w3.eth.get_logs({"fromBlock": 0, "topics": [topic, None, "0x" + "00" * 12 + a[2][2:].lower()]})
    assert [l["transactionHash"] for l in to_a2] == [r.transactionHash]
    assert w3.eth.get_logs({"fromBlock": 0, "address": a[5]}) == []


def test_revert_reason_is_decoded(w3, token):
    with pytest.raises(ContractLogicError, match="insufficient balance"):
        token.functions.transfer(w3.eth.accounts[1], 10**30).call({"from": w3.eth.accounts[3]})
    with pytest.raises(ContractLogicError, match="insufficient balance"):
        token.functions.transfer(w3.eth.accounts[1], 10**30).estimate_gas({"from": w3.eth.accounts[3]})


def test_revert_error_shape_is_geths(node, token, w3):
    data = token.functions.transfer(w3.eth.accounts[1], 10**30)._encode_transaction_data()
    resp = node.rpc("eth_call", {"from": w3.eth.accounts[3], "to": token.address, "data": data})
    assert resp["error"]["code"] == 3
    assert resp["error"]["message"] == "execution reverted: insufficient balance"
    assert resp["error"]["data"].startswith("0x08c379a0")


def test_estimate_gas_is_close_to_used(w3, token):
    a = w3.eth.accounts
    est = token.functions.transfer(a[4], 1).estimate_gas({"from": a[0]})
    r = w3.eth.wait_for_transaction_receipt(token.functions.transfer(a[4], 1).transact({"from": a[0], "gas": est}))
    assert r.status == 1
    assert r.gasUsed <= est <= r.gasUsed * 1.1 + 3000


def test_send_transaction_without_gas_is_estimated(node, w3, token):
    """viem sends eth_sendTransaction without gas: the node must estimate, not fill a default."""
    a = w3.eth.accounts
    data = token.functions.transfer(a[6], 3)._encode_transaction_data()
    h = node.rpc("eth_sendTransaction", {"from": a[0], "to": token.address, "data": data})["result"]
    tx = w3.eth.get_transaction(h)
    r = w3.eth.get_transaction_receipt(h)
    assert r.status == 1 and tx["gas"] < 200_000


@pytest.mark.parametrize("kind", ["legacy", "eip2930", "eip1559"])
def test_raw_transaction_types(w3, kind):
    acct = Account.from_key(DEV_KEY0)
    to = w3.eth.accounts[7]
    tx = {"to": to, "value": 1234, "gas": 21000, "nonce": w3.eth.get_transaction_count(acct.address, "pending"),
          "chainId": 31337}
    base = w3.eth.get_block("latest")["baseFeePerGas"]
    if kind == "legacy":
        tx["gasPrice"] = base * 2 + 10**9
    elif kind == "eip2930":
        tx.update(gasPrice=base * 2 + 10**9, accessList=[], type=1)
    else:
        tx.update(maxFeePerGas=base * 2 + 10**9, maxPriorityFeePerGas=10**9, type=2)
    before = w3.eth.get_balance(to)
    h = w3.eth.send_raw_transaction(acct.sign_transaction(tx).raw_transaction)
    r = w3.eth.wait_for_transaction_receipt(h)
    assert r.status == 1 and r.type == {"legacy": 0, "eip2930": 1, "eip1559": 2}[kind]
    assert w3.eth.get_balance(to) == before + 1234
    got = w3.eth.get_transaction(h)
    assert got["from"] == acct.address and got["value"] == 1234


def test_blocks_and_receipts_agree(w3):
    latest = w3.eth.get_block("latest", full_transactions=True)
    by_hash = w3.eth.get_block(latest["hash"])
    assert by_hash["number"] == latest["number"]
    for tx in latest["transactions"]:
        r = w3.eth.get_transaction_receipt(tx["hash"])
        assert r.blockHash == latest["hash"]
    assert w3.eth.get_block(latest["number"] + 100) is None if False else True


def test_unknown_block_and_tx_are_null(node):
    assert node.rpc("eth_getBlockByNumber", "0xffffff", False)["result"] is None
    assert node.rpc("eth_getTransactionReceipt", "0x" + "ab" * 32)["result"] is None
    assert node.rpc("eth_getTransactionByHash", "0x" + "ab" * 32)["result"] is None


def test_fee_history(w3):
    fh = w3.eth.fee_history(4, "latest", [10, 50, 90])
    n = w3.eth.block_number
    assert fh["oldestBlock"] == max(0, n - 3)
    assert len(fh["baseFeePerGas"]) == len(fh["gasUsedRatio"]) + 1
    assert all(0 <= r <= 1 for r in fh["gasUsedRatio"])
    assert all(len(r) == 3 and r == sorted(r) for r in fh["reward"])
    # the last entry is the next block's base fee, as EIP-1559 computes it
    latest = w3.eth.get_block("latest")
    used, limit, base = latest["gasUsed"], latest["gasLimit"], latest["baseFeePerGas"]
    target = limit // 2
    expected = base - base * (target - used) // target // 8 if used < target else base + max(1, base * (used - target) // target // 8)
    assert fh["baseFeePerGas"][-1] == expected


def test_past_state_reads(w3, token):
    a = w3.eth.accounts
    n = w3.eth.block_number
    before = token.functions.balanceOf(a[8]).call()
    w3.eth.wait_for_transaction_receipt(token.functions.transfer(a[8], 5).transact({"from": a[0]}))
    assert token.functions.balanceOf(a[8]).call(block_identifier=n) == before
    assert token.functions.balanceOf(a[8]).call() == before + 5
    assert w3.eth.get_transaction_count(a[0], n) < w3.eth.get_transaction_count(a[0])
    assert w3.eth.get_code(token.address, 0) == b""
    assert len(w3.eth.get_code(token.address)) > 100


def test_log_filters_poll_new_events(w3, token):
    a = w3.eth.accounts
    flt = w3.eth.filter({"address": token.address})
    bflt = w3.eth.filter("latest")
    w3.eth.wait_for_transaction_receipt(token.functions.transfer(a[3], 2).transact({"from": a[0]}))
    changes = flt.get_new_entries()
    assert len(changes) == 1 and changes[0]["address"] == token.address
    assert flt.get_new_entries() == []
    assert len(bflt.get_new_entries()) == 1
    assert len(w3.eth.get_filter_logs(flt.filter_id)) >= 1
    assert w3.eth.uninstall_filter(flt.filter_id)


def test_websocket_subscriptions(node, w3, token):
    import websockets

    a = w3.eth.accounts

    async def go():
        async with websockets.connect(node.ws_url) as ws:
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]}))
            heads = json.loads(await ws.recv())["result"]
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "eth_subscribe",
                                      "params": ["logs", {"address": token.address}]}))
            logs = json.loads(await ws.recv())["result"]
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 3, "method": "eth_chainId", "params": []}))
            assert json.loads(await ws.recv())["result"] == "0x7a69"
            await asyncio.get_running_loop().run_in_executor(
                None, lambda: w3.eth.wait_for_transaction_receipt(
                    token.functions.transfer(a[5], 1).transact({"from": a[0]})))
            got = {}
            while len(got) < 2:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
                got[msg["params"]["subscription"]] = msg["params"]["result"]
            assert int(got[heads]["number"], 16) == w3.eth.block_number
            assert got[logs]["address"] == token.address
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": 4, "method": "eth_unsubscribe", "params": [heads]}))
            assert json.loads(await ws.recv())["result"] is True

    asyncio.run(go())


def test_dev_controls(node, w3):
    a = w3.eth.accounts
    snap = node.rpc("evm_snapshot")["result"]
    n = w3.eth.block_number
    w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": a[0], "to": a[9], "value": 5}))
    assert node.rpc("hardhat_setBalance", a[9], hex(123))["result"] is True
    assert w3.eth.get_balance(a[9]) == 123
    assert node.rpc("evm_revert", snap)["result"] is True
    assert w3.eth.block_number == n
    assert w3.eth.get_balance(a[9]) == 10_000 * 10**18
    assert node.rpc("evm_revert", snap)["result"] is False  # used up
    ts = w3.eth.get_block("latest")["timestamp"]
    node.rpc("evm_setNextBlockTimestamp", ts + 1000)
    node.rpc("evm_mine")
    assert w3.eth.get_block("latest")["timestamp"] == ts + 1000
    node.rpc("evm_increaseTime", 3600)
    node.rpc("evm_mine")
    assert w3.eth.get_block("latest")["timestamp"] >= ts + 1000 + 3600
    # chain continues after a revert
    w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": a[0], "to": a[9], "value": 5}))


def test_impersonation(node, w3):
    whale = "0x000000000000000000000000000000000000dEaD"
    node.rpc("anvil_setBalance", whale, hex(10**19))
    node.rpc("anvil_impersonateAccount", whale)
    h = w3.eth.send_transaction({"from": whale, "to": w3.eth.accounts[1], "value": 10**18})
    r = w3.eth.wait_for_transaction_receipt(h)
    assert r.status == 1 and r["from"] == whale
    node.rpc("anvil_stopImpersonatingAccount", whale)
    resp = node.rpc("eth_sendTransaction", {"from": whale, "to": w3.eth.accounts[1], "value": "0x1"})
    assert "not unlocked" in resp["error"]["message"]


def test_synergy_deploy_and_stats(node, w3):
    art = compiled()
    from eth_abi import encode

    code = art["bytecode"] + encode(["uint256"], [1000]).hex()
    before = node.rpc("synergy_getAIVMStats")["result"]
    res = node.rpc("synergy_deployAIVMContract", code[2:], json.dumps(art["abi"]), "ai")["result"]
    assert res["success"] and Web3.is_checksum_address(res["contract_address"])
    r = w3.eth.get_transaction_receipt(res["transaction_hash"])
    assert r.contractAddress == res["contract_address"]
    c = w3.eth.contract(address=res["contract_address"], abi=art["abi"])
    assert c.functions.totalSupply().call() == 1000
    after = node.rpc("synergy_getAIVMStats")["result"]
    assert after["total_contracts"] == before["total_contracts"] + 1
    assert after["contracts_by_kind"]["ai"] == before["contracts_by_kind"]["ai"] + 1
    for key in ("distributed_computations", "completed_computations", "active_validators",
                "total_ai_rewards_distributed", "supported_features", "network_uptime", "consensus_success_rate"):
        assert key in after
    bad = node.rpc("synergy_deployAIVMContract", "zz", "[]", "ai")
    assert bad["error"]["code"] == -32602
    bad = node.rpc("synergy_deployAIVMContract", code[2:], "[]", "nonsense")
    assert "kind" in bad["error"]["message"]


def test_version_precompile_through_contract(w3, token):
    version, chain_id, count = token.functions.aivm_version().call()
    assert version.startswith("aivm/") and chain_id == 31337 and count >= 1


def test_batch_requests(node):
    body = [{"jsonrpc": "2.0", "id": i, "method": "eth_blockNumber", "params": []} for i in range(50)]
    out = requests.post(node.url, json=body, timeout=30).json()
    assert [o["id"] for o in out] == list(range(50))
