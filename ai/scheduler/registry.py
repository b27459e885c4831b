"""The validator registry: register, attest, heartbeat, eligibility and the active stage sets.

A mixin of `ai.scheduler.core.Scheduler` (its state and lock); split out so each concept reads alone.
"""
from __future__ import annotations

import logging
import time
from typing import Optional

from ai import protocol
from ai.ports import AIError
from ai.protocol import LEVEL
from ai.scheduler.computation import HEARTBEAT_WINDOW
from ai.scheduler.validator_set import StageSet
from ai.scheduler.validators import MIN_STAKE, Validator, clusters
from pqc import bundle
from pqc.errors import FormatError
from pqc.keys import PublicKeys
from vm.addresses import to_syn

log = logging.getLogger("aivm.ai")


class ValidatorRegistry:
    """Validators: who may take tasks, with what stake."""

    def register(self, public_keys: bytes, stake: int, proof: bytes) -> Validator:
        try:
            keys = PublicKeys.decode(public_keys)
        except FormatError as exc:
            raise AIError(f"invalid public keys: {exc}") from None
        if keys.level != LEVEL:
            raise AIError(f"validators sign AI results at level {LEVEL.title}; these keys are {keys.level.title}")
        address = protocol.validator_address(keys)
        msg = protocol.registration_message(self.chain_id, address, keys.key_hash, stake)
        ok, why = bundle.check(proof, keys, msg, LEVEL)
        if not ok:
            raise AIError(f"registration proof does not verify: {why}")
        if stake < MIN_STAKE:
            raise AIError(f"stake {stake} wei is below the minimum of {MIN_STAKE} wei")
        with self._lock:
            existing = self.validators.get(address)
            if existing is not None and stake <= existing.stake:
                return existing  # same keys, same address: registering twice is harmless
            if address in self._topping_up:
                raise AIError(f"a registration of {to_syn(address)} is already being processed: retry")
            self._topping_up.add(address)
            extra = stake - (existing.stake if existing is not None else 0)
        try:
            self.hooks.lock_stake(address, extra)  # raises AIError when the account cannot pay
        finally:
            with self._lock:
                self._topping_up.discard(address)
        with self._lock:
            v = self.validators.get(address)
            if v is None:
                v = Validator(address, keys.encode(), stake, time.time(), last_seen=time.time())
                self.validators[address] = v
                log.info("validator %s registered with stake %d", to_syn(address), stake)
            else:  # the top-up: a registration with a higher total stake locks the difference
                v.stake += extra
                log.info("validator %s topped its stake up by %d to %d", to_syn(address), extra, v.stake)
            self.records.write(validators={address: v.to_record()})
        return v

    def _verify(self, v: Validator, message: bytes, signature: bytes, what: str) -> None:
        ok, why = bundle.check(signature, v.keys, message, LEVEL)
        if not ok:
            raise AIError(f"{what} signature does not verify under the registered keys of {to_syn(v.address)}: {why}")

    def validator(self, address: bytes) -> Validator:
        v = self.validators.get(address)
        if v is None:
            raise AIError(f"validator {to_syn(address)} is not registered")
        return v

    def attest(self, address: bytes, attestation: dict, signature: bytes) -> Validator:
        with self._lock:
            v = self.validator(address)
        self._verify(v, protocol.attestation_message(self.chain_id, address, attestation), signature, "attestation")
        holds, error = self._check_attestation(attestation)
        if not error and v.stake < MIN_STAKE:
            error = (f"stake {v.stake} wei is below the minimum of {MIN_STAKE} wei: top it up first "
                     f"(synergy_registerValidator again with a total stake of at least {MIN_STAKE} wei)")
        with self._lock:
            now = time.time()
            unchanged = v.attestation_valid and not error and sorted(holds) == sorted(v.holds)
            v.attestation = attestation
            v.attestation_valid = not error
            v.attestation_error = error
            v.holds = holds if not error else []
            if not error:
                v.lapsed, v.last_seen = False, now
                if not unchanged:  # a member re-attesting the same shards keeps its place; others wait
                    v.active_from = now + self.sets.join_delay
            self.records.write(validators={address: v.to_record()})
        if error:
            raise AIError(f"attestation refused: {error}")
        # the active sets (and their on-chain copies) follow at the next refresh, after the join delay
        return v

    def _check_attestation(self, att: dict) -> tuple[list, str]:
        need = {"software_version": str, "shards": list, "cores": int, "memory_mb": int, "timestamp": int}
        for key, kind in need.items():
            if not isinstance(att.get(key), kind):
                return [], f"field {key} missing or not a {kind.__name__}"
        if abs(att["timestamp"] - time.time()) > 300:
            return [], "timestamp is more than 5 minutes off"
        holds = []
        for s in att["shards"]:
            if not isinstance(s, dict) or not {"model_id", "stage"} <= set(s):
                return [], "each shard needs model_id and stage (and sha256, or endpoint_model for an endpoint)"
            if s["model_id"] not in self.manifests:
                return [], f"unknown model {s['model_id']!r}"
            manifest = self.manifests[s["model_id"]]
            if manifest is None:  # served from the validator's own endpoint
                if s["stage"] != 0 or not isinstance(s.get("endpoint_model"), str):
                    return [], f"{s['model_id']} is endpoint-served: attest stage 0 and the endpoint_model it runs"
                holds.append([s["model_id"], 0])
                continue
            try:
                expected = manifest.stage_shard(s["stage"]).sha256
            except Exception:
                return [], f"{s['model_id']} has no stage {s['stage']!r}"
            if s.get("sha256") != expected:
                return [], (f"{s['model_id']} stage {s['stage']} shard hash {str(s.get('sha256'))[:16]}… does not match "
                            f"the registered manifest ({expected[:16]}…): tampered or wrong version")
            holds.append([s["model_id"], s["stage"]])
        return holds, ""

    def heartbeat(self, address: bytes, timestamp: int, signature: bytes) -> Validator:
        with self._lock:
            v = self.validator(address)
        self._verify(v, protocol.heartbeat_message(self.chain_id, address, timestamp), signature, "heartbeat")
        now = time.time()
        if abs(timestamp - now) > 60:
            raise AIError("heartbeat timestamp is more than a minute off")
        with self._lock:
            if timestamp <= v.last_heartbeat:
                raise AIError("heartbeat replayed: its timestamp is not after the last one")
            beats = self._beats[address]
            if not beats:
                v.online_since = now
            beats.append(now)
            while beats and beats[0] < now - HEARTBEAT_WINDOW:
                beats.popleft()
            v.heartbeats = len(beats)
            v.online_since = max(v.online_since, now - HEARTBEAT_WINDOW)
            v.last_heartbeat = timestamp
            v.last_seen = now
            lapsed = v.lapsed and not v.attestation_valid
        if lapsed:  # alive again, but it left the set: only a fresh attestation brings it back
            raise AIError(f"heartbeat recorded, but the attestation lapsed: {v.attestation_error}")
        return v

    def restore(self, address: bytes) -> None:
        """Test clusters only: forget a validator's missed heartbeats and lost score."""
        from ai.scheduler.validators import START_SCORE

        with self._lock:
            v = self.validator(address)
            now = time.time()
            self._beats[address].clear()
            self._beats[address].append(now)  # counts as a fresh heartbeat: a new liveness window
            v.heartbeats, v.online_since, v.last_seen = 1, now, now
            v.score = max(v.score, START_SCORE)
            if v.lapsed and not v.attestation_valid and v.holds and v.stake >= MIN_STAKE:
                v.attestation_valid, v.attestation_error, v.lapsed = True, "", False

    def _refresh_liveness(self, now: float) -> None:
        for address, beats in self._beats.items():
            while beats and beats[0] < now - HEARTBEAT_WINDOW:
                beats.popleft()
            v = self.validators.get(address)
            if v is not None:
                v.heartbeats = len(beats)
                v.online_since = max(v.online_since, now - HEARTBEAT_WINDOW)

    def eligible(self, model_id: str, stage: int, now: float, snapshot: Optional[StageSet] = None) -> list[Validator]:
        """Eligible holders of a stage (members of `snapshot`, when given), best cluster first,
        then the most stake, then the least-used."""
        self._refresh_liveness(now)
        out = []
        for cluster in clusters(list(self.validators.values())):
            ok = [v for v in cluster if not v.ineligibility(model_id, stage, now)
                  and (snapshot is None or v.address in snapshot)]
            # within a cluster: the most stake first (fewest validators to reach the threshold), then the
            # least-used, so every member is asked in turn (and a liar cannot hide at the back)
            out += sorted(ok, key=lambda v: (-(snapshot.stakes[v.address] if snapshot is not None else v.stake),
                                             v.assigned))
        return out

    def refresh_sets(self, now: Optional[float] = None, model_id: Optional[str] = None) -> None:
        """Under the lock: lapse the silent, then recompute the active sets (only `model_id`'s when given; new
        epochs are published)."""
        now = time.time() if now is None else now
        self._refresh_liveness(now)
        gone = self.sets.expire(self.validators.values(), now)
        for v in gone:
            v.lapsed = True
            log.warning("validator %s left the validator set: %s", to_syn(v.address), v.attestation_error)
        if self.sets.refresh(self.validators.values(), now, model_id) or gone:
            self.records.write(validators={v.address: v.to_record() for v in gone}, counters=self.counters)

    def stage_set_size(self, model_id: str, stage: int) -> int:
        """Members of the stage's active set now (from the scheduler's own registry, never the chain)."""
        with self._lock:
            return len(self.sets.snapshot(model_id, stage).stakes)

    def standing(self, address: bytes) -> dict:
        """Whether a validator counts now, in which stage sets, and if not, why."""
        with self._lock:
            v = self.validator(address)
            now = time.time()
            stages = [[m, st] for (m, st), snap in self.sets.current.items() if address in snap]
            why = "" if stages else next(
                (self.sets.why_inactive(v, m, st, now) for m, st in v.holds), "") or \
                (f"attestation: {v.attestation_error}" if not v.attestation_valid else "holds no model stage")
            return {"active": bool(stages), "active_in": stages, "status": why}

    def active_validators(self) -> int:
        """How many validators count in at least one stage's active set."""
        with self._lock:
            return len(self.sets.members())

    def stage_set(self, model_id: str, stage: int) -> StageSet:
        with self._lock:
            return self.sets.snapshot(model_id, stage)

    def _maybe_remove(self, v: Validator) -> None:
        """A validator slashed below the minimum stake leaves the sets (at the next refresh) until it tops up."""
        if v.stake >= MIN_STAKE:
            return
        v.attestation_valid, v.lapsed = False, True
        v.attestation_error = (f"stake slashed to {v.stake} wei, below the minimum of {MIN_STAKE} wei: top it up "
                               f"(synergy_registerValidator with a higher total stake), then attest again")
