"""Plain account reads and eth_calls of the latest view answer on the event loop (vm/api.py `NodeApi._here`,
`_call_here`), with the same values the reader threads give, across new blocks, dev edits and queued
transactions; a call that runs long or reaches a service precompile moves to a reader thread."""
import asyncio
from unittest import mock

from vm.node import Node, NodeOptions
from app.rpc import dispatch
from app.rpc import server  # noqa: F401  (registers every RPC method)


async def rpc(node, method, *params):
    resp = await dispatch.handle_one(node, {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    assert "error" not in resp, resp
    return resp["result"]


def _hop_counter(node):
    """(hops, a stand-in for node.read that records the name of each function sent to a reader thread)."""
    hops = []
    real_read = node.read

    async def counting_read(fn, *args, **kw):
        hops.append(getattr(fn, "__name__", fn))
        return await real_read(fn, *args, **kw)

    return hops, counting_read


def _reads(node, addrs):
    """(nonce, balance, code) of each address at latest and pending, through the RPC."""
    async def go():
        out = []
        for a in addrs:
            for tag in ("latest", "pending"):
                out.append((await rpc(node, "eth_getTransactionCount", a, tag), await rpc(node, "eth_getBalance", a, tag),
                            await rpc(node, "eth_getCode", a, "latest")))
        return out
    return go()


def test_latest_reads_on_the_loop_agree_with_reader_threads():
    async def main():
        for block_time in (0, 3600):  # automine, and a queue that waits for the interval
            node = Node(NodeOptions(block_time=block_time))
            await node.start()
            try:
                a = ["0x" + x.address.hex() for x in node.chain.accounts[:3]]
                hops, counting_read = _hop_counter(node)

                for step in range(4):
                    with mock.patch.object(node, "read", counting_read):
                        here = await _reads(node, a)
                    assert not hops, f"reads went to a reader thread: {hops}"
                    with mock.patch.object(node, "read", counting_read), \
                            mock.patch.object(type(node.api), "_here", lambda self, block: False):
                        there = await _reads(node, a)  # a forked chain's reads: the reader pool, as before
                    assert len(hops) >= len(a) * 2
                    hops.clear()
                    assert here == there, step
                    await rpc(node, "eth_sendTransaction", {"from": a[0], "to": a[1], "value": hex(10**18 + step)})
                    await rpc(node, "hardhat_setBalance", a[2], hex(7 * 10**18 + step))
                    await rpc(node, "hardhat_setNonce", a[2], hex(5 + step))
                if block_time:  # the queued sends count in the pending nonce, not in latest
                    latest, pending = here[0][0], here[1][0]
                    assert int(pending, 16) == int(latest, 16) + 3
                assert node.api._here("latest") and not node.api._here("0x1")
                object.__setattr__(node.chain.config, "fork", object())  # a forked chain: never on the loop
                assert not node.api._here("latest")
                object.__setattr__(node.chain.config, "fork", None)
            finally:
                await node.stop()

    asyncio.run(main())


def test_settled_waits_for_the_seal_bounded_and_shared(monkeypatch):
    """Requests after an early-answered send wait for its seal (vm/node.py `settled`): released by
    the seal, or after SETTLE_WAIT; one waiter's cancellation leaves the others waiting; no task needed."""
    from vm import node as node_mod
    from app.rpc.http1 import drive

    async def main():
        node = Node(NodeOptions())
        await node.start()
        loop = asyncio.get_running_loop()
        try:
            seal = loop.create_future()
            node._settling = seal
            waiters = [asyncio.ensure_future(node.settled()) for _ in range(3)]
            untasked = []
            drive(loop, node.settled(), lambda r, e: untasked.append(e))  # as the HTTP front runs it
            await asyncio.sleep(0.05)
            assert not any(w.done() for w in waiters) and not untasked
            waiters[0].cancel()
            await asyncio.sleep(0.01)
            assert waiters[0].cancelled() and not waiters[1].done()
            seal.set_result(None)  # sealed: everyone goes on
            await asyncio.wait_for(asyncio.gather(*waiters[1:]), 2)
            await asyncio.sleep(0)
            assert untasked == [None]
            monkeypatch.setattr(node_mod, "SETTLE_WAIT", 0.2)
            node._settling = loop.create_future()  # a seal that never comes: bounded
            t0 = loop.time()
            await asyncio.wait_for(node.settled(), 5)
            assert 0.15 < loop.time() - t0 < 3
            node._settling.set_exception(RuntimeError("seal failed"))  # failed: no wait, nothing raised
            await node.settled()
            node._settling.exception()
        finally:
            node._settling = None
            await node.stop()

    asyncio.run(main())


def test_unknown_transactions_and_receipts_answer_without_a_thread_hop():
    """A receipt polled before its block (block-time mode) or an unknown hash: null at once, not after a
    reader-thread hop (only a forked chain has a remote to ask)."""
    async def main():
        node = Node(NodeOptions(block_time=3600))
        await node.start()
        try:
            a = "0x" + node.chain.accounts[0].address.hex()
            tx = await rpc(node, "eth_sendTransaction", {"from": a, "to": a, "value": "0x1"})
            hops, counting_read = _hop_counter(node)

            with mock.patch.object(node, "read", counting_read):
                assert await rpc(node, "eth_getTransactionReceipt", tx) is None
                assert await rpc(node, "eth_getTransactionReceipt", "0x" + "ab" * 32) is None
                assert await rpc(node, "eth_getTransactionByHash", "0x" + "ab" * 32) is None
                assert (await rpc(node, "eth_getTransactionByHash", tx))["blockNumber"] is None  # queued
            assert not hops
            await rpc(node, "evm_mine")
            assert (await rpc(node, "eth_getTransactionReceipt", tx))["status"] == "0x1"
        finally:
            await node.stop()

    asyncio.run(main())


def test_log_queries_start_on_the_loop_and_move_to_a_reader_thread_past_their_budget():
    """eth_getLogs over a short range answers on the event loop (vm/api.py `NodeApi.logs`); one that runs past
    INLINE_LOG_BUDGET goes on from where it was on a reader thread, and one over more than INLINE_LOG_RANGE
    blocks (or on a forked chain) runs there from the start: the same logs every way, errors as before."""
    import orjson
    from eth_abi import encode

    from tests.contracts import compiled
    from vm import api as api_mod

    async def main():
        node = Node(NodeOptions())
        await node.start()
        try:
            a = ["0x" + x.address.hex() for x in node.chain.accounts[:4]]
            art = compiled()
            deploy = art["bytecode"] + encode(["uint256"], [10**6]).hex()
            tx = await rpc(node, "eth_sendTransaction", {"from": a[0], "data": deploy, "gas": hex(3_000_000)})
            token = (await rpc(node, "eth_getTransactionReceipt", tx))["contractAddress"]
            for i in range(40):  # 40 blocks of Transfer logs: more than LOG_STEP, so a query has steps to move
                data = "0xa9059cbb" + encode(["address", "uint256"], [a[1 + i % 3], i + 1]).hex()
                await rpc(node, "eth_sendTransaction", {"from": a[0], "to": token, "data": data, "gas": hex(100_000)})
            topic = "0x" + a[2][2:].rjust(64, "0")
            queries = [{"address": token, "fromBlock": "0x0", "toBlock": "latest"},
                       {"fromBlock": "0x0", "toBlock": "latest", "topics": [None, None, topic]}]
            hops, counting_read = _hop_counter(node)

            async def get_logs(q):  # as the client sees it (the answer may hold orjson Fragments of stored JSON)
                return orjson.loads(orjson.dumps(await rpc(node, "eth_getLogs", q)))

            with mock.patch.object(node, "read", counting_read):
                on_loop = [await get_logs(q) for q in queries]
                assert not hops, hops
                assert len(on_loop[0]) == 41 and len(on_loop[1]) == 13  # the mint and 40 transfers; 13 to a[2]
                with mock.patch.object(api_mod, "INLINE_LOG_BUDGET", 0):  # moved after its first step
                    assert [await get_logs(q) for q in queries] == on_loop
                assert hops == ["run_steps", "run_steps"]
                hops.clear()
                with mock.patch.object(api_mod, "INLINE_LOG_RANGE", 10):  # too long a range: a reader from the start
                    assert [await get_logs(q) for q in queries] == on_loop
                    narrow = {"address": token, "fromBlock": "0x20", "toBlock": "0x25"}
                    assert len(await get_logs(narrow)) == 6  # short: on the loop still
                assert hops == ["run_steps", "run_steps"]
                hops.clear()
                bad = await dispatch.handle_one(node, {"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs",
                                                       "params": [{"fromBlock": "0x5", "toBlock": "0x2"}]})
                assert bad["error"]["code"] == -32602 and "invalid block range" in bad["error"]["message"]
                object.__setattr__(node.chain.config, "fork", object())  # a forked chain: never on the loop
                try:
                    with mock.patch("vm.forking.remote_logs", lambda *args: []):
                        assert await get_logs(queries[0]) == on_loop[0]
                finally:
                    object.__setattr__(node.chain.config, "fork", None)
                assert hops == ["run_steps"]
        finally:
            await node.stop()

    asyncio.run(main())


def test_block_reads_answer_on_the_loop_with_what_a_reader_thread_reads():
    """eth_getBlockByNumber / ByHash (and the block counts) read their one record on the event loop; a `full`
    block's transactions too up to INLINE_FULL_TXS, past it on a reader thread; a forked chain's on a reader
    thread. The answers are what the reader threads' `_block_record` gives."""
    import orjson

    from vm import api as api_mod

    def orjson_equal(x, y):
        return orjson.dumps(x) == orjson.dumps(y)

    def full_tx(block):
        return len(block["transactions"]) == 1 and isinstance(block["transactions"][0], dict) and \
            block["transactions"][0]["hash"]

    async def main():
        node = Node(NodeOptions())
        await node.start()
        try:
            a = ["0x" + x.address.hex() for x in node.chain.accounts[:2]]
            for i in range(3):
                await rpc(node, "eth_sendTransaction", {"from": a[0], "to": a[1], "value": hex(i + 1)})
            head = await rpc(node, "eth_getBlockByNumber", "latest", False)
            hops, counting_read = _hop_counter(node)

            with mock.patch.object(node, "read", counting_read):
                for full in (False, True):
                    for ref in ("latest", "0x2", "earliest"):
                        got = await rpc(node, "eth_getBlockByNumber", ref, full)
                        want = node.api._block_record(ref if ref == "latest" else int(ref, 16) if ref != "earliest"
                                                      else ref, full)
                        assert orjson_equal(got, want), (ref, full)
                    assert orjson_equal(await rpc(node, "eth_getBlockByHash", head["hash"], full),
                                        node.api._block_record(bytes.fromhex(head["hash"][2:]), full))
                    assert await rpc(node, "eth_getBlockByNumber", "0x99", full) is None
                    assert await rpc(node, "eth_getBlockByHash", "0x" + "ab" * 32, full) is None
                assert int(await rpc(node, "eth_getBlockTransactionCountByNumber", "latest"), 16) == 1
                assert full_tx(await rpc(node, "eth_getBlockByNumber", "latest", True))
                assert not hops, hops
                with mock.patch.object(api_mod, "INLINE_FULL_TXS", 0):  # too many transactions: read on a reader
                    assert full_tx(await rpc(node, "eth_getBlockByNumber", "latest", True))
                    assert (await rpc(node, "eth_getBlockByNumber", "latest", False))["transactions"] == head["transactions"]
                assert hops == ["_with_transactions"]
                hops.clear()
                object.__setattr__(node.chain.config, "fork", object())  # a forked chain: a reader thread
                try:
                    with mock.patch("vm.forking.remote_block", lambda *args: None):
                        assert (await rpc(node, "eth_getBlockByNumber", "latest", False))["hash"] == head["hash"]
                finally:
                    object.__setattr__(node.chain.config, "fork", None)
                assert hops == ["_block_record"]
        finally:
            await node.stop()

    asyncio.run(main())


def test_eth_calls_run_on_the_loop_unless_they_run_long_or_reach_a_service_precompile():
    from tests.test_read_calls import WRITE_THEN_LOOP
    from vm.reader import service_precompiles

    async def call(node, method, *params):
        req = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        return await dispatch.handle_one(node, req)

    async def main():
        node = Node(NodeOptions())
        await node.start()
        try:
            looper, caller = "0x" + "11" * 20, "0x" + "22" * 20
            await rpc(node, "hardhat_setCode", looper, "0x" + WRITE_THEN_LOOP.hex())
            first_service = sorted(service_precompiles())[0].hex()
            await rpc(node, "hardhat_setCode", caller, "0x5f5f5f5f5f73" + first_service + "5af15f5260205ff3")
            requests = [
                ("eth_call", {"to": looper, "data": "0x01"}, "latest"),  # short: on the loop
                # ≈250k turns of a loop: far past INLINE_CALL_BUDGET on any machine; out of gas on a reader thread
                ("eth_call", {"to": looper, "gas": hex(3_000_000)}, "latest"),
                ("eth_call", {"to": caller}, "latest"),  # reaches a service precompile: never on the loop
                ("eth_estimateGas", {"to": looper, "data": "0x01"}),  # the same for estimates
                ("eth_estimateGas", {"to": looper, "gas": hex(3_000_000)}),
                ("eth_estimateGas", {"to": caller}),
            ]
            hops, counting_read = _hop_counter(node)
            here = []
            with mock.patch.object(node, "read", counting_read):
                for req in requests:
                    here.append((await call(node, *req), list(hops)))
                    hops.clear()
            with mock.patch.object(type(node.api), "_here", lambda self, block: False):
                there = [await call(node, *req) for req in requests]  # the reader threads' answers
            assert [h for _, h in here] == [[], ["call"], ["call"], [], ["estimate_gas"], ["estimate_gas"]]
            assert [r for r, _ in here] == there
            assert there[0]["result"] == "0x" + "00" * 32 and "out of gas" in there[1]["error"]["message"]
            assert int(there[3]["result"], 16) > 21_000 and "out of gas" in there[4]["error"]["message"]
        finally:
            await node.stop()

    asyncio.run(main())


def test_a_kept_call_result_waits_for_the_seal_of_an_answered_send():
    """A send answered before its block is sealed (`Node._answer_before_seal`): an eth_call after it, even one
    whose result on the previous head is kept (`CallCache`) or that runs on the loop, waits for the seal (the
    dispatcher's `settled`) rather than answer from the head before it."""
    async def main():
        node = Node(NodeOptions())
        await node.start()
        loop = asyncio.get_running_loop()
        try:
            a = "0x" + node.chain.accounts[0].address.hex()
            req = {"to": a, "data": "0x"}
            await rpc(node, "eth_call", req, "latest")  # kept for this head
            node._settling = seal = loop.create_future()
            pending = asyncio.ensure_future(rpc(node, "eth_call", req, "latest"))
            await asyncio.sleep(0.05)
            assert not pending.done()
            seal.set_result(None)
            assert await asyncio.wait_for(pending, 5) == "0x"
        finally:
            node._settling = None
            await node.stop()

    asyncio.run(main())
