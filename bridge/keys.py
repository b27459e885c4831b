"""Attester keys: one validator, three signatures a chain can check.

A validator's identity is its PQC key set (pqc/keys.py, kept in its password
protected keystore). Foreign chains cannot verify PQC bundles cheaply, so the
validator also signs with
  * secp256k1 (ECDSA): what an EVM verifier contract checks with `ecrecover`;
  * ed25519: what Solana's SPL Token multisig checks.
Both are *derived* from the PQC secret key bytes (keccak256 with a domain tag),
so they need no extra storage: whoever can unlock the keystore has them, and
nobody else does. Dev guardians (bridge/testing.py) derive them from a seed.
"""
from __future__ import annotations

from dataclasses import dataclass

from eth_hash.auto import keccak
from eth_keys import keys as eth_keys

from pqc import bundle
from pqc.keys import KeySet

SECP_DOMAIN = b"AIVM-bridge/secp256k1/v1"
ED25519_DOMAIN = b"AIVM-bridge/ed25519/v1"
_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _secp_from(seed: bytes) -> eth_keys.PrivateKey:
    k = int.from_bytes(keccak(SECP_DOMAIN + seed), "big") % (_N - 1) + 1
    return eth_keys.PrivateKey(k.to_bytes(32, "big"))


@dataclass(frozen=True)
class AttesterKeys:
    """What one attester signs with. `pqc` may be None for an ECDSA/ed25519-only dev signer."""

    secp256k1: eth_keys.PrivateKey
    ed25519_seed: bytes
    pqc: KeySet | None = None

    @classmethod
    def derive(cls, seed: bytes, pqc: KeySet | None = None) -> "AttesterKeys":
        return cls(_secp_from(seed), keccak(ED25519_DOMAIN + seed), pqc)

    @classmethod
    def from_keyset(cls, keys: KeySet) -> "AttesterKeys":
        return cls.derive(keys.encode_secret(), keys)

    @property
    def evm_address(self) -> str:
        return self.secp256k1.public_key.to_checksum_address()

    @property
    def ed25519(self):
        from solders.keypair import Keypair

        return Keypair.from_seed(self.ed25519_seed)

    def sign_ecdsa(self, digest: bytes) -> tuple[bytes, bytes, int]:
        """(r, s, v) over the raw 32-byte digest, low-s, v in {27, 28}."""
        sig = self.secp256k1.sign_msg_hash(digest)
        return sig.r.to_bytes(32, "big"), sig.s.to_bytes(32, "big"), sig.v + 27

    def pqc_vote(self, digest: bytes) -> tuple[bytes, bytes]:
        if self.pqc is None:
            raise ValueError("this attester has no PQC keys")
        return self.pqc.signing_keys().encode(), bundle.sign(self.pqc, digest).encode()


def ecdsa_quorum(signers: list[AttesterKeys], digest: bytes, *, sort: bool = True
                 ) -> tuple[list[bytes], list[bytes], list[int]]:
    """Signatures in strictly ascending signer-address order, as the EVM verifier needs them
    (`sort=False` keeps the given order: for tests of what the verifier refuses)."""
    ordered = sorted(signers, key=lambda k: int(k.evm_address, 16)) if sort else signers
    rs, ss, vs = [], [], []
    for k in ordered:
        r, s, v = k.sign_ecdsa(digest)
        rs.append(r)
        ss.append(s)
        vs.append(v)
    return rs, ss, vs
