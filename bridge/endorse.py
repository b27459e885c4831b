"""A validator's bridge bundle: higher-level signing keys its attester votes with, endorsed by it.

Validators register Basic (ML-DSA-65) keys; an AIVM destination checks an Enhanced message with an
Enhanced certificate. So a validator's attester keeps one Enhanced signing bundle of its own and
binds it to the validator with an *endorsement*: the validator's registered keys sign
`bridge.hub.endorsement_message(chain_id, validator, bundle hash)`, and the node checks that
signature against the keys in its registry (never against keys the request carries). From the
next guardian set on the bundle votes with the validator's stake.

The bundle is generated once and kept in the attester's state directory in a keystore
(pqc/keystore.py) whose password is derived from the validator's own secret, so it is encrypted at
rest and only whoever can unlock the validator's keystore can use it.
"""
from __future__ import annotations

from pathlib import Path

from eth_hash.auto import keccak

from bridge.hub import endorsement_message
from pqc import bundle, keystore
from pqc.keys import KeySet

PASSWORD_DOMAIN = b"AIVM-bridge/bundle-keystore/v1"
LEVEL = "Enhanced"


def bridge_keyset(validator: KeySet, state_dir: "str | Path", *, scrypt_n: int = 2**14) -> KeySet:
    """The validator's Enhanced bridge bundle (created on first use)."""
    path = Path(state_dir) / f"bridge-bundle-{validator.signing_keys().key_hash.hex()[:16]}.json"
    password = keccak(PASSWORD_DOMAIN + validator.encode_secret()).hex()
    if path.exists():
        return keystore.load(path).unlock(password)
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = KeySet.generate(LEVEL, with_kem=False)
    keystore.save(keystore.create(keys, password, scrypt_n=scrypt_n), path)
    return keys


def endorsement(validator: KeySet, bridge_key_hash: bytes, chain_id: int) -> dict:
    """The 5th parameter of synergy_registerBridgeAttester: the validator vouches for the bundle."""
    address = validator.signing_keys().key_hash[12:]  # ai.protocol.validator_address (bridge does not import ai)
    sig = bundle.sign(validator, endorsement_message(chain_id, address, bridge_key_hash)).encode()
    return {"validator": "0x" + address.hex(), "signature": "0x" + sig.hex()}
