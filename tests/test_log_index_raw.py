"""eth_getLogs splices whole blocks' stored logs (orjson Fragments): the same JSON as decoding them."""
import contextlib

import orjson
import pytest
from eth_abi import encode

from tests.contracts import compiled
from vm.chain import Chain


def _two_tokens():
    """A chain with two test tokens deployed by the first account: (chain, account addresses, token A, token B)."""
    art = compiled()
    c = Chain.ephemeral()
    a = [x.address for x in c.accounts]
    deploy = bytes.fromhex(art["bytecode"][2:]) + encode(["uint256"], [10**6])
    return c, a, c.transact(a[0], None, deploy).contract_address, c.transact(a[0], None, deploy).contract_address


@contextlib.contextmanager
def _blocks_examined(c):
    """The numbers of the blocks whose logs a query examines (reads their match keys), while inside."""
    from vm.store import index as index_module

    reads: list[int] = []
    db = c.index.db
    real_get = db.get

    def counting_get(key):
        if key.startswith(index_module.P_LOG_KEYS):
            reads.append(int.from_bytes(key[len(index_module.P_LOG_KEYS):], "big"))
        return real_get(key)

    db.get = counting_get
    try:
        yield reads
    finally:
        db.get = real_get


def test_raw_logs_are_the_decoded_logs_byte_for_byte():
    c, a, ta, tb = _two_tokens()

    def transfer(token, to, amount, nonce):
        tx, s = c.sign(a[0], token, bytes.fromhex("a9059cbb") + encode(["address", "uint256"], [to, amount]),
                       gas=100_000, nonce=nonce)
        return tx, s

    n = c.nonce(a[0])
    c.mine([transfer(ta, a[1], 1, n), transfer(tb, a[2], 2, n + 1)])  # a block with both tokens' logs
    c.mine([transfer(ta, a[3], 3, n + 2), transfer(ta, a[4], 4, n + 3)])  # only token A
    c.mine([transfer(tb, a[5], 5, n + 4)])  # only token B
    head = c.head_number
    topic = bytes.fromhex("ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef")
    filters = [
        (None, None), ([ta], None), ([tb], None), ([ta, tb], None),
        (None, [[topic]]), ([ta], [None, [a[0].rjust(32, b"\0")]]), ([ta], [[topic], None, [a[3].rjust(32, b"\0")]]),
    ]
    for addresses, topics in filters:
        for lo, hi in ((0, head), (head - 1, head), (head - 2, head - 2)):
            plain = c.index.logs(lo, hi, addresses, topics)
            raw = c.index.logs(lo, hi, addresses, topics, raw=True)
            assert orjson.dumps(raw) == orjson.dumps(plain), (addresses, topics, lo, hi)
    assert len(c.index.logs(0, head, [ta], None)) == 1 + 3
    assert any(isinstance(x, orjson.Fragment) for x in c.index.logs(0, head, [ta], None, raw=True))
    # the result limit counts logs, not blocks
    with pytest.raises(OverflowError):
        c.index.logs(0, head, None, None, limit=6, raw=True)
    assert len(c.index.logs(0, head, None, None, limit=7)) == 7


def test_a_filter_reads_only_the_blocks_all_of_its_parts_name():
    """Each constrained part of a filter (addresses; each topic position) narrows the blocks read: the
    intersection of their indexes, not the first part's alone. Results equal a brute-force filter of every
    log; a block none of the rarest part's topics is in is never read."""
    c, a, ta, tb = _two_tokens()
    n = c.nonce(a[0])
    first = c.head_number + 1
    for i in range(8):  # 8 blocks, each a transfer of both tokens; recipient a[1 + i % 4] of token A
        to = a[1 + i % 4]
        txs = [c.sign(a[0], ta, bytes.fromhex("a9059cbb") + encode(["address", "uint256"], [to, i + 1]),
                      gas=100_000, nonce=n + 2 * i),
               c.sign(a[0], tb, bytes.fromhex("a9059cbb") + encode(["address", "uint256"], [a[9], i + 1]),
                      gas=100_000, nonce=n + 2 * i + 1)]
        c.mine(txs)
    head = c.head_number
    topic = bytes.fromhex("ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef")
    word = lambda x: x.rjust(32, b"\0")  # noqa: E731
    everything = c.index.logs(0, head, None, None)

    def brute(addresses, topics):
        want_addr = None if addresses is None else {"0x" + x.hex() for x in addresses}
        out = []
        for log in everything:
            if want_addr is not None and log["address"].lower() not in want_addr:
                continue
            if len(topics) > len(log["topics"]) or any(
                    t is not None and log["topics"][i] not in {"0x" + x.hex() for x in t} for i, t in enumerate(topics)):
                continue
            out.append(log)
        return out

    with _blocks_examined(c) as reads:
        cases = [  # (addresses, topics, blocks that may be read)
            ([ta], [[topic], None, [word(a[3])]], {first + 2, first + 6}),  # a[3] gets token A in blocks 2 and 6
            ([ta], [[topic], None, [word(a[3]), word(a[4])]], {first + 2, first + 3, first + 6, first + 7}),
            ([tb], [[topic], None, [word(a[3])]], {first + 2, first + 6}),  # a[3] is in those blocks, not for B
            ([ta], [[topic], None, [word(a[9])]], set(range(first, head + 1))),  # a[9]: B's recipient, every block
            (None, [None, None, [word(a[5])]], set()),  # nobody sent to a[5]: nothing read
            # a[3]'s two blocks, each looked up in the address index (not scanned): a[5] never logged
            ([a[5]], [[topic], None, [word(a[3])]], set()),
            ([a[5], ta], [[topic], None, [word(a[3])]], {first + 2, first + 6}),
            # a[1] never sends; the topic index names blocks, not positions: the blocks a[1] received in are read
            ([ta], [[topic], [word(a[1])]], {first, first + 4}),
        ]
        for addresses, topics, may_read in cases:
            reads.clear()
            got = c.index.logs(0, head, addresses, topics)
            assert got == brute(addresses, topics), (addresses, topics)
            assert set(reads) <= may_read, (addresses, topics, sorted(reads))
            raw = c.index.logs(0, head, addresses, topics, raw=True)
            assert orjson.dumps(raw) == orjson.dumps(got)


def test_logs_are_sliced_from_the_stored_block_by_their_match_keys():
    """Each block's logs are matched on their stored keys and answered as slices of the block's stored JSON: the
    slices are exactly the receipts' logs, and a data dir whose blocks were indexed before the keys existed
    (no P_LOG_KEYS records) gives the same answers."""
    from vm.store import index as index_module

    c, a, ta, tb = _two_tokens()
    n = c.nonce(a[0])
    hashes = []
    for i in range(3):
        txs = [c.sign(a[0], token, bytes.fromhex("a9059cbb") + encode(["address", "uint256"], [a[1 + i + j], 7 + j]),
                      gas=100_000, nonce=n + 2 * i + j) for j, token in enumerate((ta, tb))]
        c.mine(txs)
        hashes += [tx.hash for tx, _ in txs]
    head = c.head_number
    receipts_logs = [log for h in hashes for log in c.index.transaction(h)["receipt"]["logs"]]
    recent = c.index.logs(head - 2, head, None, None)
    assert recent == receipts_logs and len(recent) == 6
    topic = bytes.fromhex("ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef")
    filters = [(None, None), ([tb], None), ([ta], [[topic], None, [a[2].rjust(32, b"\0")]]),
               (None, [None, [a[0].rjust(32, b"\0")]])]
    before = {i: (c.index.logs(0, head, *f), orjson.dumps(c.index.logs(0, head, *f, raw=True)))
              for i, f in enumerate(filters)}
    assert before[2][0] == [receipts_logs[2]]
    with c.index.db.transaction():
        for key, _ in list(c.index.db.items(index_module.P_LOG_KEYS)):
            c.index.db.put(key, None)
    assert not list(c.index.db.items(index_module.P_LOG_KEYS))
    for i, f in enumerate(filters):
        assert c.index.logs(0, head, *f) == before[i][0], f
        assert orjson.dumps(c.index.logs(0, head, *f, raw=True)) == before[i][1], f


def test_a_part_that_names_every_sampled_block_is_not_asked_about_the_rest():
    """Past the rarest part, a part is looked up block by block; one that names each of the first DENSE_SAMPLE
    blocks is taken as naming all (the block reads check it per log), one that rules blocks out is asked about
    every block. Either way the answer is exactly the filter's."""
    c, a, ta, tb = _two_tokens()
    x, y = b"\x11" * 20, b"\x22" * 20
    n = c.nonce(a[0])
    first = c.head_number + 1
    plan = [(ta, x)] * 10 + [(tb, x)] * 10 + [(ta, y)] * 30  # x receives A in 10 blocks, then B in 10
    for i, (token, to) in enumerate(plan):
        c.mine([c.sign(a[0], token, bytes.fromhex("a9059cbb") + encode(["address", "uint256"], [to, 1]),
                       gas=100_000, nonce=n + i)])
    head = c.head_number
    topic = bytes.fromhex("ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef")
    with _blocks_examined(c) as reads:
        got_a = c.index.logs(0, head, [ta], [[topic], None, [x.rjust(32, b"\0")]])
        assert [int(log["blockNumber"], 16) for log in got_a] == list(range(first, first + 10))
        assert set(reads) == set(range(first, first + 20))  # A named the 8 sampled: all 20 of x's blocks read
        reads.clear()
        got_b = c.index.logs(0, head, [tb], [[topic], None, [x.rjust(32, b"\0")]])
        assert [int(log["blockNumber"], 16) for log in got_b] == list(range(first + 10, first + 20))
        assert set(reads) == set(range(first + 10, first + 20))  # B ruled the sampled out: only its blocks
