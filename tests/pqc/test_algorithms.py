"""Every algorithm round-trips, rejects tampering, and never accepts another's signature."""
from __future__ import annotations

import pytest

from pqc import algorithms as alg
from pqc.errors import FormatError

from pqc_helpers import MESSAGE, flip

# The ids are part of every binary format: this table pins them.
PINNED_IDS = {
    0x0001: "secp256k1",
    0x0101: "ML-DSA-44", 0x0102: "ML-DSA-65", 0x0103: "ML-DSA-87",
    0x0201: "Falcon-512", 0x0202: "Falcon-1024",
    0x0301: "SLH-DSA-SHA2-128f", 0x0302: "SLH-DSA-SHA2-128s", 0x0303: "SLH-DSA-SHA2-192f",
    0x0304: "SLH-DSA-SHA2-192s", 0x0305: "SLH-DSA-SHA2-256f", 0x0306: "SLH-DSA-SHA2-256s",
    0x0311: "SLH-DSA-SHAKE-128f", 0x0312: "SLH-DSA-SHAKE-128s", 0x0313: "SLH-DSA-SHAKE-192f",
    0x0314: "SLH-DSA-SHAKE-192s", 0x0315: "SLH-DSA-SHAKE-256f", 0x0316: "SLH-DSA-SHAKE-256s",
    0x1001: "ML-KEM-512", 0x1002: "ML-KEM-768", 0x1003: "ML-KEM-1024",
    0x1101: "Classic-McEliece-348864", 0x1102: "Classic-McEliece-6688128",
}

SIGS = list(alg.SIGNATURES.values())
# McEliece 6688128 keygen takes ~2 s: it is exercised in test_seal's Military round trip.
FAST_KEMS = [k for k in alg.KEMS.values() if k.name != "Classic-McEliece-6688128"]


def test_ids_are_pinned():
    table = {a.id: a.name for a in [*alg.SIGNATURES.values(), *alg.KEMS.values()]}
    assert table == PINNED_IDS


def test_all_five_nist_families_present():
    families = {a.family for a in [*alg.SIGNATURES.values(), *alg.KEMS.values()]}
    assert set(alg.PQC_FAMILIES) <= families


@pytest.mark.parametrize("a", SIGS, ids=lambda a: a.name)
def test_signature_round_trip_and_tamper(a, signed):
    pk, sk, sig = signed[a.id]
    assert (len(pk), len(sk)) == (a.public_key_size, a.secret_key_size)
    assert 0 < len(sig) <= a.signature_size
    assert a.verify(pk, MESSAGE, sig)
    assert not a.verify(pk, MESSAGE + b"!", sig)
    assert not a.verify(pk, MESSAGE, flip(sig, 8 * len(sig) // 2))
    assert not a.verify(pk, MESSAGE, sig[:-1])
    assert not a.verify(pk, MESSAGE, b"")
    assert not a.verify(pk[:-1], MESSAGE, sig)
    assert not a.verify(flip(pk, 3), MESSAGE, sig)


def test_no_signature_verifies_as_another_algorithm(signed):
    """Known-answer cross check: A's signature under B's key never verifies, for all A != B."""
    for a in SIGS:
        for b in SIGS:
            if a is b:
                continue
            sig = signed[a.id][2]
            pk_b = signed[b.id][0]
            assert not b.verify(pk_b, MESSAGE, sig), f"{a.name} signature accepted by {b.name}"


def test_same_family_different_key_rejected(signed):
    a = alg.signature("ML-DSA-65")
    other_pk, _ = a.keygen()
    assert not a.verify(other_pk, MESSAGE, signed[a.id][2])


def test_secp256k1_rejects_high_s(signed):
    from pqc.algorithms import _SECP256K1_N

    pk, _, sig = signed[alg.SECP256K1.id]
    r, s, v = sig[:32], int.from_bytes(sig[32:64], "big"), sig[64]
    twin = r + (_SECP256K1_N - s).to_bytes(32, "big") + bytes([v ^ 1])
    assert not alg.SECP256K1.verify(pk, MESSAGE, twin)
    assert not alg.SECP256K1.verify(pk, MESSAGE, sig[:64] + b"\x07")


@pytest.mark.parametrize("k", FAST_KEMS, ids=lambda k: k.name)
def test_kem_round_trip_and_tamper(k):
    pk, sk = k.keygen()
    assert (len(pk), len(sk)) == (k.public_key_size, k.secret_key_size)
    ct, ss = k.encaps(pk)
    assert len(ct) == k.ciphertext_size and len(ss) == k.shared_secret_size
    assert k.decaps(sk, ct) == ss
    assert k.decaps(sk, flip(ct, 5)) != ss  # implicit rejection: a different secret
    ct2, ss2 = k.encaps(pk)
    assert ss2 != ss


@pytest.mark.parametrize("key", [0x0000, 0x0104, 0xFFFF, "ML-DSA-99", "rsa"])
def test_unknown_algorithm_is_a_format_error(key):
    with pytest.raises(FormatError, match="unknown"):
        alg.signature(key)


def test_lookup_by_name_is_case_insensitive():
    assert alg.signature("falcon-1024").id == 0x0202
    assert alg.kem("ml-kem-768").id == 0x1002


def test_known_answer_vectors_still_verify():
    """Signatures made once and stored: a library upgrade that changes verification
    (e.g. SPHINCS+ moving to FIPS 205 encoding) would fork consensus, so it must fail here."""
    import base64
    import json
    from pathlib import Path

    kat = json.loads((Path(__file__).parent / "vectors" / "signatures.json").read_text())
    message = kat["message"].encode()
    assert len(kat["vectors"]) == 8
    for v in kat["vectors"]:
        a = alg.signature(v["id"])
        assert a.name == v["name"]
        pk, sig = base64.b64decode(v["public_key"]), base64.b64decode(v["signature"])
        assert a.verify(pk, message, sig), a.name
        assert not a.verify(pk, message + b".", sig), a.name
        assert not a.verify(pk, message, flip(sig, 8 * (len(sig) - 1))), a.name
