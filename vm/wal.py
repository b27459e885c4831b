"""The write-ahead log: executed blocks made durable before they are sealed.

With automine the node answers `eth_sendRawTransaction` once the transaction
has run, not once its block is sealed (state root, trie nodes, one LevelDB
batch): that work happens after the answer. So that an answered hash survives
`kill -9` (and a power cut), each block's inputs — parent, number, timestamp,
and every transaction with its sender — are appended here and fsynced first.
Start-up replays the blocks the store does not hold yet, on the same parent
with the same timestamp: py-evm execution is deterministic, so the replayed
block, its receipts and its state root are the ones the node computed before
it died. (Blocks that reached an AI or other service precompile are never
answered early, so a replay never depends on validators.)

Group commit: a writer thread takes every record queued while the previous
fsync ran and writes them with one more. The chain thread does not wait for it:
it seals while the disk syncs, and a send is answered once its record is on
disk (the seal may still be running: receipt and state lookups wait for it,
see `vm.node`).

Format: per record, 4-byte big-endian length, 4-byte CRC-32, then an orjson
object. A torn or corrupt tail (the process died mid-write) ends the log.
The file is emptied once every record in it is in the store.
"""
from __future__ import annotations

import logging
import os
import struct
import threading
import zlib
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

import orjson

log = logging.getLogger("aivm.wal")

FILE_NAME = "aivm-wal.log"
_HEADER = struct.Struct(">II")
TRUNCATE_AT = 4 << 20  # bytes: empty the file at the next point where all of it is persisted


@dataclass
class BlockRecord:
    number: int
    parent: bytes
    timestamp: int
    txs: list[tuple[bytes, bytes]]  # (signed envelope, sender)

    def encode(self) -> bytes:
        body = orjson.dumps({
            "number": self.number, "parent": self.parent.hex(), "timestamp": self.timestamp,
            "txs": [[raw.hex(), sender.hex()] for raw, sender in self.txs],
        })
        return _HEADER.pack(len(body), zlib.crc32(body)) + body

    @classmethod
    def decode(cls, body: bytes) -> "BlockRecord":
        obj = orjson.loads(body)
        return cls(obj["number"], bytes.fromhex(obj["parent"]), obj["timestamp"],
                   [(bytes.fromhex(r), bytes.fromhex(s)) for r, s in obj["txs"]])


def read_records(path: str) -> Iterator[BlockRecord]:
    """Every intact record, in order; stops at a torn or corrupt tail."""
    try:
        with open(path, "rb") as f:
            buf = f.read()
    except FileNotFoundError:
        return
    pos = 0
    while pos + _HEADER.size <= len(buf):
        length, crc = _HEADER.unpack_from(buf, pos)
        body = buf[pos + _HEADER.size:pos + _HEADER.size + length]
        if len(body) < length or zlib.crc32(body) != crc:
            log.warning("write-ahead log: ignoring a torn record at byte %d (the node died mid-write)", pos)
            return
        yield BlockRecord.decode(body)
        pos += _HEADER.size + length


class WriteAheadLog:
    """Append-only, fsynced in groups by one writer thread (`aivm-wal`)."""

    def __init__(self, directory: str) -> None:
        self.path = os.path.join(directory, FILE_NAME)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._size = os.fstat(self._fd).st_size
        self._cond = threading.Condition()  # guards the queue
        self._io = threading.Lock()  # guards the file (write + sync vs truncate); taken after _cond, never inside it
        self._queue: list[tuple[bytes, Callable[[Optional[BaseException]], None]]] = []
        self._closed = False
        self._unpersisted = 0  # records written whose block is not in the store yet (chain thread)
        self._thread = threading.Thread(target=self._run, name="aivm-wal", daemon=True)
        self._thread.start()

    def records(self) -> list[BlockRecord]:
        return list(read_records(self.path))

    def append(self, record: BlockRecord, done: Callable[[Optional[BaseException]], None]) -> None:
        """Queue a record; `done(None)` runs on the writer thread once it is on disk
        (`done(exc)` if the write failed). Chain thread."""
        self._unpersisted += 1
        with self._cond:
            if self._closed:
                raise RuntimeError("the write-ahead log is closed")
            self._queue.append((record.encode(), done))
            self._cond.notify()

    def persisted(self) -> None:
        """Chain thread: the oldest unpersisted block is now in the store."""
        self._unpersisted = max(0, self._unpersisted - 1)
        if self._unpersisted == 0 and self._size >= TRUNCATE_AT:
            self._truncate()

    def _truncate(self) -> None:
        # every record written so far is in the store; one still being synced is too
        # (it lands after the cut and replays as "already there")
        with self._io:
            os.ftruncate(self._fd, 0)
            self._size = 0

    def reset(self) -> None:
        """Start empty (after start-up replayed what was there)."""
        with self._io:
            os.ftruncate(self._fd, 0)
            os.fsync(self._fd)
            self._size = 0

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue and self._closed:
                    return
                group, self._queue = self._queue, []
            error: Optional[BaseException] = None
            try:
                data = b"".join(body for body, _ in group)
                with self._io:
                    os.write(self._fd, data)
                    os.fdatasync(self._fd)
                    self._size += len(data)
            except OSError as exc:
                error = exc
                log.error("write-ahead log write failed: %s", exc)
            for _, done in group:
                try:
                    done(error)
                except Exception:
                    log.exception("write-ahead log callback failed")

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=5.0)
        try:
            os.close(self._fd)
        except OSError:
            pass
