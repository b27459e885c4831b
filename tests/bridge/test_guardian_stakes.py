"""AIVM guardian sets weighed by stake, derived from the validator registry, mirrored on EVM verifiers.

The registry here is the real scheduler (ai/scheduler: registration with proof of possession,
attestation of the real digits shard, signed heartbeats, issue 11's active sets); the AIVM
verifier is PQCBridge over the real precompile 0x0130 on an in-process chain; the EVM verifier
is the same contract in ECDSA mode (the bytecode tests/bridge/test_lanes.py runs on Anvil).
"""
from __future__ import annotations

import asyncio
import time

import pytest

from ai import protocol
from ai.records import AIRecords
from ai.scheduler import Scheduler
from ai.scheduler.core import ChainHooks
from ai.scheduler.economics import slash
from interop import guardians as gset
from interop.config import Lane
from bridge.hub import BridgeError, BridgeHub, attester_binding, endorsement_message
from bridge.keys import AttesterKeys, ecdsa_quorum
from interop.message import word
from bridge.testing import DevGuardians
from interop.verify import DeliveryRefused, check_delivery, tally
from pqc import bundle
from pqc.keys import KeySet
from pqc.levels import SecurityLevel
from pqc.quorum import QuorumCertificate
from tests.bridge.conftest import transfer_message
from tests.synq.harness import Env, Reverted

ETH = 10**18
MODEL = "digits_cnn"
GRACE = 2.0  # the registry's heartbeat grace in these tests (seconds)
LEVELS = [SecurityLevel.BASIC, SecurityLevel.ENHANCED, SecurityLevel.MAXIMUM, SecurityLevel.MILITARY]


def reverts(fn, *a, **k) -> Reverted:
    with pytest.raises(Reverted) as info:
        fn(*a, **k)
    return info.value


def install(env: Env, guardians, now=None, grace=gset.GRACE_SECONDS) -> int:
    read = lambda a, s: env.chain.storage(a, s)
    index, writes = gset.rotation_writes(read, guardians, int(time.time()) if now is None else now, grace=grace)
    for address, slot, value in writes:
        env.chain.set_storage(address, slot, value)
    return index


def exact_sets(level: SecurityLevel, signers: int = 2):
    """(stakes at exactly the threshold, stakes one wei below): `signers` signers + 1 non-signer."""
    num, den = level.suite.stake_threshold
    signed = [40 * ETH, 32 * ETH] if signers == 2 else [72 * ETH]  # unequal; 72 ETH divides by every numerator
    rest = sum(signed) * (den - num) // num
    assert sum(signed) * (den - num) % num == 0
    return signed + [rest], signed + [rest + 1]


@pytest.fixture(scope="module")
def dev():
    return {lvl: DevGuardians(4, seed=f"stake {lvl.title} ".encode(), level=lvl) for lvl in LEVELS}


# -- the verifier: stake, not heads ---------------------------------------------------------------
@pytest.mark.parametrize("level", LEVELS, ids=lambda l: l.title)
def test_stake_exactly_at_threshold_passes_one_wei_below_fails(level, dev):
    g = dev[level]
    n = 1 if level is SecurityLevel.MILITARY else 2  # SLH-DSA-256s signs slowly: one Military signer
    keys = [g.pqc(i).signing_keys() for i in range(n + 1)]
    exact, below = exact_sets(level, n)
    digest = b"\x42" * 32
    cert = QuorumCertificate.decode(g.certificate(digest, level, set_index=0, which=list(range(n))))
    for stakes, passes in ((exact, True), (below, False)):
        env = Env()
        assert install(env, gset.governance_set(keys, stakes)) == 0
        t = tally(cert, lambda a, s: env.chain.storage(a, s), int(time.time()))
        assert t.passed is passes, (level, stakes)
        assert t.signed == sum(stakes[:n]) and t.total == sum(stakes) and t.signers == n
        assert t.required == t.signed + (0 if passes else 1)  # one wei below is exactly one short


@pytest.mark.parametrize("level", [SecurityLevel.BASIC, SecurityLevel.ENHANCED], ids=lambda l: l.title)
def test_precompile_delivers_at_exact_stake_and_refuses_one_wei_below(level, dev, bridge_out, wrapped_out):
    """Through PQCBridge and 0x0130 itself: the mint happens at exactly the threshold only."""
    g = dev[level]
    keys = [g.pqc(i).signing_keys() for i in range(3)]
    exact, below = exact_sets(level)
    for stakes, passes in ((exact, True), (below, False)):
        env = Env()
        index = install(env, gset.governance_set(keys, stakes))
        bridge = env.deploy(bridge_out, True, [], [])
        wrapped = env.deploy(wrapped_out, "Wrapped X", "wX", 18, bridge.address)
        bridge.transact("setRemoteBridge", 777, word(b"\x11" * 20))
        bridge.transact("registerWrapped", 777, word(b"\x33" * 20), wrapped.address)
        bridge.transact("setRateLimit", 777, 777, word(b"\x33" * 20), 10 * ETH)
        msg = transfer_message(bridge.address, level=level)
        cert = g.certificate(msg.digest, level, set_index=index, which=[0, 1])
        if passes:
            bridge.transact("receiveWithCertificate", msg.encode(), cert)
            assert wrapped.balanceOf(b"\x22" * 20) == 10**18
        else:
            r = reverts(bridge.transact, "receiveWithCertificate", msg.encode(), cert)
            assert r.reason == (f"bridge: quorum not reached: signed weight {stakes[0] + stakes[1]} of {sum(stakes)}, "
                                f"{level.title} needs {stakes[0] + stakes[1] + 1}")
            assert wrapped.balanceOf(b"\x22" * 20) == 0


def test_zk_levels_refused_before_any_stake_is_weighed(dev):
    env = Env()
    g = dev[SecurityLevel.ENHANCED]
    index = install(env, gset.governance_set([k.signing_keys() for k in g.pqc_members()], [ETH] * 4))
    for level in (SecurityLevel.MAXIMUM, SecurityLevel.MILITARY):
        msg = transfer_message(b"\x99" * 20, level=level)
        with pytest.raises(DeliveryRefused, match="zero-knowledge"):
            check_delivery(msg.encode(), g.certificate(msg.digest, set_index=index), chain_id=31337,
                           caller=b"\x99" * 20, read=lambda a, s: env.chain.storage(a, s), now=int(time.time()))


def test_large_stake_alone_below_threshold_fails_and_duplicates_count_once(dev):
    g = dev[SecurityLevel.BASIC]
    keys = [k.signing_keys() for k in g.pqc_members()]
    env = Env()
    # one whale with 60% and three small validators: heads do not matter, stake does
    index = install(env, gset.governance_set(keys, [60 * ETH, 14 * ETH, 13 * ETH, 13 * ETH]))
    read = lambda a, s: env.chain.storage(a, s)
    digest = b"\x07" * 32
    whale = g.pqc(0, "Basic")
    alone = QuorumCertificate.build(digest, "Basic", [whale] * 5, set_id=index)  # five copies of one vote
    t = tally(alone, read, 0)
    assert (t.passed, t.signed, t.signers) == (False, 60 * ETH, 1)
    assert sum("duplicate vote" in why for _, why in t.rejected) == 4
    # three small validators (3 of 4 heads, 40% of the stake) cannot either
    heads = QuorumCertificate.decode(g.certificate(digest, "Basic", set_index=index, which=[1, 2, 3]))
    assert not tally(heads, read, 0).passed and tally(heads, read, 0).signed == 40 * ETH
    # whale + one small: 74% >= 2/3
    assert tally(QuorumCertificate.decode(g.certificate(digest, "Basic", set_index=index, which=[0, 1])), read, 0).passed


def test_outsider_empty_and_expired_sets_refused(dev):
    g = dev[SecurityLevel.ENHANCED]
    keys = [k.signing_keys() for k in g.pqc_members()]
    env = Env()
    read = lambda a, s: env.chain.storage(a, s)
    digest = b"\x09" * 32
    cert = QuorumCertificate.decode(g.certificate(digest, set_index=0))
    with pytest.raises(DeliveryRefused, match="no guardian set has been installed"):
        tally(cert, read, 0)
    now = int(time.time())
    first = install(env, gset.governance_set(keys, [ETH] * 4), now=now, grace=100)
    outsiders = DevGuardians(4, seed=b"outsider stake ")
    forged = QuorumCertificate.decode(outsiders.certificate(digest, set_index=first))
    t = tally(forged, read, now)
    assert (t.passed, t.signed) == (False, 0) and all("holds no stake" in why for _, why in t.rejected)
    second = install(env, gset.governance_set(keys[:2], [ETH, ETH]), now=now, grace=100)
    assert tally(QuorumCertificate.decode(g.certificate(digest, set_index=first)), read, now + 99).passed  # in grace
    with pytest.raises(DeliveryRefused, match=f"guardian set {first} expired"):
        tally(QuorumCertificate.decode(g.certificate(digest, set_index=first)), read, now + 100)
    with pytest.raises(DeliveryRefused, match="does not exist"):
        tally(QuorumCertificate.decode(g.certificate(digest, set_index=second + 1)), read, now)
    # zero stakes and empty sets are never installable; a current set with no recorded stake is empty
    with pytest.raises(ValueError):
        gset.rotation_writes(read, [], now)
    with pytest.raises(ValueError, match="no stake"):
        gset.rotation_writes(read, gset.governance_set(keys[:1], [0]), now)
    env.chain.set_storage(gset.BRIDGE_RECEIVE_ADDRESS, gset.CURRENT_SLOT, 10)
    assert gset.set_status(read, 9, now) == "guardian set 9 is empty"


def test_compromised_minority_of_stake_cannot_move_funds(dev, bridge_out, wrapped_out):
    """Five of six guardians' keys stolen, but they hold 5/15 of the stake: no mint."""
    g = DevGuardians(6, seed=b"minority stake ", level="Enhanced")
    env = Env()
    index = install(env, gset.governance_set([k.signing_keys() for k in g.pqc_members()], [ETH] * 5 + [10 * ETH]))
    bridge = env.deploy(bridge_out, True, [], [])
    wrapped = env.deploy(wrapped_out, "Wrapped X", "wX", 18, bridge.address)
    bridge.transact("setRemoteBridge", 777, word(b"\x11" * 20))
    bridge.transact("registerWrapped", 777, word(b"\x33" * 20), wrapped.address)
    bridge.transact("setRateLimit", 777, 777, word(b"\x33" * 20), 10 * ETH)
    msg = transfer_message(bridge.address)
    cert = g.certificate(msg.digest, set_index=index, which=[0, 1, 2, 3, 4])
    assert "quorum not reached" in reverts(bridge.transact, "receiveWithCertificate", msg.encode(), cert).reason
    assert wrapped.balanceOf(b"\x22" * 20) == 0


# -- derived from the validator registry -------------------------------------------------------
class DirectHooks(ChainHooks):
    """The scheduler's chain access, applied at once on the test's chain (no node thread here)."""

    def __init__(self, chain) -> None:
        self.chain = chain

    def lock_stake(self, address: bytes, amount: int) -> None:
        pass

    def burn_stake(self, amount: int) -> None:
        pass

    def update_storage(self, compute_writes) -> None:
        for address, slot, value in compute_writes(self.chain.storage):
            self.chain.set_storage(address, slot, value)

    def read_storage(self, address: bytes, slot: int) -> int:
        return self.chain.storage(address, slot)


class Service:
    def __init__(self, scheduler) -> None:
        self.scheduler, self.ready = scheduler, True


class Node:
    def __init__(self, chain) -> None:
        self.chain, self.config, self.ai = chain, None, None

    async def run(self, fn, *args):
        return fn(*args)


class Member:
    """A validator speaking the real protocol to the scheduler (as tests/distributed/hostile.py does over RPC)."""

    def __init__(self, sched: Scheduler, stake: int, sha256: str) -> None:
        self.sched, self.keys = sched, KeySet.generate(protocol.LEVEL, with_kem=False)
        self.pub = self.keys.signing_keys()
        self.address = protocol.validator_address(self.pub)
        self.attester = AttesterKeys.from_keyset(self.keys)
        cid = sched.chain_id
        sched.register(self.pub.encode(), stake, bundle.sign(
            self.keys, protocol.registration_message(cid, self.address, self.pub.key_hash, stake)).encode())
        self.sha256 = sha256
        self.attest()
        self.ts = 0
        self.silent = False
        self.beat()

    def attest(self) -> None:
        att = {"software_version": "test/1", "shards": [{"model_id": MODEL, "stage": 0, "sha256": self.sha256}],
               "cores": 1, "memory_mb": 4096, "timestamp": int(time.time())}
        self.sched.attest(self.address, att, bundle.sign(
            self.keys, protocol.attestation_message(self.sched.chain_id, self.address, att)).encode())

    def beat(self) -> None:
        self.ts = max(int(time.time()), self.ts + 1)
        self.sched.heartbeat(self.address, self.ts, bundle.sign(
            self.keys, protocol.heartbeat_message(self.sched.chain_id, self.address, self.ts)).encode())

    @property
    def stake(self) -> int:
        return self.sched.validators[self.address].stake


@pytest.fixture(scope="module")
def sha256():
    from models import get_manifest

    return get_manifest(MODEL).stage_shard(0).sha256


@pytest.fixture
def registry(sha256):
    from models import get_manifest

    env = Env()
    sched = Scheduler(AIRecords(env.chain.store.kv), env.chain.config.chain_id, {MODEL: get_manifest(MODEL)},
                      DirectHooks(env.chain), join_delay=0, heartbeat_grace=GRACE)
    node = Node(env.chain)
    node.ai = Service(sched)
    lanes = {"aivm": Lane("aivm", "aivm", "http://127.0.0.1:1", env.chain.config.chain_id, 1, "0x" + "99" * 20,
                          SecurityLevel.BASIC),
             "ethereum": Lane("ethereum", "evm", "http://127.0.0.1:2", 777, 1, "0x" + "11" * 20, SecurityLevel.BASIC)}
    hub = BridgeHub(node, lanes, guardian_source="validators")

    joined: list[Member] = []

    def join(stake: int) -> Member:
        joined.append(Member(sched, stake, sha256))
        return joined[-1]

    def sync(now=None) -> int | None:
        """Heartbeats from every member not silenced, then the scheduler's refresh and the hub's sync."""
        for m in joined:
            if not m.silent:
                m.beat()
        with sched._lock:
            sched.refresh_sets(now)
        return hub.sync_guardians(hub.desired_guardians(), int(time.time()) if now is None else int(now))

    return env, sched, hub, join, sync


def basic_cert(digest: bytes, members, index: int) -> QuorumCertificate:
    return QuorumCertificate.build(digest, "Basic", [m.keys for m in members], set_id=index)


def test_guardian_set_follows_registration_slashing_and_lapse(registry):
    env, sched, hub, join, sync = registry
    read = lambda a, s: env.chain.storage(a, s)
    digest = b"\x31" * 32
    assert sync() is None and gset.current_index(read) is None  # nobody registered: no set at all
    whale, a, b = join(4 * ETH), join(ETH), join(ETH)
    index = sync()
    assert index == 0 and gset.total(read, 0) == 6 * ETH and gset.size(read, 0) == 3
    assert sync() == 0  # nothing changed: no rotation
    now = int(time.time())
    # exactly 2/3 of the stake in one validator passes at Basic; two of three heads (1/3) do not
    assert tally(basic_cert(digest, [whale], 0), read, now).passed
    assert not tally(basic_cert(digest, [a, b], 0), read, now).passed
    # the whale is slashed (a losing result: a tenth of its stake): the bridge's set follows
    with sched._lock:
        slash(sched.validators[whale.address])
    assert whale.stake == 36 * ETH // 10
    assert sync() == 1 and gset.weight(read, 1, whale.pub.key_hash) == whale.stake
    assert not tally(basic_cert(digest, [whale], 1), read, now).passed  # 3.6 of 5.6 ETH < 2/3
    assert tally(basic_cert(digest, [whale, a], 1), read, now).passed
    # ... while the old set stays valid for the stated grace period, then is refused
    assert tally(basic_cert(digest, [whale], 0), read, now + gset.GRACE_SECONDS - 1).passed
    with pytest.raises(DeliveryRefused, match="guardian set 0 expired"):
        tally(basic_cert(digest, [whale], 0), read, now + gset.GRACE_SECONDS)
    # a newcomer joins; a silent validator lapses out (issue 11's heartbeat grace)
    c = join(2 * ETH)
    assert sync() == 2 and gset.size(read, 2) == 4
    b.silent = True
    deadline = time.time() + GRACE + 0.6
    while time.time() < deadline:  # b stays silent, the others keep beating
        for m in (whale, a, c):
            m.beat()
        time.sleep(0.5)
    assert sync() == 3
    assert gset.weight(read, 3, b.pub.key_hash) == 0 and gset.size(read, 3) == 3
    assert gset.total(read, 3) == whale.stake + a.stake + c.stake


def test_all_validators_gone_retires_the_set(registry):
    env, sched, hub, join, sync = registry
    read = lambda a, s: env.chain.storage(a, s)
    m = join(2 * ETH)
    assert sync() == 0
    now = time.time()
    assert sync(now + GRACE + 1) is None  # silent past the grace: no active validator left
    retired_at = int(now + GRACE + 1)
    assert gset.set_status(read, 0, retired_at + gset.GRACE_SECONDS - 1) == ""  # the bridge's grace still runs
    assert "retired" in gset.set_status(read, 0, retired_at + gset.GRACE_SECONDS)
    from ai.scheduler import AIError

    with pytest.raises(AIError, match="attestation lapsed"):
        m.beat()
    m.attest()  # it comes back with a fresh attestation
    assert sync() == 1 and gset.set_status(read, 1, int(time.time())) == ""


def test_bridge_never_trusts_a_caller_supplied_set(registry):
    """guardian_source = "validators": synergy_setBridgeGuardians is refused; an endorsement
    is checked against the registry's own keys, never the caller's."""
    from app.rpc.bridge import synergy_set_bridge_guardians
    from app.rpc.errors import rpc_error

    env, sched, hub, join, sync = registry
    hub.node.bridge = hub
    mallory = DevGuardians(3, seed=b"mallory stake ")
    with pytest.raises(BridgeError, match="derives its bridge guardian sets from the validator registry") as refused:
        asyncio.run(synergy_set_bridge_guardians(hub.node, ["0x" + k.signing_keys().encode().hex()
                                                            for k in mallory.pqc_members()]))
    assert rpc_error(refused.value).code == -32000  # the one error map: a refusal, with its text
    v = join(2 * ETH)
    sync()
    enhanced = KeySet.generate("Enhanced", with_kem=False)
    ek = AttesterKeys.from_keyset(enhanced)
    ed = bytes(ek.ed25519.pubkey())
    h = enhanced.signing_keys().key_hash
    binding = bundle.sign(enhanced, attester_binding(hub.chain_id, h, ek.evm_address, ed)).encode()

    def register(endorser: KeySet, validator: bytes):
        sig = bundle.sign(endorser, endorsement_message(hub.chain_id, validator, h)).encode()
        return hub.register_attester(enhanced.signing_keys().encode(), ek.evm_address, ed, binding,
                                     {"validator": "0x" + validator.hex(), "signature": "0x" + sig.hex()})

    outsider = KeySet.generate(protocol.LEVEL, with_kem=False)
    with pytest.raises(BridgeError, match="not from validator"):  # signed by keys that are not v's
        register(outsider, v.address)
    with pytest.raises(BridgeError, match="not a registered validator"):
        register(outsider, protocol.validator_address(outsider.signing_keys()))
    with pytest.raises(BridgeError, match="not in the current guardian set"):  # no endorsement: not a guardian
        hub.register_attester(enhanced.signing_keys().encode(), ek.evm_address, ed, binding)
    register(v.keys, v.address)
    assert sync() == 1
    read = lambda a, s: env.chain.storage(a, s)
    assert gset.weight(read, 1, h) == v.stake == gset.weight(read, 1, v.pub.key_hash)
    assert gset.total(read, 1) == v.stake and gset.size(read, 1) == 1  # one validator, two keys, counted once
    digest = b"\x55" * 32
    t = tally(QuorumCertificate.build(digest, "Enhanced", [enhanced], set_id=1), read, int(time.time()))
    assert t.passed and t.signed == v.stake


def test_evm_verifier_mirrors_the_stakes_through_a_rotation(registry, bridge_out):
    """The AIVM set's stakes become the foreign verifier's weights via rotateGuardians (signed by
    75% of the foreign chain's current set); then stake, not heads, decides there too."""
    env, sched, hub, join, sync = registry
    whale, a, b = join(4 * ETH - 1), join(ETH), join(ETH)
    sync()
    for m in (whale, a, b):
        k = m.attester
        ed = bytes(k.ed25519.pubkey())
        hub.register_attester(m.pub.encode(), k.evm_address, ed,
                              bundle.sign(m.keys, attester_binding(hub.chain_id, m.pub.key_hash, k.evm_address, ed)).encode())
    view = hub.guardian_set()
    assert view["source"] == "validators" and view["total_stake"] == str(6 * ETH - 1)
    signers, weights = view["evm"]["signers"], [int(w) for w in view["evm"]["weights"]]
    assert sorted(weights) == [ETH, ETH, 4 * ETH - 1] and view["evm"]["uncovered_stake"] == "0"
    assert signers == sorted(signers, key=lambda x: int(x, 16))
    by_address = {m.attester.evm_address: m for m in (whale, a, b)}
    # the foreign chain starts (as the devnet deploys it) with the same keys at weight 1 each
    foreign = Env()
    evm = foreign.deploy(bridge_out, False, signers, [1, 1, 1])
    rotation = evm.rotationDigest(2, signers, weights)
    rs, ss, vs = ecdsa_quorum([m.attester for m in (whale, a, b)], rotation)
    evm.transact("rotateGuardians", signers, weights, rs, ss, vs)
    assert evm.guardianIndex() == 2 and evm.guardianTotal(2) == 6 * ETH - 1
    digest = b"\x66" * 32
    whale_alone = ecdsa_quorum([whale.attester], digest)
    assert evm.quorumReached(digest, 1, 2, *whale_alone) is False  # 4 ETH - 1 wei: one wei below 2/3
    assert evm.quorumReached(digest, 1, 1, *whale_alone) is False  # old set: 1 of 3 heads
    assert evm.quorumReached(digest, 1, 2, *ecdsa_quorum([whale.attester, a.attester], digest)) is True
    small = ecdsa_quorum([a.attester, b.attester], digest)
    assert evm.quorumReached(digest, 1, 1, *small) is True  # by heads (old set, in grace): 2 of 3
    assert evm.quorumReached(digest, 1, 2, *small) is False  # by stake: 2 of 6 ETH
    assert set(by_address) == set(signers)


def test_hub_certifies_at_the_level_the_stake_reached(registry):
    """Validators attest with their Basic keys; one also has an endorsed Enhanced bundle. A Basic
    message is attested by the Basic votes (2/3 of the stake), not spoiled by the lone Enhanced
    vote; the pending certificate carries only the votes at its level and passes 0x0130's rule."""
    import orjson

    env, sched, hub, join, sync = registry
    whale, a, b = join(40 * ETH), join(10 * ETH), join(10 * ETH)  # wei above 2**64: strings in replies
    assert sync() == 0
    enhanced = KeySet.generate("Enhanced", with_kem=False)
    for m in (whale, a, b):
        k = m.attester
        ed = bytes(k.ed25519.pubkey())
        hub.register_attester(m.pub.encode(), k.evm_address, ed,
                              bundle.sign(m.keys, attester_binding(hub.chain_id, m.pub.key_hash, k.evm_address, ed)).encode())
    ek = AttesterKeys.from_keyset(enhanced)
    ed = bytes(ek.ed25519.pubkey())
    h = enhanced.signing_keys().key_hash
    hub.register_attester(enhanced.signing_keys().encode(), ek.evm_address, ed,
                          bundle.sign(enhanced, attester_binding(hub.chain_id, h, ek.evm_address, ed)).encode(),
                          {"validator": "0x" + a.address.hex(),
                           "signature": "0x" + bundle.sign(a.keys, endorsement_message(hub.chain_id, a.address, h)).encode().hex()})
    assert sync() == 1
    msg = transfer_message(b"\x99" * 20, src_chain=777, src_bridge=b"\x11" * 20, dst_chain=hub.chain_id,
                           level=SecurityLevel.BASIC)

    def attest(keys: KeySet):
        return hub.submit({"source_chain": "ethereum", "message": "0x" + msg.encode().hex(),
                           "pqc_keys": "0x" + keys.signing_keys().encode().hex(),
                           "pqc_signature": "0x" + bundle.sign(keys, msg.digest).encode().hex()})

    assert attest(enhanced)["status"] == "initiated"  # a's stake through its Enhanced key: 10 of 60 ETH
    st = attest(whale.keys)
    assert (st["status"], st["signed_weight"], st["required_weight"]) == ("attested", str(40 * ETH), str(40 * ETH))
    orjson.dumps(st)  # what the RPC layer sends
    (p,) = hub.pending()
    cert = QuorumCertificate.decode(bytes.fromhex(p["certificate"][2:]))
    assert cert.level is SecurityLevel.BASIC and len(cert.votes) == 1 and cert.set_id == 1
    ok, _ = check_delivery(msg.encode(), cert.encode(), chain_id=hub.chain_id, caller=b"\x99" * 20,
                           read=lambda x, y: env.chain.storage(x, y), now=int(time.time()))
    assert ok.digest == msg.digest


# -- foreign EVM sets follow the AIVM set's stakes: signed by attesters, pushed by a relayer ----------
class HubNode:
    """The node's JSON-RPC, answered by the hub itself (what NodeClient.rpc would return)."""

    def __init__(self, hub, lie=None) -> None:
        self.hub, self.lie = hub, lie

    def rpc(self, method, *params):
        from bridge.evm import ChainError

        fn = {"synergy_getBridgeGuardianSet": self.hub.guardian_set,
              "synergy_submitGuardianRotation": self.hub.submit_rotation,
              "synergy_getGuardianRotations": self.hub.rotations}[method]
        try:
            out = fn(*params)
        except BridgeError as exc:
            raise ChainError(f"node: {method}: {exc}") from None
        return self.lie(out) if self.lie and method == "synergy_getBridgeGuardianSet" else out


class EnvClient:
    """bridge.evm.EvmClient's view/send over an in-process chain (the same bytecode Anvil runs)."""

    def __init__(self, env: Env) -> None:
        self.env = env

    def view(self, address, contract, fn, *args):
        from bridge.evm import ChainError, calldata, returns

        r = self.env.chain.call(sender=self.env.accounts[0], to=bytes.fromhex(address[2:]),
                                data=calldata(contract, fn, *args))
        if not r.success:
            raise ChainError(f"{fn} reverted")
        return returns(contract, fn, r.output)

    def send(self, key, to, data):
        r = self.env.chain.transact(sender=self.env.accounts[1], to=bytes.fromhex(to[2:]), data=data, gas=5_000_000)
        assert r.success
        return r


def test_foreign_evm_set_rotates_to_the_aivm_stakes(registry, bridge_out):
    from bridge.rotation import RotationPusher, RotationRefused, RotationSigner

    env, sched, hub, join, sync = registry
    members = [join(4 * ETH - 1), join(ETH), join(ETH)]
    whale, a, b = members
    sync()
    for m in members:
        k = m.attester
        ed = bytes(k.ed25519.pubkey())
        hub.register_attester(m.pub.encode(), k.evm_address, ed,
                              bundle.sign(m.keys, attester_binding(hub.chain_id, m.pub.key_hash, k.evm_address, ed)).encode())
    foreign = Env()
    signers = sorted((m.attester.evm_address for m in members), key=lambda x: int(x, 16))
    evm = foreign.deploy(bridge_out, False, signers, [1, 1, 1])  # as the devnet deploys: weight 1 each
    lanes = [{"name": "ethereum", "kind": "evm", "chain_id": 777, "rpc_url": "in-process",
              "bridge_address": "0x" + evm.address.hex()}]
    client = lambda url: EnvClient(foreign)
    node = HubNode(hub)
    storage = lambda x, y: env.chain.storage(x, y)
    signer = {m.address: RotationSigner(node, m.attester, hub.chain_id, storage, every=0, client=client)
              for m in members}
    pusher = RotationPusher(node, "0x" + "01" * 32, every=0, client=client)
    assert signer[whale.address].step(lanes) == 1 and signer[a.address].step(lanes) == 1
    assert pusher.step({l["name"]: l for l in lanes}) == 0  # 2 of 3 heads < 3/4 of the foreign set
    assert signer[b.address].step(lanes) == 1
    assert pusher.step({l["name"]: l for l in lanes}) == 1
    assert evm.guardianIndex() == 2 and evm.guardianTotal(2) == 6 * ETH - 1
    for m in members:
        assert evm.guardianWeight(2, m.attester.evm_address) == m.stake
    assert signer[b.address].step(lanes) == 0  # nothing left to sign: the foreign set matches
    # a lying node (the whale's weight inflated) gets no signature
    def inflate(view):
        view = {**view, "evm": {**view["evm"], "weights": list(view["evm"]["weights"])}}
        i = view["evm"]["signers"].index(whale.attester.evm_address)
        view["evm"]["weights"][i] = str(int(view["evm"]["weights"][i]) + ETH)
        return view

    with pytest.raises(RotationRefused, match="not the stakes chain state records"):
        RotationSigner(HubNode(hub, inflate), a.attester, hub.chain_id, storage, every=0, client=client).step(lanes)
    # the hub keeps only signatures of registered attesters for exactly the current mirror
    with pytest.raises(BridgeError, match="not the current guardian set's EVM mirror"):
        hub.submit_rotation("ethereum", {"digest": "0x" + "ab" * 32, "index": 3, "aivm_set": 0,
                                         "signers": signers, "weights": ["1", "1", "1"],
                                         "signature": dict(zip("rsv", (lambda r, s, v: ("0x" + r.hex(), "0x" + s.hex(), v))(
                                             *a.attester.sign_ecdsa(b"\xab" * 32))))})
    mallory = AttesterKeys.derive(b"mallory rotation")
    with pytest.raises(BridgeError, match="no registered attester"):
        hub.submit_rotation("ethereum", {"digest": "0x" + "ab" * 32, "index": 3, "aivm_set": 0, "signers": [],
                                         "weights": [], "signature": dict(zip("rsv", (lambda r, s, v: (
                                             "0x" + r.hex(), "0x" + s.hex(), v))(*mallory.sign_ecdsa(b"\xab" * 32))))})
    # the whale is slashed: AIVM set 1, then the foreign set follows; now stake decides the rotation
    with sched._lock:
        slash(sched.validators[whale.address])
    assert sync() == 1
    assert signer[a.address].step(lanes) == 1 and signer[b.address].step(lanes) == 1
    assert pusher.step({l["name"]: l for l in lanes}) == 0  # 2 ETH of 6 ETH - 1 wei: no rotation
    assert signer[whale.address].step(lanes) == 1
    assert pusher.step({l["name"]: l for l in lanes}) == 1
    assert evm.guardianIndex() == 3 and evm.guardianWeight(3, whale.attester.evm_address) == whale.stake
    # rotations to AIVM sets that are no longer current are dropped from the hub's store
    assert [r["aivm_set"] for _, r in hub.node.chain.index.meta_items("bridge/rotation/")] == [1]


@pytest.mark.parametrize("level", LEVELS, ids=lambda l: l.title)
def test_evm_verifier_by_stake_exact_and_one_wei_below(level, bridge_out):
    """The foreign verifier with wei stakes as weights: the same boundary as 0x0130, every level;
    most heads with a minority of the stake pass nothing."""
    g = DevGuardians(3, seed=b"evm stake ")
    exact, below = exact_sets(level)
    digest = b"\x77" * 32
    for stakes, passes in ((exact, True), (below, False)):
        env = Env()
        evm = env.deploy(bridge_out, False, g.addresses(), stakes)  # ascending signers, stakes as weights
        assert evm.quorumReached(digest, int(level), 1, *g.ecdsa(digest, [0, 1])) is passes, (level, stakes)
        # the two small-stake guardians without the largest: never enough
        assert evm.quorumReached(digest, int(level), 1, *g.ecdsa(digest, [1, 2])) is False


def test_basic_validator_votes_attest_an_enhanced_message_only_for_non_pqc_destinations(registry):
    """Validators' Basic PQC votes show the hub who attested; an EVM destination checks its own
    (ECDSA) quorum at the message's level, so an Enhanced message to it is attested. To AIVM, whose
    0x0130 needs an Enhanced certificate, it stays 'initiated' (it needs endorsed Enhanced keys)."""
    env, sched, hub, join, sync = registry
    members = [join(2 * ETH), join(ETH), join(ETH)]
    assert sync() == 0
    for m in members:
        k = m.attester
        ed = bytes(k.ed25519.pubkey())
        hub.register_attester(m.pub.encode(), k.evm_address, ed,
                              bundle.sign(m.keys, attester_binding(hub.chain_id, m.pub.key_hash, k.evm_address, ed)).encode())

    def attest_all(source: str, msg) -> dict:
        st = {}
        for m in members:
            st = hub.submit({"source_chain": source, "message": "0x" + msg.encode().hex(),
                             "pqc_keys": "0x" + m.pub.encode().hex(),
                             "pqc_signature": "0x" + bundle.sign(m.keys, msg.digest).encode().hex()})
        return st

    to_evm = transfer_message(b"\x11" * 20, src_chain=hub.chain_id, src_bridge=b"\x99" * 20, dst_chain=777,
                              level=SecurityLevel.ENHANCED)
    assert attest_all("aivm", to_evm)["status"] == "attested"
    to_aivm = transfer_message(b"\x99" * 20, src_chain=777, src_bridge=b"\x11" * 20, dst_chain=hub.chain_id,
                               level=SecurityLevel.ENHANCED)
    st = attest_all("ethereum", to_aivm)
    assert st["status"] == "initiated" and st["signed_weight"] == 0
