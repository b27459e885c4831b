"""The Bridges view fed by the node's bridge hub (bridge/hub.py): lanes, transfers and their attestations.

Reads only: transfer records from the node's store and guardian weights
through the chain's thread-safe reads, so it may run on any worker thread.
"""
from __future__ import annotations

from typing import Any

from vm.addresses import to_syn

# the hub's words for a transfer's state -> the dashboard's (TRANSFER_STATES)
STATES = {"initiated": "Attesting", "attested": "Attested", "delivered": "Completed", "failed": "Failed"}


class HubSource:
    """`app.dashboard.sources.BridgeStatusSource` over a `bridge.hub.BridgeHub`."""

    def __init__(self, hub: Any) -> None:
        self.hub = hub

    def _records(self) -> list[tuple[str, dict]]:
        items = [(name.rsplit("/", 1)[1], rec) for name, rec in self.hub.node.chain.index.meta_items("bridge/msg/")]
        return sorted(items, key=lambda item: -item[1].get("created", 0))

    def lanes(self) -> list[dict]:
        own = self.hub.own_lane()
        here = own.name if own is not None else f"aivm-{self.hub.chain_id}"
        records = [rec for _, rec in self._records()]
        out = []
        for lane in self.hub.lanes.values():
            if own is not None and lane.name == own.name:
                continue
            mine = [r for r in records if lane.name in (r.get("source_chain"), r.get("dest_chain"))]
            out.append({"id": f"{here}<->{lane.name}", "source_chain": here, "target_chain": lane.name,
                        "status": "unreachable" if lane.name in self.hub.unreachable else "connected",
                        "transfers": len(mine),
                        "last_activity": max((r.get("updated", 0) for r in mine), default=None)})
        return out

    def transfers(self, limit: int) -> list[dict]:
        from interop.message import decode

        out = []
        for digest, rec in self._records()[:limit]:
            msg = decode(bytes.fromhex(rec["message"]))
            public = self.hub._public(digest, rec)
            out.append({
                "id": "0x" + digest, "lane": f"{rec['source_chain']}->{rec['dest_chain']}",
                "asset": rec.get("kind", "transfer") + (f" 0x{msg.token.hex()[-40:]}" if msg.amount else ""),
                "amount": rec.get("amount", "0"), "sender": "0x" + msg.sender.hex()[-40:],
                "recipient": "0x" + msg.recipient.hex()[-40:],
                "state": STATES.get(rec["status"], rec["status"]), "created": rec.get("created", 0.0),
                "required": public["required_weight"],  # stake (wei): a decimal string above 2**64
                "attestations": [{"validator": to_syn(bytes.fromhex(h)[12:]), "valid": True,
                                  "time": rec.get("updated", 0.0)} for h in rec.get("votes", {})],
            })
        return out
