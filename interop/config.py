"""Lanes from `[interoperability]`: which chains this node bridges to, checked strictly.

    [interoperability]
    supported_chains = ["ethereum", "polygon", "solana"]
    bridge_enabled = true
    cross_chain_gas_limit = 1000000

    [interoperability.chains.ethereum]
    kind = "evm"                 # evm | aivm | solana
    rpc_url = "http://127.0.0.1:8546"
    chain_id = 11155111
    confirmations = 2            # blocks a message waits before validators attest it
    bridge_address = "0x..."     # the PQCBridge contract (Solana: the SPL mint)
    level = "Enhanced"           # security level of messages on this lane

A table for a chain that is not in `supported_chains`, two chains with the
same id, a Solana lane given an EVM address (or the reverse) all stop
start-up with a line naming the key. A supported chain without a table is
listed but not connected: transfers to it are refused with that reason.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from pqc.levels import SecurityLevel

EVM_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
PLANNED = {"bitcoin": "Bitcoin bridging is planned, not available (see the guide's table)"}


def check_lanes(section) -> None:
    """Raise ValueError naming the offending key (pydantic turns it into one config line)."""
    seen: dict[int, str] = {}
    for name in section.supported_chains:
        if name.lower() in PLANNED:
            raise ValueError(f"[interoperability] supported_chains: {PLANNED[name.lower()]}")
    for name, chain in section.chains.items():
        key = f"[interoperability.chains.{name}]"
        if name not in section.supported_chains and chain.kind != "aivm":
            raise ValueError(f"{key}: {name!r} is not in [interoperability] supported_chains")
        if chain.chain_id in seen:
            raise ValueError(f"{key} chain_id: {chain.chain_id} is already the id of {seen[chain.chain_id]!r}")
        seen[chain.chain_id] = name
        evm = bool(EVM_ADDRESS.match(chain.bridge_address))
        if chain.kind == "solana" and evm:
            raise ValueError(f"{key} bridge_address: a Solana lane needs a base58 mint address")
        if chain.kind != "solana" and not evm:
            raise ValueError(f"{key} bridge_address: an {chain.kind.upper()} lane needs a 0x address")
        if SecurityLevel.parse(chain.level) in (SecurityLevel.MAXIMUM, SecurityLevel.MILITARY):
            raise ValueError(f"{key} level: {chain.level} requires a zero-knowledge proof and this bridge "
                             f"offers no ZK proof system (use Basic or Enhanced)")
        if int(chain.bridge_address, 16) == 0 if evm else False:
            raise ValueError(f"{key} bridge_address: the zero address is never a bridge")


@dataclass(frozen=True)
class Lane:
    """One configured chain, as the hub, attesters and relayers use it."""

    name: str
    kind: str
    rpc_url: str
    chain_id: int
    confirmations: int
    bridge_address: str
    level: SecurityLevel

    def to_json(self) -> dict:
        return {"name": self.name, "kind": self.kind, "rpc_url": self.rpc_url, "chain_id": self.chain_id,
                "confirmations": self.confirmations, "bridge_address": self.bridge_address,
                "level": self.level.title}

    @classmethod
    def from_json(cls, d: dict) -> "Lane":
        return cls(d["name"], d["kind"], d["rpc_url"], int(d["chain_id"]), int(d["confirmations"]),
                   d["bridge_address"], SecurityLevel.parse(d["level"]))


def lanes(section) -> dict[str, Lane]:
    """Configured chains by name (empty when the bridge is disabled)."""
    if not section.bridge_enabled:
        return {}
    return {name: Lane(name, c.kind, c.rpc_url, c.chain_id, c.confirmations, c.bridge_address,
                       SecurityLevel.parse(c.level)) for name, c in section.chains.items()}
