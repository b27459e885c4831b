"""Gas prices for the PQC precompiles, all in one place.

Each verify price is 3000 × (verify time / ecrecover time), measured on the
reference machine by `python -m bench.bench_pqc` (method and table in
docs/pqc.md), rounded up to 100 gas with ecrecover's 3000 as the floor: a
PQC check is never priced below the cheapest signature check the EVM has, so
timing noise cannot make one a cheap CPU sink. The prices are constants, not
measured at run time, because gas must be identical on every node.
"""
from __future__ import annotations

from pqc import algorithms as alg
from pqc.levels import SecurityLevel

ECRECOVER_GAS = 3000
FLOOR = ECRECOVER_GAS
WORD_GAS = 6           # per 32-byte word of precompile input: hashing and copying, like KECCAK256
SLOAD_GAS = 2100       # a cold storage read (registry membership, set size)
CONSENSUS_BASE = 2000  # certificate decoding and bookkeeping
VOTE_GAS = 6000        # per vote: decoding and hashing its key and signature bundles (~120 µs,
                       # the bench's certificate time per vote minus its bundle verify time)

# Suggested prices of one full bench/bench_pqc.py run (2026-11-24, this machine, CPU time);
# update together with the table in docs/pqc.md.
VERIFY_GAS: dict[str, int] = {
    "secp256k1": 5300,
    "ML-DSA-44": 6300,
    "ML-DSA-65": 10000,
    "ML-DSA-87": 16400,
    "Falcon-512": 3000,
    "Falcon-1024": 4700,
    "SLH-DSA-SHA2-128f": 106200,
    "SLH-DSA-SHA2-128s": 36900,
    "SLH-DSA-SHA2-192f": 158600,
    "SLH-DSA-SHA2-192s": 55400,
    "SLH-DSA-SHA2-256f": 166500,
    "SLH-DSA-SHA2-256s": 80000,
    "SLH-DSA-SHAKE-128f": 162500,
    "SLH-DSA-SHAKE-128s": 58800,
    "SLH-DSA-SHAKE-192f": 241500,
    "SLH-DSA-SHAKE-192s": 81900,
    "SLH-DSA-SHAKE-256f": 239700,
    "SLH-DSA-SHAKE-256s": 121800,
}


def words(n_bytes: int) -> int:
    return -(-n_bytes // 32)


def price(ratio_to_ecrecover: float) -> int:
    """The pricing rule: 3000 × ratio, rounded up to 100, never below the floor."""
    return max(FLOOR, 100 * -(-int(ECRECOVER_GAS * ratio_to_ecrecover) // 100))


def verify_gas(alg_id: int) -> int:
    return VERIFY_GAS[alg.signature(alg_id).name]


def bundle_gas(level: SecurityLevel) -> int:
    """Verifying one signature bundle at `level`: every algorithm the level names."""
    return sum(verify_gas(a) for a in SecurityLevel(level).suite.signatures)


def consensus_gas(level: SecurityLevel, votes: int, input_len: int) -> int:
    """A certificate: base + set reads (latest epoch, total or size, count) + per vote
    (bundle + membership / stake read + decoding) + input words."""
    return (CONSENSUS_BASE + 3 * SLOAD_GAS + votes * (bundle_gas(level) + SLOAD_GAS + VOTE_GAS)
            + WORD_GAS * words(input_len))
