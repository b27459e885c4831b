"""Shared, session-scoped key material: key generation and SLH-DSA signing are
the slow parts of this suite, so each is done once and reused read-only."""
from __future__ import annotations

import pytest

from pqc import algorithms as alg
from pqc.keys import KeySet
from pqc.levels import SecurityLevel

from pqc_helpers import MESSAGE


@pytest.fixture(scope="session")
def signed():
    """{alg id: (public key, secret key, signature over MESSAGE)} for every signature algorithm."""
    out = {}
    for a in alg.SIGNATURES.values():
        pk, sk = a.keygen()
        out[a.id] = (pk, sk, a.sign(sk, MESSAGE))
    return out


@pytest.fixture(scope="session")
def keysets():
    """One full key set per level (Military includes a Classic McEliece 6688128 key)."""
    return {level: KeySet.generate(level) for level in SecurityLevel}


@pytest.fixture(scope="session")
def validators():
    """Seven sign-only Enhanced validators, as in the guide's 7-validator clusters."""
    return [KeySet.generate("Enhanced", with_kem=False) for _ in range(7)]

