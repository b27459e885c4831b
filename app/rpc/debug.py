"""debug_trace*: geth's tracing methods (vm/tracing.py holds the tracers and replays, the node API runs them)."""
from typing import Any

from vm import execution, tracing
from vm.codec import InvalidValue
from vm.errors import invalid
from app.rpc.dispatch import method
from app.rpc.eth import _call_fields
from app.rpc.params import Block, Hash, Json, Object


def _tracer(name: str, options: Any) -> tracing.Tracer:
    try:
        return tracing.make_tracer(options)
    except InvalidValue as exc:
        raise invalid(f"{name}: {exc}") from None


@method("debug_traceTransaction")
async def debug_trace_transaction(api, tx_hash: Hash, options: Json = None) -> Any:
    tracer = _tracer("debug_traceTransaction", options)
    return await api.trace_transaction(tx_hash, tracer, options)


@method("debug_traceCall")
async def debug_trace_call(api, tx: Object, block: Block = "latest", options: Json = None) -> Any:
    opts = dict(options or {}) if isinstance(options, dict) or options is None else options
    if not isinstance(opts, dict):
        raise invalid("debug_traceCall param 3: trace options must be an object")
    try:
        overrides = execution.parse_state_overrides(opts.pop("stateOverrides", None))
    except InvalidValue as exc:
        raise invalid(f"debug_traceCall param 3 (stateOverrides): {exc}") from None
    if opts.pop("blockOverrides", None):
        raise invalid("debug_traceCall param 3: blockOverrides are not supported by this node "
                      "(stateOverrides are)")
    tracer = _tracer("debug_traceCall", opts)
    return await api.trace_call(_call_fields(tx), block, overrides, tracer)


async def _trace_block(api, ref: Any, options: Any) -> list:
    _tracer("debug_traceBlock", options)  # validate once
    return await api.trace_block(ref, lambda: tracing.make_tracer(options))


@method("debug_traceBlockByNumber")
async def debug_trace_block_by_number(api, ref: Block, options: Json = None) -> list:
    return await _trace_block(api, ref, options)


@method("debug_traceBlockByHash")
async def debug_trace_block_by_hash(api, block_hash: Hash, options: Json = None) -> list:
    return await _trace_block(api, block_hash, options)
