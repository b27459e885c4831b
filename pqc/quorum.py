"""Quorum certificates: enough registered validators signed one message hash.

A certificate carries, for each vote, the validator's signing-key bundle and
its signature bundle over the message hash at the certificate's level. It
passes when the number of *distinct registered* validators with a valid bundle
reaches max(threshold, the level's quorum of the set size, 1). Bad votes do not
spoil a certificate; they just do not count, and `QuorumResult.rejected` says why.

The certificate's one binary form is its precompile input (canonical ABI):
    abi.encode(bytes32 messageHash, uint8 level, uint256 setId, uint256 threshold,
               bytes[] keyBundles, bytes[] signatureBundles)
"""
from __future__ import annotations

from dataclasses import dataclass

from eth_abi import encode as abi_encode

from pqc import abi, bundle
from pqc.errors import FormatError
from pqc.keys import KeySet, PublicKeys, Role
from pqc.levels import SecurityLevel
from pqc.validators import CONSENSUS_ADDRESS, Read, is_registered, set_size

ABI_TYPES = ("bytes32", "uint8", "uint256", "uint256", "bytes[]", "bytes[]")
MAX_VOTES = 1024


@dataclass(frozen=True)
class QuorumCertificate:
    message_hash: bytes
    level: SecurityLevel
    set_id: int
    threshold: int
    votes: tuple[tuple[bytes, bytes], ...]  # (key bundle, signature bundle)

    def encode(self) -> bytes:
        return abi_encode(list(ABI_TYPES), [
            self.message_hash, int(self.level), self.set_id, self.threshold,
            [k for k, _ in self.votes], [s for _, s in self.votes],
        ])

    @classmethod
    def decode(cls, data: bytes) -> "QuorumCertificate":
        message_hash, level, set_id, threshold, keys, sigs = abi.decode(ABI_TYPES, data)
        if len(keys) != len(sigs):
            raise FormatError(f"certificate has {len(keys)} key bundles but {len(sigs)} signatures")
        if len(keys) > MAX_VOTES:
            raise FormatError(f"certificate has {len(keys)} votes, at most {MAX_VOTES} allowed")
        return cls(message_hash, SecurityLevel.parse(level), set_id, threshold,
                   tuple(zip(keys, sigs)))

    @classmethod
    def build(cls, message_hash: bytes, level: "SecurityLevel | int | str", signers: list[KeySet],
              *, set_id: int = 0, threshold: int = 0) -> "QuorumCertificate":
        """Collect a vote from each key set (all must be at `level`)."""
        return cls(message_hash, SecurityLevel.parse(level), set_id, threshold,
                   tuple(vote(keys, message_hash) for keys in signers))


def vote(keys: KeySet, message_hash: bytes) -> tuple[bytes, bytes]:
    """A validator's vote: its key bundle and its signature bundle over `message_hash`."""
    if len(message_hash) != 32:
        raise FormatError("a vote signs a 32-byte message hash")
    return keys.signing_keys().encode(), bundle.sign(keys, message_hash).encode()


@dataclass(frozen=True)
class QuorumResult:
    passed: bool
    signers: int          # distinct registered validators whose bundle verified
    required: int
    set_size: int
    rejected: tuple[tuple[int, str], ...]  # (vote index, reason)

    def abi_output(self) -> bytes:
        """abi.encode(bool passed, uint256 signers, uint256 required)."""
        return (int(self.passed).to_bytes(32, "big") + self.signers.to_bytes(32, "big")
                + self.required.to_bytes(32, "big"))


def verify(cert: "QuorumCertificate | bytes", read: Read, *,
           address: bytes = CONSENSUS_ADDRESS) -> QuorumResult:
    """Count distinct registered validators with valid votes; the same answer on- and off-chain."""
    if not isinstance(cert, QuorumCertificate):
        cert = QuorumCertificate.decode(cert)
    size = set_size(read, cert.set_id, address=address)
    required = max(cert.threshold, cert.level.suite.required_signers(size), 1)
    counted: set[bytes] = set()
    rejected: list[tuple[int, str]] = []
    for i, (key_bytes, sig_bytes) in enumerate(cert.votes):
        reason = _check_vote(cert, key_bytes, sig_bytes, counted, read, address)
        if reason:
            rejected.append((i, reason))
    return QuorumResult(len(counted) >= required, len(counted), required, size, tuple(rejected))


def _check_vote(cert, key_bytes, sig_bytes, counted, read, address) -> str:
    """'' if the vote counts (and records it in `counted`), else why not."""
    try:
        keys = PublicKeys.decode(key_bytes)
    except FormatError as exc:
        return exc.reason
    if keys.role is not Role.SIGNING or keys.level != cert.level:
        return f"key bundle is {keys.level.title} {keys.role.name.lower()}, " \
               f"certificate needs {cert.level.title} signing keys"
    h = keys.key_hash
    if h in counted:
        return f"duplicate vote from validator {h.hex()}"
    if not is_registered(read, cert.set_id, h, address=address):
        return f"validator {h.hex()} is not registered in set {cert.set_id}"
    ok, reason = bundle.check(sig_bytes, keys, cert.message_hash, cert.level)
    if not ok:
        return reason
    counted.add(h)
    return ""
