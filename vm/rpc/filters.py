"""Polling filters (eth_newFilter & co) and WebSocket subscriptions (eth_subscribe).

Both are fed by the node's block listener: each mined block is pushed once to
every live filter and subscription, so polling never rescans the chain.
"""
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from vm.codec import InvalidValue, data
from vm.rpc.dispatch import method
from vm.rpc.errors import INVALID_PARAMS, RESOURCE_NOT_FOUND, RpcError
from vm.rpc.eth import chain_read, parse_log_filter, query_logs
from vm.rpc.params import Json, Object, Text

FILTER_TTL = 300.0  # seconds a filter lives without being polled
MAX_BUFFER = 10_000  # items a filter keeps between polls
MAX_FILTERS = 1_000


@dataclass
class Filter:
    kind: str  # "block" | "pending" | "logs"
    criteria: Optional[dict] = None
    items: list = field(default_factory=list)
    polled: float = field(default_factory=time.monotonic)


def _matches(crit: dict, log: dict) -> bool:
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


class FilterHub:
    """Per-node registry of filters and subscriptions."""

    def __init__(self, node: Any) -> None:
        self.node = node
        self.filters: dict[str, Filter] = {}
        self.subscriptions: dict[str, tuple[str, Optional[dict], Callable[[Any], None]]] = {}
        self.task_feeds: dict[str, Callable[[], None]] = {}
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
            raise RpcError(-32005, f"too many filters (max {MAX_FILTERS}): uninstall unused ones")
        fid = self.new_id()
        self.filters[fid] = flt
        return fid

    def _push(self, flt: Filter, items: list) -> None:
        flt.items.extend(items)
        if len(flt.items) > MAX_BUFFER:
            del flt.items[: len(flt.items) - MAX_BUFFER]

    def _on_block(self, mined: Any) -> None:
        header = mined.record
        logs = None
        for flt in self.filters.values():
            if flt.kind == "block":
                self._push(flt, [header["hash"]])
            elif flt.kind == "logs" and _in_range(flt.criteria, mined.number):
                logs = block_logs(mined) if logs is None else logs
                self._push(flt, [l for l in logs if _matches(flt.criteria, l)])
        for kind, crit, send in list(self.subscriptions.values()):
            if kind == "newHeads":
                send({k: v for k, v in header.items() if k not in ("transactions", "uncles", "withdrawals", "size", "totalDifficulty")})
            elif kind == "logs":
                logs = block_logs(mined) if logs is None else logs
                for l in logs:
                    if _matches(crit, l):
                        send(l)

    def _on_pending(self, tx_hash: bytes) -> None:
        h = data(tx_hash)
        for flt in self.filters.values():
            if flt.kind == "pending":
                self._push(flt, [h])
        for kind, _, send in list(self.subscriptions.values()):
            if kind == "newPendingTransactions":
                send(h)


def hub(node: Any) -> FilterHub:
    if getattr(node, "filter_hub", None) is None:
        node.filter_hub = FilterHub(node)
    return node.filter_hub


def _log_criteria(node, obj: dict, where: str) -> dict:
    try:
        return parse_log_filter(node.chain, obj)
    except InvalidValue as exc:
        raise RpcError(INVALID_PARAMS, f"{where}: {exc}") from None


@method("eth_newFilter")
async def eth_new_filter(node, criteria: Object) -> str:
    crit = _log_criteria(node, criteria, "eth_newFilter param 1 (filter)")
    for end in ("from", "to"):
        if crit.get(end) in ("earliest",):
            crit[end] = 0
    return hub(node).add(Filter("logs", crit))


@method("eth_newBlockFilter")
async def eth_new_block_filter(node) -> str:
    return hub(node).add(Filter("block"))


@method("eth_newPendingTransactionFilter")
async def eth_new_pending_filter(node) -> str:
    return hub(node).add(Filter("pending"))


def _get(node, fid: str) -> Filter:
    flt = hub(node).filters.get(fid) if isinstance(fid, str) else None
    if flt is None:
        raise RpcError(RESOURCE_NOT_FOUND, "filter not found")
    flt.polled = time.monotonic()
    return flt


@method("eth_getFilterChanges")
async def eth_get_filter_changes(node, fid: Text) -> list:
    flt = _get(node, fid)
    items, flt.items = flt.items, []
    return items


@method("eth_getFilterLogs")
async def eth_get_filter_logs(node, fid: Text) -> list:
    flt = _get(node, fid)
    if flt.kind != "logs":
        raise RpcError(INVALID_PARAMS, "eth_getFilterLogs: not a log filter")
    return await chain_read(node, query_logs, node.chain, flt.criteria)


@method("eth_uninstallFilter")
async def eth_uninstall_filter(node, fid: Text) -> bool:
    return hub(node).filters.pop(fid, None) is not None


# -- subscriptions (WebSocket only: the connection passes `send`) --
SUBSCRIPTION_KINDS = ("newHeads", "logs", "newPendingTransactions", "synergy_aiTasks", "synergy_dashboard")


def subscribe(node: Any, kind: Any, criteria: Any, send: Callable[[str, Any], None]) -> str:
    if kind == "synergy_aiTasks":
        return _subscribe_tasks(node, criteria, send)
    if kind == "synergy_dashboard":  # the dashboard's read-only event feed
        from dashboard.rpc import subscribe_feed

        sid = FilterHub.new_id()
        hub(node).task_feeds[sid] = subscribe_feed(node, lambda event: send(sid, event))
        return sid
    if kind not in SUBSCRIPTION_KINDS:
        raise RpcError(INVALID_PARAMS, f"eth_subscribe: unknown subscription {str(kind)[:40]!r}; use one of {', '.join(SUBSCRIPTION_KINDS)}")
    crit = None
    if kind == "logs":
        crit = _log_criteria(node, criteria or {}, "eth_subscribe logs filter")
    sid = FilterHub.new_id()
    hub(node).subscriptions[sid] = (kind, crit, lambda item: send(sid, item))
    return sid


def _subscribe_tasks(node: Any, address: Any, send: Callable[[str, Any], None]) -> str:
    """A validator's task feed: each task assigned to `address`, as synergy_getValidatorAITasks shows it."""
    from vm.addresses import parse_any_address

    service = getattr(node, "ai", None)
    if service is None:
        from vm import ai_start

        if ai_start.starter(node) is not None:  # idle until first use: starting now (register first)
            ai_start.trigger(node, "a validator's task subscription")
            raise RpcError(-32000, f"distributed AI is not ready: {node.ai_status}; register, then subscribe")
        raise RpcError(-32000, "distributed AI is disabled on this node")
    try:
        addr = parse_any_address(address if isinstance(address, str) else "")
    except ValueError as exc:
        raise RpcError(INVALID_PARAMS, f"eth_subscribe synergy_aiTasks: validator address: {exc}") from None
    sid = FilterHub.new_id()
    cancel = service.subscribe(addr, lambda task: send(sid, task))
    hub(node).task_feeds[sid] = cancel
    return sid


def unsubscribe(node: Any, sid: Any) -> bool:
    if not isinstance(sid, str):
        return False
    cancel = hub(node).task_feeds.pop(sid, None)
    if cancel is not None:
        cancel()
        return True
    return hub(node).subscriptions.pop(sid, None) is not None


@method("eth_subscribe")
async def eth_subscribe(node, kind: Json, criteria: Json = None) -> str:
    raise RpcError(-32601, "eth_subscribe is only available over WebSocket")


@method("eth_unsubscribe")
async def eth_unsubscribe(node, sid: Json) -> bool:
    return unsubscribe(node, sid)
