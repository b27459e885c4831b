"""Signature bundles: one message signed by every algorithm a level names.

A bundle verifies at a level only if it carries exactly that level's
algorithms, in suite order, each signature made by the key whose hash it
names. Each algorithm signs a domain-separated payload that includes the level
and its own id, so a signature cannot be replayed at another level or under
another algorithm.

Bundle bytes: "SB" | version 1 | level u8 | count u8 |
count × (alg id u16 | keccak256(public key) 32 | sig length u32 | signature).
"""
from __future__ import annotations

from dataclasses import dataclass

from eth_hash.auto import keccak

from pqc import algorithms as alg
from pqc import stats
from pqc.codec import Reader, u8, u16, u32
from pqc.errors import FormatError, VerificationError
from pqc.keys import KeySet, PublicKeys, Role
from pqc.levels import SecurityLevel

MAGIC = b"SB"
VERSION = 1
DOMAIN = b"AIVM-PQC/bundle/v1\x00"
MAX_ENTRIES = 8


def signing_payload(level: SecurityLevel, alg_id: int, message: bytes) -> bytes:
    """What algorithm `alg_id` actually signs inside a bundle at `level`."""
    return DOMAIN + u8(level) + u16(alg_id) + message


@dataclass(frozen=True)
class Entry:
    alg_id: int
    key_hash: bytes
    signature: bytes


@dataclass(frozen=True)
class SignatureBundle:
    level: SecurityLevel
    entries: tuple[Entry, ...]

    def encode(self) -> bytes:
        parts = [MAGIC, u8(VERSION), u8(self.level), u8(len(self.entries))]
        for e in self.entries:
            parts += [u16(e.alg_id), e.key_hash, u32(len(e.signature)), e.signature]
        return b"".join(parts)

    @classmethod
    def decode(cls, data: bytes) -> "SignatureBundle":
        """Structural decoding only; which algorithms a level needs is checked by `verify`."""
        r = Reader(data, "signature bundle")
        r.expect(MAGIC, "magic")
        version = r.uint(1, "version")
        if version != VERSION:
            raise FormatError(f"signature bundle: unsupported version {version}")
        level = SecurityLevel.parse(r.uint(1, "level"))
        count = r.uint(1, "count")
        if count > MAX_ENTRIES:
            raise FormatError(f"signature bundle: {count} entries, at most {MAX_ENTRIES} allowed")
        entries = []
        for i in range(count):
            a = alg.signature(r.uint(2, f"entry {i} algorithm"))
            key_hash = r.take(32, f"entry {i} key hash")
            entries.append(Entry(a.id, key_hash, r.sized(4, f"{a.name} signature", a.signature_size)))
        r.end()
        return cls(level, tuple(entries))


def sign(keys: KeySet, message: bytes) -> SignatureBundle:
    """Sign `message` with every signing key in `keys` (the level's full suite)."""
    entries = []
    for alg_id, pk, sk in keys.signing:
        signature = alg.signature(alg_id).sign(sk, signing_payload(keys.level, alg_id, message))
        entries.append(Entry(alg_id, keccak(pk), signature))
    return SignatureBundle(keys.level, tuple(entries))


def _check_shape(bundle: SignatureBundle, level: SecurityLevel) -> None:
    expected = level.suite.signatures
    got = [e.alg_id for e in bundle.entries]
    if got == list(expected):
        return
    seen = set()
    for a in got:
        if a in seen:
            raise VerificationError(f"{alg.name_of(a)} appears twice in the bundle")
        seen.add(a)
        if a not in expected:
            raise VerificationError(f"{alg.name_of(a)} is not part of level {level.title}")
    missing = [alg.name_of(a) for a in expected if a not in seen]
    if missing:
        raise VerificationError(f"level {level.title} needs {', '.join(missing)}: missing")
    order = ", ".join(alg.name_of(a) for a in expected)
    raise VerificationError(f"bundle entries out of order (level {level.title} orders {order})")


def verify(
    bundle: "SignatureBundle | bytes",
    public_keys: "PublicKeys | bytes",
    message: bytes,
    level: "SecurityLevel | int | str | None" = None,
) -> SignatureBundle:
    """Return the decoded bundle if it verifies; raise FormatError/VerificationError why not.

    `level` is the level the caller requires; None accepts the bundle's own.
    """
    if not isinstance(bundle, SignatureBundle):
        bundle = SignatureBundle.decode(bundle)
    if not isinstance(public_keys, PublicKeys):
        public_keys = PublicKeys.decode(public_keys)
    required = bundle.level if level is None else SecurityLevel.parse(level)
    if bundle.level != required:
        raise VerificationError(
            f"bundle is level {bundle.level.title}, {required.title} is required"
        )
    if public_keys.role is not Role.SIGNING:
        raise VerificationError("public keys are KEM keys, not signing keys")
    if public_keys.level != required:
        raise VerificationError(
            f"public keys are level {public_keys.level.title}, {required.title} is required"
        )
    _check_shape(bundle, required)
    stats.record_level(required)
    for e in bundle.entries:
        a = alg.signature(e.alg_id)
        pk = public_keys.key(e.alg_id)
        if keccak(pk) != e.key_hash:
            stats.record_signatures(failed=1, algorithm=a.name)
            raise VerificationError(f"{a.name} entry names a different public key")
        if not a.verify(pk, signing_payload(required, e.alg_id, message), e.signature):
            stats.record_signatures(failed=1, algorithm=a.name)
            raise VerificationError(f"{a.name} signature does not verify")
        stats.record_signatures(verified=1, algorithm=a.name)
    return bundle


def check(bundle, public_keys, message, level=None) -> tuple[bool, str]:
    """`verify` as (ok, reason) for callers that collect failures instead of raising."""
    try:
        verify(bundle, public_keys, message, level)
    except (FormatError, VerificationError) as exc:
        return False, exc.reason
    return True, ""
