"""The pytest plugin's fast mining path: transactions applied as the node applies them, the rest deferred.

Part of the chain adapter (it drives py-evm's executor and state directly, so it lives in `vm/`
with the other py-evm modules); only `aivm_pytest/local.py` uses it, a node never does.

What a node does for each transaction, and what this path does with it:

- execute it in its own transaction context (py-evm's own executor steps: fee and nonce,
  access-list warm-up, the message, refunds, the data-floor cost, transient storage): **the
  same, now**, so gas, warm/cold slots and refunds are per transaction and equal the node's;
- check it (nonce, funds, fee caps, sender without code, init-code size): the checks that
  can fail for a transaction the plugin builds are made directly; anything unusual (a gas
  limit the test gave, a poorly funded or code-holding sender, a large init code) goes the
  node's own way (`BlockBuilder.apply`, full py-evm validation) — same outcome, slower;
- sign it, build its receipt and bloom, add it to the block header: **deferred** until
  something needs them (its hash, its receipt, or the block being sealed);
- seal the block (state root, trie and store writes): deferred until something needs a
  block (see `local.py`).

Calls and state reads run on the open block's state, as a node would answer them right
after sealing it: a call executes in a child block context (next number, base fee 0) on
that state between snapshot and revert, after `lock_changes()` — as the next transaction
would begin — so its warm/cold view is a fresh one. The only thing that needs the sealed
block is its hash (`BLOCKHASH` of the open block's number): such a call stops, the block is
sealed, and the call runs again the node's way.

py-evm is driven through its public executor steps (`build_evm_message`,
`build_computation`, `finalize_computation`); titanoboa gets its speed by running bare
messages against one state, which this path does not do: every call here is still a full
transaction with intrinsic gas, fees and a nonce.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from eth._utils.address import generate_contract_address
from eth.vm.forks.byzantium.constants import EIP658_TRANSACTION_STATUS_CODE_FAILURE, EIP658_TRANSACTION_STATUS_CODE_SUCCESS
from eth.vm.forks.berlin.transactions import calculate_txn_intrinsic_gas_berlin
from eth.vm.spoof import SpoofTransaction
from eth_utils import ValidationError

from vm.chain import BlockBuilder, Chain, ExecutionResult, TxRejected, _friendly_validation, _result_from_computation
from vm.lean_exec import encode_account, fast_account_writes, lean_computation_class, lean_executor_class  # noqa: F401

TIP = 1_000_000_000
MAX_INITCODE = 49_152  # EIP-3860: larger init code is refused by validation
DYNAMIC_FEE_TX = 2


def same_with_more_gas(comp: Any) -> bool:
    """Would this outcome be the same with the full gas limit? Yes for a success, and for a
    REVERT where no frame ran out of gas or burnt it (those depend on how much gas was given)."""
    return comp.is_success or _clean(comp)


def _clean(c: Any) -> bool:
    """No frame of `c` failed otherwise than by REVERT (a module function: a recursive closure
    would leave a reference cycle behind every transaction)."""
    from eth.exceptions import Revert

    if c.is_error and not isinstance(c.error, Revert):
        return False
    return all(_clean(child) for child in c.children)


_CONTEXT_FIELDS = ("coinbase", "block_number", "difficulty", "mix_hash", "gas_limit", "prev_hashes", "chain_id",
                   "base_fee_per_gas", "excess_blob_gas")


def _field(context: Any, name: str) -> Any:
    value = getattr(context, name)
    return tuple(value) if name == "prev_hashes" else value


def _next_context(context: Any, header: Any, gas_used: int) -> Any:
    """`context` for a call after the open block `header` has used `gas_used`: gas limit and
    timestamp as py-evm's London-and-later header rules derive them from the parent."""
    from types import SimpleNamespace

    from eth._utils.headers import new_timestamp_from_parent
    from eth.vm.execution_context import ExecutionContext
    from eth.vm.forks.london.headers import GENESIS_GAS_LIMIT, compute_gas_limit

    parent = SimpleNamespace(gas_limit=header.gas_limit, gas_used=gas_used, timestamp=header.timestamp)
    return ExecutionContext(coinbase=context.coinbase, timestamp=new_timestamp_from_parent(parent),
                            block_number=context.block_number, difficulty=context.difficulty,
                            mix_hash=context.mix_hash, gas_limit=compute_gas_limit(parent, GENESIS_GAS_LIMIT),
                            prev_hashes=tuple(context.prev_hashes), chain_id=context.chain_id,
                            base_fee_per_gas=context.base_fee_per_gas, excess_blob_gas=context.excess_blob_gas)


class NeedsSealedBlock(Exception):
    """A call asked for the open block's hash: seal, then run it the node's way."""


class LightTx:
    """An EIP-1559 transaction as py-evm's executor reads it; signed only when needed."""

    __slots__ = ("chain", "sender", "to", "data", "value", "gas", "nonce", "max_fee_per_gas",
                 "max_priority_fee_per_gas", "intrinsic_gas", "_signed")
    type_id = DYNAMIC_FEE_TX
    access_list: tuple = ()
    blob_versioned_hashes: tuple = ()
    authorization_list: tuple = ()

    def __init__(self, chain: Chain, sender: bytes, to: bytes, data: bytes, value: int, gas: int, nonce: int,
                 max_fee: int, intrinsic: int) -> None:
        self.chain, self.sender, self.to, self.data, self.value = chain, sender, to, data, value
        self.gas, self.nonce, self.max_fee_per_gas, self.max_priority_fee_per_gas = gas, nonce, max_fee, TIP
        self.intrinsic_gas = intrinsic
        self._signed = None

    @property
    def gas_price(self) -> int:
        return self.max_fee_per_gas

    def signed(self) -> Any:
        """The signed transaction the node would hold (same fields; what goes into the block)."""
        if self._signed is None:
            self._signed, _ = self.chain.sign(self.sender, self.to or None, self.data, self.value, self.gas,
                                              nonce=self.nonce, max_fee_per_gas=self.max_fee_per_gas,
                                              max_priority_fee_per_gas=self.max_priority_fee_per_gas)
        return self._signed


class FastResult(ExecutionResult):
    """A result whose block may still be open: its receipt seals the block, its hash signs the tx."""

    _backend: Any = None
    _tx: Optional[LightTx] = None

    @property
    def receipt(self) -> Optional[dict]:
        if self.__dict__.get("receipt") is None and self._backend is not None:
            self._backend.seal()
        return self.__dict__.get("receipt")

    @receipt.setter
    def receipt(self, value: Optional[dict]) -> None:
        self.__dict__["receipt"] = value

    @property
    def tx_hash(self) -> Optional[bytes]:
        if self.__dict__.get("tx_hash") is None and self._tx is not None:
            self.__dict__["tx_hash"] = self._tx.signed().hash
        return self.__dict__.get("tx_hash")

    @tx_hash.setter
    def tx_hash(self, value: Optional[bytes]) -> None:
        self.__dict__["tx_hash"] = value


class OpenBlock:
    """A `vm.chain.BlockBuilder` with the fast path on top (chain thread / test thread only)."""

    def __init__(self, chain: Chain, builder: BlockBuilder) -> None:
        self.chain = chain
        self.builder = builder
        self.vm = builder.vm
        self.state = builder.vm.state
        fast_account_writes(self.state._account_db)
        self.state.computation_class = lean_computation_class(self.state.computation_class)
        self.gas_used = builder.header.gas_used
        self._fast: list[tuple] = []  # (index in builder.included, gas used, failed, log entries) still unsigned
        self._executor = None
        self._context: Optional[tuple] = None  # (gas used, execution context) of calls
        self._quick_context = False

    # -- what LocalBackend asks
    @property
    def number(self) -> int:
        return self.builder.header.block_number

    @property
    def timestamp(self) -> int:
        return self.builder.header.timestamp

    @property
    def gas_left(self) -> int:
        return self.builder.header.gas_limit - self.gas_used

    @property
    def included(self) -> list:
        return self.builder.included

    # -- transactions
    def apply(self, sender: bytes, to: Optional[bytes], data: bytes, value: int, gas: int,
              keep: Optional[Callable[[Any], bool]], fixed_gas: bool) -> Any:
        """Apply one transaction; a result, None (refused by `keep`), or NotImplemented: take the node's way."""
        state = self.state
        header = self.builder.header
        max_fee = 2 * header.base_fee_per_gas + TIP
        chain = self.chain
        if (fixed_gas or gas > self.gas_left or (not to and len(data) > MAX_INITCODE)
                or gas < 100_000 + 64 * len(data)
                or sender not in chain._keys and sender not in chain._impersonated):
            return NotImplemented
        if state.get_balance(sender) < gas * max_fee + value or state.get_code(sender):
            return NotImplemented  # the node's validation says why (funds; EIP-3607)
        tx = LightTx(chain, sender, to or b"", data, value, gas, state.get_nonce(sender), max_fee, 0)
        tx.intrinsic_gas = calculate_txn_intrinsic_gas_berlin(tx)  # py-evm's own (init-code words are charged at CREATE)
        state.lock_changes()  # the previous transaction's changes are final from here on
        snapshot = state.snapshot() if keep is not None else None
        ex = self._executor_for(state)
        with self.chain._producing(header.block_number):
            comp = ex.build_computation(ex.build_evm_message(tx), tx)
            comp = ex.finalize_computation(tx, comp)
            state.clear_transient_storage()
        if keep is not None and not keep(comp):
            state.revert(snapshot)
            return None
        used = self.vm.finalize_gas_used(tx, comp)
        self.gas_used += used
        result = _result_from_computation(comp, used)
        result.__class__ = FastResult
        result._tx = tx
        result.block_number = header.block_number
        if not to:
            result.contract_address = generate_contract_address(sender, tx.nonce)
        b = self.builder
        self._fast.append((len(b.included), used, comp.is_error, comp.get_log_entries()))
        if comp.is_success:  # only a failure's computation is read (the revert's frames, for its source line):
            result.computation = None  # the open block keeps far fewer objects alive (fewer GC passes)
        b.included.append(tx)
        b.senders.append(sender)
        b.receipts.append(None)
        b.results.append(result)
        return result

    def apply_signed(self, tx: Any, sender: bytes, keep: Optional[Callable[[Any], bool]]) -> Any:
        """The node's own way (`BlockBuilder.apply`): full validation; rejections land in builder.rejected."""
        self.materialize()
        result = self.builder.apply(tx, sender, keep)
        self.gas_used = self.builder.header.gas_used
        return result

    def materialize(self) -> None:
        """Sign the deferred transactions and build their receipts and the header's gas and bloom."""
        if not self._fast:
            return
        b = self.builder
        header = b.header
        bloom = int(header.bloom)
        gas = header.gas_used
        for i, used, failed, log_entries in self._fast:
            tx = b.included[i]
            signed = tx.signed()
            gas += used
            status = EIP658_TRANSACTION_STATUS_CODE_FAILURE if failed else EIP658_TRANSACTION_STATUS_CODE_SUCCESS
            receipt = signed.make_receipt(status, gas, log_entries)
            bloom |= int(receipt.bloom)
            b.included[i] = signed
            b.receipts[i] = receipt
            b.results[i].tx_hash = signed.hash
        self._fast.clear()
        b.header = header.copy(gas_used=gas, bloom=bloom)
        self.gas_used = gas

    def seal(self) -> Any:
        self.materialize()
        return self.chain.seal_block(self.builder)

    def _executor_for(self, state: Any) -> Any:
        ex = self._executor
        if ex is None:
            ex = self._executor = lean_executor_class(state)(state)
        return ex

    def _call_context(self) -> Any:
        """The execution context a call runs in: the block after the open one, base fee 0 (as the
        node's read state builds it on each new head). Of its fields only the gas limit follows
        the open block's gas used (py-evm's `compute_gas_limit`) and the timestamp the clock
        (`new_timestamp_from_parent`): the first call builds the context py-evm's way, later calls
        at another gas used recompute just those two with py-evm's functions — checked against
        the full build once per block (a fork with other rules keeps building it in full)."""
        kept = self._context
        if kept is not None and kept[0] == self.gas_used:
            return kept[1]
        header = self.builder.header
        if kept is not None and self._quick_context:
            context = _next_context(kept[1], header, self.gas_used)
        else:
            vm = self.vm
            child = vm.create_header_from_parent(header.copy(gas_used=self.gas_used), coinbase=header.coinbase)
            context = vm.create_execution_context(child.copy(base_fee_per_gas=0), (), vm.chain_context)
            quick = _next_context(context, header, self.gas_used)
            self._quick_context = all(_field(quick, f) == _field(context, f) for f in _CONTEXT_FIELDS)
        self._context = (self.gas_used, context)
        return context

    # -- reads on the open block's state (what the node answers right after sealing it)
    def balance(self, address: bytes) -> int:
        return self.state.get_balance(address)

    def nonce(self, address: bytes) -> int:
        return self.state.get_nonce(address)

    def code(self, address: bytes) -> bytes:
        return self.state.get_code(address)

    def call(self, sender: Optional[bytes], to: Optional[bytes], data: bytes, value: int,
             gas: Optional[int]) -> ExecutionResult:
        """`Chain.call` at "latest", as if the open block were sealed (raises NeedsSealedBlock)."""
        vm, state = self.vm, self.state
        sender = sender or b"\x00" * 20
        fixed_gas = gas is not None
        gas = min(gas or self.chain.config.gas_limit, self.chain.config.gas_limit)
        context = self._call_context()
        ancestors = state.execution_context.prev_hashes  # the open block's: its parent first
        number = self.builder.header.block_number

        def ancestor_hash(n: int) -> bytes:
            if n == number:
                raise NeedsSealedBlock()
            depth = number - n - 1  # relative to the open block
            if n < 0 or depth < 0 or depth + 1 >= 256:
                return b""
            for i, h in enumerate(ancestors):
                if i == depth:
                    return h
            return b""

        state.lock_changes()  # as the next transaction would begin: nothing warm, originals settled
        saved = state.execution_context
        state.execution_context = context
        state.get_ancestor_hash = ancestor_hash
        snapshot = state.snapshot()
        try:
            nonce = state.get_nonce(sender)
            if to and not fixed_gas and (not value or state.get_balance(sender) >= value):
                # what the node's costless_execute_transaction does once its validation has passed
                # (gas price 0: no fee, no refund, no tip; the block gas limit covers intrinsic gas)
                tx = LightTx(self.chain, sender, to, data, value, gas, nonce, 0, 0)
                tx.max_priority_fee_per_gas = 0
                tx.intrinsic_gas = calculate_txn_intrinsic_gas_berlin(tx)
                ex = self._executor_for(state)
                comp = ex.finalize_computation(tx, ex.build_computation(ex.build_evm_message(tx), tx))
                state.clear_transient_storage()
            else:
                utx = vm.create_unsigned_transaction(nonce=nonce, gas_price=0, gas=gas,
                                                     to=to or b"", value=value, data=data)
                comp = state.costless_execute_transaction(SpoofTransaction(utx, from_=sender))
        except ValidationError as exc:
            raise TxRejected(_friendly_validation(str(exc))) from None
        finally:
            state.revert(snapshot)
            state.execution_context = saved
            del state.get_ancestor_hash
        return _result_from_computation(comp, gas - comp.get_gas_remaining())
