"""State dump/load (RPC and `aivm start` flags) and forking, against real node processes and Anvil."""
import gzip
import json

import pytest
from web3 import Web3

from bridge import peers
from tests.contracts import compiled
from tests.eth.conftest import rpc_error
from tests.nodeproc import start_node

DEV0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
DEV1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def _w3(url):
    return Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 60}))


def _deploy_token(w3):
    art = compiled()
    C = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    r = w3.eth.wait_for_transaction_receipt(C.constructor(10**24).transact({"from": DEV0}))
    token = w3.eth.contract(address=r.contractAddress, abi=art["abi"])
    w3.eth.wait_for_transaction_receipt(token.functions.transfer(DEV1, 500).transact({"from": DEV0}))
    return token


def _no_ai_config(tmp_path):
    path = tmp_path / "no-ai.toml"
    path.write_text("[aivm]\nenabled = false\n")
    return str(path)


@pytest.fixture
def nodes(tmp_path):
    """Start real nodes (the AI layer off: these tests are about chain state); all stopped at the end."""
    started = []
    config = _no_ai_config(tmp_path)

    def start(*args, **kw):
        n = start_node(tmp_path, "--config", config, *args, **kw)
        started.append(n)
        return n

    yield start
    for n in started:
        n.stop()


def test_dump_and_load_state_over_rpc(nodes):
    a = nodes()
    wa = _w3(a.url)
    token = _deploy_token(wa)
    dump = a.rpc("anvil_dumpState")["result"]
    state = json.loads(gzip.decompress(bytes.fromhex(dump[2:])))
    assert state["format"] == "aivm-state/1" and state["stateRoot"]
    assert a.rpc("hardhat_dumpState")["result"] == dump
    b = nodes()
    wb = _w3(b.url)
    assert b.rpc("anvil_loadState", dump)["result"] is True
    tb = wb.eth.contract(address=token.address, abi=token.abi)
    assert tb.functions.balanceOf(DEV1).call() == 500
    assert wb.eth.get_code(token.address) == wa.eth.get_code(token.address)
    assert wb.eth.get_transaction_count(DEV0) == wa.eth.get_transaction_count(DEV0) == 2
    # nonces continue: the next transaction from DEV0 uses nonce 2 and works
    r = wb.eth.wait_for_transaction_receipt(tb.functions.transfer(DEV1, 1).transact({"from": DEV0}))
    assert r.status == 1 and wb.eth.get_transaction(r.transactionHash)["nonce"] == 2
    assert tb.functions.balanceOf(DEV1).call() == 501
    for bad in ("0x1f8b0000", "0x" + b"[1]".hex(), "0x" + b'{"x": 1}'.hex(), "zz", 5):
        assert rpc_error(b, "anvil_loadState", bad)["code"] == -32602


def test_dump_state_at_shutdown_and_load_at_start(nodes, tmp_path):
    path = tmp_path / "state.json"
    a = nodes("--dump-state", str(path))
    wa = _w3(a.url)
    token = _deploy_token(wa)
    assert a.stop() == 0
    assert json.loads(path.read_text())["format"] == "aivm-state/1"
    b = nodes("--load-state", str(path))
    wb = _w3(b.url)
    assert wb.eth.get_transaction_count(DEV0) == 2
    tb = wb.eth.contract(address=token.address, abi=token.abi)
    r = wb.eth.wait_for_transaction_receipt(tb.functions.transfer(DEV1, 2).transact({"from": DEV0}))
    assert wb.eth.get_transaction(r.transactionHash)["nonce"] == 2
    assert tb.functions.balanceOf(DEV1).call() == 502
    # --state FILE: loads when present, writes back at shutdown
    c = nodes("--state", str(path))
    assert _w3(c.url).eth.get_transaction_count(DEV0) == 2
    _w3(c.url).eth.wait_for_transaction_receipt(
        _w3(c.url).eth.send_transaction({"from": DEV0, "to": DEV1, "value": 1}))
    assert c.stop() == 0
    assert b.rpc("anvil_loadState", json.loads(path.read_text()))["result"] is True  # a dump object loads too
    assert wb.eth.get_transaction_count(DEV0) == 3


def test_bad_state_file_stops_start_up(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    with pytest.raises(RuntimeError, match="not a JSON state dump"):
        start_node(tmp_path, "--config", _no_ai_config(tmp_path), "--load-state", str(bad))


def test_fork_another_aivm_node_lazily(nodes):
    a = nodes()
    wa = _w3(a.url)
    token = _deploy_token(wa)
    fork_block = wa.eth.block_number
    wa.eth.wait_for_transaction_receipt(token.functions.transfer(DEV1, 50).transact({"from": DEV0}))
    b = nodes("--fork-url", a.url, "--fork-block-number", str(fork_block))
    wb = _w3(b.url)
    assert wb.eth.block_number == fork_block
    meta = b.rpc("hardhat_metadata")["result"]
    assert meta["forkedNetwork"]["forkBlockNumber"] == fork_block and meta["chainId"] == 31337
    assert b.rpc("anvil_nodeInfo")["result"]["forkConfig"] == {"forkUrl": a.url, "forkBlockNumber": fork_block}
    assert a.rpc("anvil_metadata")["result"]["forkedNetwork"] is None
    assert wb.eth.get_block(fork_block).hash == wa.eth.get_block(fork_block).hash  # same header, same hash
    tb = wb.eth.contract(address=token.address, abi=token.abi)
    assert tb.functions.balanceOf(DEV1).call() == 500  # the state at the fork block, not the remote head
    # history before the fork block comes from the remote, as Anvil serves it
    deploy = wa.eth.get_block(1, full_transactions=True)
    assert wb.eth.get_block(1).hash == deploy.hash
    first_tx = deploy.transactions[0]["hash"]
    assert wb.eth.get_transaction(first_tx)["blockNumber"] == 1
    assert wb.eth.get_transaction_receipt(first_tx).contractAddress == token.address
    assert wb.eth.get_transaction_by_block(1, 0)["hash"] == first_tx
    traced = b.rpc("debug_traceTransaction", "0x" + bytes(first_tx).hex(), {"tracer": "callTracer"})["result"]
    assert traced["type"] == "CREATE" and traced["to"] == token.address
    assert wb.eth.get_block(fork_block).transactions == wa.eth.get_block(fork_block).transactions  # the remote's
    r = wb.eth.wait_for_transaction_receipt(tb.functions.transfer(DEV1, 7).transact({"from": DEV0}))
    assert r.status == 1 and r.blockNumber == fork_block + 1
    assert tb.functions.balanceOf(DEV1).call() == 507
    # logs: the remote's up to the fork block, then the fork's own
    values = [e.args.value for e in tb.events.Transfer().get_logs(from_block=0)]
    assert values == [10**24, 500, 7]
    assert token.functions.balanceOf(DEV1).call() == 550  # the remote is untouched
    # eth_getProof on the fork verifies too: the fork's state is a real trie
    assert wb.eth.get_proof(token.address, [0])["balance"] == 0
    err = rpc_error(b, "anvil_dumpState")
    assert err["code"] == -32000 and "forked chain's remote" in err["message"]
    # re-fork at the remote head
    assert b.rpc("anvil_reset", {"forking": {"jsonRpcUrl": a.url}})["result"] is True
    assert wb.eth.block_number == wa.eth.block_number
    assert tb.functions.balanceOf(DEV1).call() == 550
    assert b.rpc("hardhat_reset", {"forking": {"jsonRpcUrl": a.url, "blockNumber": fork_block}})["result"] is True
    assert tb.functions.balanceOf(DEV1).call() == 500
    # reset without forking: a fresh dev chain
    assert b.rpc("anvil_reset", {"forking": None})["result"] is True
    assert wb.eth.block_number == 0 and wb.eth.get_code(token.address) == b""
    for bad in ({"forking": {"jsonRpcUrl": 5}}, {"forking": {"jsonRpcUrl": "ftp://x"}}, {"color": 1}, [1]):
        assert rpc_error(b, "anvil_reset", bad)["code"] == -32602
    err = rpc_error(b, "anvil_reset", {"forking": {"jsonRpcUrl": f"http://127.0.0.1:{peers.free_port()}"}})
    assert err["code"] == -32000 and "cannot reach" in err["message"]


def test_fork_start_errors(tmp_path):
    with pytest.raises(RuntimeError, match="cannot reach"):
        start_node(tmp_path, "--config", _no_ai_config(tmp_path), "--fork-url", f"http://127.0.0.1:{peers.free_port()}")


@pytest.fixture(scope="module")
def anvil():
    if peers.anvil_binary() is None:
        errors = peers.install(only=("anvil",))
        assert not errors, f"Anvil could not be installed from npm: {errors}"
    node = peers.start("anvil", timeout=60)
    yield node
    peers.stop(node)


def test_fork_anvil_and_load_its_dump(nodes, anvil):
    wa = _w3(anvil.url)
    token = _deploy_token(wa)
    b = nodes("--fork-url", anvil.url)
    wb = _w3(b.url)
    assert wb.eth.chain_id == wa.eth.chain_id
    assert wb.eth.block_number == wa.eth.block_number
    tb = wb.eth.contract(address=token.address, abi=token.abi)
    assert tb.functions.balanceOf(DEV1).call() == 500
    assert wb.eth.get_balance(DEV1) == wa.eth.get_balance(DEV1)
    r = wb.eth.wait_for_transaction_receipt(tb.functions.transfer(DEV1, 1).transact({"from": DEV0}))
    assert r.status == 1
    assert tb.functions.balanceOf(DEV1).call() == 501 and token.functions.balanceOf(DEV1).call() == 500
    # Anvil's own dump format loads into an AIVM node (here: over the fork's state)
    wa.eth.wait_for_transaction_receipt(token.functions.transfer(DEV1, 20).transact({"from": DEV0}))
    resp = b.rpc("anvil_loadState", peers.rpc(anvil.url, "anvil_dumpState"))
    assert resp.get("result") is True, resp
    assert tb.functions.balanceOf(DEV1).call() == 520
