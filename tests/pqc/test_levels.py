"""The security-level table is exactly the guide's, and quorum arithmetic rounds up."""
from __future__ import annotations

import pytest

from pqc import algorithms as alg
from pqc.errors import FormatError
from pqc.levels import SecurityLevel


def families(ids):
    return [alg.name_of(i) for i in ids]


def test_table_matches_issue():
    table = {
        level.title: (families(level.suite.signatures), families(level.suite.kems),
                      level.suite.aead, level.suite.quorum_bps)
        for level in SecurityLevel
    }
    assert table == {
        "Basic": (["ML-DSA-65"], [], (), 6700),
        "Enhanced": (["ML-DSA-65", "secp256k1"], ["ML-KEM-768"], ("AES-256-GCM",), 7500),
        "Maximum": (["Falcon-1024", "ML-DSA-87", "SLH-DSA-SHA2-256f"], ["ML-KEM-1024"],
                    ("ChaCha20-Poly1305",), 8000),
        "Military": (["Falcon-1024", "ML-DSA-87", "SLH-DSA-SHA2-256s", "secp256k1"],
                     ["ML-KEM-1024", "Classic-McEliece-6688128"],
                     ("AES-256-GCM", "ChaCha20-Poly1305"), 9000),
    }


@pytest.mark.parametrize("level,size,need", [
    ("Basic", 7, 5), ("Enhanced", 7, 6), ("Maximum", 7, 6), ("Military", 7, 7),
    ("Basic", 3, 3), ("Basic", 100, 67), ("Military", 10, 9), ("Enhanced", 0, 0),
])
def test_required_signers_rounds_up(level, size, need):
    assert SecurityLevel.parse(level).suite.required_signers(size) == need


@pytest.mark.parametrize("text,level", [("basic", 1), ("Military", 4), (" MAXIMUM ", 3), (2, 2)])
def test_parse(text, level):
    assert SecurityLevel.parse(text) == level


@pytest.mark.parametrize("bad", ["Ultra", "", 0, 5, 255])
def test_parse_rejects(bad):
    with pytest.raises(FormatError, match="unknown security level"):
        SecurityLevel.parse(bad)
