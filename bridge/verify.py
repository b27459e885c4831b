"""Checking a bridge delivery on AIVM: the same answer in the precompile and off-chain.

A delivery is (message bytes, quorum certificate). It is accepted when
  * the message decodes, is valid and is meant for this chain and this caller
    (the verifier's identity comes from the EVM, never from the input);
  * its level has no ZK requirement we cannot meet (Maximum/Military refused);
  * the certificate signs exactly the message digest, at the message's level or above;
  * the certificate's guardian set is current, or older but inside its grace;
  * the distinct registered guardians with valid PQC bundles weigh at least the
    level's quorum of the set's total weight (duplicates count once).
Replay protection (a digest is delivered once) is the precompile's job: it
owns the storage that records deliveries.
"""
from __future__ import annotations

from dataclasses import dataclass

from bridge import guardians
from bridge.message import Message, MessageError, decode, word
from pqc import bundle
from pqc.errors import FormatError, PQCError
from pqc.keys import PublicKeys, Role
from pqc.levels import SecurityLevel
from pqc.quorum import QuorumCertificate
from pqc.validators import Read

ZK_LEVELS = (SecurityLevel.MAXIMUM, SecurityLevel.MILITARY)
ZK_REFUSAL = ("{level} requires a zero-knowledge proof of the transfer and this bridge offers "
              "no ZK proof system: use Basic or Enhanced")


class DeliveryRefused(Exception):
    """Why a delivery is not accepted (becomes the precompile's revert reason)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Tally:
    signed: int      # weight of distinct registered guardians with valid votes
    total: int       # weight of the whole set
    required: int    # the smallest signed weight that passes
    rejected: tuple[tuple[int, str], ...]

    @property
    def passed(self) -> bool:
        return self.signed > 0 and self.signed >= self.required


def required_weight(level: SecurityLevel, total: int) -> int:
    """ceil(total * quorum): 3 guardians at 67% need 3, 4 need 3, at 75% 4 need 3."""
    return -(-total * level.suite.quorum_bps // 10_000)


def refuse_zk(level: SecurityLevel) -> None:
    if level in ZK_LEVELS:
        raise DeliveryRefused(ZK_REFUSAL.format(level=level.title))


def tally(cert: QuorumCertificate, read: Read, now: int) -> Tally:
    """Weigh the certificate's votes against guardian set `cert.set_id` (an index)."""
    status = guardians.set_status(read, cert.set_id, now)
    if status:
        raise DeliveryRefused(status)
    sid = guardians.guardian_set_id(cert.set_id)
    rule = guardians.STAKE_RULE
    total = rule.total(read, sid)
    counted: set[bytes] = set()
    signed = 0
    rejected: list[tuple[int, str]] = []
    for i, (key_bytes, sig_bytes) in enumerate(cert.votes):
        try:
            keys = PublicKeys.decode(key_bytes)
        except FormatError as exc:
            rejected.append((i, exc.reason))
            continue
        if keys.role is not Role.SIGNING or keys.level != cert.level:
            rejected.append((i, f"vote {i} is not a {cert.level.title} signing key"))
            continue
        h = keys.key_hash
        if h in counted:
            rejected.append((i, f"duplicate vote from guardian {h.hex()}"))
            continue
        weight = rule.weight(read, sid, h)
        if weight <= 0:
            rejected.append((i, f"{h.hex()} is not in guardian set {cert.set_id}"))
            continue
        ok, reason = bundle.check(sig_bytes, keys, cert.message_hash, cert.level)
        if not ok:
            rejected.append((i, reason))
            continue
        counted.add(h)
        signed += weight
    return Tally(signed, total, max(required_weight(cert.level, total), 1), tuple(rejected))


def check_delivery(message: bytes, certificate: bytes, *, chain_id: int, caller: bytes,
                   read: Read, now: int) -> tuple[Message, Tally]:
    """Everything but replay; DeliveryRefused says what failed."""
    from eth_hash.auto import keccak

    try:
        msg = decode(message)
    except MessageError as exc:
        raise DeliveryRefused(str(exc)) from None
    if msg.dst_chain != chain_id:
        raise DeliveryRefused(f"message is for chain {msg.dst_chain}, this is chain {chain_id}")
    if msg.dst_bridge != word(caller):
        raise DeliveryRefused(f"message is for bridge 0x{msg.dst_bridge[12:].hex()}, "
                              f"delivered by 0x{caller.hex()}")
    refuse_zk(msg.level)
    try:
        cert = QuorumCertificate.decode(certificate)
    except PQCError as exc:
        raise DeliveryRefused(f"bad certificate: {exc.reason}") from None
    if cert.message_hash != keccak(message):
        raise DeliveryRefused("certificate signs another message (digest/body mismatch)")
    if cert.level < msg.level:  # a stronger level satisfies a weaker request (and its larger quorum applies)
        raise DeliveryRefused(f"certificate is {cert.level.title}, the message asks for {msg.level.title}")
    result = tally(cert, read, now)
    if not result.passed:
        raise DeliveryRefused(f"quorum not reached: signed weight {result.signed} of {result.total}, "
                              f"{cert.level.title} needs {result.required}")
    return msg, result
