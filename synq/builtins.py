"""SynQ's precompile builtins. GENERATED from precompiles/spec.py by `python -m precompiles.spec --synq`:
do not edit (tests/test_precompiles.py keeps it equal to its source)."""
from __future__ import annotations

from typing import NamedTuple


class Builtin(NamedTuple):
    params: tuple[tuple[str, str], ...]  # (name, ABI type)
    returns: str  # ABI type
    effect: str  # call | read | '' (pure)
    addresses: tuple[int, ...]
    static: bool  # reached with STATICCALL


BUILTINS: dict[str, Builtin] = {
    'ai.infer': Builtin((('model', 'string'), ('input', 'bytes')), 'bytes', 'call', (0x0120,), False),
    'bridge.receive': Builtin((('message', 'bytes'), ('certificate', 'bytes')), 'bytes32', 'call', (0x0130,), False),
    'bridge.send': Builtin((('message', 'bytes'),), 'bytes', 'call', (0x0131,), False),
    'ecrecover': Builtin((('hash', 'bytes32'), ('v', 'uint8'), ('r', 'bytes32'), ('s', 'bytes32')), 'address', '', (0x0001,), True),
    'pqc.verify': Builtin((('alg', 'uint16'), ('pubkey', 'bytes'), ('msg', 'bytes'), ('sig', 'bytes')), 'bool', 'read', (0x0110, 0x0111, 0x0112,), True),
    'quorum.verify': Builtin((('certificate', 'bytes'),), 'bool', 'read', (0x0118,), True),
}
