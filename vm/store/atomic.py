"""py-evm's database, made transactional over a KV store.

py-evm writes a block in several batches (state, trie nodes, header, canonical
head). `AtomicStore.transaction()` buffers every write made inside it, py-evm's
and the node's own indexes alike, and hands them to the KV store as one atomic
batch, so a `kill -9` leaves either the whole block or none of it.

The few small records every block reads and rewrites — the node's meta keys
(mostly unset: `pending_root`, `next_timestamp`, …) and py-evm's bookkeeping
(canonical head, chain gaps, scores) — are answered from a cache of what the KV
store has *committed*: a point read of an LSM tree costs more the larger the
tree, a miss most of all. The cache moves only after a batch is written, so an
aborted batch never leaves it ahead of the disk, and it dies with the process.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator, Optional

from eth.db.atomic import AtomicDBWriteBatch
from eth.db.backends.base import BaseAtomicDB
from lru import LRU

from vm.store.kv import KV

_DELETED = None
_MISS = object()

# the records a block reads and rewrites (the ones a cache answers): meta keys (vm/store/index.py's
# P_META) and py-evm's chain bookkeeping (eth.db.schema.SchemaV1)
RECORD_PREFIXES = (b"aivm/meta/", b"block-hash-to-score:")
RECORD_KEYS = frozenset((b"v1:canonical_head_hash", b"v1:header_chain_gaps", b"v1:chain_gaps"))
RECORD_CACHE_SIZE = 4096


def is_record(key: bytes) -> bool:
    return key in RECORD_KEYS or key.startswith(RECORD_PREFIXES)


class AtomicStore(BaseAtomicDB):
    """A batch belongs to the thread that opened it (the chain thread, in practice):
    other threads read what the KV store has committed, never half a block, and
    their writes never join another thread's batch.

    `_records` caches committed values (None: known absent) of `is_record` keys, for
    every thread; `_write_lock` is held while the KV store is written and the cache
    moved with it, and while a miss is read and filled in, so a fill never puts back
    a value a commit has just replaced. It is taken last (nothing is awaited under it)."""

    def __init__(self, kv: KV) -> None:
        self.kv = kv
        self._local = threading.local()
        self._records = LRU(RECORD_CACHE_SIZE)
        self._write_lock = threading.Lock()
        self.record_reads = 0  # reads of record keys that reached the KV store (tests)

    def _committed(self, key: bytes) -> Optional[bytes]:
        """The committed value of `key` (None if absent)."""
        if not is_record(key):
            return self.kv.get(key)
        value = self._records.get(key, _MISS)
        if value is not _MISS:
            return value
        with self._write_lock:
            value = self.kv.get(key)
            self._records[key] = value
            self.record_reads += 1
        return value

    def _write(self, changes: dict) -> None:
        """Write `changes` (None deletes) to the KV store, then move the cache with them."""
        records = self._records
        with self._write_lock:
            try:
                self.kv.write_batch(changes)
            except BaseException:
                for k in changes:  # whatever the store holds now, the cache holds nothing of it
                    records.pop(k, None)
                raise
            for k, v in changes.items():
                if k in RECORD_KEYS or k.startswith(RECORD_PREFIXES):
                    records[k] = v

    @property
    def _pending(self) -> Optional[dict[bytes, Optional[bytes]]]:
        return getattr(self._local, "pending", None)

    @_pending.setter
    def _pending(self, value: Optional[dict[bytes, Optional[bytes]]]) -> None:
        self._local.pending = value

    # -- py-evm's DatabaseAPI --
    def __getitem__(self, key: bytes) -> bytes:
        pending = getattr(self._local, "pending", None)
        if pending is not None and key in pending:
            value = pending[key]
            if value is _DELETED:
                raise KeyError(key)
            return value
        value = self._committed(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: bytes, value: bytes) -> None:
        pending = getattr(self._local, "pending", None)  # (the `_pending` property, inlined: hot)
        if pending is not None:
            pending[key] = value
        elif is_record(key):
            self._write({key: value})
        else:
            self.kv.put(key, value)

    def __delitem__(self, key: bytes) -> None:
        if not self._exists(key):
            raise KeyError(key)
        if self._pending is not None:
            self._pending[key] = _DELETED
        elif is_record(key):
            self._write({key: _DELETED})
        else:
            self.kv.delete(key)

    def _exists(self, key: bytes) -> bool:
        pending = getattr(self._local, "pending", None)
        if pending is not None and key in pending:
            return pending[key] is not _DELETED
        return self._committed(key) is not None

    @contextmanager
    def atomic_batch(self) -> Iterator[AtomicDBWriteBatch]:
        with self.transaction():
            with AtomicDBWriteBatch._commit_unless_raises(self) as batch:
                yield batch

    # -- the node's side --
    def get(self, key: bytes) -> Optional[bytes]:
        pending = getattr(self._local, "pending", None)  # (`__getitem__` without its KeyError: index reads
        if pending is not None and key in pending:       # miss often, a log query's lookups most of all)
            value = pending[key]
            return None if value is _DELETED else value
        return self._committed(key)

    def put(self, key: bytes, value: Optional[bytes]) -> None:
        if value is None:
            if self._exists(key):
                del self[key]
        else:
            self[key] = value

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside land in one atomic batch (nested calls join the outer one)."""
        if self._pending is not None:
            yield
            return
        self._pending = {}
        try:
            yield
        except BaseException:
            self._pending = None
            raise
        changes, self._pending = self._pending, None
        if changes:
            self._write(changes)

    @property
    def in_transaction(self) -> bool:
        return self._pending is not None

    def items(self, prefix: bytes, start: bytes = b"", stop: Optional[bytes] = None, reverse: bool = False):
        """Ordered scan of committed keys (the indexes are read outside transactions)."""
        return self.kv.items(prefix, start, stop, reverse)

    def close(self) -> None:
        self.kv.close()


class CommittedView(BaseAtomicDB):
    """Read-only view of what the KV store has committed, for reader threads' py-evm states.

    Trie nodes are content-addressed, so a committed state root stays readable
    while the chain thread writes newer blocks beside it. A write here is a bug
    (a read path tried to persist), so it raises.
    """

    def __init__(self, kv: KV) -> None:
        self.kv = kv

    def __getitem__(self, key: bytes) -> bytes:
        value = self.kv.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def _exists(self, key: bytes) -> bool:
        return self.kv.get(key) is not None

    def __setitem__(self, key: bytes, value: bytes) -> None:
        raise TypeError("CommittedView is read-only: reads never persist")

    def __delitem__(self, key: bytes) -> None:
        raise TypeError("CommittedView is read-only: reads never persist")

    @contextmanager
    def atomic_batch(self) -> Iterator[AtomicDBWriteBatch]:
        raise TypeError("CommittedView is read-only: reads never persist")
        yield  # pragma: no cover
