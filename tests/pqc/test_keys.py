"""Key bundles and secret key sets encode canonically and refuse anything else."""
from __future__ import annotations

import pytest

from pqc.errors import FormatError
from pqc.keys import KeySet, PublicKeys, Role
from pqc.levels import SecurityLevel

from pqc_helpers import flip


@pytest.mark.parametrize("level", list(SecurityLevel), ids=lambda lv: lv.title)
def test_secret_round_trip(level, keysets):
    keys = keysets[level]
    assert KeySet.decode_secret(keys.encode_secret()) == keys
    signing = keys.signing_keys()
    assert PublicKeys.decode(signing.encode()) == signing
    kem = keys.kem_keys()
    assert (kem is None) == (level is SecurityLevel.BASIC)
    if kem:
        assert PublicKeys.decode(kem.encode()) == kem and kem.role is Role.KEM


def test_key_hash_depends_on_every_key(keysets):
    keys = keysets[SecurityLevel.ENHANCED].signing_keys()
    other = KeySet.generate("Enhanced", with_kem=False).signing_keys()
    assert keys.key_hash != other.key_hash
    assert len({keys.key_hash, PublicKeys(keys.level, keys.role, (keys.keys[0], other.keys[1])).key_hash,
                PublicKeys(keys.level, keys.role, (other.keys[0], keys.keys[1])).key_hash}) == 3


def test_wrong_suite_rejected(keysets):
    keys = keysets[SecurityLevel.ENHANCED].signing_keys()
    with pytest.raises(FormatError, match="Basic signing keys must be"):
        PublicKeys(SecurityLevel.BASIC, Role.SIGNING, keys.keys)
    with pytest.raises(FormatError, match="public key is 1951 bytes"):
        PublicKeys(keys.level, keys.role, ((keys.keys[0][0], keys.keys[0][1][:-1]), keys.keys[1]))


def test_bundle_truncations_and_flips_fail_cleanly(keysets):
    encoded = keysets[SecurityLevel.ENHANCED].signing_keys().encode()
    for n in range(0, len(encoded), 7):
        with pytest.raises(FormatError):
            PublicKeys.decode(encoded[:n])
    header_bits = 8 * 12  # magic, version, level, role, count, first id, first length
    for bit in range(header_bits):
        try:
            decoded = PublicKeys.decode(flip(encoded, bit))
        except FormatError:
            continue
        raise AssertionError(f"flipping header bit {bit} decoded to {decoded.level}")
