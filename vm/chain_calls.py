"""`Chain`'s calls and gas estimates: executions whose outcome is never kept (eth_call, eth_estimateGas)."""
from __future__ import annotations

import dataclasses
from typing import Callable, Optional

from eth_utils import ValidationError

from vm.chain_records import BlockId, ExecutionFailed, ExecutionResult, TxRejected
from vm.chain_results import _friendly_validation, _result_from_computation
from vm.lean_exec import InlineBudget


class ChainCalls:
    """eth_call on a block's state, the latest-view call cache, and the gas estimate."""

    def call(
        self,
        sender: Optional[bytes] = None,
        to: Optional[bytes] = None,
        data: bytes = b"",
        value: int = 0,
        gas: Optional[int] = None,
        gas_price: int = 0,
        block: BlockId = "latest",
        budget: Optional[InlineBudget] = None,
    ) -> ExecutionResult:
        """Execute without a transaction: nothing is kept (eth_call). Under a `budget` (the event
        loop's calls) it raises `NotInline` if it would run past it or reach a service precompile."""
        header = self.header_at(block)
        view = self.reader.state_for(header)
        key = self._call_key(sender, to, data, value, gas, gas_price)
        sender, gas = key[0], key[4]
        try:
            comp = view.execute(sender, to, data, value, gas, gas_price, budget)
        except ValidationError as exc:
            raise TxRejected(_friendly_validation(str(exc))) from None
        result = _result_from_computation(comp, gas - comp.get_gas_remaining())
        if header is self._view:
            kept = dataclasses.replace(result, computation=None)
            self.reader.calls.put((header.hash, header.state_root), key, kept, comp)
        return result

    def cached_call(self, sender: Optional[bytes] = None, to: Optional[bytes] = None, data: bytes = b"",
                    value: int = 0, gas: Optional[int] = None, gas_price: int = 0,
                    block: BlockId = "latest") -> Optional[ExecutionResult]:
        """Any thread, no execution: the result of the same call on the latest view, if one was kept
        (`vm.reader.CallCache`); None otherwise. Its `computation` is None."""
        if block not in ("latest", "pending", "safe", "finalized"):
            return None
        header = self._view
        return self.reader.calls.get((header.hash, header.state_root),
                                     self._call_key(sender, to, data, value, gas, gas_price))

    def _call_key(self, sender, to, data, value, gas, gas_price) -> tuple:
        """A call's parameters as it runs them (no sender: the zero address; gas capped at the block's limit):
        also the call cache's key, so a kept result is found exactly for the call that made it."""
        return (sender or b"\x00" * 20, to, data, value, min(gas or self.config.gas_limit, self.config.gas_limit),
                gas_price)

    def estimate_gas(
        self,
        sender: Optional[bytes] = None,
        to: Optional[bytes] = None,
        data: bytes = b"",
        value: int = 0,
        gas: Optional[int] = None,
        block: BlockId = "pending",
        budget: Optional[InlineBudget] = None,
    ) -> int:
        """The least gas limit with which the call succeeds (binary search, geth-style); its executions
        share one `budget` if given."""
        cap = min(gas or self.config.gas_limit, self.config.gas_limit)
        first = self.call(sender, to, data, value, cap, block=block, budget=budget)
        if not first.success:
            raise ExecutionFailed(first)
        return least_gas(lambda limit: self.call(sender, to, data, value, limit, block=block, budget=budget).success,
                         first.gas_used, self._intrinsic_gas(to, data), cap)

    def _intrinsic_gas(self, to: Optional[bytes], data: bytes) -> int:
        zeros = data.count(0)
        cost = 21000 + 4 * zeros + 16 * (len(data) - zeros)
        if not to:
            cost += 32000 + 2 * ((len(data) + 31) // 32)
        return cost


def least_gas(succeeds: Callable[[int], bool], used: int, intrinsic: int, cap: int) -> int:
    """The least gas limit with which the call succeeds, given that it succeeded at `cap` using `used`.

    Below what it used it fails (the search's premise, geth's too). Most calls need exactly that
    much: no sub-call keeps back its 1/64, no SSTORE comes near the 2,300 stipend check at the end.
    So that limit is tried first (2 executions for an estimate instead of 13 for an ERC20
    transfer); then a guess with that headroom, then a binary search between what failed and what
    succeeded (both `eth_estimateGas` paths: `Chain.estimate_gas` and `vm.execution.estimate_gas`).
    """
    lo, hi = max(used, intrinsic) - 1, cap  # lo fails, hi succeeds
    if hi - lo <= 1:
        return hi
    if succeeds(lo + 1):
        return lo + 1
    lo += 1
    guess = min(hi, max(lo + 1, (used * 64) // 63 + 2300))
    if succeeds(guess):
        hi = guess
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if succeeds(mid):
            hi = mid
        else:
            lo = mid
    return hi
