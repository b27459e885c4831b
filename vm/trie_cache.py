"""Process-wide caches for py-evm's tries, keyed by content, so never stale.

py-evm builds a fresh state, and so fresh tries, for every block, and each
account or storage read walks the trie from the root, decoding RLP nodes in
Python. Two facts make caching safe with no invalidation at all:

- a trie is content-addressed: the value under a key at a given root never
  changes, so (root hash, key) -> value is cached;
- a node is named by the hash of its encoding, so hash -> decoded node is
  cached too. That one carries over from block to block: a new root shares all
  but the changed path with the old one, and the nodes a block writes are put
  in the cache as they are written, so the next block finds its path decoded.

Callers get a copy of a cached node (py-trie edits branch nodes in place).
`install()` swaps py-evm's HexaryTrie for this subclass where AccountDB and
StorageLookup create theirs.
"""
from __future__ import annotations

from lru import LRU
from trie import HexaryTrie
from trie.constants import BLANK_NODE, BLANK_NODE_HASH

_CACHE: LRU = LRU(200_000)  # (root hash, key) -> value
_NODES: LRU = LRU(200_000)  # node hash -> decoded node


def _copy(node):
    return [x if isinstance(x, bytes) else _copy(x) for x in node]


class CachedHexaryTrie(HexaryTrie):
    def get(self, key: bytes) -> bytes:
        k = (self.root_hash, key)
        try:
            return _CACHE[k]
        except KeyError:
            value = super().get(key)
            _CACHE[k] = value
            return value

    def get_node(self, node_hash):
        if node_hash == BLANK_NODE or node_hash == BLANK_NODE_HASH or len(node_hash) < 32:
            return super().get_node(node_hash)
        node = _NODES.get(node_hash)
        if node is None:
            node = super().get_node(node_hash)
            _NODES[node_hash] = _copy(node)
            return node
        return _copy(node)

    def _persist_node(self, node):
        key = super()._persist_node(node)
        if isinstance(key, bytes) and len(key) == 32 and isinstance(node, list):
            _NODES[key] = _copy(node)
        return key


def install() -> None:
    import eth.db.account
    import eth.db.storage

    eth.db.account.HexaryTrie = CachedHexaryTrie
    eth.db.storage.HexaryTrie = CachedHexaryTrie
