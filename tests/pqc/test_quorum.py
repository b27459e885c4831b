"""Quorum certificates against a registry held in a plain dict (the chain's storage shape)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from pqc import quorum
from pqc import validators as registry_layout
from pqc.errors import FormatError
from pqc.keys import KeySet
from pqc.levels import SecurityLevel
from pqc.quorum import QuorumCertificate

from pqc_helpers import Storage, flip

MESSAGE_HASH = bytes.fromhex("11" * 32)


@pytest.fixture(scope="module")
def registry(validators):
    storage = Storage()
    for keys in validators:
        storage.apply(validators_writes(keys, storage))
    return storage


def validators_writes(keys, storage, set_id=0):
    return registry_layout.registration_writes(keys.signing_keys(), storage.read, set_id)


@pytest.fixture(scope="module")
def full_cert(validators):
    return QuorumCertificate.build(MESSAGE_HASH, "Enhanced", validators)


def test_registration_layout(validators):
    storage = Storage()
    keys = validators[0].signing_keys()
    first = validators_writes(validators[0], storage)
    address = registry_layout.CONSENSUS_ADDRESS
    assert first == [(address, registry_layout.member_slot(0, keys.key_hash), 1),
                     (address, registry_layout.size_slot(0), 1)]
    storage.apply(first)
    assert validators_writes(validators[0], storage) == []  # idempotent
    assert registry_layout.set_size(storage.read, 0) == 1
    storage.apply(registry_layout.removal_writes(keys, storage.read))
    assert registry_layout.set_size(storage.read, 0) == 0
    assert not registry_layout.is_registered(storage.read, 0, keys.key_hash)
    assert registry_layout.removal_writes(keys, storage.read) == []


def test_kem_keys_cannot_register(keysets):
    with pytest.raises(FormatError, match="signing keys"):
        registry_layout.registration_writes(keysets[SecurityLevel.ENHANCED].kem_keys(),
                                           Storage().read)


def test_encode_decode_round_trip(full_cert):
    encoded = full_cert.encode()
    assert QuorumCertificate.decode(encoded) == full_cert


@pytest.mark.parametrize("signers,passed", [(7, True), (6, True), (5, False), (0, False)])
def test_enhanced_needs_75_percent(validators, registry, signers, passed):
    cert = QuorumCertificate.build(MESSAGE_HASH, "Enhanced", validators[:signers])
    result = quorum.verify(cert.encode(), registry.read)
    assert (result.passed, result.signers, result.required, result.set_size) == \
        (passed, signers, 6, 7)
    assert result.rejected == ()


def test_explicit_threshold_can_only_raise(validators, registry):
    cert = QuorumCertificate.build(MESSAGE_HASH, "Enhanced", validators[:6], threshold=7)
    assert quorum.verify(cert, registry.read).passed is False
    cert = QuorumCertificate.build(MESSAGE_HASH, "Enhanced", validators[:6], threshold=1)
    assert quorum.verify(cert, registry.read).required == 6


def test_duplicates_count_once(validators, full_cert, registry):
    votes = full_cert.votes[:5] + (full_cert.votes[0], full_cert.votes[0])
    cert = QuorumCertificate(MESSAGE_HASH, SecurityLevel.ENHANCED, 0, 0, votes)
    result = quorum.verify(cert, registry.read)
    assert (result.passed, result.signers) == (False, 5)
    assert [i for i, _ in result.rejected] == [5, 6]
    assert "duplicate vote" in result.rejected[0][1]


def test_unregistered_and_bad_votes_do_not_count(validators, full_cert, registry):
    outsider = KeySet.generate("Enhanced", with_kem=False)
    other_level = KeySet.generate("Basic")
    votes = list(full_cert.votes[:5])
    votes.append(quorum.vote(outsider, MESSAGE_HASH))
    votes.append(quorum.vote(other_level, MESSAGE_HASH))
    votes.append(quorum.vote(validators[5], bytes(32)))  # signed another hash
    votes.append((full_cert.votes[6][0], full_cert.votes[5][1]))  # someone else's signature
    votes.append((b"junk", b"junk"))
    result = quorum.verify(QuorumCertificate(MESSAGE_HASH, SecurityLevel.ENHANCED, 0, 0,
                                             tuple(votes)), registry.read)
    assert (result.passed, result.signers) == (False, 5)
    reasons = dict(result.rejected)
    assert "not registered" in reasons[5]
    assert "key bundle is Basic signing" in reasons[6]
    assert "does not verify" in reasons[7]
    assert "different public key" in reasons[8]
    assert "bad magic" in reasons[9]


def test_other_set_and_empty_registry(full_cert, registry):
    other_set = QuorumCertificate(**{**full_cert.__dict__, "set_id": 9})
    result = quorum.verify(other_set, registry.read)
    assert (result.passed, result.signers, result.required, result.set_size) == (False, 0, 1, 0)
    assert quorum.verify(full_cert, Storage().read).passed is False


def test_wrong_level_certificate(validators, registry):
    cert = QuorumCertificate.build(MESSAGE_HASH, "Enhanced", validators)
    cert = QuorumCertificate(**{**cert.__dict__, "level": SecurityLevel.BASIC})
    result = quorum.verify(cert, registry.read)
    assert result.signers == 0 and not result.passed


@pytest.mark.parametrize("mutate,match", [
    (lambda b: b[:-1], "truncated|trailing|padding|canonical"),
    (lambda b: b + b"\x00" * 32, "trailing"),
    (lambda b: b[:32] + (9).to_bytes(32, "big") + b[64:], "unknown security level"),
    (lambda b: b[:32] + (1 << 8 | 2).to_bytes(32, "big") + b[64:], "does not fit uint8"),
    (lambda b: b[:128] + (0xA0).to_bytes(32, "big") + b[160:], "offset is not canonical"),
    (lambda b: b"", "truncated"),
])
def test_decode_errors(full_cert, mutate, match):
    with pytest.raises(FormatError, match=match):
        QuorumCertificate.decode(mutate(full_cert.encode()))


def test_mismatched_vote_arrays(full_cert):
    from eth_abi import encode

    data = encode(list(quorum.ABI_TYPES), [MESSAGE_HASH, 2, 0, 0, [b"a", b"b"], [b"c"], 0])
    with pytest.raises(FormatError, match="2 key bundles but 1 signatures"):
        QuorumCertificate.decode(data)


@pytest.fixture(scope="module")
def six_of_seven(validators):
    return QuorumCertificate.build(MESSAGE_HASH, "Enhanced", validators[:6]).encode()


@settings(max_examples=120, deadline=None)
@given(data=st.data())
def test_bit_flips_never_add_signers(data, six_of_seven, registry):
    """A flip either breaks decoding, changes the unsigned threshold, or loses signers."""
    encoded = six_of_seven
    bit = data.draw(st.integers(0, 8 * len(encoded) - 1))
    try:
        flipped = QuorumCertificate.decode(flip(encoded, bit))
    except FormatError:
        return
    result = quorum.verify(flipped, registry.read)
    if 96 * 8 <= bit < 128 * 8:  # the threshold word: a parameter, not signed data
        assert flipped.threshold != 0 and result.signers == 6
    else:
        assert result.signers < 6 and not result.passed


@settings(max_examples=200, deadline=None)
@given(junk=st.binary(max_size=600))
def test_arbitrary_bytes_fail_cleanly(junk):
    with pytest.raises(FormatError):
        QuorumCertificate.decode(junk)
