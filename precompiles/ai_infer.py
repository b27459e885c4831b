"""0x0120 `ai_infer`: a contract asks the validator quorum and gets the answer in the same call.

Input abi.encode(string modelId, bytes input), or abi.encode(string modelId,
bytes input, uint256 maxTokens) to bound a text answer's length (0 = the
node's default, `[node] ai_max_new_tokens`; at most 256); output
abi.encode(bytes result). The block producer waits for the quorum, bounded by
`ai_infer_timeout` to the second; on expiry the call reverts with
"Distributed AI computation failed: timeout …" and consumes its gas.
An answer is recorded once per (model, input) and every later execution —
replaying the block, an eth_call on past state, a gas estimate — reads the
record instead of recomputing, so it never differs. A failure reverts with
Error("Distributed AI computation failed: <reason>").
"""
from typing import Optional

from eth_abi import decode, encode
from eth_hash.auto import keccak

from models.catalog import MODELS
from precompiles.ai_port import AIError, InferenceService
from precompiles.registry import Precompile, PrecompileError, PrecompileRevert, register

BASE_GAS = 2_000
GAS_PER_INPUT_BYTE = 16
FAILED = "Distributed AI computation failed: "


WITH_MAX_TOKENS = (0x60).to_bytes(32, "big")  # a 3-word head: the form with maxTokens


def parse_request(data: bytes, what: str = "ai_infer") -> tuple[str, bytes, "int | None"]:
    """(model id, input, max tokens or None) from either input form."""
    try:
        if data[:32] == WITH_MAX_TOKENS:
            model_id, payload, max_tokens = decode(["string", "bytes", "uint256"], data)
            return model_id, payload, max_tokens or None
        model_id, payload = decode(["string", "bytes"], data)
    except Exception as exc:
        raise PrecompileError(f"{what} input must be abi.encode(string modelId, bytes input[, uint256 maxTokens]): "
                              f"{exc}") from None
    return model_id, payload, None


def _parse(data: bytes) -> tuple[str, bytes]:
    model_id, payload, _ = parse_request(data)
    return model_id, payload


def _gas(data: bytes) -> int:
    model_id, payload = _parse(data)
    info = MODELS.get(model_id)
    price = info.gas_price if info else 0  # an unknown model fails in run() with a reason
    return BASE_GAS + price + GAS_PER_INPUT_BYTE * len(payload)


def check_price(service: InferenceService, model_id: str) -> None:
    """[aivm] max_gas_per_execution: the most one AI execution may cost."""
    info = MODELS.get(model_id)
    if info is not None and info.gas_price > service.max_gas_per_execution:
        raise PrecompileRevert(error(f"{model_id} costs {info.gas_price} gas, above this node's "
                                     f"max_gas_per_execution of {service.max_gas_per_execution}"))


def not_running(services) -> str:
    """Why there is no AI service; a node that starts its AI layer on first use starts it now (vm.ai_start).
    Not waited for here: this runs on the chain thread, which the start itself needs."""
    start = services.ai_start
    if start is not None:
        start("a contract calling an AI precompile")
        return ("distributed AI is starting on this node (it starts on first use, and no validator had "
                "joined yet): retry once validators have joined")
    return "distributed AI is not enabled on this chain, or its models are still loading"


def error(reason: str) -> bytes:
    return bytes.fromhex("08c379a0") + encode(["string"], [FAILED + reason])


def _run(ctx) -> bytes:
    model_id, payload, max_tokens = parse_request(ctx.data)
    service: Optional[InferenceService] = ctx.services.ai
    if service is None:
        raise PrecompileRevert(error(not_running(ctx.services)))
    check_price(service, model_id)
    try:
        length = service.scheduler.max_tokens_for(model_id, max_tokens)
        recorded = service.scheduler.recorded(model_id, keccak(payload), length) if service.replay else None
        if recorded is not None:
            return encode(["bytes"], [bytes.fromhex(recorded["result"])])
        result, _certificate, _cid = service.infer(model_id, payload, "0x" + ctx.sender.hex(), service.infer_timeout,
                                                   max_tokens=max_tokens)
    except AIError as exc:
        raise PrecompileRevert(error(str(exc))) from None
    return encode(["bytes"], [result])


AI_INFER = register(
    Precompile(
        name="ai_infer",
        address=0x0120,
        gas=_gas,
        run=_run,
        doc="abi.encode(string modelId, bytes input[, uint256 maxTokens]) -> abi.encode(bytes result)",
    )
)
