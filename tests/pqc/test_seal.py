"""Sealed messages: round trips per level; any changed byte fails to open."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from pqc import seal
from pqc.errors import FormatError, PQCError, SealError
from pqc.keys import KeySet
from pqc.levels import SecurityLevel

from pqc_helpers import flip

SENDER, RECIPIENT = b"sYnSenderAddress", b"sYnRecipientAddress"
PAYLOAD = b'{"type":"TokenTransfer","amount":"1000"}'
SEALING_LEVELS = [SecurityLevel.ENHANCED, SecurityLevel.MAXIMUM, SecurityLevel.MILITARY]


@pytest.fixture(scope="module")
def sealed(keysets):
    return {level: seal.seal(PAYLOAD, keysets[level].kem_keys(), sender=SENDER, recipient=RECIPIENT)
            for level in SEALING_LEVELS}


@pytest.mark.parametrize("level", SEALING_LEVELS, ids=lambda lv: lv.title)
def test_round_trip(level, keysets, sealed):
    encoded = sealed[level].encode()
    assert seal.SealedMessage.decode(encoded) == sealed[level]
    opened = seal.open_sealed(encoded, keysets[level], expected_sender=SENDER,
                              expected_recipient=RECIPIENT)
    assert (opened.payload, opened.level, opened.sender, opened.recipient) == \
        (PAYLOAD, level, SENDER, RECIPIENT)


def test_layers_match_level(sealed):
    """AEAD overhead: one 16-byte tag per layer (Military: AES-GCM inside ChaCha20-Poly1305)."""
    assert len(sealed[SecurityLevel.ENHANCED].ciphertext) == len(PAYLOAD) + 16
    assert len(sealed[SecurityLevel.MAXIMUM].ciphertext) == len(PAYLOAD) + 16
    assert len(sealed[SecurityLevel.MILITARY].ciphertext) == len(PAYLOAD) + 32
    assert [k for k, _ in sealed[SecurityLevel.MILITARY].kem_ciphertexts] == [0x1003, 0x1102]


def test_each_seal_is_fresh(keysets):
    keys = keysets[SecurityLevel.ENHANCED].kem_keys()
    a = seal.seal(PAYLOAD, keys, sender=SENDER, recipient=RECIPIENT)
    b = seal.seal(PAYLOAD, keys, sender=SENDER, recipient=RECIPIENT)
    assert a.nonce != b.nonce and a.ciphertext != b.ciphertext and a.message_id != b.message_id


def test_empty_payload(keysets):
    keys = keysets[SecurityLevel.MAXIMUM]
    s = seal.seal(b"", keys.kem_keys(), sender=b"", recipient=b"")
    assert seal.open_sealed(s.encode(), keys).payload == b""


def test_basic_has_no_encryption(keysets):
    from pqc.keys import PublicKeys, Role

    with pytest.raises(SealError, match="level Basic has no KEM or AEAD"):
        seal.seal(PAYLOAD, PublicKeys(SecurityLevel.BASIC, Role.KEM, ()), sender=SENDER,
                  recipient=RECIPIENT)
    with pytest.raises(SealError, match="signing keys"):
        seal.seal(PAYLOAD, keysets[SecurityLevel.BASIC].signing_keys(), sender=SENDER,
                  recipient=RECIPIENT)


def test_wrong_recipient_keys(keysets, sealed):
    other = KeySet.generate("Enhanced")
    with pytest.raises(SealError, match="different recipient keys"):
        seal.open_sealed(sealed[SecurityLevel.ENHANCED], other)
    with pytest.raises(SealError, match="message is level Enhanced, keys are Maximum"):
        seal.open_sealed(sealed[SecurityLevel.ENHANCED], keysets[SecurityLevel.MAXIMUM])


def test_expected_parties(keysets, sealed):
    s = sealed[SecurityLevel.ENHANCED]
    with pytest.raises(SealError, match="sender does not match"):
        seal.open_sealed(s, keysets[SecurityLevel.ENHANCED], expected_sender=b"mallory")
    with pytest.raises(SealError, match="recipient does not match"):
        seal.open_sealed(s, keysets[SecurityLevel.ENHANCED], expected_recipient=b"mallory")


def test_relabelled_sender_fails(keysets, sealed):
    s = sealed[SecurityLevel.MAXIMUM]
    forged = seal.SealedMessage(**{**s.__dict__, "sender": b"sYnMallory"})
    with pytest.raises(SealError, match="authentication failed"):
        seal.open_sealed(forged.encode(), keysets[SecurityLevel.MAXIMUM])


def test_truncations_fail(keysets, sealed):
    encoded = sealed[SecurityLevel.ENHANCED].encode()
    for n in range(0, len(encoded), 13):
        with pytest.raises(FormatError):
            seal.open_sealed(encoded[:n], keysets[SecurityLevel.ENHANCED])


@settings(max_examples=120, deadline=None)
@given(data=st.data())
def test_bit_flips_never_open(data, keysets, sealed):
    level = data.draw(st.sampled_from([SecurityLevel.ENHANCED, SecurityLevel.MAXIMUM]))
    encoded = sealed[level].encode()
    bit = data.draw(st.integers(0, 8 * len(encoded) - 1))
    with pytest.raises(PQCError):
        seal.open_sealed(flip(encoded, bit), keysets[level])


def test_military_bit_flips_in_each_region(keysets, sealed):
    """Military: a flip in the McEliece ciphertext, the ML-KEM ciphertext, or either AEAD layer."""
    s = sealed[SecurityLevel.MILITARY]
    encoded = s.encode()
    header = len(s.header())
    mceliece_ct = header - 208
    for pos in (6, 40, header - 208 - 1600, mceliece_ct + 100, header + 4, len(encoded) - 1):
        with pytest.raises(PQCError):
            seal.open_sealed(flip(encoded, 8 * pos), keysets[SecurityLevel.MILITARY])


def test_sign_only_keys_cannot_open(sealed, keysets):
    signer = KeySet(SecurityLevel.ENHANCED, keysets[SecurityLevel.ENHANCED].signing, ())
    with pytest.raises(SealError, match="no KEM keys"):
        seal.open_sealed(sealed[SecurityLevel.ENHANCED], signer)
