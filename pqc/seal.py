"""Sealed messages: a payload encrypted to a recipient's KEM keys at a level.

Each KEM in the level encapsulates a fresh secret to the recipient; the
secrets are combined with HKDF-SHA512 (salt = the message nonce, info = a hash
of the whole header, so the key depends on every ciphertext, the sender, the
recipient and the level), then the level's AEAD layers encrypt the payload with
the header as associated data. Changing any byte makes opening fail.

Sealed bytes: "SM" | version 1 | level u8 | nonce 32 | sender (u16 len | bytes) |
recipient (u16 len | bytes) | recipient key hash 32 | count u8 |
count × (kem id u16 | ct length u32 | ct) | ciphertext length u32 | ciphertext.
Everything before the ciphertext length is the header.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from eth_hash.auto import keccak

from pqc import algorithms as alg
from pqc import stats
from pqc.codec import Reader, u8, u16, u32
from pqc.errors import FormatError, SealError
from pqc.keys import KeySet, PublicKeys, Role
from pqc.levels import SecurityLevel

MAGIC = b"SM"
VERSION = 1
INFO = b"AIVM-PQC/seal/v1\x00"
MAX_PARTY = 256
MAX_PAYLOAD = 16 * 1024 * 1024

_AEADS = {"AES-256-GCM": AESGCM, "ChaCha20-Poly1305": ChaCha20Poly1305}


@dataclass(frozen=True)
class SealedMessage:
    level: SecurityLevel
    nonce: bytes
    sender: bytes
    recipient: bytes
    recipient_key_hash: bytes
    kem_ciphertexts: tuple[tuple[int, bytes], ...]
    ciphertext: bytes

    def header(self) -> bytes:
        parts = [MAGIC, u8(VERSION), u8(self.level), self.nonce,
                 u16(len(self.sender)), self.sender, u16(len(self.recipient)), self.recipient,
                 self.recipient_key_hash, u8(len(self.kem_ciphertexts))]
        for kem_id, ct in self.kem_ciphertexts:
            parts += [u16(kem_id), u32(len(ct)), ct]
        return b"".join(parts)

    def encode(self) -> bytes:
        return self.header() + u32(len(self.ciphertext)) + self.ciphertext

    @property
    def message_id(self) -> bytes:
        """keccak256 of the sealed bytes: a stable id for logs and cross-chain tracking."""
        return keccak(self.encode())

    @classmethod
    def decode(cls, data: bytes) -> "SealedMessage":
        r = Reader(data, "sealed message")
        r.expect(MAGIC, "magic")
        version = r.uint(1, "version")
        if version != VERSION:
            raise FormatError(f"sealed message: unsupported version {version}")
        level = SecurityLevel.parse(r.uint(1, "level"))
        nonce = r.take(32, "nonce")
        sender = r.sized(2, "sender", MAX_PARTY)
        recipient = r.sized(2, "recipient", MAX_PARTY)
        key_hash = r.take(32, "recipient key hash")
        cts = []
        for i in range(r.uint(1, "KEM count")):
            k = alg.kem(r.uint(2, f"KEM {i} id"))
            ct = r.sized(4, f"{k.name} ciphertext", k.ciphertext_size)
            if len(ct) != k.ciphertext_size:
                raise FormatError(f"sealed message: {k.name} ciphertext is {len(ct)} bytes, "
                                  f"expected {k.ciphertext_size}")
            cts.append((k.id, ct))
        ciphertext = r.sized(4, "ciphertext", MAX_PAYLOAD + 64)
        r.end()
        msg = cls(level, nonce, sender, recipient, key_hash, tuple(cts), ciphertext)
        if tuple(k for k, _ in cts) != level.suite.kems:
            raise FormatError(f"sealed message: KEMs do not match level {level.title}")
        return msg


def _keys(level: SecurityLevel, secrets_: list[bytes], nonce: bytes,
          header: bytes) -> list[tuple[bytes, bytes]]:
    """(key, nonce) per AEAD layer, inner layer first."""
    layers = level.suite.aead
    okm = HKDF(
        algorithm=hashes.SHA512(), length=44 * len(layers), salt=nonce,
        info=INFO + keccak(header),
    ).derive(b"".join(secrets_))
    return [(okm[44 * i:44 * i + 32], okm[44 * i + 32:44 * i + 44]) for i in range(len(layers))]


def seal(payload: bytes, recipient_keys: "PublicKeys | bytes", *, sender: bytes,
         recipient: bytes) -> SealedMessage:
    """Encrypt `payload` to `recipient_keys` (a KEM key bundle) at the bundle's level."""
    if not isinstance(recipient_keys, PublicKeys):
        recipient_keys = PublicKeys.decode(recipient_keys)
    level = recipient_keys.level
    if recipient_keys.role is not Role.KEM:
        raise SealError("recipient keys are signing keys; sealing needs the recipient's KEM keys")
    if not level.suite.kems:
        raise SealError(f"level {level.title} has no KEM or AEAD; seal at Enhanced or above")
    if len(payload) > MAX_PAYLOAD:
        raise SealError(f"payload is {len(payload)} bytes, at most {MAX_PAYLOAD} allowed")
    for name, party in (("sender", sender), ("recipient", recipient)):
        if len(party) > MAX_PARTY:
            raise SealError(f"{name} id is {len(party)} bytes, at most {MAX_PARTY} allowed")
    cts, shared = [], []
    for kem_id, pk in recipient_keys.keys:
        ct, ss = alg.kem(kem_id).encaps(pk)
        cts.append((kem_id, ct))
        shared.append(ss)
    draft = SealedMessage(level, secrets.token_bytes(32), bytes(sender), bytes(recipient),
                          recipient_keys.key_hash, tuple(cts), b"")
    header = draft.header()
    data = payload
    for name, (key, nonce) in zip(level.suite.aead, _keys(level, shared, draft.nonce, header)):
        data = _AEADS[name](key).encrypt(nonce, data, header)
    stats.record_encryption(tuple(alg.kem(k).name for k, _ in cts) + tuple(level.suite.aead))
    stats.record_level(level)
    return SealedMessage(**{**draft.__dict__, "ciphertext": data})


@dataclass(frozen=True)
class Opened:
    payload: bytes
    level: SecurityLevel
    sender: bytes
    recipient: bytes
    nonce: bytes


def open_sealed(sealed: "SealedMessage | bytes", keys: KeySet, *,
                expected_sender: bytes | None = None,
                expected_recipient: bytes | None = None) -> Opened:
    """Decrypt with the recipient's key set; SealError on any mismatch or tampering."""
    if not isinstance(sealed, SealedMessage):
        sealed = SealedMessage.decode(sealed)
    kem_keys = keys.kem_keys()
    if kem_keys is None:
        raise SealError("these keys have no KEM keys (Basic or sign-only); they cannot open messages")
    if keys.level != sealed.level:
        raise SealError(f"message is level {sealed.level.title}, keys are {keys.level.title}")
    if kem_keys.key_hash != sealed.recipient_key_hash:
        raise SealError("message was sealed to different recipient keys")
    if expected_sender is not None and sealed.sender != expected_sender:
        raise SealError("message sender does not match")
    if expected_recipient is not None and sealed.recipient != expected_recipient:
        raise SealError("message recipient does not match")
    header = sealed.header()
    shared = [alg.kem(kem_id).decaps(sk, ct)
              for (kem_id, _, sk), (_, ct) in zip(keys.kem, sealed.kem_ciphertexts)]
    data = sealed.ciphertext
    layers = list(zip(sealed.level.suite.aead, _keys(sealed.level, shared, sealed.nonce, header)))
    try:
        for name, (key, nonce) in reversed(layers):
            data = _AEADS[name](key).decrypt(nonce, data, header)
    except InvalidTag:
        raise SealError("authentication failed: message tampered or not for these keys") from None
    stats.record_decryption()
    return Opened(data, sealed.level, sealed.sender, sealed.recipient, sealed.nonce)
