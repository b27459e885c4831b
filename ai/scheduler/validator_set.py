"""Who counts, and how much: the active, stake-weighted validator set of each model stage.

An answer is decided by stake, never by headcount. Per stage the scheduler keeps
an immutable snapshot (`StageSet`: address -> stake in wei, numbered by epoch);
a round is decided when the validators that signed one vote hold at least the
level's fraction of the snapshot's stake (Basic: 2/3, exact integers:
`signed * 3 >= total * 2`, as Avalanche Warp compares weights). So, whatever
the headcount, an attacker needs

- more than 1/3 of the active stake to stall a computation (withholding or
  voting apart, the rest cannot reach 2/3), and
- at least 2/3 of it (the level's threshold) to make its answer the decided one.

Who is active (`ActiveSets.why_inactive`): a valid attestation for the stage,
stake >= MIN_STAKE, synergy score >= MIN_SCORE, the join delay passed since the
attestation, and a heartbeat within the grace period. A validator silent for
longer than the grace period leaves the set and returns only through a fresh
attestation; one slashed below the minimum stake stays out until it tops up
(`synergy_registerValidator` again with a higher total stake). Joining waits
`join_delay` seconds, and a computation keeps the snapshots taken when it
started, so a burst of registrations changes nothing that is running.

This module is pure bookkeeping: no locks, no chain access. The scheduler calls
it under its own lock and mirrors each new epoch to chain storage through a
non-blocking hook (pqc/validators.py `snapshot_writes`), where the consensus
precompile (0x0118) checks certificates against the same weights.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Iterable, Mapping, Optional

from ai.protocol import LEVEL, stage_set_id
from ai.scheduler.validators import Validator
from pqc.levels import SecurityLevel
from vm import defaults

JOIN_DELAY = defaults.AI_JOIN_DELAY  # seconds from a valid attestation until the validator counts ([node] ai_join_delay)
HEARTBEAT_GRACE = defaults.AI_HEARTBEAT_GRACE  # seconds without a heartbeat before a validator leaves ([node] ai_heartbeat_grace)


@dataclass(frozen=True)
class StageSet:
    """One epoch of one stage's active set: who counts and with what stake. Never changes."""

    model_id: str
    stage: int
    epoch: int
    stakes: Mapping[bytes, int]  # validator address -> stake (wei)
    key_hashes: Mapping[bytes, bytes] = field(default_factory=dict)  # address -> signing-key hash (on-chain id)
    level: SecurityLevel = LEVEL

    # computed once (an epoch never changes): every result's tally asks for them several times
    @functools.cached_property
    def set_id(self) -> int:
        return stage_set_id(self.model_id, self.stage)

    @functools.cached_property
    def total(self) -> int:
        return sum(self.stakes.values())

    @functools.cached_property
    def required(self) -> int:
        """The least stake (wei) that decides a round."""
        return self.level.suite.required_stake(self.total)

    @property
    def threshold(self) -> tuple[int, int]:
        return self.level.suite.stake_threshold

    def __contains__(self, address: bytes) -> bool:
        return address in self.stakes

    def weight(self, addresses: Iterable[bytes]) -> int:
        """Stake held by the distinct members among `addresses` (non-members weigh nothing)."""
        return sum(self.stakes.get(a, 0) for a in set(addresses))

    def met(self, weight: int) -> bool:
        return self.level.suite.stake_met(weight, self.total)

    def tally(self, votes: Mapping[bytes, bytes]) -> dict[bytes, int]:
        """{vote hash: stake that signed it} from {validator address: vote hash}."""
        out: dict[bytes, int] = {}
        for address, vote in votes.items():
            out[vote] = out.get(vote, 0) + self.stakes.get(address, 0)
        return out

    def decided(self, votes: Mapping[bytes, bytes]) -> Optional[bytes]:
        """The vote whose signers hold the threshold of the stake, if any (at most one can: threshold > 1/2)."""
        for vote, weight in self.tally(votes).items():
            if self.met(weight):
                return vote
        return None

    def can_decide(self, votes: Mapping[bytes, bytes], pending: Iterable[bytes]) -> bool:
        """Whether some vote could still reach the threshold if every `pending` member joined it."""
        best = max(self.tally(votes).values(), default=0)
        return self.met(best + self.weight(a for a in pending if a not in votes))

    def describe(self) -> str:
        num, den = self.threshold
        return (f"{self.model_id} stage {self.stage} epoch {self.epoch}: {len(self.stakes)} active validators "
                f"holding {self.total} wei, {num}/{den} = {self.required} wei decides")

    def to_json(self) -> dict:
        return {"model_id": self.model_id, "stage": self.stage, "epoch": self.epoch, "set_id": str(self.set_id),
                "total_stake": str(self.total), "required_stake": str(self.required),
                "threshold": f"{self.threshold[0]}/{self.threshold[1]}",
                "members": {"0x" + a.hex(): str(s) for a, s in sorted(self.stakes.items())}}


class ActiveSets:
    """The scheduler's authoritative record of each stage's active set (guarded by the scheduler's lock)."""

    def __init__(self, stages: Iterable[tuple[str, int]], join_delay: float = JOIN_DELAY,
                 grace: float = HEARTBEAT_GRACE, epochs: Optional[dict] = None,
                 publish: Callable[[StageSet], None] = lambda s: None) -> None:
        self.join_delay = join_delay
        self.grace = grace
        self.publish = publish  # must not block: called under the scheduler's lock
        self._epochs = {str(k): int(v) for k, v in (epochs or {}).items()}  # set id -> last epoch used
        self.current: dict[tuple[str, int], StageSet] = {
            s: StageSet(s[0], s[1], self._epochs.get(str(stage_set_id(*s)), 0), MappingProxyType({}))
            for s in stages}

    @property
    def epochs(self) -> dict[str, int]:
        """What to persist so epochs keep growing across restarts."""
        return dict(self._epochs)

    def why_inactive(self, v: Validator, model_id: str, stage: int, now: float) -> str:
        """'' when `v` counts in this stage's set, else the reason.

        The same rule as eligibility for tasks (attestation, shard, memory, stake >= MIN_STAKE,
        score >= MIN_SCORE, join delay passed, uptime), plus a heartbeat within the grace period:
        every member can be asked, so only a validator that fails to answer can hold a round up."""
        why = v.ineligibility(model_id, stage, now)
        if why:
            return why
        if now - v.last_seen > self.grace:
            return f"no heartbeat for {now - v.last_seen:.0f} s (grace {self.grace:g} s)"
        return ""

    def expire(self, validators: Iterable[Validator], now: float) -> list[Validator]:
        """Validators silent past the grace period leave: their attestation lapses (attest again to return)."""
        gone = []
        for v in validators:
            if v.attestation_valid and now - v.last_seen > self.grace:
                v.attestation_valid = False
                v.attestation_error = (f"no heartbeat for more than {self.grace:g} s: left the validator set; "
                                       f"send a fresh attestation to return")
                gone.append(v)
        return gone

    def refresh(self, validators: Iterable[Validator], now: float, only: Optional[str] = None) -> list[StageSet]:
        """Recompute every stage's set (only model `only`'s, when given: a computation starting snapshots its own
        model's sets, the ticker refreshes them all); each one that changed becomes a new epoch (published)."""
        validators = list(validators)
        changed = []
        for (model_id, stage), old in self.current.items():
            if only is not None and model_id != only:
                continue
            members = {v.address: v for v in validators if not self.why_inactive(v, model_id, stage, now)}
            stakes = {a: v.stake for a, v in members.items()}
            if stakes == dict(old.stakes):
                continue
            key = str(old.set_id)
            epoch = self._epochs.get(key, 0) + 1
            self._epochs[key] = epoch
            new = StageSet(model_id, stage, epoch, MappingProxyType(stakes),
                           MappingProxyType({a: v.keys.key_hash for a, v in members.items()}))
            self.current[(model_id, stage)] = new
            changed.append(new)
            self.publish(new)
        return changed

    def snapshot(self, model_id: str, stage: int) -> StageSet:
        return self.current[(model_id, stage)]

    def members(self) -> set[bytes]:
        """Every validator active in at least one stage set."""
        return {a for s in self.current.values() for a in s.stakes}
