"""The committed-record cache of `AtomicStore` (meta keys, py-evm's chain bookkeeping), and
that a block's LevelDB reads do not grow with the chain's height.

The cache may only ever hold what the KV store has committed: an aborted batch, a failed
write, a reader thread beside an open batch, a snapshot revert and a restart (also after a
kill between the write and the cache) must all read exactly what is on disk.
"""
import os
import subprocess
import sys
import textwrap
import threading

import pytest

from vm.chain import Chain
from vm.store.atomic import AtomicStore, is_record
from vm.store.index import P_META, ChainIndex
from vm.store.kv import LevelKV, MemoryKV

TS = b"aivm/meta/next_timestamp"


class CountingKV(LevelKV):
    """LevelDB that counts point reads (all, and by key)."""

    def __init__(self, path):
        super().__init__(path)
        self.gets = 0
        self.keys: list[bytes] = []

    def get(self, key):
        self.gets += 1
        self.keys.append(key)
        return super().get(key)


class FailingKV(MemoryKV):
    fail = False

    def write_batch(self, changes):
        if self.fail:
            raise OSError("disk full")
        super().write_batch(changes)


def test_the_cached_keys_are_the_small_records():
    assert is_record(TS) and is_record(b"v1:canonical_head_hash") and is_record(b"v1:chain_gaps")
    assert is_record(b"block-hash-to-score:" + b"\x11" * 32)
    assert not is_record(b"\x11" * 32)  # trie nodes, headers: content-addressed, not cached here
    assert not is_record(b"aivm/blk/" + b"\x00" * 8) and not is_record(b"aivm/ai/counters")


def test_an_aborted_batch_leaves_the_cache_at_the_disk():
    kv = MemoryKV()
    store = AtomicStore(kv)
    index = ChainIndex(store)
    assert index.meta("next_timestamp") is None  # cached as absent
    with store.transaction():
        index.set_meta("next_timestamp", 5)
    assert index.meta("next_timestamp") == 5
    with pytest.raises(RuntimeError):
        with store.transaction():
            index.set_meta("next_timestamp", 9)
            index.set_meta("time_offset", 3)
            assert index.meta("next_timestamp") == 9  # the batch's owner sees its batch
            raise RuntimeError("block failed")
    assert index.meta("next_timestamp") == 5 and index.meta("time_offset") is None
    assert kv.get(TS) == b"5" and kv.get(b"aivm/meta/time_offset") is None


def test_a_failed_write_never_leaves_the_cache_ahead():
    kv = FailingKV()
    store = AtomicStore(kv)
    index = ChainIndex(store)
    with store.transaction():
        index.set_meta("next_timestamp", 5)
    kv.fail = True
    for write in (lambda: index.set_meta("next_timestamp", 7),  # outside a batch
                  lambda: _in_batch(store, lambda: index.set_meta("next_timestamp", 8))):
        reads = store.record_reads
        with pytest.raises(OSError):
            write()
        assert index.meta("next_timestamp") == 5
        assert store.record_reads == reads + 1  # dropped from the cache, read from the store again


def _in_batch(store, fn):
    with store.transaction():
        fn()


def test_other_threads_see_a_record_only_once_its_batch_is_written():
    store = AtomicStore(MemoryKV())
    index = ChainIndex(store)
    with store.transaction():
        index.set_meta("next_timestamp", 1)
    seen = []

    def reader():
        seen.append(index.meta("next_timestamp"))

    with store.transaction():
        index.set_meta("next_timestamp", 2)
        t = threading.Thread(target=reader)
        t.start()
        t.join()
    t = threading.Thread(target=reader)
    t.start()
    t.join()
    assert seen == [1, 2]


def test_a_fill_racing_a_commit_does_not_put_back_the_old_value():
    """A reader's miss reads the store while a commit replaces the key: the commit waits for
    the fill, so the cache ends at the committed value (without the lock it would keep the
    value the reader read before the commit)."""

    class SlowKV(MemoryKV):
        gate = None

        def get(self, key):
            value = super().get(key)
            if self.gate is not None and key == TS:
                reading.set()
                self.gate.wait(5)
            return value

    kv = SlowKV()
    kv.put(TS, b"1")
    store = AtomicStore(kv)
    reading, kv.gate = threading.Event(), threading.Event()
    reader = threading.Thread(target=lambda: store.get(TS))
    reader.start()
    assert reading.wait(5)
    writer = threading.Thread(target=lambda: store.put(TS, b"2"))
    writer.start()
    writer.join(0.2)
    kv.gate.set()
    reader.join(5)
    writer.join(5)
    kv.gate = None
    assert kv.get(TS) == b"2" and store.get(TS) == b"2"


def _records(chain, keys):
    """Each record as the cache answers it, and as the disk holds it (0 time offset = none)."""
    out = {k: chain.index.meta(k, 0 if k == "time_offset" else None) for k in keys}
    for k in keys:
        raw = chain.store.kv.get(P_META + k.encode())
        assert chain.store.get(P_META + k.encode()) == raw
    return out


def test_revert_brings_the_records_back_and_drops_the_reverted_pre_roots(tmp_path):
    chain = Chain.open(str(tmp_path / "chain"))
    try:
        a = chain.accounts
        sid = chain.snapshot()
        keys = ("next_timestamp", "time_offset", "pending_root")
        before = _records(chain, keys)
        chain.set_next_timestamp(chain.head.timestamp + 1000)
        chain.mine([])
        chain.set_balance(a[3].address, 12345)  # a dev edit: the next block records its pre-root
        edited_root = chain._pending_root
        n = chain.mine([]).number
        assert chain.index.meta(f"block_pre_root/{n}") == edited_root.hex()
        chain.increase_time(50)
        chain.set_balance(a[4].address, 1)
        assert chain.revert(sid)
        assert _records(chain, keys) == before
        assert chain.index.meta(f"block_pre_root/{n}") is None
        assert chain.store.kv.get(P_META + f"block_pre_root/{n}".encode()) is None
        assert chain.balance(a[3].address) != 12345
        while chain.head_number < n:
            chain.mine([])  # the same numbers again, no edit: no pre-root recorded
        assert chain.index.meta(f"block_pre_root/{n}") is None
    finally:
        chain.close()
    chain = Chain.open(str(tmp_path / "chain"))  # and the disk says the same
    try:
        assert _records(chain, keys) == before
        assert chain.index.meta(f"block_pre_root/{n}") is None
    finally:
        chain.close()


def test_a_restart_reads_exactly_what_was_written(tmp_path):
    path = str(tmp_path / "chain")
    chain = Chain.open(path)
    a = chain.accounts
    try:
        chain.mine([])
        chain.increase_time(100)
        chain.set_next_timestamp(chain.head.timestamp + 500)
        chain.set_balance(a[2].address, 777)
        written = dict(chain.store.kv.items(P_META))
        cached = {k: chain.store.get(k) for k in written}
        head = chain.head.hash
    finally:
        chain.close()
    assert cached == written
    chain = Chain.open(path)
    try:
        assert dict(chain.store.kv.items(P_META)) == written
        assert {k: chain.store.get(k) for k in written} == written
        assert chain.head.hash == head and chain.balance(a[2].address) == 777
        assert chain._next_timestamp() == chain.head.timestamp + 500
        assert chain.mine([]).number == 2
    finally:
        chain.close()


def test_a_stale_pre_root_above_the_head_is_removed_at_start(tmp_path):
    path = str(tmp_path / "chain")
    chain = Chain.open(path)
    chain.mine([])
    with chain.store.transaction():  # what a revert before `truncate_after` removed them left
        chain.index.set_meta("block_pre_root/2", "ab" * 32)
        chain.index.set_meta("block_pre_root/1", "cd" * 32)
    chain.close()
    chain = Chain.open(path)
    try:
        assert chain.index.meta("block_pre_root/2") is None
        assert chain.index.meta("block_pre_root/1") == "cd" * 32  # a mined block's stays
    finally:
        chain.close()


_KILL = textwrap.dedent("""
    import os, signal, sys
    from vm.chain import Chain
    from vm.store.kv import LevelKV
    when = sys.argv[2]

    class DyingKV(LevelKV):
        armed = False

        def write_batch(self, changes):
            if self.armed and when == "before":
                os.kill(os.getpid(), signal.SIGKILL)
            super().write_batch(changes)
            if self.armed and when == "after":  # written, the cache not yet moved
                os.kill(os.getpid(), signal.SIGKILL)

    kv = DyingKV(sys.argv[1])
    chain = Chain(kv)
    chain.mine([])
    kv.armed = True
    chain.set_next_timestamp(chain.head.timestamp + 1000)
""")


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_kill_between_the_batch_and_the_cache(tmp_path, when):
    path = str(tmp_path / "chain")
    script = tmp_path / "die.py"
    script.write_text(_KILL)
    proc = subprocess.run([sys.executable, str(script), path, when], capture_output=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    chain = Chain.open(path)
    try:
        assert chain.head_number == 1
        expect = None if when == "before" else chain.head.timestamp + 1000
        assert chain.index.meta("next_timestamp") == expect
        assert chain._next_timestamp() == (expect or chain._next_timestamp())
    finally:
        chain.close()


def _reads_per_block(chain, kv, blocks, send=None):
    gets, record_reads = kv.gets, chain.store.record_reads
    for i in range(blocks):
        if send is None:
            chain.mine([])
        else:
            assert send(i).success
    return (kv.gets - gets) / blocks, (chain.store.record_reads - record_reads) / blocks


def test_a_blocks_reads_do_not_grow_with_the_height(tmp_path):
    """LevelDB point reads a block at heights 200 and 2,000: the same, and none of them a
    meta or bookkeeping record (the growth of the scale bench was misses on those)."""
    from bench import bench_scale, rpc_load

    kv = CountingKV(str(tmp_path / "chain"))
    chain = Chain(kv)
    try:
        signer, token = bench_scale._setup(chain)
        dests = rpc_load.recipients()

        def send(i):
            raw = signer.sign(token, rpc_load.transfer_data(dests[i % len(dests)], 1), rpc_load.TRANSFER_GAS)
            return chain.send_raw(bytes.fromhex(raw[2:]))

        for i in range(5):  # the contract's and accounts' trie paths warm
            send(i)
        at = {}
        for height in (200, 2_000):
            while chain.head_number < height:
                chain.mine([])
            at[height] = (_reads_per_block(chain, kv, 50), _reads_per_block(chain, kv, 20, send))
        (empty_200, tx_200), (empty_2k, tx_2k) = at[200], at[2_000]
        assert empty_200 == empty_2k == (0, 0)  # an empty block reads nothing from LevelDB
        assert tx_200[1] == tx_2k[1] == 0
        assert tx_2k[0] <= tx_200[0] <= 2  # a transfer: at most a trie node or two
    finally:
        chain.close()


def test_block_records_store_only_unusual_fields_and_read_back_whole(tmp_path):
    """A block record is stored without the fields that have their usual value (an empty
    block's was 1.7 KB, mostly a zero bloom) and read back equal, in the same field order,
    to the record the block was mined with; a record stored whole (an older data dir) reads
    back unchanged."""
    import orjson

    from bench import bench_scale, rpc_load
    from vm.chain_records import ChainConfig
    from vm.store.index import P_BLOCK, _num

    chain = Chain.open(str(tmp_path / "chain"), ChainConfig(coinbase=b"\x42" * 20))
    try:
        signer, token = bench_scale._setup(chain)  # a deploy: logs, a bloom, gas, roots
        mined = [chain.mine([])]
        raw = signer.sign(token, rpc_load.transfer_data(rpc_load.recipients()[0], 1), rpc_load.TRANSFER_GAS)
        assert chain.send_raw(bytes.fromhex(raw[2:])).success
        mined.append(chain.mine([]))
        for m in mined:
            got = chain.index.block(m.number)
            assert got == m.record and list(got) == list(m.record)
        for n in range(chain.head_number + 1):
            got = chain.index.block(n)
            assert list(got)[:3] == ["number", "hash", "parentHash"] and got["uncles"] == []
            assert got["hash"] == "0x" + chain.header_at(n).hash.hex()
        txblock = chain.index.block(chain.head_number - 1)
        assert txblock["logsBloom"] != "0x" + "00" * 256 and txblock["miner"] == "0x" + "42" * 20
        empty = chain.store.kv.get(P_BLOCK + _num(chain.head_number))
        assert len(empty) < 600 and b"logsBloom" not in empty
        # an older data dir's record, stored whole
        whole = mined[0].record
        with chain.store.transaction():
            chain.store[P_BLOCK + _num(mined[0].number)] = orjson.dumps(whole)
        got = chain.index.block(mined[0].number)
        assert got == whole and list(got) == list(whole)
        got["uncles"].append("x")  # a caller's edit never reaches the next read
        assert chain.index.block(mined[0].number)["uncles"] == []
    finally:
        chain.close()
