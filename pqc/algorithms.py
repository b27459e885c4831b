"""Every algorithm behind one interface, each with a stable numeric id.

The ids appear in every binary format (bundles, certificates, sealed messages,
precompile input), so they never change once assigned; new algorithms get new ids.
`verify` never raises on a malformed signature: it returns False, so callers
can treat "wrong length" and "wrong bytes" alike.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Callable

from eth_hash.auto import keccak
from eth_keys import KeyAPI
from eth_keys.backends import CoinCurveECCBackend
from eth_keys.exceptions import BadSignature, ValidationError

from pqc.errors import FormatError

_ECC = KeyAPI(CoinCurveECCBackend)
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@dataclass(frozen=True)
class SignatureAlgorithm:
    """A signature scheme: sizes (signature_size is the maximum) and three operations."""

    id: int
    name: str
    family: str
    public_key_size: int
    secret_key_size: int
    signature_size: int
    keygen: Callable[[], tuple[bytes, bytes]]
    sign: Callable[[bytes, bytes], bytes]
    _verify: Callable[[bytes, bytes, bytes], bool]

    kind = "signature"

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        """True only for a valid signature; False for anything else, never an exception."""
        if len(public_key) != self.public_key_size:
            return False
        if not 0 < len(signature) <= self.signature_size:
            return False
        try:
            return bool(self._verify(public_key, message, signature))
        except (ValueError, TypeError, BadSignature, ValidationError):
            return False


@dataclass(frozen=True)
class KemAlgorithm:
    """A key-encapsulation mechanism: encaps gives (ciphertext, shared secret)."""

    id: int
    name: str
    family: str
    public_key_size: int
    secret_key_size: int
    ciphertext_size: int
    shared_secret_size: int
    keygen: Callable[[], tuple[bytes, bytes]]
    encaps: Callable[[bytes], tuple[bytes, bytes]]
    decaps: Callable[[bytes, bytes], bytes]

    kind = "kem"


def _pq_signature(id_: int, name: str, family: str, module: str) -> SignatureAlgorithm:
    mod: ModuleType = importlib.import_module(f"pqcrypto.sign.{module}")
    return SignatureAlgorithm(
        id=id_, name=name, family=family,
        public_key_size=mod.PUBLIC_KEY_SIZE, secret_key_size=mod.SECRET_KEY_SIZE,
        signature_size=mod.SIGNATURE_SIZE,
        keygen=mod.generate_keypair, sign=mod.sign, _verify=mod.verify,
    )


def _pq_kem(id_: int, name: str, family: str, module: str) -> KemAlgorithm:
    mod: ModuleType = importlib.import_module(f"pqcrypto.kem.{module}")
    return KemAlgorithm(
        id=id_, name=name, family=family,
        public_key_size=mod.PUBLIC_KEY_SIZE, secret_key_size=mod.SECRET_KEY_SIZE,
        ciphertext_size=mod.CIPHERTEXT_SIZE, shared_secret_size=mod.PLAINTEXT_SIZE,
        keygen=mod.generate_keypair, encaps=mod.encrypt,
        decaps=lambda sk, ct, _m=mod: _m.decrypt(sk, ct),
    )


# -- secp256k1: the classical half of hybrid bundles (eth-keys, coincurve backend) --

def _secp_keygen() -> tuple[bytes, bytes]:
    import secrets

    while True:
        sk = secrets.token_bytes(32)
        if 0 < int.from_bytes(sk, "big") < _SECP256K1_N:
            priv = _ECC.PrivateKey(sk)
            return priv.public_key.to_bytes(), sk


def _secp_sign(secret_key: bytes, message: bytes) -> bytes:
    """ECDSA over keccak256(message); 65 bytes r‖s‖v with low s (canonical)."""
    return _ECC.PrivateKey(secret_key).sign_msg_hash(keccak(message)).to_bytes()


def _secp_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    if len(signature) != 65:
        return False
    if int.from_bytes(signature[32:64], "big") > _SECP256K1_N // 2:
        return False  # high-s: a malleated twin of a valid signature
    recovered = _ECC.Signature(signature).recover_public_key_from_msg_hash(keccak(message))
    return recovered.to_bytes() == public_key


SECP256K1 = SignatureAlgorithm(
    id=0x0001, name="secp256k1", family="secp256k1",
    public_key_size=64, secret_key_size=32, signature_size=65,
    keygen=_secp_keygen, sign=_secp_sign, _verify=_secp_verify,
)

_SLH = [(f"{h}-{bits}{v}", f"sphincs_{h.lower()}_{bits}{v}_simple")
        for h in ("SHA2", "SHAKE") for bits in (128, 192, 256) for v in ("f", "s")]

SIGNATURES: dict[int, SignatureAlgorithm] = {a.id: a for a in [
    SECP256K1,
    _pq_signature(0x0101, "ML-DSA-44", "ML-DSA", "ml_dsa_44"),
    _pq_signature(0x0102, "ML-DSA-65", "ML-DSA", "ml_dsa_65"),
    _pq_signature(0x0103, "ML-DSA-87", "ML-DSA", "ml_dsa_87"),
    _pq_signature(0x0201, "Falcon-512", "Falcon", "falcon_512"),
    _pq_signature(0x0202, "Falcon-1024", "Falcon", "falcon_1024"),
    *[_pq_signature(0x0301 + (i // 6) * 0x10 + i % 6, f"SLH-DSA-{n}", "SLH-DSA", m)
      for i, (n, m) in enumerate(_SLH)],
]}

KEMS: dict[int, KemAlgorithm] = {a.id: a for a in [
    _pq_kem(0x1001, "ML-KEM-512", "ML-KEM", "ml_kem_512"),
    _pq_kem(0x1002, "ML-KEM-768", "ML-KEM", "ml_kem_768"),
    _pq_kem(0x1003, "ML-KEM-1024", "ML-KEM", "ml_kem_1024"),
    _pq_kem(0x1101, "Classic-McEliece-348864", "Classic-McEliece", "mceliece348864"),
    _pq_kem(0x1102, "Classic-McEliece-6688128", "Classic-McEliece", "mceliece6688128"),
]}

PQC_FAMILIES = ("ML-DSA", "Falcon", "SLH-DSA", "ML-KEM", "Classic-McEliece")


def signature(id_or_name: int | str) -> SignatureAlgorithm:
    """Look up a signature algorithm by id or name; FormatError if unknown."""
    return _lookup(SIGNATURES, id_or_name, "signature")


def kem(id_or_name: int | str) -> KemAlgorithm:
    """Look up a KEM by id or name; FormatError if unknown."""
    return _lookup(KEMS, id_or_name, "KEM")


def _lookup(table: dict, key: int | str, what: str):
    if isinstance(key, int):
        if key in table:
            return table[key]
        raise FormatError(f"unknown {what} algorithm id {key:#06x}")
    for alg in table.values():
        if alg.name.lower() == key.lower():
            return alg
    raise FormatError(f"unknown {what} algorithm {key!r}")


def name_of(alg_id: int) -> str:
    """A readable name for any id, known or not (for error messages)."""
    alg = SIGNATURES.get(alg_id) or KEMS.get(alg_id)
    return alg.name if alg else f"unknown algorithm {alg_id:#06x}"
