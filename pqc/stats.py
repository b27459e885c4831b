"""Process-wide PQC counters behind `synergy_getPQCSecurityStats`.

Counted where the work happens (bundle and precompile verification, sealing,
the self-test), so the RPC reports what this node actually did since start.
Thread-safe: RPC threads and block execution update them concurrently.
"""
from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timezone

from pqc.algorithms import KEMS, PQC_FAMILIES, SIGNATURES
from pqc.levels import SecurityLevel

_lock = threading.Lock()
_counts: Counter = Counter()
_levels: Counter = Counter()
_by_algorithm: Counter = Counter()  # (operation, algorithm name) -> count, for the dashboard's breakdown
_audit: dict = {"time": None, "passed": 0, "total": len(PQC_FAMILIES)}


def record_signatures(verified: int = 0, failed: int = 0, algorithm: str | None = None) -> None:
    """Individual signature checks (one per algorithm in a bundle, one per precompile call)."""
    with _lock:
        _counts["signatures_verified"] += verified
        _counts["signature_failures"] += failed
        if algorithm:
            _by_algorithm[("verified", algorithm)] += verified
            _by_algorithm[("failed", algorithm)] += failed


def record_encryption(algorithms: tuple = ()) -> None:
    """One message sealed; `algorithms` names the KEMs and AEADs it used."""
    with _lock:
        _counts["encryptions"] += 1
        for name in algorithms:
            _by_algorithm[("encrypted", name)] += 1


def record_decryption() -> None:
    with _lock:
        _counts["decryptions"] += 1


def record_level(level: SecurityLevel) -> None:
    """One level-tagged operation: a bundle or certificate checked, a message sealed."""
    with _lock:
        _levels[SecurityLevel(level).title] += 1


def record_audit(passed: int, total: int, when: datetime | None = None) -> None:
    with _lock:
        _audit.update(time=when or datetime.now(timezone.utc), passed=passed, total=total)


def counters() -> dict[str, int]:
    """Raw counters, including ones the guide's shape leaves out (failures, decryptions)."""
    with _lock:
        return {k: _counts[k] for k in
                ("signatures_verified", "signature_failures", "encryptions", "decryptions")}


def breakdown() -> dict[str, dict[str, int]]:
    """Operations by algorithm ({"verified"|"failed"|"encrypted": {name: n}}) and by level."""
    with _lock:
        out: dict[str, dict[str, int]] = {"verified": {}, "failed": {}, "encrypted": {}}
        for (op, name), n in _by_algorithm.items():
            if n:
                out[op][name] = n
        out["levels"] = {level.title: _levels[level.title] for level in SecurityLevel}
        return out


def _active_families() -> int:
    loaded = {a.family for a in (*SIGNATURES.values(), *KEMS.values())}
    return sum(1 for family in PQC_FAMILIES if family in loaded)


def security_stats() -> dict:
    """The guide's `synergy_getPQCSecurityStats` result, from real counters.

    `zk_proofs_generated` is 0: this node generates no zero-knowledge proofs.
    `quantum_attack_resistance` is the share of the five NIST families that
    passed the last self-test (`pqc.audit.run`), "unaudited" before one ran;
    `last_security_audit` is that self-test's time (ISO 8601, UTC) or None.
    """
    with _lock:
        audit = dict(_audit)
        levels = {level.title: _levels[level.title] for level in SecurityLevel}
        verified, encryptions = _counts["signatures_verified"], _counts["encryptions"]
    when = audit["time"]
    resistance = (
        f"{round(100 * audit['passed'] / audit['total'])}%" if when is not None else "unaudited"
    )
    return {
        "active_pqc_algorithms": _active_families(),
        "total_signatures_verified": verified,
        "total_encryptions_performed": encryptions,
        "zk_proofs_generated": 0,
        "security_level_distribution": levels,
        "quantum_attack_resistance": resistance,
        "last_security_audit": when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else None,
    }


def reset() -> None:
    """Zero everything (tests, or a node that restarts its stats window)."""
    with _lock:
        _counts.clear()
        _levels.clear()
        _by_algorithm.clear()
        _audit.update(time=None, passed=0, total=len(PQC_FAMILIES))
