"""`synergy_getPQCSecurityStats` has the guide's shape and counts real work."""
from __future__ import annotations

import pytest

from pqc import audit, bundle, seal, stats
from pqc import algorithms as alg
from pqc.levels import SecurityLevel

from pqc_helpers import MESSAGE


@pytest.fixture(autouse=True)
def fresh_stats():
    stats.reset()
    yield
    stats.reset()


def test_shape_matches_the_guide():
    result = stats.security_stats()
    assert list(result) == [
        "active_pqc_algorithms", "total_signatures_verified", "total_encryptions_performed",
        "zk_proofs_generated", "security_level_distribution", "quantum_attack_resistance",
        "last_security_audit",
    ]
    assert list(result["security_level_distribution"]) == ["Basic", "Enhanced", "Maximum", "Military"]
    assert result["active_pqc_algorithms"] == 5
    assert result["quantum_attack_resistance"] == "unaudited"
    assert result["last_security_audit"] is None


def test_counts_follow_operations(keysets):
    enhanced, maximum = keysets[SecurityLevel.ENHANCED], keysets[SecurityLevel.MAXIMUM]
    bundle.verify(bundle.sign(enhanced, MESSAGE), enhanced.signing_keys(), MESSAGE)
    bundle.verify(bundle.sign(maximum, MESSAGE), maximum.signing_keys(), MESSAGE)
    assert not bundle.check(bundle.sign(maximum, MESSAGE), maximum.signing_keys(), b"other")[0]
    seal.seal(b"x", enhanced.kem_keys(), sender=b"a", recipient=b"b")
    result = stats.security_stats()
    assert result["total_signatures_verified"] == 2 + 3
    assert result["total_encryptions_performed"] == 1
    assert result["security_level_distribution"] == {"Basic": 0, "Enhanced": 2, "Maximum": 2,
                                                      "Military": 0}
    assert stats.counters()["signature_failures"] == 1


def test_audit_sets_time_and_resistance(monkeypatch):
    results = audit.run()
    assert results == dict.fromkeys(["ML-DSA", "Falcon", "SLH-DSA", "ML-KEM", "Classic-McEliece"], True)
    after = stats.security_stats()
    assert after["quantum_attack_resistance"] == "100%"
    assert after["last_security_audit"].endswith("Z")


def test_audit_reports_a_broken_family(monkeypatch):
    falcon = alg.signature("Falcon-512")
    broken = type(falcon)(**{**falcon.__dict__, "_verify": lambda pk, m, s: True})
    monkeypatch.setitem(alg.SIGNATURES, falcon.id, broken)
    assert audit.run()["Falcon"] is False
    assert stats.security_stats()["quantum_attack_resistance"] == "80%"
