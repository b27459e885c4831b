"""Polling filters and subscriptions of one node: fed by its block and pending listeners.

Each mined block is pushed once to every live filter and subscription, so
polling never rescans the chain. The node API owns one hub (`NodeApi.filters`);
app/rpc/filters.py translates the eth_ filter and eth_subscribe methods onto it.
"""
from __future__ import annotations

import enum
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from vm.codec import data
from vm.errors import NodeError, Reason

FILTER_TTL = 300.0  # seconds a filter lives without being polled
MAX_BUFFER = 10_000  # items a filter keeps between polls
MAX_FILTERS = 1_000


class FilterKind(str, enum.Enum):
    """What a polling filter collects."""

    BLOCK = "block"  # hashes of new blocks
    PENDING = "pending"  # hashes of newly queued transactions
    LOGS = "logs"  # logs matching its criteria


class SubscriptionKind(str, enum.Enum):
    """eth_subscribe's names (the wire values)."""

    NEW_HEADS = "newHeads"
    LOGS = "logs"
    NEW_PENDING_TRANSACTIONS = "newPendingTransactions"
    AI_TASKS = "synergy_aiTasks"  # a validator's task feed
    DASHBOARD = "synergy_dashboard"  # the dashboard's read-only event feed


@dataclass
class Filter:
    kind: FilterKind
    criteria: Optional[dict] = None
    items: list = field(default_factory=list)
    polled: float = field(default_factory=time.monotonic)


def matches(crit: dict, log: dict) -> bool:
    if crit.get("addresses"):
        if log["address"].lower() not in {"0x" + a.hex() for a in crit["addresses"]}:
            return False
    topics = crit.get("topics") or []
    if len(topics) > len(log["topics"]):  # geth: more positions than the log has never match
        return False
    for want, have in zip(topics, log["topics"]):
        if want is not None and bytes.fromhex(have[2:]) not in want:
            return False
    return True


def _in_range(crit: dict, number: int) -> bool:
    lo, hi = crit.get("from"), crit.get("to")
    if isinstance(lo, int) and number < lo:
        return False
    if isinstance(hi, int) and number > hi:
        return False
    return "block_hash" not in crit


def block_logs(mined: Any) -> list[dict]:
    logs = []
    for r in mined.results:
        logs.extend(r.receipt["logs"])
    return logs


HEADER_OMITS = ("transactions", "uncles", "withdrawals", "size", "totalDifficulty")  # newHeads' header


class FilterHub:
    """Per-node registry of filters and subscriptions (loop thread)."""

    def __init__(self, node: Any) -> None:
        self.node = node
        self.filters: dict[str, Filter] = {}
        self.subscriptions: dict[str, tuple[SubscriptionKind, Optional[dict], Callable[[Any], None]]] = {}
        self.task_feeds: dict[str, Callable[[], None]] = {}  # subscription id -> cancel
        node.on_block(self._on_block)
        node.on_pending(self._on_pending)

    @staticmethod
    def new_id() -> str:
        return "0x" + os.urandom(16).hex()

    def _expire(self) -> None:
        now = time.monotonic()
        for fid in [f for f, flt in self.filters.items() if now - flt.polled > FILTER_TTL]:
            del self.filters[fid]

    def add(self, flt: Filter) -> str:
        self._expire()
        if len(self.filters) >= MAX_FILTERS:
            raise NodeError(Reason.LIMIT_EXCEEDED, f"too many filters (max {MAX_FILTERS}): uninstall unused ones")
        fid = self.new_id()
        self.filters[fid] = flt
        return fid

    def get(self, fid: Any) -> Filter:
        """A live filter (polling keeps it alive), or NOT_FOUND."""
        flt = self.filters.get(fid) if isinstance(fid, str) else None
        if flt is None:
            raise NodeError(Reason.NOT_FOUND, "filter not found")
        flt.polled = time.monotonic()
        return flt

    def subscribe(self, kind: SubscriptionKind, crit: Optional[dict], send: Callable[[Any], None]) -> str:
        sid = self.new_id()
        self.subscriptions[sid] = (kind, crit, send)
        return sid

    def add_feed(self, sid: str, cancel: Callable[[], None]) -> str:
        self.task_feeds[sid] = cancel
        return sid

    def unsubscribe(self, sid: Any) -> bool:
        if not isinstance(sid, str):
            return False
        cancel = self.task_feeds.pop(sid, None)
        if cancel is not None:
            cancel()
            return True
        return self.subscriptions.pop(sid, None) is not None

    def _push(self, flt: Filter, items: list) -> None:
        flt.items.extend(items)
        if len(flt.items) > MAX_BUFFER:
            del flt.items[: len(flt.items) - MAX_BUFFER]

    def _on_block(self, mined: Any) -> None:
        header = mined.record
        logs = None
        for flt in self.filters.values():
            if flt.kind is FilterKind.BLOCK:
                self._push(flt, [header["hash"]])
            elif flt.kind is FilterKind.LOGS and _in_range(flt.criteria, mined.number):
                logs = block_logs(mined) if logs is None else logs
                self._push(flt, [l for l in logs if matches(flt.criteria, l)])
        for kind, crit, send in list(self.subscriptions.values()):
            if kind is SubscriptionKind.NEW_HEADS:
                send({k: v for k, v in header.items() if k not in HEADER_OMITS})
            elif kind is SubscriptionKind.LOGS:
                logs = block_logs(mined) if logs is None else logs
                for l in logs:
                    if matches(crit, l):
                        send(l)

    def _on_pending(self, tx_hash: bytes) -> None:
        h = data(tx_hash)
        for flt in self.filters.values():
            if flt.kind is FilterKind.PENDING:
                self._push(flt, [h])
        for kind, _, send in list(self.subscriptions.values()):
            if kind is SubscriptionKind.NEW_PENDING_TRANSACTIONS:
                send(h)
