"""Password-protected key files: public keys readable, secret keys sealed.

The secret key set is encrypted with AES-256-GCM under a key stretched from
the password by scrypt (memory-hard). The public part and KDF parameters are
the AEAD's associated data, so editing them breaks decryption, and a SHA-256
checksum over the whole document tells accidental corruption apart from a
wrong password. Files are replaced atomically; a failed load never writes.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from eth_keys import keys as eth_keys

from pqc import algorithms as alg
from pqc import bundle
from pqc.errors import KeystoreError, PQCError
from pqc.keys import KeySet, PublicKeys
from pqc.levels import SecurityLevel

FORMAT = "aivm-pqc-keystore"
VERSION = 1
DEFAULT_SCRYPT_N = 2**17   # 128 MiB, ~0.7 s here: geth's "standard" is 2**18
SCRYPT_N_RANGE = (2**10, 2**20)  # refuse files that would make loading a memory bomb
ROTATION_DOMAIN = b"AIVM-PQC/rotate/v1\x00"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str, field: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, TypeError):
        raise KeystoreError(f"corrupt keystore: {field} is not base64") from None


def _canonical(doc: dict) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def _aad(doc: dict) -> bytes:
    """Everything but the ciphertext and checksum is authenticated."""
    bound = {k: v for k, v in doc.items() if k != "checksum"}
    bound["crypto"] = {k: v for k, v in doc["crypto"].items() if k != "ciphertext"}
    return hashlib.sha256(_canonical(bound)).digest()


def _kdf(password: str, salt: bytes, n: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=8, p=1).derive(password.encode())


def _eth_address(keys: KeySet) -> str | None:
    for alg_id, pk, _ in keys.signing:
        if alg_id == alg.SECP256K1.id:
            return eth_keys.PublicKey(pk).to_checksum_address()
    return None


@dataclass(frozen=True)
class Keystore:
    """A parsed keystore document; `unlock` needs the password, nothing else does."""

    doc: dict

    @property
    def level(self) -> SecurityLevel:
        return SecurityLevel.parse(self.doc["level"])

    @property
    def signing_keys(self) -> PublicKeys:
        return PublicKeys.decode(_unb64(self.doc["public"]["signing_keys"], "signing_keys"))

    @property
    def kem_keys(self) -> PublicKeys | None:
        kem = self.doc["public"]["kem_keys"]
        return PublicKeys.decode(_unb64(kem, "kem_keys")) if kem else None

    @property
    def key_hash(self) -> bytes:
        return self.signing_keys.key_hash

    def summary(self) -> dict:
        """What `aivm keys show` prints: public facts only."""
        pub = self.doc["public"]
        signing = self.signing_keys
        kem = self.kem_keys
        return {
            "level": self.level.title,
            "key_hash": "0x" + signing.key_hash.hex(),
            "address": pub.get("address"),
            "created": self.doc.get("created"),
            "rotated_from": self.doc.get("rotated_from"),
            "signing": [alg.name_of(a) for a, _ in signing.keys],
            "kem": [alg.name_of(a) for a, _ in kem.keys] if kem else [],
            "signing_keys": "0x" + signing.encode().hex(),
        }

    def unlock(self, password: str) -> KeySet:
        c = self.doc["crypto"]
        key = _kdf(password, bytes.fromhex(c["salt"]), c["n"])
        try:
            secret = AESGCM(key).decrypt(bytes.fromhex(c["nonce"]),
                                         _unb64(c["ciphertext"], "ciphertext"), _aad(self.doc))
        except InvalidTag:
            raise KeystoreError("wrong password (or the keystore was altered)") from None
        try:
            keyset = KeySet.decode_secret(secret)
        except PQCError as exc:
            raise KeystoreError(f"corrupt keystore: {exc.reason}") from None
        if keyset.signing_keys() != self.signing_keys or keyset.kem_keys() != self.kem_keys:
            raise KeystoreError("corrupt keystore: public keys do not match the secret keys")
        return keyset


def create(keys: KeySet, password: str, *, rotated_from: bytes | None = None,
           rotation_proof: bytes | None = None, scrypt_n: int | None = None) -> Keystore:
    n = scrypt_n or DEFAULT_SCRYPT_N
    kem = keys.kem_keys()
    doc = {
        "format": FORMAT, "version": VERSION, "level": keys.level.title,
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "public": {
            "signing_keys": _b64(keys.signing_keys().encode()),
            "kem_keys": _b64(kem.encode()) if kem else None,
            "address": _eth_address(keys),
        },
        "rotated_from": "0x" + rotated_from.hex() if rotated_from else None,
        "rotation_proof": _b64(rotation_proof) if rotation_proof else None,
        "crypto": {"kdf": "scrypt", "n": n, "r": 8, "p": 1, "salt": secrets.token_hex(16),
                   "cipher": "aes-256-gcm", "nonce": secrets.token_hex(12)},
    }
    key = _kdf(password, bytes.fromhex(doc["crypto"]["salt"]), n)
    ct = AESGCM(key).encrypt(bytes.fromhex(doc["crypto"]["nonce"]), keys.encode_secret(), _aad(doc))
    doc["crypto"]["ciphertext"] = _b64(ct)
    doc["checksum"] = hashlib.sha256(_canonical(doc)).hexdigest()
    return Keystore(doc)


def parse(text: str | bytes) -> Keystore:
    """Parse and sanity-check a keystore document (no password needed)."""
    try:
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise KeystoreError("corrupt keystore: not valid JSON") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise KeystoreError("not an AIVM keystore file")
    if doc.get("version") != VERSION:
        raise KeystoreError(f"unsupported keystore version {doc.get('version')!r}")
    body = {k: v for k, v in doc.items() if k != "checksum"}
    if hashlib.sha256(_canonical(body)).hexdigest() != doc.get("checksum"):
        raise KeystoreError("corrupt keystore: checksum mismatch")
    try:
        c = doc["crypto"]
        if c["kdf"] != "scrypt" or c["cipher"] != "aes-256-gcm" or (c["r"], c["p"]) != (8, 1):
            raise KeystoreError("unsupported keystore cipher or KDF")
        if not (isinstance(c["n"], int) and SCRYPT_N_RANGE[0] <= c["n"] <= SCRYPT_N_RANGE[1]
                and c["n"] & (c["n"] - 1) == 0):
            raise KeystoreError(f"keystore scrypt n={c['n']!r} is outside the accepted range")
        store = Keystore(doc)
        if store.signing_keys.level != store.level:
            raise KeystoreError("corrupt keystore: level does not match the keys")
        store.kem_keys  # noqa: B018 - decodes and validates
    except KeyError as exc:
        raise KeystoreError(f"corrupt keystore: missing field {exc.args[0]!r}") from None
    except PQCError as exc:
        raise KeystoreError(f"corrupt keystore: {exc.reason}") from None
    return store


def load(path: str | os.PathLike) -> Keystore:
    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        raise KeystoreError(f"cannot read {path}: {exc.strerror}") from None
    return parse(text)


def save(store: Keystore, path: str | os.PathLike, *, overwrite: bool = False) -> None:
    """Write atomically (temp file + rename), mode 0600."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise KeystoreError(f"{path} already exists")
    fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(store.doc, f, indent=1, sort_keys=True)
            f.write("\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def rotation_message(new_key_hash: bytes) -> bytes:
    return ROTATION_DOMAIN + new_key_hash


def rotate(old: Keystore, password: str, level: "SecurityLevel | str | None" = None,
           *, scrypt_n: int | None = None) -> tuple[Keystore, KeySet]:
    """New keys (same level unless given), vouched for by a bundle from the old keys."""
    old_keys = old.unlock(password)
    new_keys = KeySet.generate(level or old_keys.level)
    new_hash = new_keys.signing_keys().key_hash
    proof = bundle.sign(old_keys, rotation_message(new_hash)).encode()
    store = create(new_keys, password, rotated_from=old.key_hash, rotation_proof=proof,
                   scrypt_n=scrypt_n or old.doc["crypto"]["n"])
    return store, new_keys


def verify_rotation(new: Keystore, old_signing_keys: PublicKeys) -> None:
    """Check that `old_signing_keys` signed the move to `new`'s keys; raise if not."""
    proof = new.doc.get("rotation_proof")
    if not proof or new.doc.get("rotated_from") != "0x" + old_signing_keys.key_hash.hex():
        raise KeystoreError("keystore was not rotated from these keys")
    bundle.verify(_unb64(proof, "rotation_proof"), old_signing_keys,
                  rotation_message(new.key_hash))
