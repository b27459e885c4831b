"""0x0110–0x0113: post-quantum signature verification for contracts.

One precompile per signature family, so a contract's choice of family is
visible in its bytecode, plus one for whole bundles (hybrid / multi-algorithm):

    0x0110 ML-DSA, 0x0111 Falcon, 0x0112 SLH-DSA
        input  abi.encode(uint16 algId, bytes publicKey, bytes message, bytes signature)
    0x0113 bundle
        input  abi.encode(uint8 level, bytes signingKeyBundle, bytes message, bytes signatureBundle)
    output 32-byte word: 1 valid, 0 not valid.

Malformed input (non-canonical ABI, unknown or wrong-family id, wrong key
size, bad key bundle) fails the call; a signature that does not verify,
whatever its length, returns 0. Gas: pqc/gas.py.
"""
from __future__ import annotations

from pqc import abi, algorithms, bundle, gas, stats
from pqc.errors import PQCError
from pqc.keys import PublicKeys
from pqc.levels import SecurityLevel
from precompiles.registry import Precompile, PrecompileError, register

SIG_TYPES = ("uint16", "bytes", "bytes", "bytes")
BUNDLE_TYPES = ("uint8", "bytes", "bytes", "bytes")
ONE, ZERO = (1).to_bytes(32, "big"), bytes(32)


def _family_gas(data: bytes) -> int:
    return gas.verify_gas(abi.peek_uint(data, 0, 16)) + gas.WORD_GAS * gas.words(len(data))


def verify_signature(data: bytes, family: str) -> bytes:
    """The family precompiles' logic on raw input (also what the benchmark times)."""
    try:
        alg_id, public_key, message, signature = abi.decode(SIG_TYPES, data)
        a = algorithms.signature(alg_id)
    except PQCError as exc:
        raise PrecompileError(exc.reason) from None
    if a.family != family:
        raise PrecompileError(f"{a.name} is not an {family} algorithm")
    if len(public_key) != a.public_key_size:
        raise PrecompileError(
            f"{a.name} public key is {len(public_key)} bytes, expected {a.public_key_size}"
        )
    ok = a.verify(public_key, message, signature)
    stats.record_signatures(verified=int(ok), failed=int(not ok), algorithm=a.name)
    return ONE if ok else ZERO


def _bundle_gas(data: bytes) -> int:
    level = SecurityLevel.parse(abi.peek_uint(data, 0, 8))
    return gas.bundle_gas(level) + gas.WORD_GAS * gas.words(len(data))


def verify_bundle(data: bytes) -> bytes:
    try:
        level, key_bytes, message, bundle_bytes = abi.decode(BUNDLE_TYPES, data)
        level = SecurityLevel.parse(level)
        keys = PublicKeys.decode(key_bytes)
    except PQCError as exc:
        raise PrecompileError(exc.reason) from None
    ok, _ = bundle.check(bundle_bytes, keys, message, level)
    return ONE if ok else ZERO


def _family_precompile(name: str, address: int, family: str) -> Precompile:
    return register(Precompile(
        name=name, address=address, gas=_family_gas,
        run=lambda ctx, _f=family: verify_signature(ctx.data, _f),
        doc=f"abi.encode(uint16 algId, bytes publicKey, bytes message, bytes signature) "
            f"-> uint256 1/0 ({family})",
    ))


MLDSA_VERIFY = _family_precompile("pqc_mldsa_verify", 0x0110, "ML-DSA")
FALCON_VERIFY = _family_precompile("pqc_falcon_verify", 0x0111, "Falcon")
SLHDSA_VERIFY = _family_precompile("pqc_slhdsa_verify", 0x0112, "SLH-DSA")
BUNDLE_VERIFY = register(Precompile(
    name="pqc_bundle_verify", address=0x0113, gas=_bundle_gas,
    run=lambda ctx: verify_bundle(ctx.data),
    doc="abi.encode(uint8 level, bytes keyBundle, bytes message, bytes signatureBundle) -> uint256 1/0",
))
