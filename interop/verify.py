"""Checking a bridge delivery on AIVM: the same answer in the precompile and off-chain.

A delivery is (message bytes, quorum certificate). It is accepted when
  * the message decodes, is valid and is meant for this chain and this caller
    (the verifier's identity comes from the EVM, never from the input);
  * its level has no ZK requirement we cannot meet (Maximum/Military refused);
  * the certificate signs exactly the message digest, at the message's level or above;
  * the certificate's guardian set is current, or older but inside its grace;
  * the distinct guardians with valid PQC bundles hold at least the level's fraction
    of the set's total stake (Basic 2/3, Enhanced 3/4; duplicates count once).
Replay protection (a digest is delivered once) is the precompile's job: it
owns the storage that records deliveries.
"""
from __future__ import annotations

from dataclasses import dataclass

from interop import guardians
from interop.message import Message, MessageError, decode, word
from pqc.errors import PQCError
from pqc.levels import SecurityLevel
from pqc.quorum import QuorumCertificate, verify as verify_quorum
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
    signed: int      # stake of the distinct guardians with valid votes
    total: int       # stake of the whole set
    required: int    # the least signed stake that passes: ceil(total * num / den)
    rejected: tuple[tuple[int, str], ...]
    signers: int = 0  # distinct guardians counted

    @property
    def passed(self) -> bool:
        return self.signed > 0 and self.signed >= self.required


def required_weight(level: SecurityLevel, total: int) -> int:
    """The least stake that meets the level's fraction of `total` (Basic 2/3, Enhanced 3/4, exact integers)."""
    return max(level.suite.required_stake(total), 1)


def refuse_zk(level: SecurityLevel) -> None:
    if level in ZK_LEVELS:
        raise DeliveryRefused(ZK_REFUSAL.format(level=level.title))


def tally(cert: QuorumCertificate, read: Read, now: int) -> Tally:
    """Weigh the certificate's votes by stake in guardian set `cert.set_id` (an index).

    The set is epoch `index + 1` of the registry's guardian set, so this is exactly the
    consensus precompile's stake-weighted rule (pqc/quorum.py): distinct members with valid
    bundles at the certificate's level, each counted once with its recorded stake."""
    status = guardians.set_status(read, cert.set_id, now)
    if status:
        raise DeliveryRefused(status)
    inner = QuorumCertificate(cert.message_hash, cert.level, guardians.GUARDIANS_SET_ID, 0, cert.votes,
                              guardians.epoch_of(cert.set_id))
    r = verify_quorum(inner, read)
    return Tally(r.signed_stake, r.total_stake, required_weight(cert.level, r.total_stake), r.rejected, r.signers)


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
