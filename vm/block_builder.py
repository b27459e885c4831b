"""One block being built: transactions applied one at a time, then sealed by `Chain.seal_block`."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable, Optional

from eth._utils.address import generate_contract_address
from eth.abc import SignedTransactionAPI
from eth.vm.spoof import SpoofTransaction
from eth_utils import ValidationError

from vm.chain_records import ExecutionResult
from vm.chain_results import _friendly_validation, _result_from_computation
from vm.lean_exec import block_executor

# py-evm's own executor steps, leaner (vm/lean_exec.py); "0" runs `state.apply_transaction` as it is
LEAN_EXECUTION = os.environ.get("AIVM_LEAN_EXECUTION", "1") != "0"
_UNSET = object()

if TYPE_CHECKING:
    from vm.chain import Chain


class BlockBuilder:
    """One block being built on the head: transactions applied one at a time, each in its
    own transaction context (warm/cold slots and refunds per transaction, as py-evm's
    `VM.apply_transaction` does), then sealed once by `Chain.seal_block`.

    Chain thread only. `Chain.mine` is open + add + seal; the pytest plugin keeps a
    builder open across its transactions and seals when something needs a block.
    """

    def __init__(self, chain: "Chain", header: Any) -> None:
        self.chain = chain
        self.vm = chain._chain.get_vm(header)
        self._header = header
        self._pending: Optional[tuple[int, int]] = None  # (gas used, bloom) not yet in _header
        self.included: list = []
        self.senders: list[bytes] = []
        self.receipts: list = []
        self.results: list[ExecutionResult] = []
        self.rejected: list[tuple[Any, str]] = []
        self.deferred: list[Any] = []
        self.sealed = False
        self._executor: Any = _UNSET  # the lean executor (vm/lean_exec.py), made on the first apply

    @property
    def header(self) -> Any:
        """The block's header with the gas used and bloom of what was applied so far (the lean
        path adds a receipt's to the header only when someone reads it: py-evm's
        `add_receipt_to_header` copies the header once per transaction)."""
        if self._pending is not None:
            gas_used, bloom = self._pending
            self._pending = None
            self._header = self._header.copy(bloom=int(self._header.bloom) | bloom, gas_used=gas_used)
        return self._header

    @header.setter
    def header(self, header: Any) -> None:
        self._header, self._pending = header, None

    @property
    def number(self) -> int:
        return self._header.block_number

    @property
    def gas_used(self) -> int:
        return self._header.gas_used if self._pending is None else self._pending[0]

    @property
    def gas_left(self) -> int:
        return self._header.gas_limit - self.gas_used

    def add(self, tx: SignedTransactionAPI, sender: bytes) -> Optional[ExecutionResult]:
        """Apply one transaction; None if it was deferred (no room) or rejected (see the lists)."""
        if tx.gas > self.gas_left:
            self.deferred.append((tx, sender))
            return None
        return self.apply(tx, sender)

    def apply(self, tx: SignedTransactionAPI, sender: bytes,
              keep: Optional[Callable[[Any], bool]] = None) -> Optional[ExecutionResult]:
        """py-evm's `VM.apply_transaction`, step by step so that `keep(computation)` may
        refuse the outcome: then the transaction is undone and None returned."""
        vm = self.vm
        state = vm.state
        ex = self._executor
        if ex is _UNSET:
            ex = self._executor = block_executor(state) if LEAN_EXECUTION else None
            self._lean_receipts = ex is not None and _stock_receipt_steps(type(vm))
        lean_receipts = self._lean_receipts
        # the lean path reads only the header's gas used and limit until the block is sealed
        header = _GasView(self.gas_used, self._header.gas_limit) if lean_receipts else self.header
        spoof = SpoofTransaction(tx, sender=sender, get_sender=lambda s=sender: s)
        try:  # validate first, so a refused transaction leaves no trace
            vm.validate_transaction_against_header(header, spoof)
            state.validate_transaction(spoof)
        except ValidationError as exc:
            self.rejected.append((tx, _friendly_validation(str(exc))))
            return None
        state.lock_changes()  # the previous transaction's changes are final from here on
        snapshot = state.snapshot() if keep is not None else None
        number = self._header.block_number
        with self.chain._producing(number):
            if ex is None:
                comp = state.apply_transaction(spoof)
            else:  # py-evm's executor call; the state's validation is the one just made
                spoof.validate()
                comp = ex.finalize_computation(spoof, ex.build_computation(ex.build_evm_message(spoof), spoof))
                state.clear_transient_storage()
        if keep is not None and not keep(comp):
            state.revert(snapshot)
            return None
        receipt = vm.make_receipt(header, spoof, comp, state)
        before = header.gas_used
        if lean_receipts:
            # ByzantiumVM.add_receipt_to_header, kept pending (gas used, bloom: ints OR-ed); its
            # validate_receipt checks the bloom py-evm's make_receipt has just built from these logs
            pending = self._pending
            self._pending = (receipt.gas_used, (pending[1] if pending else 0) | int(receipt.bloom))
        else:
            vm.validate_receipt(receipt)
            self.header = vm.add_receipt_to_header(header, receipt)
        result = _result_from_computation(comp, self.gas_used - before)
        result.tx_hash = tx.hash
        result.block_number = number
        if not tx.to:
            result.contract_address = generate_contract_address(sender, tx.nonce)
        self.included.append(tx)
        self.senders.append(sender)
        self.receipts.append(receipt)
        self.results.append(result)
        return result


class _GasView:
    """What py-evm's Frontier header check and Byzantium receipt read of the open header."""

    __slots__ = ("gas_used", "gas_limit")

    def __init__(self, gas_used: int, gas_limit: int) -> None:
        self.gas_used, self.gas_limit = gas_used, gas_limit


def _stock_receipt_steps(vm_class: Any) -> bool:
    """The VM checks a transaction against the header, makes and adds receipts py-evm's way
    (Frontier's check, Byzantium's receipt steps): then only gas used and limit are read."""
    from eth.vm.forks.byzantium import ByzantiumVM
    from eth.vm.forks.frontier.validation import validate_frontier_transaction_against_header

    def code(attr: Any) -> Any:  # a classmethod's function, or the attribute itself
        return getattr(attr, "__func__", attr)

    return (vm_class.validate_transaction_against_header is validate_frontier_transaction_against_header
            and all(code(getattr(vm_class, m)) is code(getattr(ByzantiumVM, m))
                    for m in ("make_receipt", "add_receipt_to_header", "validate_receipt")))
