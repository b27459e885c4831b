"""Registered validators: identity, stake, attestation, liveness, synergy score.

Eligibility for AI work is the guide's rule: synergy score >= 70, uptime
> 95%, a valid attestation, enough resources, and the model's shard held.
Clusters (Proof of Synergy) group eligible validators by score, best first.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Optional

from pqc.keys import PublicKeys

MIN_SCORE = 70.0
MIN_UPTIME = 0.95
START_SCORE = 85.0
MIN_STAKE = 10**18  # 1 ETH
CLUSTER_SIZE = 7
HEARTBEAT_INTERVAL = 2.0  # seconds; validators send one at least this often

# what a model needs from a validator's machine (MiB of memory)
MIN_MEMORY_MB = {"digits_cnn": 64, "distributed_ai_model": 1024}


@dataclass
class Validator:
    address: bytes
    public_keys: bytes  # canonical signing-key bundle
    stake: int
    registered_at: float
    attestation: Optional[dict] = None
    attestation_valid: bool = False
    attestation_error: str = "no attestation yet"
    holds: list = field(default_factory=list)  # [[model_id, stage], ...] verified against manifests
    heartbeats: int = 0
    online_since: float = 0.0  # start of the current liveness window (reset when the node restarts)
    last_heartbeat: float = 0.0
    score: float = START_SCORE
    tasks_completed: int = 0
    tasks_failed: int = 0
    timeouts: int = 0
    agreed: int = 0
    disagreed: int = 0
    rewards: int = 0
    slashed: int = 0
    response_ms_total: float = 0.0
    responses: int = 0
    active_from: float = 0.0  # node time its current attestation starts counting (attestation + join delay)
    last_seen: float = 0.0  # node time of its last accepted heartbeat (or attestation)
    missed_in_row: int = 0  # assigned tasks in a row it never answered
    slashed_wrong: int = 0  # wei slashed for signing losing results
    slashed_unanswered: int = 0  # wei slashed for repeatedly accepting tasks and never answering
    assigned: int = 0  # tasks handed to it (spreads work among equals)
    lapsed: bool = False  # left the set (silent past the grace period, or excluded): a fresh attestation returns it

    @property
    def keys(self) -> PublicKeys:
        """The decoded key bundle (decoded once per `public_keys` value: every result check needs it)."""
        cached = self.__dict__.get("_keys")
        if cached is None or cached[0] is not self.public_keys:
            cached = self.__dict__["_keys"] = (self.public_keys, PublicKeys.decode(self.public_keys))
        return cached[1]

    def _public_keys_hex(self) -> str:
        """The key bundle as hex, made once per `public_keys` value (2 kB: each judged result rewrites the
        validator's record)."""
        cached = self.__dict__.get("_keys_hex")
        if cached is None or cached[0] is not self.public_keys:
            cached = self.__dict__["_keys_hex"] = (self.public_keys, self.public_keys.hex())
        return cached[1]

    def uptime(self, now: Optional[float] = None) -> float:
        """Heartbeats received over heartbeats expected since the validator came online."""
        now = time.time() if now is None else now
        if self.heartbeats == 0:
            return 0.0
        expected = 1 + (now - self.online_since) / HEARTBEAT_INTERVAL
        # a heartbeat that is merely late by less than one interval is not a miss
        return min(1.0, (self.heartbeats + 1) / expected)

    def holds_stage(self, model_id: str, stage: int) -> bool:
        return [model_id, stage] in self.holds

    def memory_ok(self, model_id: str) -> bool:
        mem = (self.attestation or {}).get("memory_mb", 0)
        return mem >= MIN_MEMORY_MB.get(model_id, 0)

    def ineligibility(self, model_id: str, stage: int, now: Optional[float] = None) -> str:
        """'' when eligible for this stage, else the reason."""
        if not self.attestation_valid:
            return f"attestation: {self.attestation_error}"
        if self.score < MIN_SCORE:
            return f"synergy score {self.score:.1f} < {MIN_SCORE:.0f}"
        if self.stake < MIN_STAKE:
            return f"stake {self.stake} wei is below the minimum of {MIN_STAKE} wei: top it up"
        if (time.time() if now is None else now) < self.active_from:
            return f"joins the validator set at {self.active_from:.0f} (the join delay after its attestation)"
        up = self.uptime(now)
        if up <= MIN_UPTIME:
            return f"uptime {up:.0%} <= 95%"
        if not self.holds_stage(model_id, stage):
            return f"does not hold {model_id} stage {stage}"
        if not self.memory_ok(model_id):
            return f"not enough memory for {model_id}"
        return ""

    def ineligibility_any(self, now: Optional[float] = None) -> str:
        """'' when eligible for at least one stage it holds, else the first reason."""
        if not self.holds:
            return f"attestation: {self.attestation_error}" if not self.attestation_valid else "holds no model stage"
        reasons = [self.ineligibility(m, st, now) for m, st in self.holds]
        return "" if "" in reasons else reasons[0]

    def to_record(self) -> dict:
        # shallow (the record is serialised at once): asdict's deep copy was most of a round's bookkeeping
        d = {f: getattr(self, f) for f in self.__dataclass_fields__}
        d["holds"] = [list(h) for h in self.holds]
        d["address"] = self.address.hex()
        d["public_keys"] = self._public_keys_hex()
        for key in WEI_FIELDS:  # wei amounts outgrow 64 bits (20 ETH does): stored as decimal strings
            d[key] = str(d[key])
        return d

    @classmethod
    def from_record(cls, d: dict) -> "Validator":
        d = dict(d)
        d["address"] = bytes.fromhex(d["address"])
        d["public_keys"] = bytes.fromhex(d["public_keys"])
        known = set(cls.__dataclass_fields__)
        for key in WEI_FIELDS:
            if key in d:
                d[key] = int(d[key])
        v = cls(**{k: x for k, x in d.items() if k in known})
        v.heartbeats, v.online_since = 0, 0.0  # liveness restarts with the node
        v.last_seen = time.time()  # a node restart is not a missed heartbeat: the grace period starts now
        return v


WEI_FIELDS = ("stake", "rewards", "slashed", "slashed_wrong", "slashed_unanswered")


def clusters(validators: list[Validator]) -> list[list[Validator]]:
    """Proof-of-Synergy clusters: attested validators by synergy score, CLUSTER_SIZE each, best first."""
    ranked = sorted((v for v in validators if v.attestation_valid), key=lambda v: (-v.score, v.address))
    return [ranked[i:i + CLUSTER_SIZE] for i in range(0, len(ranked), CLUSTER_SIZE)]
