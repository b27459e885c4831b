"""A block's trie writes applied in one walk (vm/trie_batch.py, deferred writes in vm/trie_cache.py)
give py-trie's root, store every node a read or a proof of the new trie walks, and change no
state root, receipt or gas figure of a chain (py-evm's own per-key writes beside them)."""
import json
import os
import random
import subprocess
import sys

import pytest
import vm  # noqa: F401  (the node's rlp and keccak backends, as the chain runs them)
from trie import HexaryTrie
from trie.constants import BLANK_NODE_HASH
from trie.utils.nodes import decode_node
from eth_hash.auto import keccak

from tests.test_warm_state import ROOT, WORKLOAD, run_workload
from vm import trie_batch, trie_cache


def _read(trie, key):
    """A value, or the error py-trie raises for it (py-trie cannot read a key that is a strict
    prefix of another key under an extension; both tries must fail alike)."""
    try:
        return trie.get(key)
    except Exception as exc:  # noqa: BLE001
        return type(exc)


def _proof(trie, key):
    try:
        return trie.get_proof(key)
    except Exception as exc:  # noqa: BLE001
        return type(exc)


def _key(rng, short: bool) -> bytes:
    if not short:  # state and storage tries: 32-byte hashed keys
        return bytes(rng.randrange(256) for _ in range(32))
    # short keys from few bytes: shared prefixes, keys that are prefixes of others, the empty key
    return bytes(rng.choice(b"\x00\x01\x10\x11\xff") for _ in range(rng.randrange(0, 4)))


def _value(rng) -> bytes:
    # b"" deletes; short values make inline (< 32 byte) nodes, long ones hashed nodes
    return rng.choice([b"", b"", bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))])


@pytest.mark.parametrize("seed", range(4))
def test_batch_equals_py_trie_key_by_key(seed):
    rng = random.Random(seed)
    for trial in range(60):
        short = trial % 2 == 1
        plain = HexaryTrie({})
        db: dict = {}
        nodes: dict = {}
        root, keys = BLANK_NODE_HASH, []
        for rnd in range(6):
            changes = {}
            for _ in range(rng.randrange(0, 12)):
                key = rng.choice(keys) if keys and rng.random() < 0.5 else _key(rng, short)
                keys.append(key)
                changes[key] = _value(rng)
            for k, v in changes.items():
                plain.set(k, v)
            root = trie_batch.update(db, root, changes, nodes if rnd % 2 else None)
            assert root == plain.root_hash, (seed, trial, rnd)
            batched = HexaryTrie(db, root)  # only the nodes the batch wrote (and earlier ones)
            for k in set(keys):
                assert _read(batched, k) == _read(plain, k)
                assert _proof(batched, k) == _proof(plain, k)
            for node_hash, node in nodes.items():  # the decoded-node cache holds what decoding gives
                assert decode_node(db[node_hash]) == node


def test_batch_writes_each_new_node_once_and_no_intermediate_root():
    rng = random.Random(7)
    base = {bytes(rng.randrange(256) for _ in range(32)): b"v" * 40 for _ in range(50)}
    db: dict = {}
    root = trie_batch.update(db, BLANK_NODE_HASH, base)
    before = dict(db)
    changes = {k: b"w" * 40 for k in list(base)[:3]}
    new_root = trie_batch.update(db, root, changes)
    written = set(db) - set(before)
    plain = HexaryTrie(dict(before), root)
    for k, v in changes.items():
        plain.set(k, v)  # py-trie writes the two intermediate roots too
    assert new_root == plain.root_hash
    assert written <= set(plain.db) - set(before)
    assert len(written) < len(set(plain.db) - set(before))
    # every written node is a node of the new trie
    reachable, todo = set(), [new_root]
    while todo:
        ref = todo.pop()
        if type(ref) is bytes and len(ref) == 32 and ref in db:
            reachable.add(ref)
            node = decode_node(db[ref])
        elif type(ref) is list:
            node = ref
        else:
            continue
        todo.extend(node[:16] if len(node) == 17 else node[1:])
    assert written <= reachable


def test_deferred_trie_reads_and_roots_follow_every_write():
    db: dict = {}
    t = trie_cache.CachedHexaryTrie(db)
    plain = HexaryTrie({})
    keys = [bytes([i]) * 32 for i in range(20)]
    for i, k in enumerate(keys):
        t.set(k, b"%d" % i)
        plain.set(k, b"%d" % i)
        assert t.get(k) == b"%d" % i  # a read after a noted write sees it
    t.delete(keys[3])
    plain.delete(keys[3])
    t[keys[4]] = b""
    plain[keys[4]] = b""
    assert t.root_hash == plain.root_hash
    assert t.get(keys[3]) == b"" and keys[5] in t and keys[4] not in t
    assert t.get_proof(keys[6]) == plain.get_proof(keys[6])


def test_squash_changes_applies_together_and_a_failure_leaves_the_root():
    t = trie_cache.CachedHexaryTrie({})
    t.set(b"\x01" * 32, b"one")
    root = t.root_hash
    with pytest.raises(RuntimeError):
        with t.squash_changes() as memory:
            memory.set(b"\x02" * 32, b"two")
            raise RuntimeError("py-evm's account diff failed")
    assert t.root_hash == root and t.get(b"\x02" * 32) == b""
    with t.squash_changes() as memory:
        memory.set(b"\x02" * 32, b"two")
        memory.set(b"\x01" * 32, b"")
    plain = HexaryTrie({})
    plain.set(b"\x02" * 32, b"two")
    assert t.root_hash == plain.root_hash


def test_a_missing_node_is_py_tries_error():
    from trie.exceptions import MissingTrieNode

    db: dict = {}
    t = HexaryTrie(db)  # py-trie's own: nothing in the decoded-node cache
    for i in range(20):
        t.set(bytes([i]) * 32, b"missing %d" % i + os.urandom(32))
    root = t.root_hash
    db.clear()
    broken = trie_cache.CachedHexaryTrie(db, root)
    broken.set(b"\x05" * 32, b"y")
    with pytest.raises(MissingTrieNode):
        broken.root_hash


def _run(batch: str, script: str = WORKLOAD) -> list:
    return run_workload({"AIVM_TRIE_BATCH": batch}, script)


def test_chain_roots_receipts_and_gas_equal_per_key_writes():
    """test_warm_state's workload (storage set, changed, zeroed, new accounts, a contract
    created, a dev edit, a snapshot revert) block for block, batched vs py-trie's per-key sets."""
    batched, per_key = _run("1"), _run("0")
    assert len(batched) == 13 and all(all(ok) for *_, ok in batched)
    assert batched == per_key


# on disk (LevelDB): blocks, reads of older state, eth_getProof, a restart from the files, more blocks
DISK = r"""
import json, sys
from eth_abi import encode
from eth_utils import keccak
from trie import HexaryTrie
from tests.contracts import compiled
from vm.chain import Chain, ChainConfig
from vm import proofs
art = compiled()
path, cfg = sys.argv[1], ChainConfig(genesis_timestamp=1_700_000_000)
c = Chain.open(path, cfg)
a = [x.address for x in c.accounts]
token = c.transact(a[0], None, bytes.fromhex(art["bytecode"][2:]) + encode(["uint256"], [10**6])).contract_address
sel = bytes.fromhex("a9059cbb")
heads = []
for i in range(6):
    c.transact(a[0], token, sel + encode(["address", "uint256"], [a[1 + i % 4], 5 + i]))
    c.transact(a[i % 3], bytes([0xAB] * 19 + [i]), b"", value=7)
    heads.append(c.head.block_number)
out = {"roots": [c.head.state_root.hex()]}
out["old"] = [[c.balance(a[1], n), c.storage(token, int.from_bytes(keccak(encode(["address", "uint256"], [a[1], 0])), "big"), n)] for n in heads]
out["proofs"] = [proofs.get_proof(c, token, [0, 1, 2], n) for n in heads[::2]]
for p, n in zip(out["proofs"], heads[::2]):  # each proof checks against the block's state root
    root = c.header_at(n).state_root
    nodes = [bytes.fromhex(x[2:]) for x in p["accountProof"]]
    assert HexaryTrie.get_from_proof(root, keccak(token), [__import__("rlp").decode(x) for x in nodes])
c.close()
c2 = Chain.open(path, cfg)
out["roots"].append(c2.head.state_root.hex())
out["after_restart"] = [c2.balance(a[1], n) for n in heads]
c2.transact(a[0], token, sel + encode(["address", "uint256"], [a[2], 1]))
out["roots"].append(c2.head.state_root.hex())
c2.close()
print(json.dumps(out))
"""


def test_on_disk_reads_proofs_and_restart_equal_per_key_writes(tmp_path):
    def run(batch):
        env = {**os.environ, "AIVM_TRIE_BATCH": batch, "PYTHONPATH": ROOT}
        out = subprocess.run([sys.executable, "-c", DISK, str(tmp_path / f"db{batch}")], env=env,
                             capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert out.returncode == 0, out.stderr[-3000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    batched, per_key = run("1"), run("0")
    assert batched["roots"][0] == batched["roots"][1]  # the restart found the same head
    assert batched == per_key


def test_a_storage_commit_writes_the_noted_slots():
    """py-evm's StorageLookup writes its node batch, then reads the root: the noted writes are
    applied first (vm/trie_cache.install)."""
    import eth.db.storage as storage
    from eth.db.backends.memory import MemoryDB

    import vm.chain  # noqa: F401  (installs the cached trie into py-evm)

    assert storage.HexaryTrie is trie_cache.CachedHexaryTrie or not trie_cache.enabled()
    source, target = MemoryDB(), MemoryDB()
    lookup = storage.StorageLookup(source, BLANK_NODE_HASH, b"\x01" * 20)
    for slot in range(1, 6):
        lookup[slot.to_bytes(32, "big")] = b"\x2a" * slot
    lookup.commit_to(target)  # no root read before: the commit itself applies them
    root = lookup._starting_root_hash
    trie = HexaryTrie(target, root)
    plain = HexaryTrie({})
    for slot in range(1, 6):
        plain.set(keccak(slot.to_bytes(32, "big")), b"\x2a" * slot)
        assert trie.get(keccak(slot.to_bytes(32, "big"))) == b"\x2a" * slot
    assert root == plain.root_hash


def test_a_one_transaction_blocks_roots_are_py_evms():
    """vm/trie_root.py's one-leaf shortcut (a block of one transaction: its transaction and
    receipt tries have the single key rlp(0))."""
    from eth.db.trie import _make_trie_root_and_nodes

    from vm.trie_root import ordered_trie_root

    for size in list(range(1, 70)) + [100, 255, 256, 1000, 70_000]:  # (encoded txs and receipts: never empty)
        value = os.urandom(size)
        assert ordered_trie_root([value]) == _make_trie_root_and_nodes((value,))[0], size


def test_every_stored_key_and_value_equals_py_evms_path():
    """The whole store after test_warm_state's workload, every shortcut on vs every one off
    (py-trie's per-key sets, rlp's records, py-evm's header writes): the same keys with the same
    bytes, except py-trie's intermediate trie nodes, which no root reaches."""
    import pickle
    import tempfile

    script = WORKLOAD.replace("print(json.dumps(roots))",
                              "import pickle; pickle.dump(dict(c.store.kv._data), open(sys.argv[1], 'wb'))")

    def run(flag):
        path = tempfile.mktemp(suffix=".pkl")
        env = {**os.environ, "PYTHONPATH": ROOT, "AIVM_TRIE_BATCH": flag, "AIVM_FAST_RECORDS": flag,
               "AIVM_FAST_HEADERS": flag}
        out = subprocess.run([sys.executable, "-c", script, path], env=env, capture_output=True, text=True,
                             timeout=300, cwd=ROOT)
        assert out.returncode == 0, out.stderr[-3000:]
        with open(path, "rb") as f:
            data = pickle.load(f)
        os.unlink(path)
        return data

    fast, slow = run("1"), run("0")
    assert [k for k in fast if slow.get(k) != fast[k]] == []
    extra = [k for k in slow if k not in fast]
    assert extra and all(len(k) == 32 for k in extra)  # only trie nodes, and only py-trie's extra ones
