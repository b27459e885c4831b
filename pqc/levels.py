"""The four security levels of the guide, each a fixed suite of algorithms.

A level names exact parameter sets (not just families) so that a bundle at a
level has one canonical shape: the same algorithms, in the same order.
Head-count quorums are in basis points of the validator-set size; stake-weighted
quorums (the AI stage sets) use an exact fraction of the active stake,
`stake_threshold` = (numerator, denominator), compared in integers as Avalanche
Warp does: signed * den >= total * num. Basic is exactly two thirds (the
guide's "67%"), so stalling a stake-weighted round takes more than one third.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from pqc import algorithms as alg
from pqc.errors import FormatError


class SecurityLevel(IntEnum):
    BASIC = 1
    ENHANCED = 2
    MAXIMUM = 3
    MILITARY = 4

    @property
    def title(self) -> str:
        """The guide's spelling: "Basic", "Enhanced", "Maximum", "Military"."""
        return self.name.capitalize()

    @property
    def suite(self) -> "Suite":
        return SUITES[self]

    @classmethod
    def parse(cls, value: "int | str | SecurityLevel") -> "SecurityLevel":
        """Accept 1-4, "Basic", "military", ... ; FormatError otherwise."""
        if isinstance(value, cls):
            return value
        if isinstance(value, int):
            try:
                return cls(value)
            except ValueError:
                raise FormatError(f"unknown security level {value} (expected 1-4)") from None
        try:
            return cls[str(value).strip().upper()]
        except KeyError:
            names = ", ".join(level.title for level in cls)
            raise FormatError(f"unknown security level {value!r} (expected one of {names})") from None


@dataclass(frozen=True)
class Suite:
    """What a level requires: signature ids in bundle order, KEM ids, AEAD layers (inner first)."""

    signatures: tuple[int, ...]
    kems: tuple[int, ...]
    aead: tuple[str, ...]
    quorum_bps: int
    stake_threshold: tuple[int, int] = (2, 3)  # (numerator, denominator) of the active stake

    def required_signers(self, set_size: int) -> int:
        """ceil(set_size * quorum): 7 validators at 67% need 5."""
        return -(-set_size * self.quorum_bps // 10_000)

    def stake_met(self, signed: int, total: int) -> bool:
        """Exact integer test: `signed` wei is at least the threshold share of `total` wei (> 0)."""
        num, den = self.stake_threshold
        return total > 0 and signed * den >= total * num

    def required_stake(self, total: int) -> int:
        """The least signed stake that meets the threshold: ceil(total * num / den)."""
        num, den = self.stake_threshold
        return -(-total * num // den)


_MLDSA65, _MLDSA87 = alg.signature("ML-DSA-65").id, alg.signature("ML-DSA-87").id
_FALCON1024 = alg.signature("Falcon-1024").id
_SLH_256F, _SLH_256S = alg.signature("SLH-DSA-SHA2-256f").id, alg.signature("SLH-DSA-SHA2-256s").id
_MLKEM768, _MLKEM1024 = alg.kem("ML-KEM-768").id, alg.kem("ML-KEM-1024").id
_MCELIECE = alg.kem("Classic-McEliece-6688128").id
_SECP = alg.SECP256K1.id

SUITES: dict[SecurityLevel, Suite] = {
    SecurityLevel.BASIC: Suite((_MLDSA65,), (), (), 6_700, (2, 3)),
    SecurityLevel.ENHANCED: Suite((_MLDSA65, _SECP), (_MLKEM768,), ("AES-256-GCM",), 7_500, (3, 4)),
    SecurityLevel.MAXIMUM: Suite(
        (_FALCON1024, _MLDSA87, _SLH_256F), (_MLKEM1024,), ("ChaCha20-Poly1305",), 8_000, (4, 5)
    ),
    SecurityLevel.MILITARY: Suite(
        (_FALCON1024, _MLDSA87, _SLH_256S, _SECP),
        (_MLKEM1024, _MCELIECE),
        ("AES-256-GCM", "ChaCha20-Poly1305"),
        9_000,
        (9, 10),
    ),
}
