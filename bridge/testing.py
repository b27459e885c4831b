"""Dev guardians: forge a quorum with known keys to test your own bridge contracts.

As Wormhole's test guardians: fixed secp256k1 / ed25519 keys from a seed, so
a test (or the devnet) can sign any message at any level, with any subset,
and check what its contracts do. PQC keys cannot be derived from a seed with
our PQC library, so they are generated once per process and cached.

    g = DevGuardians(3)
    rs, ss, vs = g.ecdsa(digest)              # all three, ascending
    cert = g.certificate(digest, "Enhanced")  # PQC quorum certificate (set index 0)
"""
from __future__ import annotations

import functools

from bridge.keys import AttesterKeys, ecdsa_quorum
from pqc.keys import KeySet
from pqc.levels import SecurityLevel
from pqc.quorum import QuorumCertificate

DEV_SEED = b"aivm devnet guardian "


@functools.lru_cache(maxsize=None)
def _pqc_keys(level: SecurityLevel, i: int) -> KeySet:
    return KeySet.generate(level, with_kem=False)


class DevGuardians:
    def __init__(self, n: int, *, seed: bytes = DEV_SEED, level: "SecurityLevel | str" = "Enhanced") -> None:
        self.level = SecurityLevel.parse(level)
        self.seed = seed
        self.members = [AttesterKeys.derive(seed + str(i).encode()) for i in range(n)]

    def __len__(self) -> int:
        return len(self.members)

    def addresses(self) -> list[str]:
        """EVM addresses, strictly ascending (the order verifier contracts require)."""
        return sorted((m.evm_address for m in self.members), key=lambda a: int(a, 16))

    def ordered(self) -> list[AttesterKeys]:
        return sorted(self.members, key=lambda m: int(m.evm_address, 16))

    def ecdsa(self, digest: bytes, which: list[int] | None = None):
        """(rs, ss, vs) from the guardians at positions `which` of `ordered()` (default: all),
        in exactly that order (so a test can send duplicates or a wrong order)."""
        chosen = self.ordered() if which is None else [self.ordered()[i] for i in which]
        return ecdsa_quorum(chosen, digest, sort=False)

    def pqc(self, i: int, level: "SecurityLevel | str | None" = None) -> KeySet:
        return _pqc_keys(SecurityLevel.parse(level or self.level), i + hash(self.seed) % 1000 * 1000)

    def pqc_members(self, level=None) -> list[KeySet]:
        return [self.pqc(i, level) for i in range(len(self.members))]

    def certificate(self, digest: bytes, level=None, *, set_index: int = 0,
                    which: list[int] | None = None) -> bytes:
        level = SecurityLevel.parse(level or self.level)
        chosen = range(len(self.members)) if which is None else which
        return QuorumCertificate.build(digest, level, [self.pqc(i, level) for i in chosen],
                                       set_id=set_index).encode()

    def ed25519(self):
        return [m.ed25519 for m in self.members]
