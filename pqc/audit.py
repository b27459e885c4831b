"""A known-answer self-test of each NIST family, run at node start or on demand.

It feeds `synergy_getPQCSecurityStats` its `last_security_audit` and
`quantum_attack_resistance`: a family passes only if a fresh signature
verifies, a flipped bit is rejected and another family's signature is
rejected (or, for KEMs, both sides agree and a flipped ciphertext does not).
"""
from __future__ import annotations

from pqc import algorithms as alg
from pqc import stats

PROBES = {
    "ML-DSA": "ML-DSA-44", "Falcon": "Falcon-512", "SLH-DSA": "SLH-DSA-SHA2-128f",
    "ML-KEM": "ML-KEM-512", "Classic-McEliece": "Classic-McEliece-348864",
}
MESSAGE = b"AIVM-PQC self-test"


def _flip(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


def _signature_ok(name: str, other: str) -> bool:
    a, b = alg.signature(name), alg.signature(other)
    pk, sk = a.keygen()
    sig = a.sign(sk, MESSAGE)
    other_sig = b.sign(b.keygen()[1], MESSAGE)
    return (a.verify(pk, MESSAGE, sig) and not a.verify(pk, MESSAGE, _flip(sig))
            and not a.verify(pk, _flip(MESSAGE), sig) and not a.verify(pk, MESSAGE, other_sig))


def _kem_ok(name: str) -> bool:
    k = alg.kem(name)
    pk, sk = k.keygen()
    ct, ss = k.encaps(pk)
    return k.decaps(sk, ct) == ss and k.decaps(sk, _flip(ct)) != ss


def run() -> dict[str, bool]:
    """{family: passed} for the five families; records the result in pqc.stats."""
    results = {}
    signature_families = ["ML-DSA", "Falcon", "SLH-DSA"]
    for i, family in enumerate(signature_families):
        other = PROBES[signature_families[(i + 1) % len(signature_families)]]
        results[family] = _safe(lambda: _signature_ok(PROBES[family], other))
    for family in ("ML-KEM", "Classic-McEliece"):
        results[family] = _safe(lambda: _kem_ok(PROBES[family]))
    stats.record_audit(sum(results.values()), len(results))
    return results


def _safe(check) -> bool:
    try:
        return bool(check())
    except Exception:  # a crashing primitive is a failed audit, not a crashed node
        return False
