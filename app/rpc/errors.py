"""JSON-RPC error codes (as geth and the EIP-1474 table use them), and the one map from the node's
refusals (`vm.errors.Reason`, the chain's, the AI scheduler's and the bridge's errors) to them.

The dispatcher calls `rpc_error` for whatever a handler raises, so handlers in every namespace
(eth, dev, synergy, ai, bridge, debug, dashboard) raise domain errors and never pick a code.
"""
from typing import Any

from vm.errors import NodeError, Reason

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_ERROR = -32000  # nonce too low, insufficient funds, unknown block…
RESOURCE_NOT_FOUND = -32001
TX_REJECTED = -32003
LIMIT_EXCEEDED = -32005
EXECUTION_REVERTED = 3  # geth: revert data in `data`


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


# -- the one place a refusal becomes a JSON-RPC error (every namespace) --
# Reason -> code; the message is the error's own text (the node's words, unchanged on the wire).
CODES = {
    Reason.INVALID_INPUT: INVALID_PARAMS,
    Reason.NOT_FOUND: RESOURCE_NOT_FOUND,
    Reason.REFUSED: SERVER_ERROR,
    Reason.UNAVAILABLE: SERVER_ERROR,
    Reason.LIMIT_EXCEEDED: LIMIT_EXCEEDED,
    Reason.REVERTED: EXECUTION_REVERTED,
    Reason.NOT_SUPPORTED: METHOD_NOT_FOUND,
    Reason.NONCE_TOO_LOW: -38010,
    Reason.NONCE_TOO_HIGH: -38011,
    Reason.FEE_BELOW_BASE_FEE: -38012,
    Reason.INTRINSIC_GAS_TOO_LOW: -38013,
    Reason.INSUFFICIENT_FUNDS: -38014,
    Reason.BLOCK_NUMBER_ORDER: -38020,
    Reason.BLOCK_TIMESTAMP_ORDER: -38021,
}


def _refusals_of_other_layers() -> tuple[type, ...]:
    """The AI scheduler's and the bridge's refusals: -32000 with their text (imported only once loaded)."""
    import sys

    found = []
    for module, name in (("ai.scheduler", "AIError"), ("bridge.hub", "BridgeError"),
                         ("interop.message", "MessageError"), ("pqc.errors", "PQCError")):
        mod = sys.modules.get(module)
        cls = getattr(mod, name, None) if mod is not None else None
        if isinstance(cls, type):
            found.append(cls)
    return tuple(found)


def rpc_error(exc: BaseException) -> "RpcError | None":
    """The JSON-RPC error for a domain exception, or None when it is not one (a bug: -32603)."""
    from vm.chain import ExecutionFailed
    from vm.codec import InvalidValue

    if isinstance(exc, RpcError):
        return exc
    if isinstance(exc, NodeError):
        return RpcError(CODES[exc.reason], exc.message, _wire(exc.data))
    if isinstance(exc, ExecutionFailed):  # a call that reverted: geth's code 3 with the revert data
        return revert_error(exc.result)
    if isinstance(exc, InvalidValue):
        return RpcError(INVALID_PARAMS, str(exc))
    others = _refusals_of_other_layers()
    if others and isinstance(exc, others):
        return RpcError(SERVER_ERROR, str(exc))
    return None


def revert_error(result: Any) -> RpcError:
    """A failed execution result: code 3, its reason, the revert output as data."""
    return RpcError(EXECUTION_REVERTED, result.error or "execution reverted", "0x" + bytes(result.output).hex())


def _wire(value: Any) -> Any:
    return "0x" + value.hex() if isinstance(value, (bytes, bytearray)) else value
