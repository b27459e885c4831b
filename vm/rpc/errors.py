"""JSON-RPC error codes, as geth and the EIP-1474 table use them."""
from typing import Any

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
