"""Why the node refused something: domain errors with a reason, no wire codes.

The chain, the node and the node API raise these; `app/rpc/errors.py` is the one
place that turns a reason into a JSON-RPC code and message (as anvil's
`eth/error.rs` does for its backend). A new refusal picks a `Reason` (or adds
one, with its code in that table); nothing below the RPC layer knows a code.
"""
from __future__ import annotations

import enum
from typing import Any


class Reason(enum.Enum):
    """What kind of refusal; the RPC layer maps each to its code."""

    INVALID_INPUT = "invalid input"  # the caller's value is malformed or out of range
    NOT_FOUND = "not found"  # an unknown block, filter, transaction, record
    REFUSED = "refused"  # well-formed, but the node will not do it now (queue busy, not unlocked)
    UNAVAILABLE = "unavailable"  # a part of the node that is off or not ready (AI, bridge)
    LIMIT_EXCEEDED = "limit exceeded"  # a result or registry past its bound
    REVERTED = "reverted"  # execution reverted (data carries the revert output)
    NOT_SUPPORTED = "not supported"  # a method this transport cannot serve
    # eth_simulateV1's validation failures (geth's -380xx family)
    NONCE_TOO_LOW = "nonce too low"
    NONCE_TOO_HIGH = "nonce too high"
    FEE_BELOW_BASE_FEE = "max fee below base fee"
    INTRINSIC_GAS_TOO_LOW = "intrinsic gas too low"
    INSUFFICIENT_FUNDS = "insufficient funds"
    BLOCK_NUMBER_ORDER = "block numbers must increase"
    BLOCK_TIMESTAMP_ORDER = "block timestamps must increase"


class NodeError(Exception):
    """A refusal with its reason; `data` (bytes or JSON) rides along to the client when given."""

    def __init__(self, reason: Reason, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.data = data


def invalid(message: str) -> NodeError:
    return NodeError(Reason.INVALID_INPUT, message)


def not_found(message: str) -> NodeError:
    return NodeError(Reason.NOT_FOUND, message)


def refused(message: str, data: Any = None) -> NodeError:
    return NodeError(Reason.REFUSED, message, data)


def unavailable(message: str) -> NodeError:
    return NodeError(Reason.UNAVAILABLE, message)
