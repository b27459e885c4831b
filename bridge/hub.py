"""The node's bridge hub: where attestations meet, and where a transfer's status lives.

Validators watch the source chains themselves (bridge/attester.py) and submit
their signatures here; relayers (bridge/relayer.py) take messages that reached
quorum and deliver them. The hub decides nothing a destination relies on:
every destination verifies the quorum itself. What the hub adds is one place
to see a transfer (initiated → attested → delivered, or failed with a reason)
and a durable queue, so a relayer or validator that dies loses nothing.

State lives in the node's store (index meta, written on the chain thread):
    bridge/msg/<digest>       one record per message (fields in `_new_record`)
    bridge/attester/<keyhash> an attester's foreign keys, bound by its PQC signature
    bridge/open               digests not yet delivered
    bridge/delivered_count    for synergy_getClusterAIStats' cross_chain_transfers

Lock order: the hub has one lock (`_lock`), taken only around in-memory reads
and never while waiting on the chain thread or a network call.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any

from eth_hash.auto import keccak
from eth_keys import keys as eth_keys

from interop import guardians
from interop.config import EVM_ADDRESS, Lane
from bridge.evm import ChainError, EvmClient
from bridge.status import DELIVERABLE, TransferStatus
from interop.message import Kind, Message, MessageError, decode
from interop.verify import tally
from pqc import bundle
from pqc.errors import FormatError
from pqc.keys import PublicKeys
from pqc.quorum import QuorumCertificate

log = logging.getLogger("aivm.bridge")
ATTESTER_DOMAIN = b"AIVM-bridge/attester/v1"
ENDORSE_DOMAIN = b"AIVM-bridge/endorse/v1"
SYNC_INTERVAL = 0.5  # seconds between looks at the validator registry (guardian_source = "validators")
RECHECK_INTERVAL = 5.0  # seconds between on-chain comparisons when the registry did not change
STATUSES = tuple(s.value for s in TransferStatus)


class BridgeError(Exception):
    """A request the hub refuses; the text is for the caller."""


def attester_binding(chain_id: int, key_hash: bytes, evm_address: str, ed25519: bytes) -> bytes:
    """What an attester's PQC keys sign to bind its secp256k1 and ed25519 keys to itself."""
    return keccak(ATTESTER_DOMAIN + chain_id.to_bytes(32, "big") + key_hash
                  + bytes.fromhex(evm_address[2:]) + ed25519)


def endorsement_message(chain_id: int, validator: bytes, bridge_key_hash: bytes) -> bytes:
    """What a registered validator's keys sign to let another signing bundle (e.g. an Enhanced
    one: validators register at Basic) vote with its stake in the guardian set."""
    return keccak(ENDORSE_DOMAIN + chain_id.to_bytes(32, "big") + validator + bridge_key_hash)


class BridgeHub:
    def __init__(self, node: Any, lanes: dict[str, Lane], guardian_source: str = "validators") -> None:
        if guardian_source not in guardians.SOURCES:
            raise ValueError(f"guardian_source must be one of {', '.join(guardians.SOURCES)}")
        self.node = node
        self.lanes = lanes
        self.guardian_source = guardian_source
        self._last_desired: list | None = None
        self._last_check = 0.0
        self.sync_task = None
        self.chain_id = node.chain.config.chain_id
        self._lock = threading.Lock()
        self.unreachable: dict[str, str] = {}

    # -- lanes --
    def lane_by_id(self, chain_id: int) -> Lane | None:
        return next((l for l in self.lanes.values() if l.chain_id == chain_id), None)

    def lane(self, name: str) -> Lane:
        if name in self.lanes:
            return self.lanes[name]
        supported = self.node.config.interoperability.supported_chains if getattr(self.node, "config", None) else []
        if name in supported:
            raise BridgeError(f"chain {name!r} is supported but not connected: add "
                              f"[interoperability.chains.{name}] to the config")
        raise BridgeError(f"unknown chain {name!r}; connected: {', '.join(sorted(self.lanes)) or 'none'}")

    def own_lane(self) -> Lane | None:
        return self.lane_by_id(self.chain_id)

    def client(self, lane: Lane) -> EvmClient:
        return EvmClient(lane.rpc_url)

    def check_lanes(self) -> list[str]:
        """Start-up check: problems that must stop the node (each names its key). Unreachable
        lanes are only noted: a foreign chain may start after us."""
        problems = []
        for lane in self.lanes.values():
            key = f"[interoperability.chains.{lane.name}]"
            if lane.chain_id == self.chain_id:
                if lane.kind != "aivm":
                    problems.append(f"{key} kind: chain id {lane.chain_id} is this node's own chain, kind must be \"aivm\"")
                continue
            if lane.kind == "solana":
                from bridge.solana.client import SolanaClient

                try:
                    exists = SolanaClient(lane.rpc_url, timeout=3).account_data(lane.bridge_address) is not None
                except ChainError as exc:
                    self.unreachable[lane.name] = str(exc)
                    log.warning("bridge lane %s unreachable at start-up: %s", lane.name, exc)
                    continue
                if not exists:
                    problems.append(f"{key} bridge_address: no multisig account {lane.bridge_address} on {lane.name}")
                continue
            try:
                got = EvmClient(lane.rpc_url, timeout=3).chain_id()
            except ChainError as exc:
                self.unreachable[lane.name] = str(exc)
                log.warning("bridge lane %s unreachable at start-up: %s", lane.name, exc)
                continue
            if got != lane.chain_id:
                problems.append(f"{key} chain_id: configured {lane.chain_id}, but {lane.rpc_url} is chain {got}")
                continue
            if not EvmClient(lane.rpc_url, timeout=3).code(lane.bridge_address):
                problems.append(f"{key} bridge_address: no contract at {lane.bridge_address} on {lane.name}")
        return problems

    # -- chain-thread state --
    def _read(self, name: str, default=None):
        return self.node.chain.index.meta(name, default)

    def _write(self, items: dict[str, Any]) -> None:
        with self.node.chain.store.transaction():
            for k, v in items.items():
                self.node.chain.index.set_meta(k, v)

    def storage_read(self, address: bytes, slot: int) -> int:
        return self.node.chain.storage(address, slot)

    # -- attesters --
    def register_attester(self, pqc_keys: bytes, evm_address: str, ed25519: bytes, signature: bytes,
                          endorsement: dict | None = None) -> dict:
        """Chain thread. Bind an attester's foreign keys to its PQC identity.

        The identity must be a current guardian, or (guardian_source = "validators") a bridge
        key `endorsement` binds to a registered validator: {validator: address, signature}, a
        signature by that validator's *registered* keys (looked up in the registry, never taken
        from the caller) over `endorsement_message`. The key then votes with that validator's
        stake from the next guardian set on (one bound key a level a validator)."""
        try:
            keys = PublicKeys.decode(pqc_keys)
        except FormatError as exc:
            raise BridgeError(f"bad key bundle: {exc.reason}") from None
        h = keys.key_hash
        if len(ed25519) != 32:
            raise BridgeError("ed25519 public key must be 32 bytes")
        if not EVM_ADDRESS.match(evm_address):
            raise BridgeError("evm_address must be 0x and 40 hex digits")
        ok, reason = bundle.check(signature, keys, attester_binding(self.chain_id, h, evm_address, ed25519))
        if not ok:
            raise BridgeError(f"binding signature refused: {reason}")
        validator = self._endorsing_validator(keys, endorsement) if endorsement is not None else None
        current = guardians.current_index(self.storage_read)
        if validator is None:
            if current is None:
                raise BridgeError("no guardian set is installed on this chain")
            if guardians.weight(self.storage_read, current, h) <= 0:
                raise BridgeError(f"{h.hex()} is not in the current guardian set {current}")
        record = {"evm_address": evm_address, "ed25519": ed25519.hex(), "level": keys.level.title,
                  "registered": int(time.time()),
                  # so anyone can re-check the binding (attesters do before signing a rotation)
                  "pqc_keys": pqc_keys.hex(), "binding": signature.hex()}
        if validator is not None:
            record["validator"] = validator.hex()
        else:  # a guardian registering its own key: remember whose it is, if the registry knows
            v = self._registry_validator_of(h)
            if v is not None:
                record["validator"] = v.hex()
        self._write({f"bridge/attester/{h.hex()}": record})
        return {"key_hash": "0x" + h.hex(), **record}

    def _registry(self):
        ai = getattr(self.node, "ai", None)
        return getattr(ai, "scheduler", None)

    def _registry_validator_of(self, key_hash: bytes) -> bytes | None:
        sched = self._registry()
        if sched is None:
            return None
        v = sched.validators.get(key_hash[12:])
        return v.address if v is not None and v.keys.key_hash == key_hash else None

    def _endorsing_validator(self, keys: PublicKeys, endorsement: dict) -> bytes:
        if self.guardian_source != "validators":
            raise BridgeError("endorsements bind bridge keys to registry validators: this node's guardian sets "
                              "are installed by governance ([interoperability] guardian_source)")
        sched = self._registry()
        if sched is None:
            raise BridgeError("the validator registry is not running on this node ([aivm] enabled)")
        try:
            address = bytes.fromhex(str(endorsement["validator"]).removeprefix("0x"))
            sig = bytes.fromhex(str(endorsement["signature"]).removeprefix("0x"))
        except (KeyError, ValueError, TypeError) as exc:
            raise BridgeError(f"endorsement must be {{validator, signature}} in hex: {exc}") from None
        v = sched.validators.get(address)
        if v is None or len(address) != 20:
            raise BridgeError(f"endorsement: 0x{address.hex()} is not a registered validator")
        ok, reason = bundle.check(sig, v.keys, endorsement_message(self.chain_id, address, keys.key_hash))
        if not ok:
            raise BridgeError(f"endorsement signature is not from validator 0x{address.hex()}'s registered keys: "
                              f"{reason}")
        if v.keys.key_hash == keys.key_hash:
            return address
        bound = self._read(f"bridge/attester/{keys.key_hash.hex()}")
        if bound and bound.get("validator") and bound["validator"] != address.hex():
            raise BridgeError(f"bridge key {keys.key_hash.hex()} is already bound to validator 0x{bound['validator']}")
        return address

    def attesters(self) -> dict[str, dict]:
        return {k.rsplit("/", 1)[1]: v for k, v in self.node.chain.index.meta_items("bridge/attester/")}

    # -- guardian sets (interop/guardians.py) --
    def install_guardians(self, members: list, now: int | None = None) -> int:
        """Chain thread: rotate to `members` (the old set gets its grace); the composition is kept
        in the index for synergy_getBridgeGuardianSet and the EVM rotations."""
        now = int(time.time()) if now is None else now
        members = guardians.as_guardians(members)
        index, writes = guardians.rotation_writes(self.storage_read, members, now)
        for address, slot, value in writes:
            self.node.chain.set_storage(address, slot, value)
        self._write({f"bridge/guardian-set/{index}": {"guardians": [g.to_json() for g in members],
                                                       "installed": now, "source": self.guardian_source}})
        log.info("bridge guardian set %d: %d guardians holding %d (%s)", index, len(members),
                 sum(g.stake for g in members), self.guardian_source)
        return index

    def desired_guardians(self) -> list | None:
        """Any thread. The guardian set the validator registry implies now (None: no registry here)."""
        sched = self._registry()
        ai = getattr(self.node, "ai", None)
        if sched is None or not getattr(ai, "ready", True):
            return None
        stage_sets = list(dict(sched.sets.current).values())  # immutable snapshots; one C-level copy
        registered = {h for s in stage_sets for h in s.key_hashes.values()}
        latest: dict[tuple[bytes, str], tuple[int, bytes]] = {}  # (validator, level) -> newest bound key
        for h, rec in self.attesters().items():
            if rec.get("validator") and bytes.fromhex(h) not in registered:
                key = (bytes.fromhex(rec["validator"]), rec["level"])
                latest[key] = max(latest.get(key, (0, b"")), (int(rec["registered"]), bytes.fromhex(h)))
        extra: dict[bytes, list[bytes]] = {}
        for (validator, _), (_, h) in sorted(latest.items()):
            extra.setdefault(validator, []).append(h)
        return guardians.derive(stage_sets, extra)

    def sync_guardians(self, desired: list, now: int | None = None) -> int | None:
        """Chain thread: make the current guardian set `desired` (retire it when empty)."""
        now = int(time.time()) if now is None else now
        read = self.storage_read
        current = guardians.current_index(read)
        if not desired:
            for address, slot, value in guardians.retire_writes(read, now):
                self.node.chain.set_storage(address, slot, value)
                log.warning("bridge guardian set %s retired: no active validator (valid %d s more)",
                            current, guardians.GRACE_SECONDS)
            return None
        if guardians.matches(read, current, desired):
            return current
        return self.install_guardians(desired, now)

    async def follow_validators(self) -> None:
        """The loop behind guardian_source = "validators": the set follows the registry."""
        import asyncio

        while True:
            await asyncio.sleep(SYNC_INTERVAL)
            try:
                desired = await asyncio.to_thread(self.desired_guardians)  # reads the index: off the loop
                if desired is None:
                    continue
                now = time.monotonic()
                if desired == self._last_desired and now - self._last_check < RECHECK_INTERVAL:
                    continue
                await self.node.run(self.sync_guardians, desired)
                self._last_desired, self._last_check = desired, now
            except asyncio.CancelledError:
                raise
            except RuntimeError as exc:  # the chain thread's executor is shut down: the node is stopping
                if "shutdown" in str(exc):
                    return
                log.exception("bridge guardian sync failed")
            except Exception:  # a transient state: look again next time
                log.exception("bridge guardian sync failed")

    def guardian_set(self, index: int | None = None) -> dict:
        """Chain thread. A guardian set: members, stakes, status, and what a foreign EVM verifier
        needs to mirror it (signers ascending, weights = the same stakes)."""
        from pqc.levels import SecurityLevel

        read = self.storage_read
        current = guardians.current_index(read)
        if current is None:
            raise BridgeError("no guardian set is installed on this chain")
        index = current if index is None else index
        if not 0 <= index <= current:
            raise BridgeError(f"guardian set {index} does not exist (current is {current})")
        comp = self._read(f"bridge/guardian-set/{index}") or {"guardians": [], "source": None, "installed": None}
        attesters = self.attesters()
        members, evm, uncovered, seen = [], [], 0, set()
        for g in comp["guardians"]:
            recs = [attesters[h[2:]] for h in g["key_hashes"] if h[2:] in attesters]
            best = max(recs, key=lambda r: (SecurityLevel.parse(r["level"]), r["registered"]), default=None)
            address = best["evm_address"] if best else None
            members.append({**g, "evm_address": address, "ed25519": best["ed25519"] if best else None,
                            "pqc_keys": best.get("pqc_keys") if best else None,
                            "binding": best.get("binding") if best else None})
            if address is None or address.lower() in seen:
                uncovered += int(g["stake"])
                continue
            seen.add(address.lower())
            evm.append((int(address, 16), address, int(g["stake"])))
        evm.sort()
        total_stake = guardians.total(read, index)
        expiry = read(guardians.BRIDGE_RECEIVE_ADDRESS, guardians.expiry_slot(index))
        return {"index": index, "current": index == current, "source": comp["source"],
                "installed": comp["installed"], "expires_at": expiry or None,
                "status": guardians.set_status(read, index, int(time.time())) or "valid",
                "grace_seconds": guardians.GRACE_SECONDS, "members": guardians.size(read, index),
                "total_stake": str(total_stake),
                "required_stake": {lvl.title: str(lvl.suite.required_stake(total_stake))
                                   for lvl in (SecurityLevel.BASIC, SecurityLevel.ENHANCED)},
                "guardians": members,
                "evm": {"signers": [a for _, a, _ in evm], "weights": [str(w) for _, _, w in evm],
                        "uncovered_stake": str(uncovered)}}

    # -- foreign EVM rotations (bridge/rotation.py) --
    def submit_rotation(self, lane_name: str, rot: dict) -> dict:
        """Chain thread. One attester's signature of a foreign bridge's rotation to the current AIVM
        set's mirror; kept only from a registered attester and only for exactly that mirror."""
        from bridge.rotation import recover

        lane = self.lane(lane_name)
        if lane.kind != "evm":
            raise BridgeError(f"{lane_name} is not an EVM lane: only EVM verifiers are rotated")
        try:
            digest = bytes.fromhex(str(rot["digest"]).removeprefix("0x"))
            index, aivm_set = int(rot["index"]), int(rot["aivm_set"])
            signers = [str(a) for a in rot["signers"]]
            weights = [str(int(w)) for w in rot["weights"]]
            sig = {k: rot["signature"][k] for k in ("r", "s", "v")}
            if len(digest) != 32 or index < 1:
                raise ValueError("digest must be 32 bytes and index >= 1")
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise BridgeError(f"malformed rotation: {exc}") from None
        try:
            who = recover(digest, sig)
        except Exception as exc:  # eth_keys' own errors for out-of-range r, s, v
            raise BridgeError(f"rotation signature does not recover: {exc}") from None
        if who.lower() not in {a["evm_address"].lower() for a in self.attesters().values()}:
            raise BridgeError(f"rotation signed by {who}, which is no registered attester's key")
        view = self.guardian_set()
        if aivm_set != view["index"]:
            raise BridgeError(f"rotation to AIVM guardian set {aivm_set}; the current one is {view['index']}")
        if signers != view["evm"]["signers"] or weights != view["evm"]["weights"]:
            raise BridgeError("rotation is not the current guardian set's EVM mirror (signers and stakes)")
        key = f"bridge/rotation/{lane.name}/{digest.hex()}"
        rec = self._read(key) or {"lane": lane.name, "digest": "0x" + digest.hex(), "index": index,
                                  "aivm_set": aivm_set, "signers": signers, "weights": weights, "signatures": {}}
        rec["signatures"][who] = {"address": who, "r": str(sig["r"]), "s": str(sig["s"]), "v": int(sig["v"])}
        stale = {name: None for name, r in self.node.chain.index.meta_items(f"bridge/rotation/{lane.name}/")
                 if r["aivm_set"] < aivm_set}  # rotations to sets that are no longer current: dropped
        self._write({**stale, key: rec})
        return {"lane": lane.name, "digest": rec["digest"], "signatures": len(rec["signatures"])}

    def rotations(self) -> list[dict]:
        """Chain thread: collected rotations to the current AIVM set, for relayers."""
        current = guardians.current_index(self.storage_read)
        return [{**r, "signatures": list(r["signatures"].values())}
                for _, r in self.node.chain.index.meta_items("bridge/rotation/") if r["aivm_set"] == current]

    # -- messages --
    def _new_record(self, msg: Message, source: Lane, tx: str | None, block: int | None) -> dict:
        dest = self.lane_by_id(msg.dst_chain)
        return {"message": msg.encode().hex(), "status": TransferStatus.INITIATED, "reason": "",
                "source_chain": source.name, "dest_chain": dest.name if dest else str(msg.dst_chain),
                "sequence": msg.sequence, "kind": msg.kind.name.lower(), "amount": str(msg.amount),
                "level": msg.level.title, "source_tx": tx, "source_block": block, "created": time.time(),
                "votes": {}, "delivered_tx": None, "updated": time.time()}

    def record_initiated(self, message: bytes, source: Lane, tx: str | None, block: int | None) -> dict:
        """Chain thread: a message seen on its source chain (by the node or the first attester)."""
        msg = decode(message)
        digest = keccak(message).hex()
        rec = self._read(f"bridge/msg/{digest}")
        if rec is None:
            rec = self._new_record(msg, source, tx, block)
            opened = self._read("bridge/open", [])
            self._write({f"bridge/msg/{digest}": rec, "bridge/open": opened + [digest]})
        return rec

    def submit(self, att: dict) -> dict:
        """Chain thread. One validator's attestation of one message; idempotent."""
        try:
            message = bytes.fromhex(att["message"].removeprefix("0x"))
            msg = decode(message)
            source = self.lane(str(att["source_chain"]))
            pqc_keys = bytes.fromhex(att["pqc_keys"].removeprefix("0x"))
            pqc_sig = bytes.fromhex(att["pqc_signature"].removeprefix("0x"))
            secp = att.get("secp256k1")
            if secp is not None:
                secp = {"r": str(secp["r"]), "s": str(secp["s"]), "v": int(secp["v"])}
                bytes.fromhex(secp["r"][2:]), bytes.fromhex(secp["s"][2:])
            ed = att.get("ed25519")
            if ed is not None and not (isinstance(ed, dict) and isinstance(ed.get("pubkey"), str)
                                       and isinstance(ed.get("signature"), str)):
                raise ValueError("ed25519 must be {pubkey, signature}")
        except (KeyError, ValueError, TypeError, AttributeError, MessageError) as exc:
            raise BridgeError(f"malformed attestation: {exc}") from None
        from bridge.solana.client import lane_word

        if msg.src_chain != source.chain_id or msg.src_bridge != lane_word(source):
            raise BridgeError(f"message does not come from the {source.name} bridge")
        if self.lane_by_id(msg.dst_chain) is None:
            raise BridgeError(f"message is for chain {msg.dst_chain}, which this node does not bridge to")
        digest = keccak(message)
        try:
            keys = PublicKeys.decode(pqc_keys)
        except FormatError as exc:
            raise BridgeError(f"bad key bundle: {exc.reason}") from None
        h = keys.key_hash.hex()
        ok, reason = bundle.check(pqc_sig, keys, digest)
        if not ok:
            raise BridgeError(f"PQC signature refused: {reason}")
        attester = self._read(f"bridge/attester/{h}")
        if attester is None:
            raise BridgeError(f"attester {h} has not registered its foreign keys (synergy_registerBridgeAttester)")
        vote = {"pqc_keys": pqc_keys.hex(), "pqc_signature": pqc_sig.hex(), "level": keys.level.title}
        if secp:
            r, s, v = bytes.fromhex(secp["r"][2:]), bytes.fromhex(secp["s"][2:]), int(secp["v"])
            try:
                who = eth_keys.Signature(vrs=(v - 27, int.from_bytes(r, "big"), int.from_bytes(s, "big"))) \
                    .recover_public_key_from_msg_hash(digest).to_checksum_address()
            except Exception as exc:
                raise BridgeError(f"secp256k1 signature refused: {exc}") from None
            if who.lower() != attester["evm_address"].lower():
                raise BridgeError("secp256k1 signature is not from the attester's registered key")
            vote["secp256k1"] = {"address": who, "r": secp["r"], "s": secp["s"], "v": v}
        if att.get("ed25519"):
            vote["ed25519"] = att["ed25519"]  # verified by the Solana runtime when used
        rec = self.record_initiated(message, source, att.get("tx_hash"), att.get("block_number"))
        if h in rec["votes"]:
            return self._public(digest.hex(), rec)
        rec["votes"][h] = vote
        rec["updated"] = time.time()
        if rec["status"] == TransferStatus.INITIATED and self._quorum(msg, rec).passed:
            rec["status"] = TransferStatus.ATTESTED
        self._write({f"bridge/msg/{digest.hex()}": rec})
        return self._public(digest.hex(), rec)

    def _certificate(self, msg: Message, rec: dict) -> QuorumCertificate:
        """The votes at one level (a certificate has one): the lowest level >= the message's whose
        votes reach the stake threshold, else the message's own level (or the lowest one voted).

        Only a PQC verifier (an AIVM destination) needs the certificate at the message's level.
        For an EVM or Solana destination the PQC votes only show the hub which guardians (holding
        how much stake) attested; that chain checks its own signatures at the message's level, so
        votes at a lower level count there too (validators register Basic keys)."""
        current = guardians.current_index(self.storage_read) or 0
        digest = keccak(msg.encode())
        by_level: dict = {}
        for v in rec["votes"].values():
            k = bytes.fromhex(v["pqc_keys"])
            by_level.setdefault(PublicKeys.decode(k).level, []).append((k, bytes.fromhex(v["pqc_signature"])))
        dest = self.lane_by_id(msg.dst_chain)
        strict = dest is None or dest.kind == "aivm"
        candidates = [QuorumCertificate(digest, lvl, current, 0, tuple(votes))
                      for lvl, votes in sorted(by_level.items(), key=lambda kv: (kv[0] < msg.level, kv[0]))
                      if lvl >= msg.level or not strict]
        if not candidates:
            return QuorumCertificate(digest, msg.level, current, 0, ())
        for cert in candidates:
            if self._tally(cert).passed:
                return cert
        return next((c for c in candidates if c.level == msg.level), candidates[0])

    def _tally(self, cert: QuorumCertificate):
        try:
            return tally(cert, self.storage_read, int(time.time()))
        except Exception as exc:  # no set installed yet, or expired: not attested
            log.debug("tally failed: %s", exc)
            from interop.verify import Tally

            return Tally(0, 0, 1, ())

    def _quorum(self, msg: Message, rec: dict):
        return self._tally(self._certificate(msg, rec))

    def pending(self, dest: str | None = None) -> list[dict]:
        """Chain thread: attested, undelivered messages with what each destination needs."""
        out = []
        for digest in self._read("bridge/open", []):
            rec = self._read(f"bridge/msg/{digest}")
            if rec is None or rec["status"] not in DELIVERABLE:
                continue
            if dest and rec["dest_chain"] != dest:
                continue
            msg = decode(bytes.fromhex(rec["message"]))
            cert = self._certificate(msg, rec)  # the votes at one level
            out.append({**self._public(digest, rec), "message": "0x" + rec["message"], "solana": rec.get("solana"),
                        "certificate": "0x" + cert.encode().hex(),
                        "ecdsa": [v["secp256k1"] for v in rec["votes"].values() if "secp256k1" in v],
                        "ed25519": [v["ed25519"] for v in rec["votes"].values() if "ed25519" in v]})
        return out

    def report(self, digest: str, outcome: str, tx: str | None, reason: str = "") -> dict:
        """A relayer's report. 'delivered' is believed only if the destination says so."""
        digest = digest.removeprefix("0x").lower()
        rec = self.node.chain.index.meta(f"bridge/msg/{digest}")  # read-only: any thread is fine
        if rec is None:
            raise BridgeError(f"unknown transfer 0x{digest}")
        if outcome == TransferStatus.DELIVERED:
            if not self.delivered_on_destination(rec, bytes.fromhex(digest), tx):
                raise BridgeError("the destination bridge has not delivered this message")
        elif outcome != TransferStatus.FAILED:
            raise BridgeError("outcome must be 'delivered' or 'failed'")
        return {"digest": digest, "outcome": outcome, "tx": tx, "reason": reason}

    def apply_report(self, r: dict) -> dict:
        """Chain thread: record a checked report."""
        digest = r["digest"]
        rec = self._read(f"bridge/msg/{digest}")
        if rec["status"] == TransferStatus.DELIVERED:
            return self._public(digest, rec)
        items: dict[str, Any] = {}
        if r["outcome"] == TransferStatus.DELIVERED:
            rec.update(status=TransferStatus.DELIVERED, delivered_tx=r["tx"], reason="")
            items["bridge/open"] = [d for d in self._read("bridge/open", []) if d != digest]
            items["bridge/delivered_count"] = self._read("bridge/delivered_count", 0) + 1
        else:
            rec.update(status=TransferStatus.FAILED, reason=r["reason"][:500])
        rec["updated"] = time.time()
        items[f"bridge/msg/{digest}"] = rec
        self._write(items)
        return self._public(digest, rec)

    def delivered_on_destination(self, rec: dict, digest: bytes, tx: str | None = None) -> bool:
        dest = self.lanes.get(rec["dest_chain"])
        if dest is None:
            return False
        if dest.kind == "solana":
            from bridge.solana.client import receipt_exists

            return receipt_exists(dest, digest, tx)
        if dest.chain_id == self.chain_id:
            from bridge.evm import calldata, returns

            out = self.node.chain.call(sender=b"\0" * 20, to=bytes.fromhex(dest.bridge_address[2:]),
                                       data=calldata("PQCBridge", "delivered", digest))
            return bool(out.success and len(out.output) == 32 and returns("PQCBridge", "delivered", out.output))
        try:
            return bool(self.client(dest).view(dest.bridge_address, "PQCBridge", "delivered", digest))
        except Exception as exc:  # unreachable, or no bridge there (undecodable answer): not delivered
            log.warning("cannot confirm delivery on %s: %s", dest.name, exc)
            return False

    # -- Solana mints: the two-phase signing (bridge/solana/client.py) --
    def request_solana(self, digest: str, message: bytes) -> dict:
        """Chain thread: a relayer's canonical mint transaction for an attested message."""
        digest = digest.removeprefix("0x").lower()
        rec = self._read(f"bridge/msg/{digest}")
        if rec is None or rec["status"] not in DELIVERABLE:
            raise BridgeError("only attested, undelivered messages get Solana signatures")
        if self.lanes.get(rec["dest_chain"]) is None or self.lanes[rec["dest_chain"]].kind != "solana":
            raise BridgeError("this message is not for a Solana lane")
        rec["solana"] = {"message": message.hex(), "signatures": {}, "requested": time.time()}
        self._write({f"bridge/msg/{digest}": rec})
        return {"transfer_id": "0x" + digest, "requested": True}

    def solana_requests(self) -> list[dict]:
        out = []
        for digest in self._read("bridge/open", []):
            rec = self._read(f"bridge/msg/{digest}")
            if rec and rec.get("solana") and rec["status"] != TransferStatus.DELIVERED:
                out.append({"transfer_id": "0x" + digest, "message": "0x" + rec["message"],
                            "dest_chain": rec["dest_chain"], "solana_message": "0x" + rec["solana"]["message"],
                            "signed_by": sorted(rec["solana"]["signatures"])})
        return out

    def submit_solana_signature(self, digest: str, pubkey: str, signature: str) -> dict:
        from solders.pubkey import Pubkey
        from solders.signature import Signature

        digest = digest.removeprefix("0x").lower()
        rec = self._read(f"bridge/msg/{digest}")
        if rec is None or not rec.get("solana"):
            raise BridgeError("no Solana signing request for this transfer")
        known = {bytes.fromhex(a["ed25519"]) for a in self.attesters().values()}
        try:
            pk, sig = Pubkey.from_string(pubkey), Signature.from_string(signature)
        except ValueError as exc:
            raise BridgeError(f"bad ed25519 key or signature: {exc}") from None
        if bytes(pk) not in known:
            raise BridgeError("ed25519 key is not a registered attester's")
        if not sig.verify(pk, bytes.fromhex(rec["solana"]["message"])):
            raise BridgeError("ed25519 signature does not verify over the requested transaction")
        rec["solana"]["signatures"][pubkey] = signature
        self._write({f"bridge/msg/{digest}": rec})
        return {"transfer_id": "0x" + digest, "signatures": len(rec["solana"]["signatures"])}

    def status(self, digest: str) -> dict:
        digest = digest.removeprefix("0x").lower()
        if len(digest) != 64:  # a source transaction (a Solana signature, or an EVM tx hash)
            found = self.by_source_tx(digest)
            if found is None:
                raise BridgeError(f"no transfer is known for source transaction {digest}")
            digest = found
        rec = self._read(f"bridge/msg/{digest}")
        if rec is None:
            raise BridgeError(f"unknown transfer 0x{digest}")
        return self._public(digest, rec)

    def _public(self, digest: str, rec: dict) -> dict:
        msg = decode(bytes.fromhex(rec["message"]))
        q = self._quorum(msg, rec)
        return {"transfer_id": "0x" + digest, "status": rec["status"], "reason": rec["reason"],
                "source_chain": rec["source_chain"], "dest_chain": rec["dest_chain"],
                "kind": rec["kind"], "sequence": rec["sequence"], "amount": rec["amount"],
                "level": rec["level"], "source_tx": rec["source_tx"], "delivered_tx": rec["delivered_tx"],
                "attestations": len(rec["votes"]), "signed_weight": _wei(q.signed),
                "required_weight": _wei(q.required)}

    def by_source_tx(self, tx: str) -> str | None:
        for name, rec in self.node.chain.index.meta_items("bridge/msg/"):
            if rec.get("source_tx") and rec["source_tx"].lower().removeprefix("0x") == tx.lower():
                return name.rsplit("/", 1)[1]
        return None

    def delivered_count(self) -> int:
        return self._read("bridge/delivered_count", 0)


def _wei(amount: int) -> "int | str":
    """Stake as a JSON number while it fits 64 bits, else a decimal string (JSON has no big ints)."""
    return amount if amount < 2**64 else str(amount)


def _word(address: str) -> bytes:
    from interop.message import word

    return word(address)


def message_kind(kind: str) -> Kind:
    try:
        return Kind[kind.upper()]
    except KeyError:
        raise BridgeError(f"unknown message kind {kind!r}") from None


async def start_hub(node: Any, cfg: Any) -> str | None:
    """Attach a hub to `node` when the bridge is enabled; a start-up problem comes back as text."""
    import asyncio

    from interop.config import lanes

    section = cfg.interoperability
    node.bridge = None
    if not section.bridge_enabled:
        return None
    source = getattr(section, "guardian_source", "validators")
    hub = BridgeHub(node, lanes(section), guardian_source=source)
    problems = await asyncio.to_thread(hub.check_lanes)
    if hub.lanes and source == "validators" and not cfg.aivm.enabled:
        problems.append('[interoperability] guardian_source: "validators" derives the guardian set from the '
                        'validator registry, which needs [aivm] enabled = true; set guardian_source = '
                        '"governance" to install guardian sets with synergy_setBridgeGuardians')
    if problems:
        return problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
    node.bridge = hub
    if source == "validators" and hub.lanes:  # a node without lanes keeps no guardian sets
        hub.sync_task = asyncio.get_running_loop().create_task(hub.follow_validators())
    if hub.lanes:
        log.info("bridge lanes: %s (guardian sets: %s)",
                 ", ".join(f"{l.name} (chain {l.chain_id})" for l in hub.lanes.values()), source)
    return None
