"""State reads run beside the chain thread, against the committed head, never behind it.

The chain thread can sit inside a long block (the AI precompile waits up to
ai_infer_timeout for validators): eth_call and the other state reads must still
answer. And a reader must never see a half-written block.
"""
import asyncio
import threading

import pytest
from eth_abi import encode
from eth_utils import keccak

from tests.contracts import compiled
from vm.chain import Chain
from vm.node import Node, NodeOptions
from app.rpc import dispatch
from app.rpc import server  # noqa: F401  (registers every RPC method)
from vm.store.atomic import AtomicStore
from vm.store.kv import MemoryKV

SEL_TRANSFER = keccak(b"transfer(address,uint256)")[:4]
SEL_BALANCE = keccak(b"balanceOf(address)")[:4]


async def rpc(node, method, *params):
    resp = await dispatch.handle_one(node, {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    assert "error" not in resp, resp
    return resp["result"]


def test_state_reads_answer_while_the_chain_thread_is_busy():
    async def main():
        node = Node(NodeOptions())
        await node.start()
        try:
            a0 = node.chain.accounts[0].address
            art = compiled()
            code = bytes.fromhex(art["bytecode"][2:]) + encode(["uint256"], [10**24])
            deployed = await node.run(node.chain.transact, a0, None, code)
            token = "0x" + deployed.contract_address.hex()
            a0x = "0x" + a0.hex()
            call = {"from": a0x, "to": token, "data": "0x" + (SEL_BALANCE + encode(["address"], [a0])).hex()}
            transfer = {"from": a0x, "to": token,
                        "data": "0x" + (SEL_TRANSFER + encode(["address", "uint256"], [b"\x22" * 20, 5])).hex()}
            before = {
                "call": await rpc(node, "eth_call", call, "latest"),
                "balance": await rpc(node, "eth_getBalance", a0x, "latest"),
            }

            release = threading.Event()
            entered = threading.Event()

            def long_block():  # what a block waiting on validators looks like to the node
                entered.set()
                assert release.wait(30), "the test never released the chain thread"

            blocked = asyncio.ensure_future(node.run(long_block))
            while not entered.is_set():
                await asyncio.sleep(0.01)
            reads = [
                rpc(node, "eth_call", call, "latest"),
                rpc(node, "eth_getBalance", a0x, "latest"),
                rpc(node, "eth_getCode", token, "latest"),
                rpc(node, "eth_getStorageAt", token, "0x0", "latest"),
                rpc(node, "eth_getTransactionCount", a0x, "latest"),
                rpc(node, "eth_getTransactionCount", a0x, "pending"),
                rpc(node, "eth_estimateGas", transfer, "latest"),
                rpc(node, "eth_blockNumber"),
                rpc(node, "eth_getTransactionReceipt", "0x" + deployed.tx_hash.hex()),
                rpc(node, "eth_getLogs", {"fromBlock": "0x0", "address": token}),
                rpc(node, "eth_gasPrice"),
            ]
            # every read answers while the chain thread is still held
            got = await asyncio.wait_for(asyncio.gather(*reads), timeout=5)
            assert not blocked.done() and not release.is_set()
            assert got[0] == before["call"] and int(got[0], 16) == 10**24
            assert got[1] == before["balance"]
            assert len(got[2]) > 2
            assert int(got[4], 16) == int(got[5], 16) == 1
            assert 21_000 < int(got[6], 16) < 100_000
            assert got[8]["status"] == "0x1"
            assert len(got[9]) == 1
            release.set()
            await blocked
        finally:
            release.set()
            await node.stop()

    asyncio.run(main())


def test_a_reader_never_sees_an_open_batch():
    kv = MemoryKV()
    store = AtomicStore(kv)
    store[b"k"] = b"old"
    seen = {}
    with store.transaction():
        store[b"k"] = b"new"
        store[b"n"] = b"1"
        assert store[b"k"] == b"new"  # the owner sees its own batch

        def reader():
            seen["k"] = store.get(b"k")
            seen["n"] = store.get(b"n")
            store[b"r"] = b"reader"  # a reader's write goes straight to the store, not into the batch

        t = threading.Thread(target=reader)
        t.start()
        t.join()
        assert seen == {"k": b"old", "n": None}
        assert kv.get(b"r") == b"reader"
    assert kv.get(b"k") == b"new" and kv.get(b"n") == b"1"


def test_reads_from_many_threads_agree_with_the_chain():
    chain = Chain.ephemeral()
    art = compiled()
    code = bytes.fromhex(art["bytecode"][2:]) + encode(["uint256"], [10**24])
    a = chain.accounts
    token = chain.transact(a[0].address, None, code).contract_address
    for i in range(5):
        assert chain.transact(a[0].address, token, SEL_TRANSFER + encode(["address", "uint256"], [a[1].address, 7])).success
    expect = 10**24 - 35
    balances, nonces, errors = [], [], []

    def worker():
        try:
            for _ in range(20):
                r = chain.call(a[0].address, token, SEL_BALANCE + encode(["address"], [a[0].address]))
                balances.append(int.from_bytes(r.output, "big"))
                nonces.append(chain.nonce(a[0].address) - 5)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(balances) == len(nonces) == 80
    assert set(balances) == {expect} and set(nonces) == {1}
    # a call never changes the state it ran on: the warm read state is reverted after each
    assert chain.nonce(a[0].address) == 6


@pytest.mark.parametrize("kind", ["balance", "code", "storage"])
def test_dev_edits_are_visible_to_readers(kind):
    chain = Chain.ephemeral()
    addr = b"\x33" * 20
    chain.balance(addr)  # warm this thread's view of the head first
    if kind == "balance":
        chain.set_balance(addr, 12345)
        assert chain.balance(addr) == 12345
    elif kind == "code":
        chain.set_code(addr, b"\x60\x00")
        assert chain.code(addr) == b"\x60\x00"
    else:
        chain.set_storage(addr, 1, 99)
        assert chain.storage(addr, 1) == 99
    out = {}
    t = threading.Thread(target=lambda: out.update(b=chain.balance(addr), c=chain.code(addr), s=chain.storage(addr, 1)))
    t.start()
    t.join()
    assert (out["b"], out["c"], out["s"]) == (chain.balance(addr), chain.code(addr), chain.storage(addr, 1))
