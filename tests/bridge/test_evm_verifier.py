"""The EVM verifier contract (PQCBridge in ECDSA mode), as deployed on foreign chains.

Run in-process on an AIVM chain: the ECDSA path uses only standard EVM
(ecrecover), so what passes here passes on Anvil (tests/bridge/test_lanes.py
runs the same bytecode there).
"""
from __future__ import annotations

import pytest

from interop.message import Kind, word
from pqc.levels import SecurityLevel
from tests.bridge.conftest import transfer_message
from tests.synq.harness import Env, Reverted

LEVEL_BPS = {1: 6700, 2: 7500, 3: 8000, 4: 9000}


def reverts(fn, *a, **k) -> Reverted:
    with pytest.raises(Reverted) as info:
        fn(*a, **k)
    return info.value


@pytest.fixture
def setup(bridge_out, wrapped_out, guardians):
    env = Env()
    bridge = env.deploy(bridge_out, False, guardians.addresses(), [1] * len(guardians))
    wrapped = env.deploy(wrapped_out, "Wrapped X", "wX", 18, bridge.address)
    bridge.transact("setRemoteBridge", 777, word(b"\x11" * 20))
    bridge.transact("registerWrapped", 777, word(b"\x33" * 20), wrapped.address)
    bridge.transact("setRateLimit", 777, 777, word(b"\x33" * 20), 10 * 10**18)
    return env, bridge, wrapped


def deliver(bridge, guardians, msg, which=None, set_index=1):
    data = msg.encode()
    rs, ss, vs = guardians.ecdsa(msg.digest, which)
    return bridge.transact("receiveMessage", data, set_index, rs, ss, vs)


def test_transfer_mints_wrapped_once(setup, guardians):
    env, bridge, wrapped = setup
    msg = transfer_message(bridge.address)
    t = deliver(bridge, guardians, msg)
    assert [name for name, _ in t.logs] == ["MessageDelivered"]
    assert wrapped.balanceOf(b"\x22" * 20) == 10**18
    assert reverts(deliver, bridge, guardians, msg).reason == "bridge: message already delivered"


def test_threshold_exact_and_one_below_at_every_level(bridge_out, guardians):
    env = Env()
    # weights 1..4 (total 10): every level's threshold lands on a reachable sum
    weights = [1, 2, 3, 4]
    bridge = env.deploy(bridge_out, False, guardians.addresses(), weights)
    digest = b"\x5a" * 32
    subsets = {}  # weight -> positions
    import itertools

    for r in range(1, 5):
        for combo in itertools.combinations(range(4), r):
            subsets.setdefault(sum(weights[i] for i in combo), list(combo))
    for level, bps in LEVEL_BPS.items():
        need = -(-10 * bps // 10_000)
        rs, ss, vs = guardians.ecdsa(digest, subsets[need])
        assert bridge.quorumReached(digest, level, 1, rs, ss, vs) is True, level
        rs, ss, vs = guardians.ecdsa(digest, subsets[need - 1])
        assert bridge.quorumReached(digest, level, 1, rs, ss, vs) is False, level


def test_duplicates_outsiders_and_bad_sets(setup, guardians):
    env, bridge, _ = setup
    digest = b"\x01" * 32
    rs, ss, vs = guardians.ecdsa(digest, [0, 0, 1])
    assert "strictly ascending" in reverts(bridge.quorumReached, digest, 2, 1, rs, ss, vs).reason
    rs, ss, vs = guardians.ecdsa(digest, [1, 0])
    assert "strictly ascending" in reverts(bridge.quorumReached, digest, 2, 1, rs, ss, vs).reason
    from tests.bridge.conftest import DevGuardians

    outsider = DevGuardians(1, seed=b"mallory")
    rs, ss, vs = outsider.ecdsa(digest)
    assert reverts(bridge.quorumReached, digest, 2, 1, rs, ss, vs).reason == "bridge: signer is not in the guardian set"
    rs, ss, vs = guardians.ecdsa(digest)
    assert reverts(bridge.quorumReached, digest, 2, 0, rs, ss, vs).reason == "bridge: unknown guardian set"
    assert reverts(bridge.quorumReached, digest, 2, 2, rs, ss, vs).reason == "bridge: unknown guardian set"
    # no signatures at all never passes
    assert bridge.quorumReached(digest, 2, 1, [], [], []) is False
    # high-s (malleated) signature refused
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    bad_s = [(n - int.from_bytes(ss[0], "big")).to_bytes(32, "big")] + ss[1:]
    assert reverts(bridge.quorumReached, digest, 2, 1, rs, bad_s, vs).reason == "bridge: malleable signature"


def test_empty_set_refused_at_deployment(bridge_out):
    env = Env()
    r = reverts(env.deploy, bridge_out, False, [], [])
    assert r.data  # the constructor reverted


def test_digest_body_mismatch_and_replays(setup, guardians):
    env, bridge, wrapped = setup
    msg = transfer_message(bridge.address)
    other = transfer_message(bridge.address, amount=2 * 10**18)
    rs, ss, vs = guardians.ecdsa(msg.digest)
    # signatures over one body do not deliver another
    r = reverts(bridge.transact, "receiveMessage", other.encode(), 1, rs, ss, vs)
    assert r.reason == "bridge: signer is not in the guardian set"  # recovers to a random address
    # another destination chain / bridge
    for bad in (transfer_message(bridge.address, dst_chain=5), transfer_message(b"\x99" * 20)):
        rs, ss, vs = guardians.ecdsa(bad.digest)
        reason = reverts(bridge.transact, "receiveMessage", bad.encode(), 1, rs, ss, vs).reason
        assert reason in ("bridge: message is for another chain", "bridge: message is for another bridge")
    # a source bridge that is not the registered lane
    bad = transfer_message(bridge.address, src_bridge=b"\x12" * 20)
    rs, ss, vs = guardians.ecdsa(bad.digest)
    assert reverts(bridge.transact, "receiveMessage", bad.encode(), 1, rs, ss, vs).reason == "bridge: unknown source bridge"


def test_minority_cannot_move_funds_and_zk_levels_refused(setup, guardians):
    env, bridge, wrapped = setup
    msg = transfer_message(bridge.address, sequence=9)
    assert reverts(deliver, bridge, guardians, msg, [0, 1]).reason == "bridge: quorum not reached"
    assert wrapped.balanceOf(b"\x22" * 20) == 0
    for level in (SecurityLevel.MAXIMUM, SecurityLevel.MILITARY):
        m = transfer_message(bridge.address, level=level)
        assert "zero-knowledge" in reverts(deliver, bridge, guardians, m).reason


def test_rate_limit_and_pause(setup, guardians):
    env, bridge, wrapped = setup
    deliver(bridge, guardians, transfer_message(bridge.address, sequence=1, amount=6 * 10**18))
    r = reverts(deliver, bridge, guardians, transfer_message(bridge.address, sequence=2, amount=5 * 10**18))
    assert r.reason == "bridge: rate limit reached for this lane and token"
    env.advance(3700)  # blocks run a little ahead of the wall clock
    deliver(bridge, guardians, transfer_message(bridge.address, sequence=2, amount=5 * 10**18))
    # a token with no limit set cannot cross at all
    r = reverts(deliver, bridge, guardians, transfer_message(bridge.address, sequence=3, token=b"\x34" * 20))
    assert r.reason == "bridge: token is not enabled on this lane"
    bridge.transact("setPaused", True)
    r = reverts(deliver, bridge, guardians, transfer_message(bridge.address, sequence=4))
    assert r.reason == "bridge: paused"
    assert reverts(bridge.transact, "setPaused", False, sender=env.accounts[1]).reason == "bridge: not the owner"


def test_rotation_needs_current_quorum_and_old_set_expires(setup, guardians):
    from tests.bridge.conftest import DevGuardians

    env, bridge, wrapped = setup
    new = DevGuardians(3, seed=b"second set ")
    addrs, weights = new.addresses(), [1, 1, 1]
    digest = bridge.rotationDigest(2, addrs, weights)
    rs, ss, vs = guardians.ecdsa(digest, [0, 1])  # 2 of 4 < 75%
    assert "rotation not signed" in reverts(bridge.transact, "rotateGuardians", addrs, weights, rs, ss, vs).reason
    rs, ss, vs = guardians.ecdsa(digest, [0, 1, 2])
    bridge.transact("rotateGuardians", addrs, weights, rs, ss, vs)
    assert bridge.guardianIndex() == 2
    # the old set still works inside the grace period, then is refused
    deliver(bridge, guardians, transfer_message(bridge.address, sequence=1, amount=1))
    env.advance(86_500)
    msg = transfer_message(bridge.address, sequence=2, amount=1)
    assert reverts(deliver, bridge, guardians, msg).reason == "bridge: guardian set expired"
    deliver(bridge, new, msg, set_index=2)


def test_outbound_lock_and_sequence(setup, guardians):
    env, bridge, wrapped = setup
    from tests.bridge.conftest import NATIVE
    from interop.message import decode

    t = bridge.transact("sendTransfer", 777, bytes.fromhex(NATIVE[2:]), 5, word(b"\x66" * 20), 2, value=5)
    (name, ev), = t.logs
    m = decode(ev["message"])
    assert (m.sequence, m.amount, m.dst_chain, m.kind, m.token_chain) == (1, 5, 777, Kind.TRANSFER, env.chain.config.chain_id)
    assert ev["digest"] == m.digest
    t = bridge.transact("sendTransfer", 777, bytes.fromhex(NATIVE[2:]), 5, word(b"\x66" * 20), 1, value=5)
    assert decode(t.logs[0][1]["message"]).sequence == 2
    assert "no lane" in reverts(bridge.transact, "sendTransfer", 778, bytes.fromhex(NATIVE[2:]), 5, word(b"\x66" * 20), 2, value=5).reason
    assert "zero-knowledge" in reverts(bridge.transact, "sendTransfer", 777, bytes.fromhex(NATIVE[2:]), 5, word(b"\x66" * 20), 3, value=5).reason
    assert "zero recipient" in reverts(bridge.transact, "sendTransfer", 777, bytes.fromhex(NATIVE[2:]), 5, b"\0" * 32, 2, value=5).reason
