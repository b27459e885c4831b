"""The dashboard's read-only JSON-RPC methods (`dashboard_*`) and its WebSocket feed.

Handlers only translate: they receive the node API; chain reads go to the node's
reader threads (beside the chain thread, never behind a block that waits for the
AI), AI reads copy the monitor's views or read under the scheduler's lock
(`Scheduler.observe`, a bounded wait) in a worker thread, and nothing here changes state. The page calls nothing else
but eth_subscribe (newHeads and `synergy_dashboard`).

No `from __future__ import annotations` here: the dispatcher parses
parameters from their (evaluated) type annotations.
"""

import asyncio
import time
from typing import Any, Callable

from app.dashboard import chainview, sources
from vm.addresses import parse_any_address, to_syn
from vm.errors import invalid, not_found
from app.rpc.dispatch import method
from app.rpc.params import Hash, Integer, Json, Text

FEED = "synergy_dashboard"
MAX_SERIES_VALIDATORS = 20


def monitor(api: Any):
    from app.dashboard import get_monitor

    return get_monitor(api)


def _scheduler(api: Any):
    service = api.ai
    return None if service is None else service.scheduler


def _ai_status(api: Any) -> str:
    if api.ai is not None:
        return "ready"
    if api.ai_status:
        return api.ai_status
    cfg = api.config
    if cfg is not None and not cfg.aivm.enabled:
        return "disabled ([aivm] enabled = false)"
    return "not started"


def _bounded(value: int, lo: int, hi: int, where: str) -> int:
    if not lo <= value <= hi:
        raise invalid(f"{where}: expected {lo} to {hi}, got {value}")
    return value


@method("dashboard_overview")
async def dashboard_overview(api) -> dict:
    from pqc.stats import breakdown, counters, security_stats
    stats = await asyncio.to_thread(api.aivm_stats)  # store reads and AI counters: any thread
    return {"chain_id": api.chain_id(), "head": api.head_number(), "ai_status": _ai_status(api),
            "aivm": stats, "pqc": {**security_stats(), **counters(), "by_algorithm": breakdown()},
            "bridges_configured": sources.bridge_source(api) is not None, "time": time.time()}


@method("dashboard_latest")
async def dashboard_latest(api, blocks: Integer = 20, transactions: Integer = 20) -> dict:
    _bounded(blocks, 1, chainview.MAX_LIST, "dashboard_latest param 1 (blocks)")
    _bounded(transactions, 0, chainview.MAX_LIST, "dashboard_latest param 2 (transactions)")
    return await api.chain_view(chainview.latest, blocks, transactions)


@method("dashboard_block")
async def dashboard_block(api, number: Integer) -> dict:
    out = await api.chain_view(chainview.block, number)
    if out is None:
        raise not_found(f"block #{number} does not exist (head is #{api.head_number()})")
    return out


@method("dashboard_transaction")
async def dashboard_transaction(api, tx_hash: Hash) -> dict:
    out = await api.chain_view(chainview.transaction, tx_hash)
    if out is None:
        raise not_found(f"no mined transaction 0x{tx_hash.hex()}")
    return out


def _observed(s: Any, read: Callable[[Any], Any]) -> Any:
    """read(scheduler) under the scheduler's lock (Scheduler.observe): a bounded wait, then
    SchedulerBusy ("the AI scheduler is busy; retry", -32000 through app/rpc/errors.py)."""
    from app.dashboard.monitor import LOCK_WAIT

    return s.observe(read, LOCK_WAIT * 10)


def _validator(api: Any, addr: bytes) -> Any:
    s = _scheduler(api)
    if s is None:
        return None
    from app.dashboard.monitor import validator_view

    def read(s: Any) -> Any:
        v = s.validators.get(addr)
        return None if v is None else validator_view(v, None, time.time())

    return _observed(s, read)


@method("dashboard_address")
async def dashboard_address(api, address: Text) -> dict:
    try:
        addr = parse_any_address(address)
    except ValueError as exc:
        raise invalid(f"dashboard_address param 1: {exc}") from None
    out = await api.chain_view(chainview.address, addr)
    out["validator"] = await asyncio.to_thread(_validator, api, addr)
    return out


@method("dashboard_contracts")
async def dashboard_contracts(api) -> dict:
    return await api.chain_view(chainview.contracts)


@method("dashboard_search")
async def dashboard_search(api, query: Text) -> dict:
    if len(query) > 200:
        raise invalid("dashboard_search param 1: at most 200 characters")
    out = await api.chain_view(chainview.search, query)
    if out["kind"] == "computation":
        s = _scheduler(api)
        from ai.ports import AIError

        try:
            if s is None:
                raise AIError("distributed AI is not running on this node")
            await asyncio.to_thread(s.get, out["id"])
        except AIError as exc:
            return {"kind": "none", "message": str(exc)}
    return out


def _validators(api: Any) -> dict:
    s = _scheduler(api)
    if s is None:
        return {"ai_status": _ai_status(api), "validators": [], "clusters": []}
    m = monitor(api)
    views = m.validators()
    if views is None:  # before the monitor's first look
        views = _observed(s, lambda s: m.validator_views(s, time.time()))
    clusters: dict[int, list] = {}
    for v in views:
        if v["cluster"] is not None:
            clusters.setdefault(v["cluster"], []).append(v)
    views.sort(key=lambda v: (v["cluster"] is None, v["cluster"] or 0, -v["score"], v["address"]))
    groups = [{"cluster_id": cid, "validators": [v["address"] for v in members],
               "synergy_score": round(sum(v["score"] for v in members) / len(members), 2),
               "online": sum(1 for v in members if v["uptime"] > 0.95)}
              for cid, members in sorted(clusters.items())]
    return {"ai_status": "ready", "validators": views, "clusters": groups}


@method("dashboard_validators")
async def dashboard_validators(api) -> dict:
    return await asyncio.to_thread(_validators, api)


@method("dashboard_computations")
async def dashboard_computations(api) -> dict:
    return {"ai_status": _ai_status(api), **monitor(api).computations()}


def _computation(api: Any, cid: str) -> dict:
    from ai.ports import AIError
    from ai.verify import verify_computation
    from app.dashboard.monitor import computation_view

    s = _scheduler(api)
    if s is None:
        raise not_found(f"distributed AI is not running: {_ai_status(api)}")
    m = monitor(api)
    try:
        comp = s.get(cid)
    except AIError as exc:
        raise not_found(str(exc)) from None
    view = m.view(cid)
    if view is None:
        view = _observed(s, lambda s: computation_view(
            comp, list(comp.round.tasks.values()) if comp.round is not None else []))
    view = dict(view)
    view["input_size"] = len(comp.input)
    view["result"] = None if comp.result is None else "0x" + comp.result.hex()
    if comp.status in ("Completed", "Failed"):
        verdict = m.verdicts.get(cid)
        if verdict is None:  # a finished computation's certificate never changes: check it once
            verdict = verify_computation(comp, api.chain_id(), s.hooks.read_storage)
            verdict.pop("certificate", None)
            m.verdicts[cid] = verdict
        view["verification"] = verdict
    return view


@method("dashboard_computation")
async def dashboard_computation(api, computation_id: Text) -> dict:
    return await asyncio.to_thread(_computation, api, computation_id)


@method("dashboard_history")
async def dashboard_history(api, validators: Json = None, since: Integer = 0) -> dict:
    """Series since `since` (unix seconds); score/uptime series of up to 20 validators (sYn… or 0x…)."""
    wanted = []
    if validators is not None:
        if not isinstance(validators, list) or not all(isinstance(v, str) for v in validators):
            raise invalid("dashboard_history param 1 (validators): expected a list of addresses")
        if len(validators) > MAX_SERIES_VALIDATORS:
            raise invalid(f"dashboard_history param 1: at most {MAX_SERIES_VALIDATORS} validators")
        for v in validators:
            try:
                wanted.append(to_syn(parse_any_address(v)))
            except ValueError as exc:
                raise invalid(f"dashboard_history param 1: {exc}") from None
    m = monitor(api)
    return {"interval": m.sample_every, **m.history.read(validators=wanted, since=float(since))}


@method("dashboard_bridges")
async def dashboard_bridges(api, limit: Integer = 50) -> dict:
    _bounded(limit, 1, 500, "dashboard_bridges param 1 (limit)")
    return await asyncio.to_thread(sources.bridges_view, api, limit)


def subscribe_feed(api: Any, send: Callable[[Any], None]) -> Callable[[], None]:
    """eth_subscribe synergy_dashboard: the monitor's events (computations, validators, samples)."""
    return monitor(api).subscribe(send)
