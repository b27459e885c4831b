"""Vyper contracts calling every PQC precompile, by eth_call and by transaction.

The quorum test also checks determinism on past state: after a validator is
removed, an eth_call against the earlier block still gives the earlier answer.
"""
from __future__ import annotations

import pytest
import vyper
from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector as selector

from pqc import algorithms as alg
from pqc import bundle, stats
from pqc import validators as registry_layout
from pqc.quorum import QuorumCertificate
from vm.chain import Chain

from pqc_helpers import MESSAGE

MESSAGE_HASH = bytes.fromhex("ab" * 32)

CALLER = """
# pragma version 0.4.3
last: public(uint256)

@external
@view
def check(target: address, data: Bytes[80000]) -> uint256:
    out: Bytes[32] = raw_call(target, data, max_outsize=32, is_static_call=True)
    return convert(out, uint256)

@external
def record(target: address, data: Bytes[80000]):
    out: Bytes[32] = raw_call(target, data, max_outsize=32, is_static_call=True)
    self.last = convert(out, uint256)
"""

BRIDGE = """
# pragma version 0.4.3
QUORUM: constant(address) = 0x0000000000000000000000000000000000000118
accepted: public(HashMap[bytes32, bool])

@external
def accept(message_hash: bytes32, cert: Bytes[120000]) -> uint256:
    out: Bytes[96] = raw_call(QUORUM, cert, max_outsize=96, is_static_call=True)
    passed: bool = convert(slice(out, 0, 32), uint256) == 1
    signers: uint256 = convert(slice(out, 32, 32), uint256)
    assert passed, "quorum not reached"
    assert extract32(cert, 0) == message_hash, "certificate is for another message"
    self.accepted[message_hash] = True
    return signers
"""


def deploy(chain: Chain, source: str) -> bytes:
    out = vyper.compile_code(source, output_formats=["bytecode"])
    r = chain.transact(to=None, data=bytes.fromhex(out["bytecode"][2:]))
    assert r.success, r.error
    return r.contract_address


def call_data(signature: str, types: list[str], args: list) -> bytes:
    return selector(signature) + encode(types, args)


@pytest.fixture(scope="module")
def chain():
    return Chain.ephemeral()


@pytest.fixture(scope="module")
def caller(chain):
    return deploy(chain, CALLER)


@pytest.mark.parametrize("name,address", [("ML-DSA-65", 0x0110), ("Falcon-1024", 0x0111),
                                          ("SLH-DSA-SHA2-128s", 0x0112)])
def test_contract_calls_family_precompile(name, address, signed, chain, caller):
    a = alg.signature(name)
    pk, _, sig = signed[a.id]
    target = address.to_bytes(20, "big")
    for message, expected in ((MESSAGE, 1), (MESSAGE + b"x", 0)):
        data = encode(["uint16", "bytes", "bytes", "bytes"], [a.id, pk, message, sig])
        r = chain.call(to=caller, data=call_data("check(address,bytes)", ["address", "bytes"],
                                                 [target, data]))
        assert r.success and decode(["uint256"], r.output) == (expected,)
    r = chain.transact(to=caller, data=call_data("record(address,bytes)", ["address", "bytes"],
                                                 [target, data[:-32] + bytes(31) + b"\x01"]),
                       gas=3_000_000)
    assert not r.success  # non-zero ABI padding: the precompile call fails, so does the tx


def test_contract_calls_bundle_precompile(keysets, chain, caller):
    from pqc.levels import SecurityLevel

    keys = keysets[SecurityLevel.ENHANCED]
    b = bundle.sign(keys, MESSAGE).encode()
    data = encode(["uint8", "bytes", "bytes", "bytes"], [2, keys.signing_keys().encode(), MESSAGE, b])
    r = chain.transact(to=caller, data=call_data("record(address,bytes)", ["address", "bytes"],
                                                 [(0x0113).to_bytes(20, "big"), data]))
    assert r.success
    last = chain.call(to=caller, data=selector("last()"))
    assert decode(["uint256"], last.output) == (1,)


def test_bridge_accepts_quorum_and_past_state_is_stable(validators, chain):
    bridge = deploy(chain, BRIDGE)
    read = chain.storage
    for keys in validators:
        for address, slot, value in registry_layout.registration_writes(keys.signing_keys(), read):
            chain.set_storage(address, slot, value)
    before = stats.counters()["signatures_verified"]
    cert = QuorumCertificate.build(MESSAGE_HASH, "Enhanced", validators[:6]).encode()
    accept = call_data("accept(bytes32,bytes)", ["bytes32", "bytes"], [MESSAGE_HASH, cert])

    r = chain.transact(to=bridge, data=accept, gas=3_000_000)  # no estimation: one execution
    assert r.success, r.error
    assert decode(["uint256"], r.output) == (6,)
    assert stats.counters()["signatures_verified"] - before == 12  # 6 votes × 2 algorithms
    block_with_six = r.block_number

    wrong = call_data("accept(bytes32,bytes)", ["bytes32", "bytes"], [bytes(32), cert])
    assert "another message" in chain.transact(to=bridge, data=wrong, gas=3_000_000).error

    five = QuorumCertificate.build(MESSAGE_HASH, "Enhanced", validators[:5]).encode()
    r = chain.transact(to=bridge, data=call_data("accept(bytes32,bytes)", ["bytes32", "bytes"],
                                                 [MESSAGE_HASH, five]), gas=3_000_000)
    assert not r.success and "quorum not reached" in r.error

    # Remove validator 0: the set shrinks to 6 and needs ceil(0.75 × 6) = 5; 5 of the 6 votes still count.
    for address, slot, value in registry_layout.removal_writes(validators[0].signing_keys(), read):
        chain.set_storage(address, slot, value)
    chain.transact(to=chain.accounts[1].address, value=1)  # mine the removal into a block
    quorum_address = registry_layout.CONSENSUS_ADDRESS
    latest = chain.call(to=quorum_address, data=cert)
    past = chain.call(to=quorum_address, data=cert, block=block_with_six)
    assert decode(["bool", "uint256", "uint256"], past.output) == (True, 6, 6)
    assert decode(["bool", "uint256", "uint256"], latest.output) == (True, 5, 5)
