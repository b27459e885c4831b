"""Ordered key-value stores: LevelDB on disk, a sorted dict in memory.

Both write a batch atomically, which is what makes a mined block (state, header,
receipts, indexes) all-or-nothing on disk.
"""
from __future__ import annotations

import abc
import os
import threading
from typing import Iterator, Mapping, Optional

from sortedcontainers import SortedList


class KV(abc.ABC):
    @abc.abstractmethod
    def get(self, key: bytes) -> Optional[bytes]: ...

    @abc.abstractmethod
    def put(self, key: bytes, value: bytes) -> None: ...

    @abc.abstractmethod
    def delete(self, key: bytes) -> None: ...

    @abc.abstractmethod
    def write_batch(self, changes: Mapping[bytes, Optional[bytes]]) -> None:
        """Apply all changes atomically; a None value deletes the key."""

    @abc.abstractmethod
    def items(
        self, prefix: bytes, start: bytes = b"", stop: Optional[bytes] = None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        """(key, value) for keys starting with prefix, from prefix+start up to prefix+stop."""

    def close(self) -> None:
        pass


class MemoryKV(KV):
    """Thread-safe like LevelDB: the chain thread and the AI records write concurrently.

    Point reads and writes are a dict; the key order that scans need is kept in a sorted
    list brought up to date only when a scan asks (a block writes ~30 new keys, scans are
    reads of the RPC index): writing a key into a sorted list of a whole chain's keys was
    most of an in-memory block's batch."""

    def __init__(self) -> None:
        self._data: dict[bytes, bytes] = {}
        self._keys: SortedList = SortedList()  # sorted keys as of the last scan
        self._added: list[bytes] = []  # keys new since then
        self._removed: set[bytes] = set()  # keys deleted since then
        self._lock = threading.Lock()

    def get(self, key: bytes) -> Optional[bytes]:
        with self._lock:
            return self._data.get(key)

    def _set(self, key: bytes, value: bytes) -> None:
        data = self._data
        if key not in data:
            self._added.append(key)
            if len(self._added) > 100_000:  # no scan for a long while: sort what is there
                self._sorted_keys()
        data[key] = value

    def _delete(self, key: bytes) -> None:
        if self._data.pop(key, None) is not None:
            self._removed.add(key)

    def put(self, key: bytes, value: bytes) -> None:
        with self._lock:
            self._set(key, value)

    def delete(self, key: bytes) -> None:
        with self._lock:
            self._delete(key)

    def write_batch(self, changes: Mapping[bytes, Optional[bytes]]) -> None:
        with self._lock:
            for k, v in changes.items():
                if v is None:
                    self._delete(k)
                else:
                    self._set(k, v)

    def _sorted_keys(self) -> SortedList:
        """The sorted keys, exactly the dict's (caller holds the lock)."""
        keys, data = self._keys, self._data
        if self._removed:
            for k in self._removed:  # (a key added again since is in _added)
                keys.discard(k)
            self._removed = set()
        if self._added:
            keys.update({k for k in self._added if k in data and k not in keys})
            self._added = []
        return keys

    def items(self, prefix, start=b"", stop=None, reverse=False):
        lo = prefix + start
        hi = prefix + stop if stop is not None else _prefix_end(prefix)
        with self._lock:
            data = self._data
            found = [(k, data[k]) for k in self._sorted_keys().irange(lo, hi, inclusive=(True, False),
                                                                       reverse=reverse)]
        yield from found


WRITE_BUFFER = 32 << 20


class LevelKV(KV):
    def __init__(self, path: str) -> None:
        import plyvel

        os.makedirs(path, exist_ok=True)
        try:
            # bloom filters: most of a block's point reads are misses (py-evm's existence checks,
            # unset meta keys), and without them each miss reads a block from every level, so
            # their cost grows with the chain's height. A 32 MB write buffer (LevelDB's default
            # is 4): a block writes 3-9 KB, and each buffer flushed to level 0 is merged down
            # through the levels again and again; an 8x larger buffer flushes 8x less often,
            # which halved the compaction CPU a block at 50k blocks (docs/sealing.md). The
            # buffer fills only as blocks are written (an idle node's stays small).
            self._db = plyvel.DB(path, create_if_missing=True, lru_cache_size=64 << 20, bloom_filter_bits=10,
                                 write_buffer_size=WRITE_BUFFER)
        except plyvel.IOError as exc:
            raise RuntimeError(
                f"cannot open the database in {path}: {exc} (is another node using it?)"
            ) from None

    def get(self, key: bytes) -> Optional[bytes]:
        return self._db.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        self._db.put(key, value)

    def delete(self, key: bytes) -> None:
        self._db.delete(key)

    def write_batch(self, changes: Mapping[bytes, Optional[bytes]]) -> None:
        with self._db.write_batch(transaction=True) as wb:
            for k, v in changes.items():
                if v is None:
                    wb.delete(k)
                else:
                    wb.put(k, v)

    def items(self, prefix, start=b"", stop=None, reverse=False):
        lo = prefix + start
        hi = prefix + stop if stop is not None else _prefix_end(prefix)
        kwargs = {"start": lo, "reverse": reverse}
        if hi is not None:
            kwargs["stop"] = hi
        with self._db.iterator(**kwargs) as it:
            yield from it

    def close(self) -> None:
        if not self._db.closed:
            self._db.close()


def _prefix_end(prefix: bytes) -> Optional[bytes]:
    """The first key greater than every key with this prefix."""
    p = bytearray(prefix)
    while p:
        if p[-1] < 0xFF:
            p[-1] += 1
            return bytes(p)
        p.pop()
    return None
