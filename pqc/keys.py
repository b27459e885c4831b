"""Key sets (what a validator holds) and public-key bundles (what others see).

A validator has one key set per security level: a signing key for every
signature algorithm the level names and a KEM key for every KEM. The public
halves travel as canonical *key bundles*; `key_hash` (keccak of the bundle)
is the validator's identity on chain.

Key bundle bytes: "PK" | version 1 | level u8 | role u8 (1 signing, 2 KEM) |
count u8 | count × (alg id u16 | key length u32 | key). The entries must be
exactly the level's suite, in order.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from eth_hash.auto import keccak

from pqc import algorithms as alg
from pqc.codec import Reader, u8, u16, u32
from pqc.errors import FormatError
from pqc.levels import SecurityLevel

KEY_BUNDLE_MAGIC = b"PK"
SECRET_MAGIC = b"SK"
VERSION = 1


class Role(IntEnum):
    SIGNING = 1
    KEM = 2


def _suite_ids(level: SecurityLevel, role: Role) -> tuple[int, ...]:
    return level.suite.signatures if role is Role.SIGNING else level.suite.kems


def _names(ids) -> str:
    return ", ".join(alg.name_of(i) for i in ids) or "none"


def _algorithm(alg_id: int, role: Role):
    return alg.signature(alg_id) if role is Role.SIGNING else alg.kem(alg_id)


@dataclass(frozen=True)
class PublicKeys:
    """The public keys of one role at one level, in suite order."""

    level: SecurityLevel
    role: Role
    keys: tuple[tuple[int, bytes], ...]

    def __post_init__(self) -> None:
        expected = _suite_ids(self.level, self.role)
        got = tuple(a for a, _ in self.keys)
        if got != expected:
            raise FormatError(
                f"{self.level.title} {self.role.name.lower()} keys must be [{_names(expected)}], "
                f"got [{_names(got)}]"
            )
        for alg_id, key in self.keys:
            size = _algorithm(alg_id, self.role).public_key_size
            if len(key) != size:
                raise FormatError(
                    f"{alg.name_of(alg_id)} public key is {len(key)} bytes, expected {size}"
                )

    def key(self, alg_id: int) -> bytes:
        for a, k in self.keys:
            if a == alg_id:
                return k
        raise KeyError(alg.name_of(alg_id))

    def encode(self) -> bytes:
        parts = [KEY_BUNDLE_MAGIC, u8(VERSION), u8(self.level), u8(self.role), u8(len(self.keys))]
        for alg_id, key in self.keys:
            parts += [u16(alg_id), u32(len(key)), key]
        return b"".join(parts)

    @property
    def key_hash(self) -> bytes:
        """keccak256 of the canonical bundle: the validator's on-chain identity."""
        return keccak(self.encode())

    @classmethod
    def decode(cls, data: bytes) -> "PublicKeys":
        r = Reader(data, "key bundle")
        r.expect(KEY_BUNDLE_MAGIC, "magic")
        version = r.uint(1, "version")
        if version != VERSION:
            raise FormatError(f"key bundle: unsupported version {version}")
        level = SecurityLevel.parse(r.uint(1, "level"))
        role_byte = r.uint(1, "role")
        try:
            role = Role(role_byte)
        except ValueError:
            raise FormatError(f"key bundle: unknown role {role_byte}") from None
        count = r.uint(1, "count")
        keys = []
        for i in range(count):
            alg_id = r.uint(2, f"entry {i} algorithm")
            size = _algorithm(alg_id, role).public_key_size
            keys.append((alg_id, r.sized(4, f"entry {i} key", size)))
        r.end()
        return cls(level, role, tuple(keys))


@dataclass(frozen=True)
class KeySet:
    """Secret and public keys for one level: (alg id, public, secret) per algorithm."""

    level: SecurityLevel
    signing: tuple[tuple[int, bytes, bytes], ...]
    kem: tuple[tuple[int, bytes, bytes], ...]

    @classmethod
    def generate(cls, level: "SecurityLevel | int | str", *, with_kem: bool = True) -> "KeySet":
        """Fresh keys for `level`; `with_kem=False` skips KEM keys for sign-only use
        (a Military McEliece key pair takes seconds and a megabyte)."""
        level = SecurityLevel.parse(level)
        suite = level.suite
        signing = tuple((a, *alg.signature(a).keygen()) for a in suite.signatures)
        kem = tuple((a, *alg.kem(a).keygen()) for a in suite.kems) if with_kem else ()
        return cls(level, signing, kem)

    def signing_keys(self) -> PublicKeys:
        return PublicKeys(self.level, Role.SIGNING, tuple((a, pk) for a, pk, _ in self.signing))

    def kem_keys(self) -> PublicKeys | None:
        """None at Basic, which has no KEM (or for a sign-only key set)."""
        if not self.kem:
            return None
        return PublicKeys(self.level, Role.KEM, tuple((a, pk) for a, pk, _ in self.kem))

    def encode_secret(self) -> bytes:
        """Secret-key bytes for the keystore (never written anywhere unencrypted)."""
        parts = [SECRET_MAGIC, u8(VERSION), u8(self.level)]
        for group in (self.signing, self.kem):
            parts.append(u8(len(group)))
            for alg_id, pk, sk in group:
                parts += [u16(alg_id), u32(len(pk)), pk, u32(len(sk)), sk]
        return b"".join(parts)

    @classmethod
    def decode_secret(cls, data: bytes) -> "KeySet":
        r = Reader(data, "secret keys")
        r.expect(SECRET_MAGIC, "magic")
        if r.uint(1, "version") != VERSION:
            raise FormatError("secret keys: unsupported version")
        level = SecurityLevel.parse(r.uint(1, "level"))
        groups = []
        for role in (Role.SIGNING, Role.KEM):
            group = []
            for i in range(r.uint(1, f"{role.name.lower()} count")):
                a = _algorithm(r.uint(2, f"entry {i} algorithm"), role)
                pk = r.sized(4, f"{a.name} public key", a.public_key_size)
                sk = r.sized(4, f"{a.name} secret key", a.secret_key_size)
                group.append((a.id, pk, sk))
            groups.append(tuple(group))
        r.end()
        keyset = cls(level, *groups)
        keyset.signing_keys()  # checks the suite and key sizes
        keyset.kem_keys()
        return keyset
