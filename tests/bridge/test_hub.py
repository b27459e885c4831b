"""The node's hub: attestations are checked against registered identities, never taken on trust."""
from __future__ import annotations

import time

import pytest

from interop import guardians as gset
from interop.config import Lane
from bridge.hub import BridgeError, BridgeHub, attester_binding
from bridge.keys import AttesterKeys
from interop.message import word
from bridge.testing import DevGuardians
from interop.verify import DeliveryRefused, check_delivery
from pqc import bundle
from pqc.levels import SecurityLevel
from tests.bridge.conftest import transfer_message
from vm.chain import Chain

ETH_BRIDGE = "0x" + "11" * 20
AIVM_BRIDGE = "0x" + "99" * 20


class Node:
    def __init__(self) -> None:
        self.chain = Chain.ephemeral()
        self.config = None


@pytest.fixture
def hub():
    node = Node()
    lanes = {"aivm": Lane("aivm", "aivm", "http://127.0.0.1:1", 31337, 1, AIVM_BRIDGE, SecurityLevel.ENHANCED),
             "ethereum": Lane("ethereum", "evm", "http://127.0.0.1:2", 777, 1, ETH_BRIDGE, SecurityLevel.ENHANCED)}
    return BridgeHub(node, lanes)


def attesters(n=3):
    g = DevGuardians(n, seed=b"hub ")
    return [AttesterKeys.from_keyset(g.pqc(i)) for i in range(n)]


def install(hub, members):
    read = hub.storage_read
    _, writes = gset.rotation_writes(read, [m.pqc.signing_keys() for m in members], int(time.time()))
    for a, s, v in writes:
        hub.node.chain.set_storage(a, s, v)


def register(hub, k):
    ed = bytes(k.ed25519.pubkey())
    sig = bundle.sign(k.pqc, attester_binding(hub.chain_id, k.pqc.signing_keys().key_hash, k.evm_address, ed))
    return hub.register_attester(k.pqc.signing_keys().encode(), k.evm_address, ed, sig.encode())


def attestation(k, msg, **over):
    r, s, v = k.sign_ecdsa(msg.digest)
    att = {"source_chain": "ethereum", "message": "0x" + msg.encode().hex(),
           "pqc_keys": "0x" + k.pqc.signing_keys().encode().hex(),
           "pqc_signature": "0x" + bundle.sign(k.pqc, msg.digest).encode().hex(),
           "secp256k1": {"r": "0x" + r.hex(), "s": "0x" + s.hex(), "v": v}}
    att.update(over)
    return att


def eth_message(seq=1):
    return transfer_message(bytes.fromhex(AIVM_BRIDGE[2:]), src_chain=777, src_bridge=bytes.fromhex(ETH_BRIDGE[2:]),
                            sequence=seq)


def test_registration_needs_a_current_guardian_and_its_own_signature(hub):
    ks = attesters()
    with pytest.raises(BridgeError, match="no guardian set"):
        register(hub, ks[0])
    install(hub, ks[:2])
    with pytest.raises(BridgeError, match="not in the current guardian set"):
        register(hub, ks[2])
    k = ks[0]
    ed = bytes(k.ed25519.pubkey())
    other = bundle.sign(k.pqc, attester_binding(hub.chain_id, k.pqc.signing_keys().key_hash, ks[1].evm_address, ed))
    with pytest.raises(BridgeError, match="binding signature refused"):  # claims someone else's secp256k1 key
        hub.register_attester(k.pqc.signing_keys().encode(), k.evm_address, ed, other.encode())
    assert register(hub, k)["evm_address"] == k.evm_address


def test_attestations_are_checked_then_counted_once(hub):
    ks = attesters(3)
    install(hub, ks)
    for k in ks:
        register(hub, k)
    msg = eth_message()
    with pytest.raises(BridgeError, match="does not come from the ethereum bridge"):
        forged = transfer_message(bytes.fromhex(AIVM_BRIDGE[2:]), src_chain=777, src_bridge=b"\x12" * 20)
        hub.submit(attestation(ks[0], forged))
    wrong_secp = attestation(ks[0], msg)
    wrong_secp["secp256k1"] = attestation(ks[1], msg)["secp256k1"]
    with pytest.raises(BridgeError, match="not from the attester's registered key"):
        hub.submit(wrong_secp)
    with pytest.raises(BridgeError, match="PQC signature refused"):
        hub.submit(attestation(ks[0], msg, pqc_signature=attestation(ks[0], eth_message(2))["pqc_signature"]))
    with pytest.raises(BridgeError, match="malformed"):
        hub.submit({"message": 5})
    st = hub.submit(attestation(ks[0], msg))
    assert (st["status"], st["attestations"]) == ("initiated", 1)
    assert hub.submit(attestation(ks[0], msg))["attestations"] == 1   # a repeat counts once
    hub.submit(attestation(ks[1], msg))
    st = hub.submit(attestation(ks[2], msg))
    assert (st["status"], st["signed_weight"], st["required_weight"]) == ("attested", 3, 3)
    (p,) = hub.pending()
    assert len(p["ecdsa"]) == 3 and p["certificate"].startswith("0x")


def test_delivery_report_is_believed_only_if_the_destination_confirms(hub):
    ks = attesters(3)
    install(hub, ks)
    for k in ks:
        register(hub, k)
    msg = eth_message()
    for k in ks:
        hub.submit(attestation(k, msg))
    with pytest.raises(BridgeError, match="has not delivered"):
        hub.report("0x" + msg.digest.hex(), "delivered", "0x" + "ab" * 32)  # no bridge there: nothing delivered
    r = hub.apply_report(hub.report("0x" + msg.digest.hex(), "failed", None, "bridge: paused"))
    assert (r["status"], r["reason"]) == ("failed", "bridge: paused")


def test_zk_levels_are_refused_by_the_delivery_check():
    msg = transfer_message(b"\x99" * 20, level=SecurityLevel.MAXIMUM)
    with pytest.raises(DeliveryRefused, match="zero-knowledge"):
        check_delivery(msg.encode(), b"", chain_id=31337, caller=b"\x99" * 20, read=lambda a, s: 0, now=0)
    with pytest.raises(DeliveryRefused, match="for bridge"):
        check_delivery(transfer_message(b"\x99" * 20).encode(), b"", chain_id=31337, caller=b"\x98" * 20,
                       read=lambda a, s: 0, now=0)
