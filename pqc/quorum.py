"""Quorum certificates: enough registered validators signed one message hash.

A certificate carries, for each vote, the validator's signing-key bundle and
its signature bundle over the message hash at the certificate's level. Two rules,
chosen by the set (pqc/validators.py), never by the certificate:

- head-count set (epoch slot 0): passes when the number of *distinct registered*
  validators with a valid bundle reaches max(threshold, the level's quorum of
  the set size, 1);
- stake-weighted set (the AI stage sets): the certificate names the epoch it
  was decided under, and passes when the distinct members of that epoch with a
  valid bundle hold at least the level's fraction of the epoch's active stake
  (exact integers: signed * den >= total * num; Basic 2/3, Enhanced 3/4,
  Maximum 4/5, Military 9/10) and number at least max(threshold, 1).

Bad votes do not spoil a certificate; they just do not count, and
`QuorumResult.rejected` says why.

The certificate's one binary form is its precompile input (canonical ABI):
    abi.encode(bytes32 messageHash, uint8 level, uint256 setId, uint256 threshold,
               bytes[] keyBundles, bytes[] signatureBundles, uint256 epoch)
The six-field form without `epoch` (head-count sets only) is still accepted.
"""
from __future__ import annotations

from dataclasses import dataclass

from eth_abi import encode as abi_encode

from pqc import abi, bundle
from pqc.errors import FormatError
from pqc.keys import KeySet, PublicKeys, Role
from pqc.levels import SecurityLevel
from pqc.validators import (CONSENSUS_ADDRESS, Read, count_at, is_registered, latest_epoch, set_size, stake_at,
                            total_at)

ABI_TYPES = ("bytes32", "uint8", "uint256", "uint256", "bytes[]", "bytes[]", "uint256")
LEGACY_ABI_TYPES = ABI_TYPES[:6]
MAX_VOTES = 1024


@dataclass(frozen=True)
class QuorumCertificate:
    message_hash: bytes
    level: SecurityLevel
    set_id: int
    threshold: int
    votes: tuple[tuple[bytes, bytes], ...]  # (key bundle, signature bundle)
    epoch: int = 0  # the stake-weighted set's epoch it was decided under (0: a head-count set)

    def encode(self) -> bytes:
        return abi_encode(list(ABI_TYPES), [
            self.message_hash, int(self.level), self.set_id, self.threshold,
            [k for k, _ in self.votes], [s for _, s in self.votes], self.epoch,
        ])

    @classmethod
    def decode(cls, data: bytes) -> "QuorumCertificate":
        data = bytes(data)
        legacy = len(data) >= 160 and int.from_bytes(data[128:160], "big") == 32 * len(LEGACY_ABI_TYPES)
        if legacy:
            (message_hash, level, set_id, threshold, keys, sigs), epoch = abi.decode(LEGACY_ABI_TYPES, data), 0
        else:
            message_hash, level, set_id, threshold, keys, sigs, epoch = abi.decode(ABI_TYPES, data)
        if len(keys) != len(sigs):
            raise FormatError(f"certificate has {len(keys)} key bundles but {len(sigs)} signatures")
        if len(keys) > MAX_VOTES:
            raise FormatError(f"certificate has {len(keys)} votes, at most {MAX_VOTES} allowed")
        return cls(message_hash, SecurityLevel.parse(level), set_id, threshold,
                   tuple(zip(keys, sigs)), epoch)

    @classmethod
    def build(cls, message_hash: bytes, level: "SecurityLevel | int | str", signers: list[KeySet],
              *, set_id: int = 0, threshold: int = 0, epoch: int = 0) -> "QuorumCertificate":
        """Collect a vote from each key set (all must be at `level`)."""
        return cls(message_hash, SecurityLevel.parse(level), set_id, threshold,
                   tuple(vote(keys, message_hash) for keys in signers), epoch)


def vote(keys: KeySet, message_hash: bytes) -> tuple[bytes, bytes]:
    """A validator's vote: its key bundle and its signature bundle over `message_hash`."""
    if len(message_hash) != 32:
        raise FormatError("a vote signs a 32-byte message hash")
    return keys.signing_keys().encode(), bundle.sign(keys, message_hash).encode()


@dataclass(frozen=True)
class QuorumResult:
    passed: bool
    signers: int          # distinct registered validators whose bundle verified
    required: int         # signers needed (head-count), or the least signer count (stake-weighted)
    set_size: int
    rejected: tuple[tuple[int, str], ...]  # (vote index, reason)
    signed_stake: int = 0    # stake-weighted sets: wei held by the counted signers
    total_stake: int = 0     # ... the epoch's active stake
    required_stake: int = 0  # ... the least signed stake that passes
    epoch: int = 0
    reason: str = ""         # why the certificate as a whole cannot pass ("" when it is judged vote by vote)

    def abi_output(self) -> bytes:
        """abi.encode(bool passed, uint256 signers, uint256 required,
                      uint256 signedStake, uint256 totalStake, uint256 epoch)."""
        words = (int(self.passed), self.signers, self.required, self.signed_stake, self.total_stake, self.epoch)
        return b"".join(w.to_bytes(32, "big") for w in words)


def verify(cert: "QuorumCertificate | bytes", read: Read, *,
           address: bytes = CONSENSUS_ADDRESS) -> QuorumResult:
    """Judge the votes by the set's own rule; the same answer on- and off-chain."""
    if not isinstance(cert, QuorumCertificate):
        cert = QuorumCertificate.decode(cert)
    latest = latest_epoch(read, cert.set_id, address=address)
    if latest or cert.epoch:
        return _verify_weighted(cert, read, address, latest)
    size = set_size(read, cert.set_id, address=address)
    required = max(cert.threshold, cert.level.suite.required_signers(size), 1)
    counted: dict[bytes, int] = {}
    rejected: list[tuple[int, str]] = []
    for i, (key_bytes, sig_bytes) in enumerate(cert.votes):
        reason = _check_vote(cert, key_bytes, sig_bytes, counted,
                             lambda h: int(is_registered(read, cert.set_id, h, address=address)),
                             f"is not registered in set {cert.set_id}")
        if reason:
            rejected.append((i, reason))
    return QuorumResult(len(counted) >= required, len(counted), required, size, tuple(rejected))


def _verify_weighted(cert: QuorumCertificate, read: Read, address: bytes, latest: int) -> QuorumResult:
    suite = cert.level.suite
    required = max(cert.threshold, 1)
    if cert.epoch == 0 or cert.epoch > latest:
        why = (f"set {cert.set_id} is stake-weighted: the certificate must name one of its epochs (1..{latest})"
               if latest else f"set {cert.set_id} has no stake-weighted epoch {cert.epoch}")
        return QuorumResult(False, 0, required, 0, (), 0, 0, 0, cert.epoch, why)
    total = total_at(read, cert.set_id, cert.epoch, address=address)
    size = count_at(read, cert.set_id, cert.epoch, address=address)
    counted: dict[bytes, int] = {}
    rejected: list[tuple[int, str]] = []
    for i, (key_bytes, sig_bytes) in enumerate(cert.votes):
        reason = _check_vote(cert, key_bytes, sig_bytes, counted,
                             lambda h: stake_at(read, cert.set_id, cert.epoch, h, address=address),
                             f"holds no stake in set {cert.set_id} at epoch {cert.epoch}")
        if reason:
            rejected.append((i, reason))
    signed = sum(counted.values())
    passed = suite.stake_met(signed, total) and len(counted) >= required
    return QuorumResult(passed, len(counted), required, size, tuple(rejected), signed, total,
                        suite.required_stake(total), cert.epoch)


def _check_vote(cert, key_bytes, sig_bytes, counted, weight_of, not_member) -> str:
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
    weight = weight_of(h)
    if not weight:
        return f"validator {h.hex()} {not_member}"
    ok, reason = bundle.check(sig_bytes, keys, cert.message_hash, cert.level)
    if not ok:
        return reason
    counted[h] = weight
    return ""
