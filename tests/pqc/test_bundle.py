"""Signature bundles: every level round-trips; every malformation fails with a reason."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from pqc import algorithms as alg
from pqc import bundle
from pqc.bundle import Entry, SignatureBundle
from pqc.errors import FormatError, PQCError, VerificationError
from pqc.levels import SecurityLevel

from pqc_helpers import MESSAGE, flip


@pytest.fixture(scope="module")
def bundles(keysets):
    return {level: bundle.sign(keysets[level], MESSAGE) for level in SecurityLevel}


@pytest.mark.parametrize("level", list(SecurityLevel), ids=lambda lv: lv.title)
def test_round_trip_every_level(level, keysets, bundles):
    keys = keysets[level].signing_keys()
    encoded = bundles[level].encode()
    decoded = SignatureBundle.decode(encoded)
    assert decoded == bundles[level] and decoded.encode() == encoded
    assert bundle.verify(encoded, keys.encode(), MESSAGE, level) == decoded
    assert [e.alg_id for e in decoded.entries] == list(level.suite.signatures)


def _reason(b, keys, message=MESSAGE, level=None):
    ok, reason = bundle.check(b, keys, message, level)
    assert not ok
    return reason


def test_wrong_message(keysets, bundles):
    keys = keysets[SecurityLevel.ENHANCED].signing_keys()
    assert "ML-DSA-65 signature does not verify" in _reason(bundles[SecurityLevel.ENHANCED], keys, b"x")


def test_wrong_required_level(keysets, bundles):
    keys = keysets[SecurityLevel.BASIC].signing_keys()
    assert "level Basic, Military is required" in _reason(bundles[SecurityLevel.BASIC], keys,
                                                          level="Military")


def test_keys_of_another_level(keysets, bundles):
    keys = keysets[SecurityLevel.MAXIMUM].signing_keys()
    assert "public keys are level Maximum" in _reason(bundles[SecurityLevel.ENHANCED], keys)


def test_keys_of_another_validator(keysets, bundles):
    from pqc.keys import KeySet

    other = KeySet.generate("Enhanced", with_kem=False).signing_keys()
    assert "names a different public key" in _reason(bundles[SecurityLevel.ENHANCED], other)


def _edit(b: SignatureBundle, entries) -> SignatureBundle:
    return SignatureBundle(b.level, tuple(entries))


def test_missing_duplicate_reordered_foreign(keysets, bundles):
    b = bundles[SecurityLevel.MAXIMUM]
    keys = keysets[SecurityLevel.MAXIMUM].signing_keys()
    e = list(b.entries)
    assert "needs SLH-DSA-SHA2-256f: missing" in _reason(_edit(b, e[:2]), keys)
    assert "Falcon-1024 appears twice" in _reason(_edit(b, [e[0], e[0], e[1], e[2]]), keys)
    assert "out of order" in _reason(_edit(b, [e[1], e[0], e[2]]), keys)
    secp = bundles[SecurityLevel.ENHANCED].entries[1]
    assert "secp256k1 is not part of level Maximum" in _reason(_edit(b, [*e, secp]), keys)
    assert "needs" in _reason(_edit(b, []), keys)


def test_signature_cannot_move_between_levels(keysets):
    """Basic and Enhanced share ML-DSA-65 keys' algorithm; the signed payload names the level."""
    enhanced = keysets[SecurityLevel.ENHANCED]
    basic_like = type(enhanced)(SecurityLevel.BASIC, enhanced.signing[:1], ())
    basic_sig = bundle.sign(basic_like, MESSAGE).entries[0]
    forged = bundle.sign(enhanced, MESSAGE)
    forged = _edit(forged, [basic_sig, forged.entries[1]])
    assert "ML-DSA-65 signature does not verify" in _reason(forged, enhanced.signing_keys())


def test_every_truncation_fails(keysets, bundles):
    encoded = bundles[SecurityLevel.ENHANCED].encode()
    keys = keysets[SecurityLevel.ENHANCED].signing_keys()
    for n in range(len(encoded)):
        with pytest.raises(FormatError, match="truncated|bad magic"):
            SignatureBundle.decode(encoded[:n])
        assert not bundle.check(encoded[:n], keys, MESSAGE)[0]
    assert "trailing" in _reason(encoded + b"\x00", keys)


@pytest.mark.parametrize("bad,match", [
    (b"XB\x01\x01\x00", "bad magic"),
    (b"SB\x02\x01\x00", "unsupported version"),
    (b"SB\x01\x09\x00", "unknown security level"),
    (b"SB\x01\x01\x09", "at most 8"),
    (b"SB\x01\x01\x01\x09\x99" + bytes(32) + b"\x00\x00\x00\x01\x00", "unknown signature algorithm"),
    (b"SB\x01\x01\x01\x01\x02" + bytes(32) + b"\xff\xff\xff\xff", "more than the 3309 allowed"),
    (b"not a bundle", "bad magic"),
])
def test_decode_errors(bad, match):
    with pytest.raises(FormatError, match=match):
        SignatureBundle.decode(bad)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_bit_flips_never_verify(data, keysets, bundles):
    level = data.draw(st.sampled_from([SecurityLevel.BASIC, SecurityLevel.ENHANCED]))
    encoded = bundles[level].encode()
    keys = keysets[level].signing_keys()
    bit = data.draw(st.integers(0, 8 * len(encoded) - 1))
    with pytest.raises(PQCError):
        bundle.verify(flip(encoded, bit), keys, MESSAGE, level)


def test_bit_flips_in_public_keys_never_verify(keysets, bundles):
    encoded_keys = keysets[SecurityLevel.ENHANCED].signing_keys().encode()
    b = bundles[SecurityLevel.ENHANCED]
    for bit in range(0, 8 * len(encoded_keys), 97):
        with pytest.raises(PQCError):
            bundle.verify(b, flip(encoded_keys, bit), MESSAGE)


def test_entry_with_wrong_algorithm_id_for_signature(keysets, bundles):
    b = bundles[SecurityLevel.BASIC]
    e = b.entries[0]
    other = Entry(alg.signature("ML-DSA-44").id, e.key_hash, e.signature)
    with pytest.raises(FormatError, match="more than the 2420 allowed"):
        SignatureBundle.decode(_edit(b, [other]).encode())
    with pytest.raises(VerificationError):
        bundle.verify(_edit(b, [other]), keysets[SecurityLevel.BASIC].signing_keys(), MESSAGE)
