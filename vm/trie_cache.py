"""A process-wide cache of trie reads keyed by (root hash, key).

py-evm builds a fresh state, and so fresh tries, for every block and every
eth_call, and each account or storage read walks the trie from the root,
decoding RLP nodes in Python. A trie is content-addressed: the value under a
key at a given root never changes, so (root, key) -> value can be cached for
the life of the process with no invalidation. `install()` swaps py-evm's
HexaryTrie for this subclass where AccountDB and StorageLookup create theirs.
"""
from __future__ import annotations

from lru import LRU
from trie import HexaryTrie

_CACHE: LRU = LRU(200_000)


class CachedHexaryTrie(HexaryTrie):
    def get(self, key: bytes) -> bytes:
        k = (self.root_hash, key)
        try:
            return _CACHE[k]
        except KeyError:
            value = super().get(key)
            _CACHE[k] = value
            return value


def install() -> None:
    import eth.db.account
    import eth.db.storage

    eth.db.account.HexaryTrie = CachedHexaryTrie
    eth.db.storage.HexaryTrie = CachedHexaryTrie
