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
        self.header = header
        self.included: list = []
        self.senders: list[bytes] = []
        self.receipts: list = []
        self.results: list[ExecutionResult] = []
        self.rejected: list[tuple[Any, str]] = []
        self.deferred: list[Any] = []
        self.sealed = False
        self._executor: Any = _UNSET  # the lean executor (vm/lean_exec.py), made on the first apply

    @property
    def number(self) -> int:
        return self.header.block_number

    @property
    def gas_left(self) -> int:
        return self.header.gas_limit - self.header.gas_used

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
        vm, header = self.vm, self.header
        spoof = SpoofTransaction(tx, sender=sender, get_sender=lambda s=sender: s)
        try:  # validate first, so a refused transaction leaves no trace
            vm.validate_transaction_against_header(header, spoof)
            vm.state.validate_transaction(spoof)
        except ValidationError as exc:
            self.rejected.append((tx, _friendly_validation(str(exc))))
            return None
        state = vm.state
        state.lock_changes()  # the previous transaction's changes are final from here on
        snapshot = state.snapshot() if keep is not None else None
        ex = self._executor
        if ex is _UNSET:
            ex = self._executor = block_executor(state) if LEAN_EXECUTION else None
        with self.chain._producing(header.block_number):
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
        vm.validate_receipt(receipt)
        before = header.gas_used
        self.header = vm.add_receipt_to_header(header, receipt)
        result = _result_from_computation(comp, self.header.gas_used - before)
        result.tx_hash = tx.hash
        result.block_number = header.block_number
        if not tx.to:
            result.contract_address = generate_contract_address(sender, tx.nonce)
        self.included.append(tx)
        self.senders.append(sender)
        self.receipts.append(receipt)
        self.results.append(result)
        return result
