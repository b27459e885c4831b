"""The local Solana chain's state on disk: a journal of what each applied transaction wrote.

LiteSVM keeps its bank in memory. To survive a killed process, the server
(bridge/solana/server.py) appends one JSON line per accepted transaction or
airdrop to DIR/ledger.jsonl and fsyncs it *before* it answers: the line holds
the post-state of every account the transaction could write (lamports, data,
owner, executable, rent epoch — read back with LiteSVM's get_account) and the
bookkeeping JSON-RPC serves (slot, raw transaction, status meta). So an
acknowledged signature is on disk, and a transaction the process died inside
was never acknowledged.

At start the journal is read in order into a fresh LiteSVM with set_account
(the last write of an account wins): every mint, token account, multisig and
balance comes back, and so do getTransaction / getSignaturesForAddress, which
the attesters' replay check reads. A torn last line (kill -9 mid-write) is
dropped; damage anywhere else stops the server with the line number. The file
is then compacted (latest account states + the transaction records, written to
a temporary file, fsynced and renamed over the journal), so it grows with
transactions, not with rewrites of the same accounts.

Not replayed: blockhashes. A restarted chain has a new blockhash, so a
transaction signed before the restart expires, as one does on Solana after
~150 slots; the bridge's two-phase mint already handles an expired blockhash.
"""
from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import tempfile
from pathlib import Path

from solders.account import Account
from solders.pubkey import Pubkey

JOURNAL = "ledger.jsonl"


class LedgerError(Exception):
    """The journal is damaged somewhere other than its last line."""


def encode_account(acc: "Account | None") -> list | None:
    if acc is None:
        return None
    return [acc.lamports, base64.b64encode(bytes(acc.data)).decode(), str(acc.owner), acc.executable,
            acc.rent_epoch]


def decode_account(row: list | None) -> Account:
    if row is None:  # closed: an empty, zero-lamport account is no account to LiteSVM
        return Account(0, b"", Pubkey.default())
    lamports, data, owner, executable, rent_epoch = row
    return Account(lamports, base64.b64decode(data), Pubkey.from_string(owner), executable, rent_epoch)


def writable_keys(message) -> list[Pubkey]:
    """The static account keys a message may write (its header's writable signers and non-signers)."""
    keys = list(message.account_keys)
    h = message.header
    signed = h.num_required_signatures
    out = keys[:signed - h.num_readonly_signed_accounts]
    out += keys[signed:len(keys) - h.num_readonly_unsigned_accounts]
    return out


class Ledger:
    """Append-only, fsynced JSON lines in `directory`; `load()` once, then `append()` per change."""

    def __init__(self, directory: "str | Path") -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / JOURNAL
        self._fh = None

    def load(self) -> list[dict]:
        """Every complete record in order; then the journal is compacted and opened for appends.
        One process at a time: a second server on the same directory is refused (flock)."""
        self._lock = open(self.dir / ".lock", "wb")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock.close()
            raise LedgerError(f"{self.dir} is in use by another Solana chain process") from None
        records: list[dict] = []
        if self.path.exists():
            lines = self.path.read_bytes().split(b"\n")
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    records.append(json.loads(line))
                except ValueError:
                    if number == len(lines):  # no newline after it
                        break  # the torn tail of a write the process died in: never acknowledged
                    raise LedgerError(f"{self.path}:{number}: not a journal record") from None
        compacted = compact(records)
        self._rewrite(compacted)
        self._fh = open(self.path, "ab")
        return compacted

    def append(self, record: dict) -> None:
        """Durable before it returns: written, flushed and fsynced."""
        self._fh.write(json.dumps(record, separators=(",", ":")).encode() + b"\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def _rewrite(self, records: list[dict]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".ledger-")
        try:
            with os.fdopen(fd, "wb") as f:
                for r in records:
                    f.write(json.dumps(r, separators=(",", ":")).encode() + b"\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        dfd = os.open(self.dir, os.O_RDONLY)  # the rename itself is durable
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def compact(records: list[dict]) -> list[dict]:
    """One `state` record (every account's latest write, the last slot) and the transaction records."""
    accounts: dict[str, list | None] = {}
    slot = 1
    txs = []
    for r in records:
        accounts.update(r.get("accounts") or {})
        slot = max(slot, int(r.get("slot", 1)))
        if r.get("t") == "tx":
            txs.append({k: v for k, v in r.items() if k != "accounts"})
    return [{"t": "state", "slot": slot, "accounts": accounts}] + txs
