"""The AIVM verifier: PQCBridge in PQC mode over the bridge precompiles 0x0130/0x0131."""
from __future__ import annotations

import time

import pytest

from interop import guardians as gset
from interop.message import Kind, decode, word
from interop.verify import DeliveryRefused, tally
from pqc.levels import SecurityLevel
from pqc.quorum import QuorumCertificate
from tests.bridge.conftest import NATIVE, transfer_message
from tests.synq.harness import Env, Reverted
from vm.chain import Chain, ChainConfig


def reverts(fn, *a, **k) -> Reverted:
    with pytest.raises(Reverted) as info:
        fn(*a, **k)
    return info.value


def install(env: Env, members, grace: int = gset.GRACE_SECONDS) -> int:
    read = lambda a, s: env.chain.storage(a, s)
    index, writes = gset.rotation_writes(read, [m.signing_keys() for m in members], int(time.time()) + 10**6 * 0, grace=grace)
    for address, slot, value in writes:
        env.chain.set_storage(address, slot, value)
    return index


@pytest.fixture
def aivm(bridge_out, wrapped_out, guardians):
    env = Env()
    index = install(env, guardians.pqc_members())
    bridge = env.deploy(bridge_out, True, [], [])
    wrapped = env.deploy(wrapped_out, "Wrapped X", "wX", 18, bridge.address)
    bridge.transact("setRemoteBridge", 777, word(b"\x11" * 20))
    bridge.transact("registerWrapped", 777, word(b"\x33" * 20), wrapped.address)
    bridge.transact("setRateLimit", 777, 777, word(b"\x33" * 20), 10 * 10**18)
    return env, bridge, wrapped, index


def test_certificate_delivery_executes_once(aivm, guardians):
    env, bridge, wrapped, index = aivm
    msg = transfer_message(bridge.address)
    cert = guardians.certificate(msg.digest, set_index=index)
    t = bridge.transact("receiveWithCertificate", msg.encode(), cert)
    assert [n for n, _ in t.logs] == ["MessageDelivered"]
    assert wrapped.balanceOf(b"\x22" * 20) == 10**18
    r = reverts(bridge.transact, "receiveWithCertificate", msg.encode(), cert)
    assert r.reason == "bridge: message already delivered"


def test_precompile_checks_caller_identity_and_replay(aivm, guardians, bridge_out):
    """A second bridge cannot take a message meant for the first; the precompile itself refuses
    a delivery by anyone but the destination bridge, and refuses a replayed digest."""
    env, bridge, wrapped, index = aivm
    other = env.deploy(bridge_out, True, [], [])
    other.transact("setRemoteBridge", 777, word(b"\x11" * 20))
    msg = transfer_message(bridge.address)
    cert = guardians.certificate(msg.digest, set_index=index)
    assert reverts(other.transact, "receiveWithCertificate", msg.encode(), cert).reason == \
        "bridge: message is for another bridge"
    # straight to the precompile from an account: the caller is not the destination bridge
    from eth_abi import encode

    r = env.chain.transact(sender=env.accounts[0], to=(0x0130).to_bytes(20, "big"),
                           data=encode(["bytes", "bytes"], [msg.encode(), cert]), gas=5_000_000)
    assert not r.success and b"delivered by" in r.output
    bridge.transact("receiveWithCertificate", msg.encode(), cert)


def test_wrong_chain_digest_mismatch_and_chain_id_change(aivm, guardians):
    env, bridge, wrapped, index = aivm
    msg = transfer_message(bridge.address)
    other = transfer_message(bridge.address, amount=2)
    cert = guardians.certificate(msg.digest, set_index=index)
    r = reverts(bridge.transact, "receiveWithCertificate", other.encode(), cert)
    assert "digest/body mismatch" in r.reason
    # a message for chain 31338 (e.g. this chain before a chain-id change) is refused here
    moved = transfer_message(bridge.address, dst_chain=31338)
    cert = guardians.certificate(moved.digest, set_index=index)
    assert reverts(bridge.transact, "receiveWithCertificate", moved.encode(), cert).reason == \
        "bridge: message is for another chain"


def test_minority_and_outsiders_refused(aivm, guardians):
    from bridge.testing import DevGuardians

    env, bridge, wrapped, index = aivm
    msg = transfer_message(bridge.address)
    weak = guardians.certificate(msg.digest, set_index=index, which=[0, 1])
    assert "quorum not reached" in reverts(bridge.transact, "receiveWithCertificate", msg.encode(), weak).reason
    # duplicate votes count once: 2 guardians x 2 votes is still 2 of 4
    dup = QuorumCertificate.build(msg.digest, "Enhanced", [guardians.pqc(0), guardians.pqc(0), guardians.pqc(1), guardians.pqc(1)],
                                  set_id=index).encode()
    assert "signed weight 2 of 4" in reverts(bridge.transact, "receiveWithCertificate", msg.encode(), dup).reason
    outsiders = DevGuardians(4, seed=b"mallory ")
    forged = outsiders.certificate(msg.digest, set_index=index)
    assert "signed weight 0 of 4" in reverts(bridge.transact, "receiveWithCertificate", msg.encode(), forged).reason
    assert wrapped.balanceOf(b"\x22" * 20) == 0


def test_sets_empty_unknown_expired(bridge_out, guardians):
    env = Env()
    bridge = env.deploy(bridge_out, True, [], [])
    bridge.transact("setRemoteBridge", 777, word(b"\x11" * 20))
    msg = transfer_message(bridge.address)
    cert = guardians.certificate(msg.digest, set_index=0)
    # nothing installed: set 0 is not valid just because its storage reads zero
    assert reverts(bridge.transact, "receiveWithCertificate", msg.encode(), cert).reason == \
        "bridge: no guardian set has been installed on this chain"
    first = install(env, guardians.pqc_members(), grace=100)
    from bridge.testing import DevGuardians

    second_g = DevGuardians(3, seed=b"second ")
    second = install(env, second_g.pqc_members(), grace=100)
    assert (first, second) == (0, 1)
    cert = guardians.certificate(msg.digest, set_index=2)
    assert "does not exist" in reverts(bridge.transact, "receiveWithCertificate", msg.encode(), cert).reason
    env.advance(300)
    cert = guardians.certificate(msg.digest, set_index=0)
    assert "guardian set 0 expired" in reverts(bridge.transact, "receiveWithCertificate", msg.encode(), cert).reason
    read = lambda a, s: env.chain.storage(a, s)
    with pytest.raises(ValueError):
        gset.rotation_writes(read, [], 0)
    # an empty registry set is refused even when it is current
    env.chain.set_storage(gset.BRIDGE_RECEIVE_ADDRESS, gset.CURRENT_SLOT, 10)
    assert "guardian set 9 is empty" == gset.set_status(read, 9, 0)


# Basic is exactly 2/3 of the stake (issue 11), so 2 of 3 equal guardians decide
@pytest.mark.parametrize("level,n,need", [("Basic", 3, 2), ("Enhanced", 4, 3), ("Maximum", 5, 4), ("Military", 2, 2)])
def test_threshold_exact_and_one_below_at_every_level(level, n, need):
    """The tally the precompile runs: exactly the level's quorum passes, one vote fewer fails."""
    from bridge.testing import DevGuardians

    env = Env()
    g = DevGuardians(n, seed=f"level {level} ".encode(), level=level)
    index = install(env, g.pqc_members())
    read = lambda a, s: env.chain.storage(a, s)
    digest = b"\x42" * 32
    ok = QuorumCertificate.decode(g.certificate(digest, level, set_index=index, which=list(range(need))))
    low = QuorumCertificate(ok.message_hash, ok.level, ok.set_id, 0, ok.votes[:need - 1])
    assert tally(ok, read, 0).passed and tally(ok, read, 0).required == need
    assert not tally(low, read, 0).passed


def test_send_numbers_the_lane_and_refuses_zk(aivm, guardians):
    env, bridge, wrapped, index = aivm
    t = bridge.transact("sendTransfer", 777, bytes.fromhex(NATIVE[2:]), 7, word(b"\x66" * 20), 2, value=7)
    m = decode(t.logs[0][1]["message"])
    assert (m.sequence, m.src_chain, m.src_bridge) == (1, env.chain.config.chain_id, word(bridge.address))
    t = bridge.transact("sendCall", 777, word(b"\x66" * 20), b"hello", 2, 1)
    m2 = decode(t.logs[0][1]["message"])
    assert (m2.sequence, m2.kind, m2.payload) == (2, Kind.CALL, b"hello")
    r = reverts(bridge.transact, "sendTransfer", 777, bytes.fromhex(NATIVE[2:]), 7, word(b"\x66" * 20), 4, value=7)
    assert "zero-knowledge" in r.reason


def test_send_precompile_refuses_a_forged_source(aivm):
    """0x0131 numbers only the caller's own messages: an account cannot claim to be the bridge."""
    from eth_abi import encode

    from interop.message import TUPLE

    env, bridge, wrapped, index = aivm
    draft = transfer_message(b"\x66" * 20, src_chain=env.chain.config.chain_id, src_bridge=bridge.address,
                             dst_chain=777, token_chain=env.chain.config.chain_id)
    fields = list(draft.fields())
    fields[7] = 0  # sequence left to the lane
    r = env.chain.transact(sender=env.accounts[0], to=(0x0131).to_bytes(20, "big"),
                           data=encode([TUPLE], [tuple(fields)]), gas=1_000_000)
    assert not r.success and b"the source bridge must be the calling contract" in r.output


def test_ecrecover_builtin_reads_a_bad_signature_as_zero(bridge_out, guardians):
    env = Env()
    b = env.deploy(bridge_out, False, guardians.addresses(), [1] * len(guardians))
    rs, ss, vs = guardians.ecdsa(b"\x07" * 32, [0])
    assert reverts(b.quorumReached, b"\x07" * 32, 2, 1, rs, ss, [30]).reason == "bridge: bad signature"
