"""Lean copies of py-evm's per-transaction bookkeeping, for the node's blocks and the plugin's.

py-evm spends a good part of a plain transaction outside the contract's own opcodes: debug
strings it formats whatever the log level (the transaction's repr, hex of the code, a hash of
the calldata), three calls to charge each opcode's constant gas, rlp's generic `copy` and
encoder for every balance and nonce write. The pieces here do the same steps through the same
state methods without that overhead.

Each piece is used only for the exact py-evm class it was copied from (py-evm 0.12.1b1's
Prague executor, `BaseComputation`'s interpreter loop, `AccountDB`); any other class (a later
fork, a forked chain's account DB, a computation with its own loop) is returned unchanged and
runs py-evm's own code. tests/test_lean_execution.py runs the same blocks with and without
them (receipts, gas, logs, state roots, errors); tests/pytest_plugin/test_deferred_blocks.py
covers the plugin's use.
"""
from __future__ import annotations

import time
from typing import Any, Optional

from eth._utils.address import generate_contract_address
from eth.exceptions import FullStack, Halt, InsufficientStack
from eth.vm.code_stream import CodeStream as _CodeStream
from eth.vm.logic.invalid import InvalidOpcode
from eth.vm.memory import Memory as _Memory
from eth.vm.opcode import _FastOpcode
from eth.vm.stack import Stack as _Stack

BLOB_TX_TYPE = 3


def _rlp_int(i: int) -> bytes:
    if i == 0:
        return b"\x80"
    if i < 0x80:
        return bytes((i,))
    b = i.to_bytes((i.bit_length() + 7) // 8, "big")
    return bytes((0x80 + len(b),)) + b


def encode_account(account: Any) -> bytes:
    """`rlp.encode(account, sedes=Account)`, without rlp's generic machinery: nonce and balance
    (minimal big-endian), storage root and code hash (32 bytes each); the payload is 68..108 bytes."""
    payload = (_rlp_int(account.nonce) + _rlp_int(account.balance)
               + b"\xa0" + account.storage_root + b"\xa0" + account.code_hash)
    return b"\xf8" + bytes((len(payload),)) + payload


def fast_account_writes(db: Any) -> None:
    """Balance and nonce writes of one py-evm AccountDB instance without rlp's `Serializable.copy`
    and generic encoder (≈5 a transaction: fee, nonce, refund, tip, value). Same checks, same bytes
    in the journal. Only this instance (the open block's state) changes: its class becomes
    `_LeanAccountDB` (py-evm's AccountDB with these three methods), and only when it is py-evm's
    AccountDB itself (a forked chain's account DB is left as it is). A class, not closures set on
    the instance: those would hold the instance in a reference cycle and keep every block's
    state alive until the cyclic GC runs."""
    from eth.db.account import AccountDB

    if type(db) is AccountDB:
        db.__class__ = _lean_account_db()


def _lean_account_db() -> Any:
    global _LEAN_ACCOUNT_DB
    if _LEAN_ACCOUNT_DB is None:
        from eth.db.account import AccountDB
        from eth.rlp.accounts import Account
        from eth.validation import validate_canonical_address, validate_uint64, validate_uint256

        class _LeanAccountDB(AccountDB):
            __slots__ = ()

            def _set_account(self, address: bytes, account: Any) -> None:
                self._account_cache[address] = account
                self._journaltrie[address] = encode_account(account)

            def set_balance(self, address: bytes, balance: int) -> None:
                validate_canonical_address(address, title="Storage Address")
                validate_uint256(balance, title="Account Balance")
                a = self._get_account(address)
                self._set_account(address, Account(a.nonce, balance, a.storage_root, a.code_hash))

            def set_nonce(self, address: bytes, nonce: int) -> None:
                validate_canonical_address(address, title="Storage Address")
                validate_uint64(nonce, title="Nonce")
                a = self._get_account(address)
                self._set_account(address, Account(nonce, a.balance, a.storage_root, a.code_hash))

        _LEAN_ACCOUNT_DB = _LeanAccountDB
    return _LEAN_ACCOUNT_DB


_LEAN_ACCOUNT_DB: Any = None


def lean_executor_class(state: Any) -> Any:
    """The state's own transaction executor with its two bookkeeping steps, `build_evm_message`
    and `finalize_computation`, for the plain EIP-1559 transactions and calls of this path:
    the same steps through the same state methods (fee, nonce, message refund, delegation,
    gas refund, data floor, tip, EIP-161 clearing), without the debug2 log lines py-evm
    formats on every transaction whatever the log level (hex of the code, keccak of the data).

    Only for the executor these steps were taken from (py-evm's Prague executor); any other
    executor class (a later fork, a forked chain's) is returned unchanged.
    """
    from eth.abc import TransactionExecutorAPI
    from eth.vm.forks.cancun.state import CancunTransactionExecutor
    from eth.vm.forks.frontier.state import FrontierTransactionExecutor
    from eth.vm.forks.spurious_dragon.state import SpuriousDragonTransactionExecutor

    base = state.transaction_executor_class
    finalizers = {c for c in base.__mro__ if "finalize_computation" in vars(c)}
    if (base.build_evm_message is not CancunTransactionExecutor.build_evm_message
            or finalizers != {SpuriousDragonTransactionExecutor, FrontierTransactionExecutor, TransactionExecutorAPI}):
        return base
    cached = _LEAN.get(base)
    if cached is None:
        cached = _LEAN[base] = type(f"Lean{base.__name__}", (_LeanSteps, base), {"__module__": __name__})
    return cached


_LEAN: dict = {}


class _LeanSteps:
    """Mixed in before py-evm's executor (see `lean_executor_class`): the plugin's LightTx and the
    node's signed transactions (a blob transaction, which pays a blob fee, goes py-evm's way)."""

    vm_state: Any

    def build_evm_message(self, tx: Any) -> Any:
        # CancunTransactionExecutor.build_evm_message (no blob fee), without the debug2 line
        from eth.vm.message import Message

        if tx.type_id == BLOB_TX_TYPE:
            return super().build_evm_message(tx)
        state = self.vm_state
        state.delta_balance(tx.sender, -(tx.gas * state.get_gas_price(tx)))
        state.increment_nonce(tx.sender)
        refund = self.calc_message_refund(tx)
        if tx.to == b"":
            address = generate_contract_address(tx.sender, state.get_nonce(tx.sender) - 1)
            data, code, is_delegation = b"", tx.data, False
        else:
            address, data = None, tx.data
            code, delegation = self.get_code_at_address(tx.to)
            is_delegation = delegation is not None
        return Message(gas=tx.gas - tx.intrinsic_gas, to=tx.to, sender=tx.sender, value=tx.value, data=data,
                       code=code, create_address=address, refund=refund, is_delegation=is_delegation)

    def finalize_computation(self, tx: Any, computation: Any) -> Any:
        # FrontierTransactionExecutor.finalize_computation + SpuriousDragon's EIP-161 clearing
        from eth.vm.forks.spurious_dragon._utils import collect_touched_accounts

        state = self.vm_state
        gas_price = state.get_transaction_context(tx).gas_price
        remaining = computation.get_gas_remaining()
        used = tx.gas - remaining
        refund = self.calculate_gas_refund(computation, used)
        computation.data_floor_gas = floor = self.calc_data_floor_gas(tx, used, refund)
        amount = (refund + remaining - floor) * gas_price
        if amount:
            state.delta_balance(computation.msg.sender, amount)
        state.delta_balance(state.coinbase, (tx.gas - remaining - refund + floor) * state.get_tip(tx))
        for account in computation.get_accounts_for_deletion():
            state.delete_account(account)
        for account in collect_touched_accounts(computation):
            if state.account_exists(account) and state.account_is_empty(account):
                state.delete_account(account)
        return computation


def lean_computation_class(base: Any) -> Any:
    """`base` (the state's computation class) with py-evm's interpreter loop, `apply_computation`,
    charging the constant gas of a plain opcode in the loop itself instead of through three
    calls per opcode (`_FastOpcode.__call__` -> `consume_gas` -> `GasMeter.consume_gas`): the
    same charge, the same order, and the same OutOfGas (taken py-evm's own way when the gas does
    not cover the opcode). Every other opcode, precompile, gas meter and debug-logging run goes as
    py-evm's. Only for a class that keeps py-evm's own loop; any other is returned unchanged."""
    from eth.vm.computation import BaseComputation
    from eth.vm.gas_meter import GasMeter

    if (getattr(base.apply_computation, "__func__", None) is not BaseComputation.apply_computation.__func__
            or base.consume_gas is not BaseComputation.consume_gas or GasMeter.consume_gas is not _STOCK_CHARGE[0]):
        return base
    cached = _LEAN.get(base)
    if cached is None:
        cached = _LEAN[base] = type(f"Lean{base.__name__}", (base,), {"__module__": __name__,
                                                                     "apply_computation": classmethod(_apply_computation)})
    return cached


def _stock_charge() -> list:
    from eth.vm.gas_meter import GasMeter

    return [GasMeter.consume_gas]


_STOCK_CHARGE = _stock_charge()


def _apply_computation(cls: Any, state: Any, message: Any, transaction_context: Any,
                       parent_computation: Any = None) -> Any:
    # BaseComputation.apply_computation (py-evm 0.12.1b1), the loop's gas charge inlined
    from eth.vm.gas_meter import GasMeter

    budget = getattr(transaction_context, "budget", None)  # a call on the event loop (InlineBudget)
    if cls.logger.show_debug2 or GasMeter.logger.show_debug2:  # py-evm logs every opcode and charge: let it
        if budget is not None:  # py-evm's own loop has no place to check the budget
            raise NotInline("py-evm's own loop")
        return super(_lean_parent(cls), cls).apply_computation(state, message, transaction_context, parent_computation)
    with cls(state, message, transaction_context) as computation:
        if computation.is_origin_computation:
            computation.contracts_created = []
            if message.is_create:
                cls.consume_initcode_gas_cost(computation)
        if parent_computation is not None:
            computation.contracts_created = parent_computation.contracts_created
        if message.is_create:
            computation.contracts_created.append(message.storage_address)
        if budget is not None:
            budget.enter(message)
        precompile = computation.precompiles.get(message.code_address, _NO_RESULT)
        if precompile is not _NO_RESULT:
            if not message.is_delegation:
                precompile(computation)
            return computation
        meter, code, stack = computation._gas_meter, computation.code, computation._stack
        if (type(meter) is GasMeter and type(code) is _CodeStream and type(stack) is _Stack
                and type(computation._memory) is _Memory and _stock_stack_methods(cls)):
            _run_lean(computation, code, meter, stack.values, _lean_table(computation.opcodes), budget)
        elif budget is not None:
            raise NotInline("py-evm's own loop")
        else:
            _run(computation, meter)
    return computation


def checks_budgets(computation_class: Any) -> bool:
    """Whether executions of this computation class check an `InlineBudget` (the lean loop's class)."""
    return getattr(computation_class.apply_computation, "__func__", None) is _apply_computation


class NotInline(Exception):
    """An execution under an `InlineBudget` stops: it would run past its time or reach a service
    precompile. Not a VMError, so py-evm does not turn it into a failed computation: it leaves the
    execution (whose state the caller reverts) and the call runs again, whole, on a reader thread."""


class InlineBudget:
    """How long a call may hold the event loop, checked at each frame's start and every
    JUMP_CHECK jumps (every loop in EVM code jumps; between checks runs at most one frame's
    straight-line code), and the addresses it must not run there: the AIVM service precompiles,
    which may wait for validators or node services that need the loop."""

    __slots__ = ("deadline", "refused", "jumps")
    JUMP_CHECK = 64

    def __init__(self, seconds: float, refused: frozenset) -> None:
        self.deadline = time.perf_counter() + seconds
        self.refused = refused
        self.jumps = self.JUMP_CHECK

    def enter(self, message: Any) -> None:
        if message.code_address in self.refused or message.storage_address in self.refused:
            raise NotInline("a service precompile")
        self.check()

    def check(self) -> None:
        if time.perf_counter() > self.deadline:
            raise NotInline("over its time")
        self.jumps = self.JUMP_CHECK


def _run(computation: Any, meter: Any) -> None:
    """py-evm's loop, a plain opcode's constant gas charged here (another meter: its own way)."""
    from eth.vm.gas_meter import GasMeter

    opcode_lookup = computation.opcodes
    fast = _FastOpcode if type(meter) is GasMeter else None
    for opcode in computation.code:
        try:
            opcode_fn = opcode_lookup[opcode]
        except KeyError:
            opcode_fn = InvalidOpcode(opcode)
        try:
            if type(opcode_fn) is fast:
                cost = opcode_fn.gas_cost
                if cost > meter.gas_remaining:
                    meter.consume_gas(cost, opcode_fn.mnemonic)  # raises py-evm's OutOfGas
                meter.gas_remaining -= cost
                opcode_fn.logic_fn(computation)
            else:
                opcode_fn(computation=computation)
        except Halt:
            break


# what the lean loop does itself for an opcode whose logic is one of py-evm's own functions
_PUSH, _DUP, _SWAP, _POP, _NOP, _BINARY, _UNARY, _PLAIN, _MSTORE, _MLOAD, _JUMP = range(11)
_M = 2**256 - 1


def _lean_kinds() -> dict:
    from eth.vm.logic import arithmetic, comparison, duplication, flow, memory, stack, swap

    kinds: dict = {getattr(stack, f"push{n}"): (_PUSH, n) for n in range(33)}
    kinds.update({getattr(duplication, f"dup{n}"): (_DUP, n) for n in range(1, 17)})
    kinds.update({getattr(swap, f"swap{n}"): (_SWAP, n) for n in range(1, 17)})
    kinds[stack.pop] = (_POP, None)
    kinds[flow.jumpdest] = (_NOP, None)
    kinds[flow.jump] = (_JUMP, flow.jump)
    kinds[flow.jumpi] = (_JUMP, flow.jumpi)
    # left = the top of the stack, right = the next (py-evm's `stack_pop_ints(2)` order)
    binary = {
        arithmetic.add: lambda left, right: (left + right) & _M,
        arithmetic.sub: lambda left, right: (left - right) & _M,
        arithmetic.mul: lambda left, right: (left * right) & _M,
        arithmetic.shl: lambda shift, value: 0 if shift >= 256 else (value << shift) & _M,
        arithmetic.shr: lambda shift, value: 0 if shift >= 256 else (value >> shift) & _M,
        comparison.lt: lambda left, right: 1 if left < right else 0,
        comparison.gt: lambda left, right: 1 if left > right else 0,
        comparison.eq: lambda left, right: 1 if left == right else 0,
        comparison.and_op: lambda left, right: left & right,
        comparison.or_op: lambda left, right: left | right,
        comparison.xor: lambda left, right: left ^ right,
    }
    kinds.update({fn: (_BINARY, op) for fn, op in binary.items()})
    kinds[comparison.iszero] = (_UNARY, lambda value: 1 if value == 0 else 0)
    kinds[comparison.not_op] = (_UNARY, lambda value: _M - value)
    kinds[memory.mstore] = (_MSTORE, memory.mstore)
    kinds[memory.mload] = (_MLOAD, memory.mload)
    return kinds


def _lean_table(opcodes: dict) -> list:
    """Per opcode: None (py-evm calls the opcode object itself) or (kind, argument, gas, mnemonic)."""
    kept = _TABLES.get(id(opcodes))
    if kept is not None and kept[0] is opcodes:
        return kept[1]
    table: list = [None] * 256
    for op, fn in opcodes.items():
        if type(fn) is _FastOpcode:
            kind, arg = _KINDS.get(fn.logic_fn, (_PLAIN, fn.logic_fn))
            table[op] = (kind, arg, fn.gas_cost, fn.mnemonic)
    _TABLES[id(opcodes)] = (opcodes, table)
    return table


def _stock_stack_methods(cls: Any) -> bool:
    """The computation reaches its stack and memory through BaseComputation's own proxies (the
    lean loop works on the stack's list and the memory's bytes directly, as py-evm's `Stack`
    and `Memory` do)."""
    ok = _STOCK_STACK.get(cls)
    if ok is None:
        from eth.vm.computation import BaseComputation

        ok = _STOCK_STACK[cls] = all(next(c for c in cls.__mro__ if name in vars(c)) is BaseComputation
                                     for name in _STACK_PROXIES)
    return ok


_STACK_PROXIES = ("stack_dup", "stack_swap", "stack_pop_ints", "stack_pop1_int", "stack_pop1_any",
                  "stack_pop1_bytes", "stack_push_int", "stack_push_bytes", "extend_memory", "memory_write",
                  "memory_read_bytes")
_STOCK_STACK: dict = {}
_TABLES: dict = {}


def _run_lean(computation: Any, code: Any, meter: Any, values: list, table: list,
              budget: Optional[InlineBudget] = None) -> None:
    """`_run` for py-evm's CodeStream, GasMeter, Stack and Memory: PUSH/DUP/SWAP/POP/JUMPDEST, the
    plain arithmetic and comparisons, and MLOAD/MSTORE within memory already paid for (an extension
    goes through py-evm's `mload`/`mstore`) done here on the stack's list, with py-evm's checks
    and errors word for word (eth/vm/stack.py, eth/vm/logic/*); every other opcode calls its
    logic function (constant gas charged here) or, when not a plain one, py-evm's opcode object.
    The code is walked as `CodeStream.__iter__` walks it: the byte at the program counter, then
    one STOP past the end. A `budget` is checked every `InlineBudget.JUMP_CHECK` jumps."""
    raw = code._raw_code_bytes
    opcodes = computation.opcodes
    memory = computation._memory
    append, pop = values.append, values.pop
    from_bytes = int.from_bytes
    end = False
    while True:
        pc = code.program_counter
        try:
            opcode = raw[pc]
            code.program_counter = pc + 1
        except IndexError:
            opcode, end = 0, True  # STOP
        entry = table[opcode]
        if entry is None:
            try:
                opcode_fn = opcodes[opcode]
            except KeyError:
                opcode_fn = InvalidOpcode(opcode)
            try:
                opcode_fn(computation=computation)
            except Halt:
                return
        else:
            kind, arg, cost, mnemonic = entry
            if cost > meter.gas_remaining:
                meter.consume_gas(cost, mnemonic)  # raises py-evm's OutOfGas
            meter.gas_remaining -= cost
            if kind == _PUSH:
                start = code.program_counter
                value = raw[start:start + arg]
                code.program_counter = start + arg
                if len(value) != arg:
                    value = value.ljust(arg, b"\x00")
                if len(values) > 1023:
                    raise FullStack("Stack limit reached")
                append(value)
            elif kind == _DUP:
                if len(values) > 1023:
                    raise FullStack("Stack limit reached")
                try:
                    append(values[-arg])
                except IndexError:
                    raise InsufficientStack(f"Insufficient stack items for DUP{arg}")
            elif kind == _SWAP:
                idx = -arg - 1
                try:
                    values[-1], values[idx] = values[idx], values[-1]
                except IndexError:
                    raise InsufficientStack(f"Insufficient stack items for SWAP{arg}")
            elif kind == _BINARY:
                if len(values) < 2:
                    raise InsufficientStack(f"Wanted 2 stack items, only had {len(values)}")
                left, right = pop(), pop()
                if not isinstance(left, int):
                    left = from_bytes(left, "big")
                if not isinstance(right, int):
                    right = from_bytes(right, "big")
                append(arg(left, right))
            elif kind == _PLAIN:
                try:
                    arg(computation)
                except Halt:
                    return
            elif kind == _JUMP:
                if budget is not None:
                    budget.jumps -= 1
                    if not budget.jumps:
                        budget.check()
                arg(computation)
            elif kind == _POP:
                try:
                    pop()
                except IndexError:
                    raise InsufficientStack("Wanted 1 stack item, had none")
            elif kind == _UNARY:
                try:
                    value = pop()
                except IndexError:
                    raise InsufficientStack("Wanted 1 stack item, had none")
                append(arg(value if isinstance(value, int) else from_bytes(value, "big")))
            elif kind == _MSTORE:  # within the memory already paid for: no extension, no gas (else py-evm's)
                buf = memory._bytes
                if len(values) > 1:
                    start = values[-1]
                    if not isinstance(start, int):
                        start = from_bytes(start, "big")
                    if start + 32 <= len(buf):
                        value = values[-2]
                        del values[-2:]
                        buf[start:start + 32] = (value.to_bytes(32, "big") if isinstance(value, int)
                                                 else value.rjust(32, b"\x00")[-32:])
                        continue
                arg(computation)
            elif kind == _MLOAD:
                buf = memory._bytes
                if values:
                    start = values[-1]
                    if not isinstance(start, int):
                        start = from_bytes(start, "big")
                    if start + 32 <= len(buf):
                        values[-1] = bytes(buf[start:start + 32])
                        continue
                arg(computation)
            # _NOP: JUMPDEST
        if end:
            return


_NO_RESULT = object()
_KINDS = _lean_kinds()


def _lean_parent(cls: Any) -> Any:
    """The class the lean one was made from (its loop is py-evm's)."""
    for c in cls.__mro__:
        if "apply_computation" in vars(c) and vars(c)["apply_computation"].__func__ is _apply_computation:
            return c
    return cls




def _defined_in(cls: Any, name: str) -> set:
    return {c for c in cls.__mro__ if name in vars(c)}


def _stock_call_path() -> tuple:
    from eth.abc import TransactionExecutorAPI
    from eth.vm.forks.cancun.state import CancunTransactionExecutor
    from eth.vm.forks.frontier.state import FrontierState, FrontierTransactionExecutor
    from eth.vm.state import BaseTransactionExecutor

    return (FrontierState.apply_transaction,
            {CancunTransactionExecutor, BaseTransactionExecutor, TransactionExecutorAPI},
            {FrontierTransactionExecutor, TransactionExecutorAPI})


def block_executor(state: Any) -> Optional[Any]:
    """The lean executor for the node's blocks (`BlockBuilder.apply` runs its steps itself), or
    None: then the block runs py-evm's `state.apply_transaction` as it is.

    What it changes on `state` (one block's state, dropped after the seal): the computation
    class gets the lean interpreter loop, the account DB the lean balance/nonce writes. Only
    when the state applies a transaction py-evm 0.12.1b1's way: `apply_transaction` is
    Frontier's (the executor, called), the executor's `__call__` is Cancun's over the base one
    (validate, message, computation, finalize, clear transient storage) and its validation is
    Frontier's (the transaction's own `validate()`, then the state's).
    """
    key = (type(state), state.transaction_executor_class, state.computation_class)
    classes = _BLOCK_CLASSES.get(key)
    if classes is None:
        apply, calls, validators = _stock_call_path()
        executor = state.transaction_executor_class
        lean = lean_executor_class(state)
        if (type(state).apply_transaction is not apply or _defined_in(executor, "__call__") != calls
                or _defined_in(executor, "validate_transaction") != validators
                or lean is executor):  # not the executor the lean steps were copied from
            classes = _BLOCK_CLASSES[key] = (None, None)
        else:
            classes = _BLOCK_CLASSES[key] = (lean, lean_computation_class(state.computation_class))
    lean, computation = classes
    if lean is None:
        return None
    fast_account_writes(state._account_db)
    state.computation_class = computation
    return lean(state)


_BLOCK_CLASSES: dict = {}  # (state class, executor class, computation class) -> (lean executor, lean computation)
