"""Log queries (eth_getLogs, eth_getFilterLogs): a block range or one block hash, addresses, topics.

The criteria are the parsed filter object (`app.rpc.eth.parse_log_filter`): either
{"block_hash", "addresses", "topics"} or {"from", "to", "addresses", "topics"},
with `from`/`to` block tags or numbers. Logs from before a fork block come from
the forked chain's node; the rest from the RPC index.
"""
from __future__ import annotations

from typing import Any, Generator, Optional

from vm import forking
from vm.chain import UnknownBlock
from vm.errors import NodeError, Reason, invalid
from vm.lookups import resolve_block
from vm.store.index import run_steps

MAX_LOG_RESULTS = 20_000  # logs one query returns at most


def query_logs(chain: Any, crit: dict, lo: Optional[int] = None, hi: Optional[int] = None, raw: bool = False) -> list:
    """Reader thread: the logs matching `crit`, oldest first.

    `raw`: the list may hold orjson Fragments (slices of the stored logs): for a direct RPC answer."""
    return run_steps(log_query_steps(chain, crit, lo, hi, raw))


def log_query_steps(chain: Any, crit: dict, lo: Optional[int] = None, hi: Optional[int] = None,
                    raw: bool = False) -> Generator[int, None, list]:
    """`query_logs` as steps (`ChainIndex.log_steps`): it yields first the number of blocks in the range (the
    caller may decide where to run the rest from it), then between blocks; its value is the logs. A forked
    chain's logs before the fork come from the remote node: that network call is in the second step."""
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
    yield hi - lo + 1
    try:
        before_fork = forking.remote_logs(chain, lo, hi, crit["addresses"], crit["topics"])
        found = yield from chain.index.log_steps(lo, hi, crit["addresses"], crit["topics"], limit=MAX_LOG_RESULTS,
                                                 raw=raw)
        return before_fork + found
    except OverflowError:
        raise NodeError(
            Reason.LIMIT_EXCEEDED,
            f"query returned more than {MAX_LOG_RESULTS} results: narrow the block range or the filter",
        ) from None
