"""A lone automine send is mined on the event loop (no thread hand-over), with the
chain thread's results; anything that could stall or wait goes to the chain thread."""
from __future__ import annotations

import asyncio
import threading

import pytest

from bench import rpc_load
from vm import node as node_mod
from vm.node import Node, NodeOptions

FEES = {"type": 2, "maxFeePerGas": 100 * 10**9, "maxPriorityFeePerGas": 10**9}


def _signer(i: int = 0) -> rpc_load.Signer:
    return rpc_load.Signer(rpc_load.dev_accounts()[i], 31337, 0, FEES)


async def _started(monkeypatch, inline: bool) -> tuple[Node, list[str]]:
    monkeypatch.setenv("AIVM_INLINE_MINING", "1" if inline else "0")
    node = Node(NodeOptions())
    await node.start()
    threads: list[str] = []
    mine = node._mine_steps

    def spy(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return mine(*args, **kwargs)

    node._mine_steps = spy
    return node, threads


async def _send(node: Node, signer: rpc_load.Signer, gas: int = 21_000, to: str | None = None):
    raw = signer.sign(to or rpc_load.dev_accounts()[5].address, b"", gas, 7)
    return await node.send_raw(bytes.fromhex(raw[2:]), early=True)


def test_lone_sends_are_mined_on_the_loop_with_the_chain_threads_roots(monkeypatch):
    async def run(inline: bool):
        node, threads = await _started(monkeypatch, inline)
        try:
            signers = [_signer(i) for i in range(3)]
            gas = []
            for k in range(6):
                _, result = await _send(node, signers[k % 3])
                gas.append(result.gas_used)
            await node.settled()  # what every RPC request after a send waits for (an early answer's seal)
            head = node.chain.head
            return threads, gas, head.state_root, head.receipt_root, head.gas_used, node.chain.head_number
        finally:
            await node.stop()

    on_loop = asyncio.run(run(True))
    on_chain_thread = asyncio.run(run(False))
    assert set(on_loop[0]) == {threading.main_thread().name}
    assert all(name.startswith("aivm-chain") for name in on_chain_thread[0])
    assert on_loop[1:] == on_chain_thread[1:]


def test_what_could_stall_the_loop_goes_to_the_chain_thread(monkeypatch):
    async def main():
        node, threads = await _started(monkeypatch, True)
        try:
            signer = _signer()
            await _send(node, signer, gas=node_mod.INLINE_GAS + 1)  # more gas than the loop may spend
            assert threads.pop().startswith("aivm-chain")

            release, entered = threading.Event(), threading.Event()

            def long_job():  # the chain thread busy (a block waiting on validators)
                entered.set()
                assert release.wait(30)

            busy = asyncio.ensure_future(node.run(long_job))
            while not entered.is_set():
                await asyncio.sleep(0.01)
            send = asyncio.ensure_future(_send(node, signer))
            await asyncio.sleep(0.2)
            assert not send.done()  # queued behind the job, never mined beside it
            release.set()
            await busy
            await send
            assert threads.pop().startswith("aivm-chain")

            class AttachedAI:  # an AI layer attached: its precompile waits for validators on this loop
                pass

            before = node.chain.services
            node.chain.services = node_mod.Services(ai=AttachedAI())
            try:
                await _send(node, signer)
                assert threads.pop().startswith("aivm-chain")
            finally:
                node.chain.services = before
            await _send(node, signer)
            assert threads.pop() == threading.main_thread().name
        finally:
            await node.stop()

    asyncio.run(main())


def test_concurrent_senders_share_blocks_and_all_get_receipts(monkeypatch):
    async def main():
        node, threads = await _started(monkeypatch, True)
        try:
            signers = [_signer(i) for i in range(8)]
            results = await asyncio.gather(*(_send(node, s) for s in signers for _ in range(3)))
            assert len({h for h, _ in results}) == 24
            await node.settled()
            for h, _ in results:
                assert (node.chain.index.transaction(h) or {}).get("receipt") is not None
            assert node.chain.head_number < 24  # batched behind the block being mined
        finally:
            await node.stop()

    asyncio.run(main())


def test_a_lone_rpc_send_is_answered_before_its_seal_and_what_follows_sees_the_block(monkeypatch, tmp_path):
    """In memory a lone send mined on the loop is answered once its block has run, and the loop
    turns once before the seal (the answer goes out while the block is sealed); every request
    after it waits for that seal, so the receipt and the block number are there at once. With a
    write-ahead log (a data directory) the lone send is answered after the seal, as before."""
    from app.rpc import dispatch, eth  # noqa: F401  (eth registers the methods)

    async def run(data_dir):
        monkeypatch.setenv("AIVM_INLINE_MINING", "1")
        node = Node(NodeOptions(data_dir=data_dir))
        await node.start()
        answered_before_seal = []
        seal = node.chain.seal_block

        def spy(builder):  # an early answer left this block's seal for later requests to wait for
            settling = node._settling
            answered_before_seal.append(settling is not None and not settling.done())
            return seal(builder)

        node.chain.seal_block = spy
        try:
            signer = _signer()
            for k in range(4):
                raw = signer.sign(rpc_load.dev_accounts()[5].address, b"", 21_000, 7)
                body = ('{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":["%s"]}' % raw).encode()
                out = await dispatch.handle_payload(node, body)  # this task goes on before the seal
                tx_hash = __import__("orjson").loads(out)
                assert "result" in tx_hash, tx_hash
                tx_hash = tx_hash["result"]
                receipt = await dispatch.handle_one(node, {"jsonrpc": "2.0", "id": 2, "method": "eth_getTransactionReceipt",
                                                           "params": [tx_hash]})
                number = await dispatch.handle_one(node, {"jsonrpc": "2.0", "id": 3, "method": "eth_blockNumber"})
                assert receipt["result"] is not None and int(receipt["result"]["status"], 16) == 1
                assert int(number["result"], 16) == k + 1 == int(receipt["result"]["blockNumber"], 16)
            return answered_before_seal
        finally:
            await node.stop()

    assert asyncio.run(run(None)) == [True] * 4
    assert asyncio.run(run(str(tmp_path / "chain"))) == [False] * 4
