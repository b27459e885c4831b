"""AIVM precompiles. Importing this package registers every precompile.

The address table lives in docs/precompiles.md (a test keeps it in sync).
To add one: write a module here that calls `registry.register(...)`, import it below, and declare it in spec.py.
"""
from precompiles import registry
from precompiles.registry import (
    CallContext,
    Precompile,
    PrecompileError,
    PrecompileRevert,
    all_precompiles,
    by_name,
    genesis_accounts,
    py_evm_table,
    register,
)

# Each import registers one precompile (or one family).
from precompiles import version  # noqa: E402,F401  0x0100
from precompiles import pqc_verify  # noqa: E402,F401  0x0110-0x0113
from precompiles import consensus  # noqa: E402,F401  0x0118
from precompiles import ai_infer  # noqa: E402,F401  0x0120
from precompiles import ai_request  # noqa: E402,F401  0x0121
from precompiles import bridge  # noqa: E402,F401  0x0130-0x0131

__all__ = [
    "CallContext",
    "Precompile",
    "PrecompileError",
    "PrecompileRevert",
    "all_precompiles",
    "by_name",
    "genesis_accounts",
    "py_evm_table",
    "register",
    "registry",
]
