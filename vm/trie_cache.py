"""Trie reads that stay warm across blocks.

py-evm builds a fresh state, and so fresh tries, for every block and every
eth_call, and each account or storage read walks the trie from the root,
decoding RLP nodes in Python. A trie is content-addressed: the value under a
key at a given root never changes, so two caches serve reads without walking:

- a process-wide LRU of (root hash, key) -> value, for any root (readers of
  older heads, repeated calls);
- per thread, a *lineage* map per live root: key -> value at that root. When a
  trie at root R sets or deletes a key and so becomes R', the map moves to R'
  with that one key updated: every other entry is still right at R' (only that
  key changed). So the chain thread's reads of accounts and storage it touched
  in earlier blocks hit a dict instead of a trie walk, block after block — the
  latest state stays warm across blocks without py-evm's objects living longer.

A map is only ever a subset of the trie at its root, so a miss falls through to
the real trie, and a root nobody builds on (a scratch state, a reverted block)
just leaves its map to age out. Maps are thread-local: no thread reads a map
another thread is moving. `install()` swaps py-evm's HexaryTrie for this
subclass where AccountDB and StorageLookup create theirs.

Writes are deferred: `set`/`delete` only note the change, and the first thing
that needs the trie as it now is (its root hash, a read, a proof, a snapshot of
it) applies all noted changes in one walk (vm/trie_batch.py) — py-evm sets a
block's accounts and storage slots one by one and reads the root once, so a
block hashes each touched node once instead of once per key. `AIVM_TRIE_BATCH=0`
applies each write at once, through py-trie.
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager

from lru import LRU
from trie import HexaryTrie
from trie.constants import BLANK_NODE_HASH
from trie.utils.nodes import decode_node
from trie.validation import validate_is_bytes

from vm import trie_batch

BATCH = os.environ.get("AIVM_TRIE_BATCH", "1") != "0"

_CACHE: LRU = LRU(200_000)
_NODES: LRU = LRU(100_000)  # node hash -> decoded node (never handed out: tries edit nodes in place)

LINEAGE_ROOTS = 256  # live roots per thread (the account trie and one per touched contract storage)
LINEAGE_KEYS = 50_000  # entries per map before it starts again empty


class _Lineages(threading.local):
    def __init__(self) -> None:
        self.maps: dict[bytes, dict[bytes, bytes]] = {}


_local = _Lineages()


def _moved(old_root: bytes, new_root: bytes, changes: dict) -> None:
    maps = _local.maps
    m = maps.pop(old_root, None)
    if m is None or len(m) >= LINEAGE_KEYS:
        m = {}
    m.update(changes)
    maps.pop(new_root, None)  # a map already at new_root is just as right; keep the moved one
    maps[new_root] = m
    if len(maps) > LINEAGE_ROOTS:
        maps.pop(next(iter(maps)))


class CachedHexaryTrie(HexaryTrie):
    def __init__(self, db, root_hash: bytes = BLANK_NODE_HASH, prune: bool = False, ref_count=None) -> None:
        # py-evm asks for pruning, but commits with apply_deletes=False: it only keeps
        # intermediate nodes of one block out of the batch, at the price of encoding and
        # hashing every replaced node once more. Unpruned, those few extra nodes land in
        # the batch too (content-addressed, harmless) and each set does half the work.
        self._pending = None  # key -> value (b"" deletes) not yet applied
        super().__init__(db, root_hash, prune=False)

    # py-trie's slot `root_hash`, behind a property: reading it applies the noted writes
    @property
    def root_hash(self) -> bytes:
        if self._pending:
            self._apply_pending()
        return self._root

    @root_hash.setter
    def root_hash(self, value: bytes) -> None:
        if self._pending:
            self._apply_pending()
        self._root = value

    def _apply_pending(self) -> None:
        changes, self._pending = self._pending, None
        old = self._root
        try:
            new = trie_batch.update(self.db, old, changes, _NODES)
        except KeyError as exc:  # a node missing from the database: py-trie's error
            self._raise_missing_node(exc, next(iter(changes)))
        self._root = new
        _moved(old, new, changes)

    def get(self, key: bytes) -> bytes:
        root = self.root_hash
        m = _local.maps.get(root)
        if m is not None:
            value = m.get(key)
            if value is not None:
                return value
        k = (root, key)
        try:
            value = _CACHE[k]
        except KeyError:
            value = super().get(key)
            _CACHE[k] = value
        if m is not None:
            m[key] = value
        return value

    def get_node(self, node_hash: bytes):
        if len(node_hash) != 32 or node_hash == BLANK_NODE_HASH:
            return super().get_node(node_hash)
        node = _NODES.get(node_hash)
        if node is None:
            node = decode_node(self.db[node_hash])
            _NODES[node_hash] = node
        return _copy(node)

    def set(self, key: bytes, value: bytes) -> None:
        if BATCH:
            validate_is_bytes(key)
            validate_is_bytes(value)
            if self._pending is None:
                self._pending = {}
            self._pending[key] = value
            return
        old = self.root_hash
        super().set(key, value)
        _moved(old, self.root_hash, {key: value})

    def delete(self, key: bytes) -> None:
        self.set(key, b"") if BATCH else self._delete_now(key)

    def _delete_now(self, key: bytes) -> None:
        old = self.root_hash
        super().delete(key)
        _moved(old, self.root_hash, {key: b""})

    @contextmanager
    def squash_changes(self):
        """py-trie's squash (AccountDB writes a block's accounts through it): a trie on the
        same database whose writes, applied together when it ends, become this trie's root.
        Nothing is pruned here (see __init__), so py-trie's scratch database adds nothing."""
        if not BATCH:
            with super().squash_changes() as memory_trie:
                yield memory_trie
            return
        memory_trie = type(self)(self.db, self.root_hash)
        yield memory_trie
        self.root_hash = memory_trie.root_hash


def _copy(node):
    if isinstance(node, list):
        return [x if isinstance(x, bytes) else _copy(x) for x in node]
    return node


def clear_lineages() -> None:
    """This thread's maps (tests)."""
    _local.maps.clear()


def enabled() -> bool:
    import os

    return os.environ.get("AIVM_TRIE_CACHE", "1") != "0"


def install() -> None:
    """AIVM_TRIE_CACHE=0 leaves py-evm's own trie in place (tests compare the two)."""
    if not enabled():
        return
    from vm import trie_nibbles

    trie_nibbles.install()
    import eth.db.account
    import eth.db.storage

    eth.db.account.HexaryTrie = CachedHexaryTrie
    eth.db.storage.HexaryTrie = CachedHexaryTrie
    lookup = eth.db.storage.StorageLookup
    if BATCH and not getattr(lookup.commit_to, "_applies_pending", False):
        commit_to = lookup.commit_to

        def commit_to_applied(self, db):
            # commit_to writes out the trie's node batch, then reads the root: the noted
            # writes must be in that batch first
            if self._write_trie is not None:
                self._write_trie.root_hash
            return commit_to(self, db)

        commit_to_applied._applies_pending = True
        lookup.commit_to = commit_to_applied
