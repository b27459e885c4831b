"""State reads of the committed head from any thread: eth_call, balances, code, storage.

py-evm objects are not thread-safe, and the chain thread may sit inside a long
block (the AI precompile waits for validators). So reads never touch the chain
thread's VM: each thread keeps its own warm read-only state per head view,
built over a `CommittedView` of the KV store (never the chain thread's
uncommitted batch). A call runs on it between `snapshot()` and `revert()`, the
way py-evm's `in_costless_state` does, so the state and its caches stay warm
from one call to the next until the head moves.
"""
from __future__ import annotations

import itertools
import threading
from typing import Any, Optional

from eth.vm.spoof import SpoofTransaction

from vm.lean_exec import InlineBudget, NotInline, checks_budgets, lean_computation_class, lean_executor_class


class ReadState:
    """One thread's read-only state over one head view (a header and its state root).

    Reads see the header's post-state; calls execute in a block built on top of it
    with base fee 0, exactly as py-evm's `in_costless_state` sets them up.
    """

    def __init__(self, chain_class: Any, db: Any, header: Any) -> None:
        self.header = header
        py_chain = chain_class(db)
        vm = py_chain.get_vm(header)
        temp = vm.generate_block_from_parent_header_and_coinbase(header, header.coinbase)
        prev_hashes = itertools.chain((header.hash,), vm.previous_hashes)
        free = temp.header.copy(base_fee_per_gas=0) if hasattr(temp.header, "base_fee_per_gas") else temp.header
        self.vm = vm
        self.state = vm.build_state(db, free, vm.chain_context, prev_hashes)
        # the blocks' interpreter loop and executor steps (vm/lean_exec.py: same gas, same order, same
        # errors, no debug strings formatted per call; py-evm's own class where they do not apply)
        self.state.computation_class = lean_computation_class(self.state.computation_class)
        self.state.transaction_executor_class = lean_executor_class(self.state)
        self._context_class = self.state.get_transaction_context_class()
        self._budgeted_context_class = _budgeted(self._context_class)
        self._checks_budgets = checks_budgets(self.state.computation_class)

    def execute(self, sender: bytes, to: Optional[bytes], data: bytes, value: int, gas: int,
                gas_price: int, budget: Optional[InlineBudget] = None) -> Any:
        """Run a call and throw its effects away; returns py-evm's computation.

        What py-evm's `costless_execute_transaction` does (a transaction of gas price 0 applied
        while the transaction context reports the caller's gas price), without its three copies
        of the transaction (rlp's `Serializable.copy` with its checks, a quarter of a plain
        call's time): the free transaction is built with gas price 0 in the first place.
        Under a `budget` (on the event loop) it may raise `NotInline` part-way; the state is
        reverted all the same."""
        if budget is not None and not self._checks_budgets:  # py-evm's own loop would never check it
            raise NotInline("py-evm's own loop")
        state = self.state
        snapshot = state.snapshot()
        context_class = self._context_class if budget is None else self._budgeted_context_class

        def context(tx: Any) -> Any:  # BaseState.get_transaction_context, the caller's gas price
            ctx = context_class(gas_price=gas_price, origin=tx.sender)
            if budget is not None:
                ctx.budget = budget  # the lean loop checks it (vm/lean_exec.py)
            return ctx

        state.get_transaction_context = context
        try:
            utx = self.vm.create_unsigned_transaction(
                nonce=state.get_nonce(sender), gas_price=0, gas=gas, to=to or b"", value=value, data=data,
            )
            return state.apply_transaction(SpoofTransaction(utx, from_=sender))
        finally:
            del state.get_transaction_context
            state.revert(snapshot)


def _budgeted(context_class: Any) -> Any:
    """The transaction context class with a slot for an `InlineBudget` (py-evm's use __slots__)."""
    cached = _BUDGETED.get(context_class)
    if cached is None:
        cached = _BUDGETED[context_class] = type(f"Budgeted{context_class.__name__}", (context_class,),
                                                 {"__slots__": ("budget",), "__module__": __name__})
    return cached


_BUDGETED: dict = {}


_SERVICE_PRECOMPILES: Optional[frozenset] = None


def service_precompiles() -> frozenset:
    """The AIVM precompiles' addresses (0x0100 and up): AI, consensus, bridges."""
    global _SERVICE_PRECOMPILES
    if _SERVICE_PRECOMPILES is None:
        from precompiles.registry import py_evm_table

        _SERVICE_PRECOMPILES = frozenset(py_evm_table())
    return _SERVICE_PRECOMPILES


class CallCache:
    """Results of eth_calls on the latest view, answered again without executing.

    A call's outcome is a function of the view (state root and the block it runs in,
    fixed per view) and its arguments — unless it reaches an AIVM precompile (AI,
    consensus, bridges: they may ask validators or read node services), so those are
    never kept. The cache holds one view: the first call on a new view drops the old
    one. Shared by every thread: a lookup or a store is one dict operation.
    """

    SIZE = 4096  # results per view

    def __init__(self) -> None:
        self._view: tuple = (None, {})

    def get(self, view_key: tuple, args: tuple) -> Any:
        key, results = self._view
        return results.get(args) if key == view_key else None

    def put(self, view_key: tuple, args: tuple, result: Any, computation: Any) -> None:
        if not _deterministic(computation):
            return
        key, results = self._view
        if key != view_key:
            results = {}
            self._view = (view_key, results)
        if len(results) < self.SIZE:
            results[args] = result

    def clear(self) -> None:
        self._view = (None, {})


def touches_service_precompile(computation: Any) -> bool:
    """True when some frame of this execution ran an AIVM precompile (0x0100 and up):
    its outcome may depend on node services (validators, bridges), not on state alone."""
    return computation is not None and not _deterministic(computation)


def _deterministic(computation: Any) -> bool:
    """True when no frame of the call ran an AIVM precompile (0x0100 and up)."""
    service = service_precompiles()
    todo = [computation]
    while todo:
        comp = todo.pop()
        if comp.msg.code_address in service or comp.msg.storage_address in service:
            return False
        todo.extend(comp.children)
    return True


class HeadReader:
    """Thread-local warm `ReadState`s (for calls) and account databases (for plain reads:
    balance, nonce, code, storage need no VM), for the latest view and a few older ones."""

    HISTORY = 4  # historical views kept per thread

    def __init__(self, chain_class: Any, db: Any) -> None:
        self._chain_class = chain_class
        self._db = db
        self._local = threading.local()
        self.calls = CallCache()
        # the VM's own account DB class (a forked chain's fetches what it lacks from the remote)
        self._account_db_class = chain_class.vm_configuration[-1][1].get_state_class().get_account_db_class()

    def state_for(self, header: Any) -> ReadState:
        local = self._local
        views = getattr(local, "views", None)
        if views is None:
            views = local.views = {}
        key = (header.hash, header.state_root)
        rs = views.get(key)
        if rs is None:
            if len(views) >= self.HISTORY:
                views.pop(next(iter(views)))
            rs = views[key] = ReadState(self._chain_class, self._db, header)
        else:  # most recently used last
            views[key] = views.pop(key)
        return rs

    def accounts_for(self, state_root: bytes) -> Any:
        """This thread's read-only AccountDB at `state_root`: no VM, no execution context."""
        local = self._local
        dbs = getattr(local, "accounts", None)
        if dbs is None:
            dbs = local.accounts = {}
        adb = dbs.get(state_root)
        if adb is None:
            if len(dbs) >= self.HISTORY:
                dbs.pop(next(iter(dbs)))
            adb = dbs[state_root] = self._account_db_class(self._db, state_root)
        return adb

    def forget(self) -> None:
        """Drop this thread's views (after a revert, old keys may be reused by new content)."""
        self._local.views = {}
        self._local.accounts = {}
        self.calls.clear()
