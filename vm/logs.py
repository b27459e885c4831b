"""Log queries (eth_getLogs, eth_getFilterLogs): a block range or one block hash, addresses, topics.

The criteria are the parsed filter object (`app.rpc.eth.parse_log_filter`): either
{"block_hash", "addresses", "topics"} or {"from", "to", "addresses", "topics"},
with `from`/`to` block tags or numbers. Logs from before a fork block come from
the forked chain's node; the rest from the RPC index.
"""
from __future__ import annotations

from typing import Any, Optional

from vm import forking
from vm.chain import UnknownBlock
from vm.errors import NodeError, Reason, invalid
from vm.lookups import resolve_block

MAX_LOG_RESULTS = 20_000  # logs one query returns at most


def query_logs(chain: Any, crit: dict, lo: Optional[int] = None, hi: Optional[int] = None, raw: bool = False) -> list:
    """Reader thread: the logs matching `crit`, oldest first.

    `raw`: the list may hold orjson Fragments (whole blocks' stored logs): for a direct RPC answer."""
    if "block_hash" in crit:
        n = chain.index.block_number(crit["block_hash"])
        if n is None:
            raise UnknownBlock(f"unknown block hash 0x{crit['block_hash'].hex()}")
        lo = hi = n
    else:
        for ref in (crit["from"], crit["to"]):
            if isinstance(ref, int) and ref > chain.head_number and lo is None:
                raise invalid("block range extends beyond current head block")
        lo = resolve_block(chain, crit["from"]) if lo is None else lo
        hi = resolve_block(chain, crit["to"]) if hi is None else hi
        if lo > hi:
            raise invalid("invalid block range params")
    try:
        before_fork = forking.remote_logs(chain, lo, hi, crit["addresses"], crit["topics"])
        return before_fork + chain.index.logs(lo, hi, crit["addresses"], crit["topics"], limit=MAX_LOG_RESULTS, raw=raw)
    except OverflowError:
        raise NodeError(
            Reason.LIMIT_EXCEEDED,
            f"query returned more than {MAX_LOG_RESULTS} results: narrow the block range or the filter",
        ) from None
