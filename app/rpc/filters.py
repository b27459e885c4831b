"""Polling filters (eth_newFilter & co) and WebSocket subscriptions (eth_subscribe).

Translation only: the filters live in the node API's hub (`api.filters`,
vm/filter_hub.py), fed once per mined block by the node's listeners.
"""
from typing import Any, Callable

from vm.api import NodeApi
from vm.codec import InvalidValue
from vm.errors import NodeError, Reason, invalid, unavailable
from vm.filter_hub import Filter, FilterHub, FilterKind, SubscriptionKind
from app.rpc.dispatch import method
from app.rpc.eth import parse_log_filter
from app.rpc.params import Json, Object, Text

SUBSCRIPTION_KINDS = tuple(k.value for k in SubscriptionKind)


def hub(node: Any) -> FilterHub:
    """The filter hub of a node (or of its API)."""
    return NodeApi.of(node).filters


def _log_criteria(obj: dict, where: str) -> dict:
    try:
        return parse_log_filter(obj)
    except InvalidValue as exc:
        raise invalid(f"{where}: {exc}") from None


@method("eth_newFilter")
async def eth_new_filter(api, criteria: Object) -> str:
    crit = _log_criteria(criteria, "eth_newFilter param 1 (filter)")
    for end in ("from", "to"):
        if crit.get(end) in ("earliest",):
            crit[end] = 0
    return api.filters.add(Filter(FilterKind.LOGS, crit))


@method("eth_newBlockFilter")
async def eth_new_block_filter(api) -> str:
    return api.filters.add(Filter(FilterKind.BLOCK))


@method("eth_newPendingTransactionFilter")
async def eth_new_pending_filter(api) -> str:
    return api.filters.add(Filter(FilterKind.PENDING))


@method("eth_getFilterChanges")
async def eth_get_filter_changes(api, fid: Text) -> list:
    flt = api.filters.get(fid)
    items, flt.items = flt.items, []
    return items


@method("eth_getFilterLogs")
async def eth_get_filter_logs(api, fid: Text) -> list:
    flt = api.filters.get(fid)
    if flt.kind is not FilterKind.LOGS:
        raise invalid("eth_getFilterLogs: not a log filter")
    return await api.logs(flt.criteria)


@method("eth_uninstallFilter")
async def eth_uninstall_filter(api, fid: Text) -> bool:
    return api.filters.filters.pop(fid, None) is not None


# -- subscriptions (WebSocket only: the connection passes `send`) --
def subscribe(node: Any, kind: Any, criteria: Any, send: Callable[[str, Any], None]) -> str:
    api = NodeApi.of(node)
    if kind == SubscriptionKind.AI_TASKS:
        return _subscribe_tasks(api, criteria, send)
    if kind == SubscriptionKind.DASHBOARD:  # the dashboard's read-only event feed
        from app.dashboard.rpc import subscribe_feed

        sid = FilterHub.new_id()
        return api.filters.add_feed(sid, subscribe_feed(api, lambda event: send(sid, event)))
    if kind not in SUBSCRIPTION_KINDS:
        raise invalid(f"eth_subscribe: unknown subscription {str(kind)[:40]!r}; use one of {', '.join(SUBSCRIPTION_KINDS)}")
    sub = SubscriptionKind(kind)
    crit = _log_criteria(criteria or {}, "eth_subscribe logs filter") if sub is SubscriptionKind.LOGS else None
    holder: list = []
    sid = api.filters.subscribe(sub, crit, lambda item: send(holder[0], item))
    holder.append(sid)
    return sid


def _subscribe_tasks(api: NodeApi, address: Any, send: Callable[[str, Any], None]) -> str:
    """A validator's task feed: each task assigned to `address`, as synergy_getValidatorAITasks shows it."""
    from vm.addresses import parse_any_address

    service = api.ai
    if service is None:
        from vm import ai_start

        if ai_start.starter(api) is not None:  # idle until first use: starting now (register first)
            ai_start.trigger(api, "a validator's task subscription")
            raise unavailable(f"distributed AI is not ready: {api.ai_status}; register, then subscribe")
        raise unavailable("distributed AI is disabled on this node")
    try:
        addr = parse_any_address(address if isinstance(address, str) else "")
    except ValueError as exc:
        raise invalid(f"eth_subscribe synergy_aiTasks: validator address: {exc}") from None
    sid = FilterHub.new_id()
    return api.filters.add_feed(sid, service.subscribe(addr, lambda task: send(sid, task)))


def unsubscribe(node: Any, sid: Any) -> bool:
    return hub(node).unsubscribe(sid)


@method("eth_subscribe")
async def eth_subscribe(api, kind: Json, criteria: Json = None) -> str:
    raise NodeError(Reason.NOT_SUPPORTED, "eth_subscribe is only available over WebSocket")


@method("eth_unsubscribe")
async def eth_unsubscribe(api, sid: Json) -> bool:
    return api.filters.unsubscribe(sid)
