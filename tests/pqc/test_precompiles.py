"""The verify precompiles, called directly through the EVM (eth_call to the address)."""
from __future__ import annotations

import pytest
from eth_abi import encode
from hypothesis import given, settings, strategies as st

import precompiles
from pqc import algorithms as alg
from pqc import bundle, gas
from pqc.levels import SecurityLevel
from precompiles.pqc_verify import ONE, ZERO, verify_bundle, verify_signature
from precompiles.registry import PrecompileError
from vm.chain import Chain

from pqc_helpers import MESSAGE, flip

FAMILY_ADDRESS = {"ML-DSA": 0x0110, "Falcon": 0x0111, "SLH-DSA": 0x0112}
PQ_SIGS = [a for a in alg.SIGNATURES.values() if a.family in FAMILY_ADDRESS]


def address(n: int) -> bytes:
    return n.to_bytes(20, "big")


def sig_input(a, pk, message, sig) -> bytes:
    return encode(["uint16", "bytes", "bytes", "bytes"], [a.id, pk, message, sig])


@pytest.fixture(scope="module")
def chain():
    return Chain.ephemeral()


def test_registered_where_the_docs_say():
    names = {p.address: p.name for p in precompiles.all_precompiles()}
    assert {a: names[a] for a in (0x0110, 0x0111, 0x0112, 0x0113, 0x0118)} == {
        0x0110: "pqc_mldsa_verify", 0x0111: "pqc_falcon_verify", 0x0112: "pqc_slhdsa_verify",
        0x0113: "pqc_bundle_verify", 0x0118: "pqc_quorum_verify",
    }
    text = open("docs/precompiles.md").read()
    for a, name in names.items():
        if 0x0110 <= a <= 0x011F:
            assert f"| {a:#06x} | {name} |" in text


@pytest.mark.parametrize("a", PQ_SIGS, ids=lambda a: a.name)
def test_every_algorithm_through_the_evm(a, signed, chain):
    pk, _, sig = signed[a.id]
    to = address(FAMILY_ADDRESS[a.family])
    good = sig_input(a, pk, MESSAGE, sig)
    r = chain.call(to=to, data=good)
    assert r.success and r.output == ONE
    intrinsic = 21_000 + sum(16 if b else 4 for b in good)
    assert r.gas_used == intrinsic + gas.verify_gas(a.id) + gas.WORD_GAS * gas.words(len(good))
    bad = chain.call(to=to, data=sig_input(a, pk, MESSAGE + b"?", sig))
    assert bad.success and bad.output == ZERO


def test_wrong_family_unknown_id_bad_key_fail_the_call(signed, chain):
    mldsa = alg.signature("ML-DSA-44")
    pk, _, sig = signed[mldsa.id]
    falcon_addr = address(0x0111)
    assert not chain.call(to=falcon_addr, data=sig_input(mldsa, pk, MESSAGE, sig)).success
    with pytest.raises(PrecompileError, match="ML-DSA-44 is not an Falcon algorithm"):
        verify_signature(sig_input(mldsa, pk, MESSAGE, sig), "Falcon")
    unknown = encode(["uint16", "bytes", "bytes", "bytes"], [0x0199, pk, MESSAGE, sig])
    assert not chain.call(to=address(0x0110), data=unknown).success
    with pytest.raises(PrecompileError, match="public key is 1311 bytes"):
        verify_signature(sig_input(mldsa, pk[:-1], MESSAGE, sig), "ML-DSA")
    with pytest.raises(PrecompileError, match="trailing"):
        verify_signature(sig_input(mldsa, pk, MESSAGE, sig) + b"\x00", "ML-DSA")


def test_truncated_signature_is_zero_not_error(signed):
    a = alg.signature("Falcon-512")
    pk, _, sig = signed[a.id]
    assert verify_signature(sig_input(a, pk, MESSAGE, sig[:-1]), "Falcon") == ZERO
    assert verify_signature(sig_input(a, pk, MESSAGE, b""), "Falcon") == ZERO


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_bit_flipped_input_never_verifies(data, signed):
    a = data.draw(st.sampled_from([alg.signature(n) for n in ("ML-DSA-44", "Falcon-512",
                                                                "SLH-DSA-SHA2-128s")]))
    pk, _, sig = signed[a.id]
    good = sig_input(a, pk, MESSAGE, sig)
    bit = data.draw(st.integers(0, 8 * len(good) - 1))
    try:
        out = verify_signature(flip(good, bit), a.family)
    except PrecompileError:
        return
    assert out == ZERO


def bundle_input(level, keys, message, b) -> bytes:
    return encode(["uint8", "bytes", "bytes", "bytes"], [int(level), keys, message, b])


@pytest.mark.parametrize("level", [SecurityLevel.BASIC, SecurityLevel.ENHANCED, SecurityLevel.MAXIMUM],
                         ids=lambda lv: lv.title)
def test_bundle_precompile(level, keysets, chain):
    keys = keysets[level]
    b = bundle.sign(keys, MESSAGE).encode()
    data = bundle_input(level, keys.signing_keys().encode(), MESSAGE, b)
    r = chain.call(to=address(0x0113), data=data)
    assert r.success and r.output == ONE
    assert verify_bundle(bundle_input(level, keys.signing_keys().encode(), b"other", b)) == ZERO
    assert verify_bundle(bundle_input(level, keys.signing_keys().encode(), MESSAGE, b[:-1])) == ZERO


def test_bundle_precompile_rejects_level_mismatch_and_bad_keys(keysets):
    keys = keysets[SecurityLevel.ENHANCED]
    b = bundle.sign(keys, MESSAGE).encode()
    assert verify_bundle(bundle_input(SecurityLevel.BASIC, keys.signing_keys().encode(),
                                      MESSAGE, b)) == ZERO
    with pytest.raises(PrecompileError, match="key bundle: truncated"):
        verify_bundle(bundle_input(SecurityLevel.ENHANCED, keys.signing_keys().encode()[:-1],
                                   MESSAGE, b))
    with pytest.raises(PrecompileError, match="unknown security level"):
        verify_bundle(bundle_input(7, keys.signing_keys().encode(), MESSAGE, b))


def test_gas_of_garbage_fails_the_call(chain):
    r = chain.call(to=address(0x0110), data=b"\x01\x02")
    assert not r.success
    r = chain.call(to=address(0x0118), data=bytes(64))
    assert not r.success
