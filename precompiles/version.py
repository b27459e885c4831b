"""0x0100 `aivm_version`: lets a contract check which AIVM it runs on.

Returns abi.encode(string version, uint256 chainId, uint256 precompileCount).
"""
from importlib.metadata import version as _installed

from eth_abi import encode

from precompiles.registry import Precompile, register

VERSION = f"aivm/{_installed('synergy-aivm')}"  # pyproject.toml's version (vm/version.py reads the same)
GAS = 200  # a few keccaks' worth: it reads no state


def _run(ctx) -> bytes:
    from precompiles.registry import all_precompiles

    return encode(
        ["string", "uint256", "uint256"],
        [VERSION, ctx.chain_id, len(all_precompiles())],
    )


VERSION_PRECOMPILE = register(
    Precompile(
        name="aivm_version",
        address=0x0100,
        gas=lambda data: GAS,
        run=_run,
        doc="abi.encode(string version, uint256 chainId, uint256 precompileCount)",
    )
)
