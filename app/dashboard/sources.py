"""Data sources other parts plug into the dashboard (bridges today).

A bridge status source is any object with `lanes()` and `transfers(limit)`;
the bridge package registers one on the node with `register_bridge_source`.
Until one is registered the Bridges view says "no bridges configured".
Sources are read from RPC worker threads: they must be thread-safe and must
not wait for the chain thread while holding their own locks.
"""
from __future__ import annotations

from typing import Any, Optional, Protocol, runtime_checkable

TRANSFER_STATES = ("Pending", "Attesting", "Attested", "Relayed", "Completed", "Failed", "Refunded")


@runtime_checkable
class BridgeStatusSource(Protocol):
    """What the Bridges view reads. Every value is JSON (str, int, bool, list, dict), nothing secret.

    lanes(): [{"id": str, "source_chain": str, "target_chain": str, "status": str,
               "transfers": int, "last_activity": float | None}]
    transfers(limit): newest first, at most `limit`:
        [{"id": str, "lane": str, "asset": str, "amount": str, "sender": str, "recipient": str,
          "state": one of TRANSFER_STATES (or the source's own word), "created": float,
          "required": int, "attestations": [{"validator": str (sYn…), "valid": bool, "time": float}]}]
    """

    def lanes(self) -> list[dict]: ...

    def transfers(self, limit: int) -> list[dict]: ...


def register_bridge_source(node: Any, source: BridgeStatusSource) -> None:
    if not isinstance(source, BridgeStatusSource):
        raise TypeError("a bridge status source needs lanes() and transfers(limit)")
    node.dashboard_bridge_source = source


def bridge_source(node: Any) -> Optional[BridgeStatusSource]:
    return node.dashboard_bridge_source  # declared on Node (and a typed NodeApi property)


def bridges_view(node: Any, limit: int = 50) -> dict:
    source = bridge_source(node)
    if source is None:
        return {"configured": False, "message": "no bridges configured", "lanes": [], "transfers": []}
    return {"configured": True, "message": "", "lanes": list(source.lanes()),
            "transfers": list(source.transfers(limit))}
