"""0x0121 `ai_request`: the asynchronous form, for jobs too long to wait for in a block.

Input abi.encode(string modelId, bytes input, bytes4 callbackSelector);
output abi.encode(bytes32 requestId). When the quorum agrees (or fails) the
node sends the caller a transaction of its own FROM this precompile's address
(which no key controls, so a contract can trust it):

    callbackSelector(bytes32 requestId, bool success, bytes result, bytes certificate)

`certificate` is the quorum certificate the consensus precompile (0x0118)
verifies. One request may be pending per caller; each further concurrent
request must carry EXTRA_REQUEST_FEE wei. In an eth_call or a gas estimate the
request is priced and answered with its id but not started.
"""
from typing import Optional

from eth_abi import decode, encode
from eth_hash.auto import keccak

from models.catalog import MODELS
from precompiles.ai_port import AIError, InferenceService
from precompiles.ai_infer import check_price, error, not_running
from precompiles.registry import Precompile, PrecompileError, PrecompileRevert, register

ADDRESS = 0x0121
GAS = 25_000  # two storage writes and the bookkeeping; the inference is paid by EXTRA_REQUEST_FEE / the model price
EXTRA_REQUEST_FEE = 10**16  # 0.01 ETH per additional concurrent request


def pending_slot(caller: bytes) -> int:
    return int.from_bytes(keccak(b"aivm.ai.pending" + caller), "big")


def counter_slot() -> int:
    return int.from_bytes(keccak(b"aivm.ai.requests"), "big")


def _parse(data: bytes) -> tuple[str, bytes, bytes]:
    try:
        model_id, payload, selector = decode(["string", "bytes", "bytes4"], data)
    except Exception as exc:
        raise PrecompileError(f"ai_request input must be abi.encode(string, bytes, bytes4): {exc}") from None
    return model_id, payload, selector


def _gas(data: bytes) -> int:
    model_id, payload, _ = _parse(data)
    info = MODELS.get(model_id)
    return GAS + (info.gas_price if info else 0) + 16 * len(payload)


def _run(ctx) -> bytes:
    model_id, payload, selector = _parse(ctx.data)
    if ctx.is_static:
        raise PrecompileError("ai_request writes state: it cannot be called from a static context")
    service: Optional[InferenceService] = ctx.services.ai
    if service is None:
        raise PrecompileRevert(error(not_running(ctx.services)))
    check_price(service, model_id)
    me = ADDRESS.to_bytes(20, "big")
    pending = ctx.read_storage(me, pending_slot(ctx.sender))
    if pending >= 1 and ctx.value < EXTRA_REQUEST_FEE:
        raise PrecompileRevert(error(
            f"one pending request per sender: {pending} pending, send {EXTRA_REQUEST_FEE} wei to queue another"))
    serial = ctx.read_storage(me, counter_slot()) + 1
    request_id = keccak(encode(["uint256", "address", "uint256"], [ctx.chain_id, ctx.sender, serial]))
    ctx.write_storage(me, counter_slot(), serial)
    ctx.write_storage(me, pending_slot(ctx.sender), pending + 1)
    if ctx.services.producing_block is not None:
        try:
            service.request_async(model_id, payload, ctx.sender, selector, request_id)
        except AIError as exc:
            raise PrecompileRevert(error(str(exc))) from None
    return encode(["bytes32"], [request_id])


AI_REQUEST = register(
    Precompile(
        name="ai_request",
        address=ADDRESS,
        gas=_gas,
        run=_run,
        stateful=True,
        doc="abi.encode(string modelId, bytes input, bytes4 callbackSelector) -> abi.encode(bytes32 requestId)",
    )
)
