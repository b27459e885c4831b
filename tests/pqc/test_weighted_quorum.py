"""Stake-weighted certificates: the epoch's stakes decide, exact to the wei, whatever the headcount."""
from __future__ import annotations

import pytest

from pqc import quorum
from pqc import validators as layout
from pqc.keys import KeySet
from pqc.quorum import QuorumCertificate

from pqc_helpers import Storage

MESSAGE_HASH = bytes.fromhex("22" * 32)
SET = 77
ETH = 10**18


@pytest.fixture(scope="module")
def keys():
    return [KeySet.generate("Basic", with_kem=False) for _ in range(16)]


def record(storage, keys, stakes, epoch=1, set_id=SET):
    storage.apply(layout.snapshot_writes(set_id, epoch, {k.signing_keys().key_hash: s for k, s in zip(keys, stakes)}))


def cert(signers, epoch=1, set_id=SET, threshold=0):
    return QuorumCertificate.build(MESSAGE_HASH, "Basic", signers, set_id=set_id, epoch=epoch, threshold=threshold)


def test_eleven_cheap_signers_do_not_outweigh_five_honest(keys):
    """The issue's attack: 11 validators at 1 ETH and 5 at 10 ETH; 69% of the heads is 18% of the stake."""
    storage = Storage()
    record(storage, keys, [ETH] * 11 + [10 * ETH] * 5)
    cheap = quorum.verify(cert(keys[:11]), storage.read)
    assert (cheap.passed, cheap.signers, cheap.signed_stake, cheap.total_stake) == (False, 11, 11 * ETH, 61 * ETH)
    honest = quorum.verify(cert(keys[11:]), storage.read)
    assert honest.passed and honest.signed_stake == 50 * ETH and honest.set_size == 16
    assert honest.required_stake == -(-61 * ETH * 2 // 3)


@pytest.mark.parametrize("level,num,den", [("Basic", 2, 3), ("Enhanced", 3, 4), ("Maximum", 4, 5), ("Military", 9, 10)])
def test_level_thresholds_are_exact_fractions(level, num, den):
    from pqc.levels import SecurityLevel

    suite = SecurityLevel.parse(level).suite
    total = 10**21 + 7
    need = suite.required_stake(total)
    assert need * den >= total * num > (need - 1) * den
    assert suite.stake_met(need, total) and not suite.stake_met(need - 1, total)
    assert not suite.stake_met(0, 0)


def test_threshold_boundary_to_the_wei(keys):
    """Signers holding exactly 2/3 pass; one wei less fails."""
    storage = Storage()
    honest, other = 2 * 30 * ETH, 30 * ETH  # honest = 2/3 of the total exactly
    record(storage, keys[:2], [honest, other])
    assert quorum.verify(cert(keys[:1]), storage.read).passed
    record(storage, keys[:2], [honest - 1, other], epoch=2)
    short = quorum.verify(cert(keys[:1], epoch=2), storage.read)
    assert not short.passed and short.signed_stake == honest - 1 and short.required_stake == honest
    # the older epoch still verifies the same way: snapshots never change
    assert quorum.verify(cert(keys[:1], epoch=1), storage.read).passed


def test_weighted_set_refuses_headcount_and_unknown_epochs(keys):
    storage = Storage()
    record(storage, keys[:3], [ETH, ETH, ETH])
    for keys_ in keys[:3]:  # even with head-count registrations written beside the epochs
        storage.apply(layout.registration_writes(keys_.signing_keys(), storage.read, SET))
    legacy = quorum.verify(cert(keys[:3], epoch=0), storage.read)
    assert not legacy.passed and "stake-weighted" in legacy.reason
    future = quorum.verify(cert(keys[:3], epoch=5), storage.read)
    assert not future.passed and "1..1" in future.reason
    empty = quorum.verify(cert(keys[:3], epoch=1, set_id=SET + 1), storage.read)
    assert not empty.passed and "no stake-weighted epoch" in empty.reason


def test_non_members_duplicates_and_min_signers(keys):
    storage = Storage()
    record(storage, keys[:3], [ETH, ETH, ETH])
    outsider = quorum.vote(keys[5], MESSAGE_HASH)
    c = cert(keys[:1])
    dup = QuorumCertificate(MESSAGE_HASH, c.level, SET, 0, c.votes * 3 + (outsider,), 1)
    r = quorum.verify(dup, storage.read)
    assert (r.passed, r.signers, r.signed_stake) == (False, 1, ETH)
    reasons = dict(r.rejected)
    assert "duplicate" in reasons[1] and "holds no stake in set 77 at epoch 1" in reasons[3]
    assert not quorum.verify(cert(keys[:3], threshold=4), storage.read).passed  # a threshold only raises


def test_encoding_round_trip_and_legacy_form(keys):
    from eth_abi import encode

    c = cert(keys[:2], epoch=9)
    assert QuorumCertificate.decode(c.encode()) == c
    legacy = encode(list(quorum.LEGACY_ABI_TYPES), [MESSAGE_HASH, 1, SET, 0, [b"k"], [b"s"]])
    assert QuorumCertificate.decode(legacy).epoch == 0


def test_precompile_output_words(keys):
    storage = Storage()
    record(storage, keys[:2], [2 * ETH, ETH])
    out = quorum.verify(cert(keys[:1]), storage.read).abi_output()
    words = [int.from_bytes(out[i:i + 32], "big") for i in range(0, len(out), 32)]
    assert words == [1, 1, 1, 2 * ETH, 3 * ETH, 1]
