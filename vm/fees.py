"""Fee market reads: the suggested tip, gas price and eth_feeHistory (as anvil keeps fees in `eth/fees.rs`).

The reward percentiles follow geth: effective priority fees of a block's
transactions, sorted by tip, read at gas-weighted percentiles.
"""
from __future__ import annotations

from typing import Any, Optional

from vm.codec import InvalidValue, quantity
from vm.lookups import resolve_block

DEFAULT_TIP = 1_000_000_000  # wei: the priority fee this node suggests (eth_maxPriorityFeePerGas)
MAX_FEE_HISTORY = 1024  # blocks one eth_feeHistory answers at most
BLOB_BASE_FEE = 1  # no blobs on this chain: the minimum


def gas_price(chain: Any) -> int:
    """The legacy gas price to offer: next block's base fee plus the suggested tip."""
    return chain.next_base_fee() + DEFAULT_TIP


def check_percentiles(percentiles: Any) -> Optional[list]:
    """The reward percentiles as given, or InvalidValue: numbers from 0 to 100, ascending."""
    if percentiles is None:
        return None
    if not isinstance(percentiles, list) or not all(
        isinstance(p, (int, float)) and not isinstance(p, bool) and 0 <= p <= 100 for p in percentiles
    ):
        raise InvalidValue("reward percentiles must be numbers from 0 to 100")
    if any(b < a for a, b in zip(percentiles, percentiles[1:])):
        raise InvalidValue("reward percentiles must be ascending")
    return percentiles


def fee_history(chain: Any, count: int, newest: Any, percentiles: Optional[list]) -> dict:
    """Reader thread: eth_feeHistory's object for `count` blocks ending at `newest`."""
    newest_n = resolve_block(chain, newest)
    count = max(0, min(count, MAX_FEE_HISTORY, newest_n + 1))
    oldest = newest_n - count + 1
    base_fees, ratios, rewards = [], [], []
    for n in range(oldest, newest_n + 1):
        rec = chain.index.block(n)
        gas_used, gas_limit = int(rec["gasUsed"], 16), int(rec["gasLimit"], 16)
        base_fees.append(rec["baseFeePerGas"])
        ratios.append(gas_used / gas_limit if gas_limit else 0.0)
        if percentiles is not None:
            rewards.append([quantity(v) for v in percentile_rewards(chain.index.fees(n), gas_used, percentiles)])
    # the base fee of the block after `newest`
    if count:
        if newest_n == chain.head_number:
            base_fees.append(quantity(chain.next_base_fee()))
        else:
            base_fees.append(chain.index.block(newest_n + 1)["baseFeePerGas"])
    out = {
        "oldestBlock": quantity(oldest if count else newest_n),
        "baseFeePerGas": base_fees,
        "gasUsedRatio": ratios,
        "baseFeePerBlobGas": [quantity(BLOB_BASE_FEE)] * len(base_fees),
        "blobGasUsedRatio": [0.0] * len(ratios),
    }
    if percentiles is not None:
        out["reward"] = rewards
    return out


def percentile_rewards(fees: list, gas_used: int, percentiles: list) -> list[int]:
    """Effective priority fees at gas-weighted percentiles (geth's definition).

    `fees` is the block's [(tip, gas used)] sorted by tip, as the index keeps it.
    """
    if not fees:
        return [0] * len(percentiles)
    out = []
    i, cumulative = 0, fees[0][1]
    for p in percentiles:
        threshold = gas_used * p / 100
        while cumulative < threshold and i < len(fees) - 1:
            i += 1
            cumulative += fees[i][1]
        out.append(fees[i][0])
    return out
