"""The dashboard's read-only JSON-RPC methods (`dashboard_*`) and its WebSocket feed.

Handlers only translate: chain reads go to the node's reader threads
(`node.read`, beside the chain thread, never behind a block that waits for the
AI; `node.run` on a node without readers), AI reads copy the monitor's views or take the scheduler's lock in
a worker thread, and nothing here changes state. The page calls nothing else
but eth_subscribe (newHeads and `synergy_dashboard`).

No `from __future__ import annotations` here: the dispatcher parses
parameters from their (evaluated) type annotations.
"""

import asyncio
import contextlib
import time
from typing import Any, Callable

from app.dashboard import chainview, sources
from vm.addresses import parse_any_address, to_syn
from app.rpc.dispatch import method
from app.rpc.errors import INVALID_PARAMS, RESOURCE_NOT_FOUND, SERVER_ERROR, RpcError
from app.rpc.params import Hash, Integer, Json, Text

FEED = "synergy_dashboard"
MAX_SERIES_VALIDATORS = 20


def monitor(node: Any):
    from app.dashboard import get_monitor

    return get_monitor(node)


def _scheduler(node: Any):
    service = getattr(node, "ai", None)
    return None if service is None else service.scheduler


def _ai_status(node: Any) -> str:
    if getattr(node, "ai", None) is not None:
        return "ready"
    status = getattr(node, "ai_status", None)
    if status:
        return status
    cfg = getattr(node, "config", None)
    if cfg is not None and not cfg.aivm.enabled:
        return "disabled ([aivm] enabled = false)"
    return "not started"


async def _chain(node: Any, fn: Callable, *args: Any) -> Any:
    """A read-only chain function on a reader thread when the node has them."""
    read = getattr(node, "read", None) or node.run
    return await read(fn, *args)


def _bounded(value: int, lo: int, hi: int, where: str) -> int:
    if not lo <= value <= hi:
        raise RpcError(INVALID_PARAMS, f"{where}: expected {lo} to {hi}, got {value}")
    return value


@method("dashboard_overview")
async def dashboard_overview(node) -> dict:
    from pqc.stats import breakdown, counters, security_stats
    from app.rpc.synergy import aivm_stats

    stats = await asyncio.to_thread(aivm_stats, node)  # store reads and AI counters: any thread
    return {"chain_id": node.chain.config.chain_id, "head": node.chain.head_number, "ai_status": _ai_status(node),
            "aivm": stats, "pqc": {**security_stats(), **counters(), "by_algorithm": breakdown()},
            "bridges_configured": sources.bridge_source(node) is not None, "time": time.time()}


@method("dashboard_latest")
async def dashboard_latest(node, blocks: Integer = 20, transactions: Integer = 20) -> dict:
    _bounded(blocks, 1, chainview.MAX_LIST, "dashboard_latest param 1 (blocks)")
    _bounded(transactions, 0, chainview.MAX_LIST, "dashboard_latest param 2 (transactions)")
    return await _chain(node, chainview.latest, node.chain, blocks, transactions)


@method("dashboard_block")
async def dashboard_block(node, number: Integer) -> dict:
    out = await _chain(node, chainview.block, node.chain, number)
    if out is None:
        raise RpcError(RESOURCE_NOT_FOUND, f"block #{number} does not exist (head is #{node.chain.head_number})")
    return out


@method("dashboard_transaction")
async def dashboard_transaction(node, tx_hash: Hash) -> dict:
    out = await _chain(node, chainview.transaction, node.chain, tx_hash)
    if out is None:
        raise RpcError(RESOURCE_NOT_FOUND, f"no mined transaction 0x{tx_hash.hex()}")
    return out


@contextlib.contextmanager
def _locked(s: Any):
    """The scheduler's lock, or a clear error when it stays busy (never an unbounded wait)."""
    from app.dashboard.monitor import LOCK_WAIT

    if not s._lock.acquire(timeout=LOCK_WAIT * 10):
        raise RpcError(SERVER_ERROR, "the AI scheduler is busy; retry")
    try:
        yield
    finally:
        s._lock.release()


def _validator(node: Any, addr: bytes) -> Any:
    s = _scheduler(node)
    if s is None:
        return None
    from app.dashboard.monitor import validator_view

    with _locked(s):
        v = s.validators.get(addr)
        return None if v is None else validator_view(v, None, time.time())


@method("dashboard_address")
async def dashboard_address(node, address: Text) -> dict:
    try:
        addr = parse_any_address(address)
    except ValueError as exc:
        raise RpcError(INVALID_PARAMS, f"dashboard_address param 1: {exc}") from None
    out = await _chain(node, chainview.address, node.chain, addr)
    out["validator"] = await asyncio.to_thread(_validator, node, addr)
    return out


@method("dashboard_contracts")
async def dashboard_contracts(node) -> dict:
    return await _chain(node, chainview.contracts, node.chain)


@method("dashboard_search")
async def dashboard_search(node, query: Text) -> dict:
    if len(query) > 200:
        raise RpcError(INVALID_PARAMS, "dashboard_search param 1: at most 200 characters")
    out = await _chain(node, chainview.search, node.chain, query)
    if out["kind"] == "computation":
        s = _scheduler(node)
        from ai.ports import AIError

        try:
            if s is None:
                raise AIError("distributed AI is not running on this node")
            await asyncio.to_thread(s.get, out["id"])
        except AIError as exc:
            return {"kind": "none", "message": str(exc)}
    return out


def _validators(node: Any) -> dict:
    s = _scheduler(node)
    if s is None:
        return {"ai_status": _ai_status(node), "validators": [], "clusters": []}
    m = monitor(node)
    views = m.validators()
    if views is None:  # before the monitor's first look
        with _locked(s):
            views = m.validator_views(s, time.time())
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
async def dashboard_validators(node) -> dict:
    return await asyncio.to_thread(_validators, node)


@method("dashboard_computations")
async def dashboard_computations(node) -> dict:
    return {"ai_status": _ai_status(node), **monitor(node).computations()}


def _computation(node: Any, cid: str) -> dict:
    from ai.ports import AIError
    from ai.verify import verify_computation
    from app.dashboard.monitor import computation_view

    s = _scheduler(node)
    if s is None:
        raise RpcError(RESOURCE_NOT_FOUND, f"distributed AI is not running: {_ai_status(node)}")
    m = monitor(node)
    try:
        comp = s.get(cid)
    except AIError as exc:
        raise RpcError(RESOURCE_NOT_FOUND, str(exc)) from None
    view = m.view(cid)
    if view is None:
        with _locked(s):
            tasks = [t for t in comp.round.tasks.values()] if comp.round is not None else []
            view = computation_view(comp, tasks)
    view = dict(view)
    view["input_size"] = len(comp.input)
    view["result"] = None if comp.result is None else "0x" + comp.result.hex()
    if comp.status in ("Completed", "Failed"):
        verdict = m.verdicts.get(cid)
        if verdict is None:  # a finished computation's certificate never changes: check it once
            verdict = verify_computation(comp, node.chain.config.chain_id, s.hooks.read_storage)
            verdict.pop("certificate", None)
            m.verdicts[cid] = verdict
        view["verification"] = verdict
    return view


@method("dashboard_computation")
async def dashboard_computation(node, computation_id: Text) -> dict:
    return await asyncio.to_thread(_computation, node, computation_id)


@method("dashboard_history")
async def dashboard_history(node, validators: Json = None, since: Integer = 0) -> dict:
    """Series since `since` (unix seconds); score/uptime series of up to 20 validators (sYn… or 0x…)."""
    wanted = []
    if validators is not None:
        if not isinstance(validators, list) or not all(isinstance(v, str) for v in validators):
            raise RpcError(INVALID_PARAMS, "dashboard_history param 1 (validators): expected a list of addresses")
        if len(validators) > MAX_SERIES_VALIDATORS:
            raise RpcError(INVALID_PARAMS, f"dashboard_history param 1: at most {MAX_SERIES_VALIDATORS} validators")
        for v in validators:
            try:
                wanted.append(to_syn(parse_any_address(v)))
            except ValueError as exc:
                raise RpcError(INVALID_PARAMS, f"dashboard_history param 1: {exc}") from None
    m = monitor(node)
    return {"interval": m.sample_every, **m.history.read(validators=wanted, since=float(since))}


@method("dashboard_bridges")
async def dashboard_bridges(node, limit: Integer = 50) -> dict:
    _bounded(limit, 1, 500, "dashboard_bridges param 1 (limit)")
    return await asyncio.to_thread(sources.bridges_view, node, limit)


def subscribe_feed(node: Any, send: Callable[[Any], None]) -> Callable[[], None]:
    """eth_subscribe synergy_dashboard: the monitor's events (computations, validators, samples)."""
    return monitor(node).subscribe(send)
