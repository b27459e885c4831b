"""debug_trace*: geth's tracing methods (vm/tracing.py holds the tracers and replays)."""
from typing import Any

from vm import execution, forking, lookups, tracing
from vm.codec import InvalidValue
from vm.rpc.dispatch import method
from vm.rpc.errors import INVALID_PARAMS, RESOURCE_NOT_FOUND, RpcError
from vm.rpc.eth import _call_fields, chain_job, chain_read
from vm.rpc.params import Block, Hash, Json, Object


def _tracer(name: str, options: Any) -> tracing.Tracer:
    try:
        return tracing.make_tracer(options)
    except InvalidValue as exc:
        raise RpcError(INVALID_PARAMS, f"{name}: {exc}") from None


@method("debug_traceTransaction")
async def debug_trace_transaction(node, tx_hash: Hash, options: Json = None) -> Any:
    tracer = _tracer("debug_traceTransaction", options)
    exists = await node.run(node.chain.index.transaction, tx_hash)
    if exists is None:  # mined on the forked chain before the fork? its node traces it
        remote = await chain_read(node, forking.remote_trace, node.chain, tx_hash, options)
        if remote is not None:
            return remote
        raise RpcError(RESOURCE_NOT_FOUND, f"transaction 0x{tx_hash.hex()} not found")
    return await chain_job(node, tracing.trace_transaction, node.chain, tx_hash, tracer)


@method("debug_traceCall")
async def debug_trace_call(node, tx: Object, block: Block = "latest", options: Json = None) -> Any:
    opts = dict(options or {}) if isinstance(options, dict) or options is None else options
    if not isinstance(opts, dict):
        raise RpcError(INVALID_PARAMS, "debug_traceCall param 3: trace options must be an object")
    try:
        overrides = execution.parse_state_overrides(opts.pop("stateOverrides", None))
    except InvalidValue as exc:
        raise RpcError(INVALID_PARAMS, f"debug_traceCall param 3 (stateOverrides): {exc}") from None
    if opts.pop("blockOverrides", None):
        raise RpcError(INVALID_PARAMS, "debug_traceCall param 3: blockOverrides are not supported by this node "
                                       "(stateOverrides are)")
    tracer = _tracer("debug_traceCall", opts)
    req = execution.CallRequest.from_fields(_call_fields(tx))

    def run():
        execution.call(node.chain, req, block, overrides, tracer)
        return tracer.result()

    return await chain_job(node, run)


async def _trace_block(node, ref: Any, options: Any) -> list:
    _tracer("debug_traceBlock", options)  # validate once

    def run():
        number = lookups.require_block(node.chain, ref)
        results = tracing.trace_block(node.chain, number, make=lambda: tracing.make_tracer(options))
        rec = node.chain.index.block(number)
        return [{"txHash": h, "result": results[i]} for i, h in enumerate(rec["transactions"])]

    return await chain_job(node, run)


@method("debug_traceBlockByNumber")
async def debug_trace_block_by_number(node, ref: Block, options: Json = None) -> list:
    return await _trace_block(node, ref, options)


@method("debug_traceBlockByHash")
async def debug_trace_block_by_hash(node, block_hash: Hash, options: Json = None) -> list:
    return await _trace_block(node, block_hash, options)
