"""Answered before sealed: the write-ahead log keeps every answered transaction across kill -9.

The node answers an automine send once the block has run and its record is fsynced in
the write-ahead log (vm/wal.py); sealing and the LevelDB batch come after. These tests
kill the node in that window (AIVM_TEST_HOLD_SEAL holds the chain thread between the
answer and the seal), restart it, and compare receipts and state roots with a node that
mined the same signed transactions normally.
"""
import os
import signal

import pytest
import requests
from eth_account import Account
from web3 import Web3

from tests.contracts import compiled
from tests.nodeproc import start_node
from vm import wal
from vm.chain import Chain, ChainConfig
from vm.node import replay

MNEMONIC = "test test test test test test test test test test test junk"
FEES = {"maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9, "chainId": 31337}


def _signed(acct, nonce, **tx) -> str:
    return "0x" + acct.sign_transaction({"nonce": nonce, **FEES, **tx}).raw_transaction.hex()


def _token_txs():
    """Deploy a token, then two transfers (Transfer logs), all pre-signed by dev account 0."""
    Account.enable_unaudited_hdwallet_features()
    a0 = Account.from_mnemonic(MNEMONIC, account_path="m/44'/60'/0'/0/0")
    art = compiled()
    w3 = Web3()
    C = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    deploy = _signed(a0, 0, data=C.constructor(10**6).data_in_transaction, gas=2_000_000)
    token = Web3.to_checksum_address(
        __import__("eth_utils").keccak(__import__("rlp").encode([bytes.fromhex(a0.address[2:]), 0]))[12:])
    t = w3.eth.contract(address=token, abi=art["abi"])
    to = Web3.to_checksum_address("0x" + "ab" * 20)
    transfer = lambda nonce, amount: _signed(  # noqa: E731
        a0, nonce, to=token, gas=100_000, data=t.functions.transfer(to, amount)._encode_transaction_data())
    return deploy, token, to, [transfer(1, 7), transfer(2, 11)], art


def _rpc(node, method, *params):
    r = requests.post(node.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
                      timeout=30).json()
    assert "error" not in r, r
    return r["result"]


KEEP = ("status", "gasUsed", "cumulativeGasUsed", "logsBloom", "contractAddress", "transactionHash",
        "blockNumber", "effectiveGasPrice")
DEV0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def _shape(receipts, head, balance, nonce):
    """What must be equal after the restart: receipts, the head's roots, state."""
    return {
        "receipts": [None if r is None else {k: r[k] for k in KEEP} |
                     {"logs": [(l["address"], l["topics"], l["data"]) for l in r["logs"]]} for r in receipts],
        "roots": (head["number"], head["stateRoot"], head["receiptsRoot"], head["transactionsRoot"]),
        "balance": balance,
        "nonce": nonce,
    }


def _balance_call(token, holder):
    return {"to": token, "data": "0x70a08231" + "00" * 12 + holder[2:].lower()}  # balanceOf(holder)


def _node_facts(node, hashes, token, holder):
    return _shape([_rpc(node, "eth_getTransactionReceipt", h) for h in hashes],
                  _rpc(node, "eth_getBlockByNumber", "latest", False),
                  _rpc(node, "eth_call", _balance_call(token, holder), "latest"),
                  _rpc(node, "eth_getTransactionCount", DEV0, "latest"))


def _reference_facts(raws, token, holder):
    """The same signed transactions mined the ordinary way (sealed before answered), in process."""
    chain = Chain.ephemeral()
    hashes = []
    for raw in raws:
        r = chain.send_raw(bytes.fromhex(raw[2:]))
        assert r.success
        hashes.append(r.tx_hash)
    out = chain.call(to=bytes.fromhex(token[2:]), data=bytes.fromhex(_balance_call(token, holder)["data"][2:]))
    return ["0x" + h.hex() for h in hashes], _shape(
        [chain.index.transaction(h)["receipt"] for h in hashes], chain.index.block(chain.head_number),
        "0x" + out.output.hex(), hex(chain.nonce(bytes.fromhex(DEV0[2:]))))


def _concurrent_senders(node, senders: int, each: int) -> list:
    import threading

    Account.enable_unaudited_hdwallet_features()
    misses, lock = [], threading.Lock()

    def run(i):
        try:
            send_and_look(i)
        except Exception as exc:  # a failure in a thread must fail the test
            with lock:
                misses.append((i, repr(exc)))

    def send_and_look(i):
        acct = Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}")
        s = requests.Session()
        for n in range(each):
            raw = _signed(acct, n, to=Web3.to_checksum_address("0x" + "cd" * 20), value=1, gas=21000)
            h = s.post(node.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction",
                                       "params": [raw]}, timeout=30).json()["result"]
            r = s.post(node.url, json={"jsonrpc": "2.0", "id": 2, "method": "eth_getTransactionReceipt",
                                       "params": [h]}, timeout=30).json()["result"]
            c = s.post(node.url, json={"jsonrpc": "2.0", "id": 3, "method": "eth_getTransactionCount",
                                       "params": [acct.address, "latest"]}, timeout=30).json()["result"]
            if r is None or int(c, 16) != n + 1:
                with lock:
                    misses.append((i, n, r is None, c))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(5, 5 + senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return misses


def test_answered_then_killed_before_the_seal_is_replayed_at_restart(tmp_path, monkeypatch):
    deploy, token, holder, transfers, _ = _token_txs()
    hashes, expected = _reference_facts([deploy, *transfers], token, holder)
    assert expected["receipts"][-1]["status"] == "0x1" and expected["roots"][0] == "0x3"

    data = tmp_path / "chain"
    node = start_node(tmp_path, data_dir=data)
    try:  # the deploy and one transfer: answered early, sealed and persisted right after
        s = requests.Session()

        def rpc(method, *params):
            return s.post(node.url, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                          "params": list(params)}, timeout=30).json()["result"]

        for i, raw in enumerate([deploy, transfers[0]]):
            assert rpc("eth_sendRawTransaction", raw) == hashes[i]
            # no polling: the very next request sees the block (automine, as Hardhat and Anvil)
            assert rpc("eth_blockNumber") == hex(1 + i)
            assert rpc("eth_getTransactionReceipt", hashes[i])["blockNumber"] == hex(1 + i)
        assert rpc("eth_getTransactionCount", DEV0, "latest") == "0x2"
        assert int(rpc("eth_call", _balance_call(token, holder), "latest"), 16) == 7
    finally:
        assert node.stop() == 0

    # now the chain thread stops between the answer and the seal: kill -9 lands in that window
    monkeypatch.setenv("AIVM_TEST_HOLD_SEAL", "60")
    node = start_node(tmp_path, data_dir=data)
    try:
        assert _rpc(node, "eth_sendRawTransaction", transfers[1]) == hashes[2]
        records = list(wal.read_records(str(data / wal.FILE_NAME)))
        assert [r.number for r in records] == [3]  # logged (fsynced) before the answer
    finally:
        node.stop(signal.SIGKILL)
    monkeypatch.delenv("AIVM_TEST_HOLD_SEAL")

    node = start_node(tmp_path, data_dir=data)
    try:
        assert "replayed 1 block" in node.log()
        # receipt present, same gas, logs, state root as the chain that sealed before answering
        assert _node_facts(node, hashes, token, holder) == expected
        # and the chain goes on from the replayed head
        h = _rpc(node, "eth_sendTransaction", {"from": DEV0, "to": holder, "value": "0x1"})
        assert _rpc(node, "eth_getTransactionReceipt", h)["blockNumber"] == "0x4"
    finally:
        assert node.stop() == 0


def test_concurrent_senders_see_receipt_and_nonce_on_their_next_request(tmp_path):
    """Sends with others waiting behind them are answered before their block is sealed; the
    sender's very next request (no polling) must still see the receipt and the new nonce."""
    data = tmp_path / "chain"
    node = start_node(tmp_path, data_dir=data)
    try:
        assert _concurrent_senders(node, senders=4, each=15) == []
        blocks = int(_rpc(node, "eth_blockNumber"), 16)
        logged = list(wal.read_records(str(data / wal.FILE_NAME)))
        assert logged and all(len(r.txs) >= 1 for r in logged)  # the early path (the WAL) ran
    finally:
        assert node.stop() == 0
    node = start_node(tmp_path, data_dir=data)
    try:  # everything answered was sealed before the clean stop: nothing to replay
        assert "replayed" not in node.log()
        assert int(_rpc(node, "eth_blockNumber"), 16) == blocks
    finally:
        assert node.stop() == 0


def _records_of(chain, raws):
    out = []
    for raw in raws:
        tx = chain.decode_raw(bytes.fromhex(raw[2:]))
        sender = chain.sender_of(tx)
        b = chain.open_block()
        b.add(tx, sender)
        out.append(wal.BlockRecord(b.number, b.header.parent_hash, b.header.timestamp,
                                   [(t.encode(), s) for t, s in zip(b.included, b.senders)]))
        chain.seal_block(b)
    return out


def test_replay_rebuilds_the_same_blocks_and_stops_at_a_torn_tail(tmp_path):
    deploy, _, _, transfers, _ = _token_txs()
    cfg = dict(genesis_timestamp=1_700_000_000)
    a = Chain.ephemeral(ChainConfig(**cfg))
    records = _records_of(a, [deploy, *transfers])

    path = tmp_path / wal.FILE_NAME
    blob = b"".join(r.encode() for r in records)
    path.write_bytes(blob + records[0].encode()[:-3])  # the last write was torn by the kill
    read = list(wal.read_records(str(path)))
    assert [r.number for r in read] == [1, 2, 3] and read[1].txs == records[1].txs

    b = Chain.ephemeral(ChainConfig(**cfg))
    assert replay(b, read[:1]) == 1  # the store already holds block 1 ...
    assert replay(b, read) == 2  # ... so only 2 and 3 are re-mined
    assert b.head.hash == a.head.hash  # same blocks, byte for byte: roots, receipts, hashes
    assert replay(b, read) == 0

    # a log from another history (after a revert) is not applied on top of this one
    c = Chain.ephemeral(ChainConfig(**cfg))
    assert replay(c, read[1:]) == 0 and c.head_number == 0


def test_group_commit_writes_each_record_once_and_empties_when_persisted(tmp_path, monkeypatch):
    import threading

    monkeypatch.setattr(wal, "TRUNCATE_AT", 1)
    log = wal.WriteAheadLog(str(tmp_path))
    done = threading.Event()
    seen = []
    try:
        recs = [wal.BlockRecord(n, b"\x01" * 32, 100 + n, [(b"\x02" * 10, b"\x03" * 20)]) for n in range(1, 6)]
        for i, r in enumerate(recs):
            log.append(r, lambda err, i=i: (seen.append((i, err)), len(seen) == len(recs) and done.set()))
        assert done.wait(10)
        assert sorted(seen) == [(i, None) for i in range(5)]
        assert [r.number for r in log.records()] == [1, 2, 3, 4, 5]
        for _ in recs[:-1]:
            log.persisted()
        assert len(log.records()) == 5  # a block is still outside the store: keep everything
        log.persisted()
        assert log.records() == [] and os.path.getsize(log.path) == 0
    finally:
        log.close()
    with pytest.raises(RuntimeError):
        log.append(recs[0], lambda err: None)
