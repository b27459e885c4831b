"""Dev-chain controls beyond vm/chain.py's: block gas limit and a fixed block-time interval.

Both are node settings kept in the chain's meta records, so a restart keeps them.
"""
from __future__ import annotations

from typing import Any, Optional

from vm.codec import InvalidValue

MIN_GAS_LIMIT = 21_000
MAX_GAS_LIMIT = 2**63 - 1
MAX_MINE_BLOCKS = 10_000  # blocks one hardhat_mine / anvil_mine call mines at most


def set_block_gas_limit(chain: Any, gas_limit: int) -> None:
    """evm_setBlockGasLimit: later blocks (and eth_call / estimates) use this gas limit."""
    if not MIN_GAS_LIMIT <= gas_limit <= MAX_GAS_LIMIT:
        raise InvalidValue(f"gas limit must be between {MIN_GAS_LIMIT} and {MAX_GAS_LIMIT}, got {gas_limit}")
    chain.config.gas_limit = gas_limit
    with chain.store.transaction():
        chain.index.set_meta("block_gas_limit", gas_limit)


def restore(chain: Any) -> None:
    """Apply the settings a previous run stored."""
    stored = chain.index.meta("block_gas_limit")
    if stored is not None:
        chain.config.gas_limit = stored


def set_timestamp_interval(chain: Any, seconds: Optional[int]) -> None:
    """anvil_setBlockTimestampInterval: each new block is `seconds` after the previous one."""
    if seconds is not None and seconds < 1:
        raise InvalidValue("the interval must be at least 1 second")
    with chain.store.transaction():
        chain.index.set_meta("timestamp_interval", seconds)


def timestamp_interval(chain: Any) -> Optional[int]:
    return chain.index.meta("timestamp_interval")
