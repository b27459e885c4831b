"""The precompile registry: one declaration per precompile, one table for the VM.

Adding a precompile is one small module that calls :func:`register`; the VM fork
(`vm/fork.py`) merges :func:`py_evm_table` into Prague's table, so nothing in the
VM changes when a precompile is added.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Protocol

from eth.exceptions import Revert, VMError

FIRST_ADDRESS = 0x0100


class PrecompileError(VMError):
    """Bad input or a failed check: the call fails and all its gas is consumed."""


class PrecompileRevert(Exception):
    """Fail the call returning `data` (like REVERT): gas charged so far is kept."""

    def __init__(self, data: bytes = b"") -> None:
        super().__init__(data)
        self.data = data


class AIPort(Protocol):
    """What the AI precompiles need from the AI service (ai.service.AIService, the in-process test cluster)."""

    scheduler: Any  # ai.scheduler.Scheduler: max_tokens_for, recorded
    max_gas_per_execution: int  # [aivm] max_gas_per_execution
    infer_timeout: float  # seconds a block waits for the quorum

    def infer(self, model_id: str, data: bytes, requester: str, timeout: float,
              max_tokens: Optional[int] = None) -> tuple[bytes, dict, str]:
        """(result, quorum certificate, computation id); AIError when no quorum answers in time."""

    def request_async(self, model_id: str, data: bytes, caller: bytes, selector: bytes, request_id: bytes,
                      max_tokens: Optional[int] = None) -> str:
        """Start a computation answered later by a callback transaction; its computation id."""


@dataclass
class Services:
    """What the node lends to precompiles that need more than the EVM; one typed field each.

    The chain holds one instance for its life: the application fills `ai` once the AI layer
    is ready, and the chain sets `producing_block` while it executes a block (not a call).
    """

    ai: Optional[AIPort] = None
    producing_block: Optional[int] = None
    ai_start: Optional[Callable[[str], None]] = None  # starts an idle AI layer on first use (vm.ai_start.AIStarter)


@dataclass(frozen=True)
class CallContext:
    """The part of a py-evm computation a precompile may see."""

    computation: Any = field(repr=False)

    @property
    def data(self) -> bytes:
        return self.computation.msg.data_as_bytes

    @property
    def sender(self) -> bytes:
        return self.computation.msg.sender

    @property
    def value(self) -> int:
        return self.computation.msg.value

    @property
    def is_static(self) -> bool:
        return self.computation.msg.is_static

    @property
    def origin(self) -> bytes:
        return self.computation.transaction_context.origin

    @property
    def state(self) -> Any:
        return self.computation.state

    @property
    def block_number(self) -> int:
        return self.computation.state.block_number

    @property
    def timestamp(self) -> int:
        return self.computation.state.timestamp

    @property
    def chain_id(self) -> int:
        return self.computation.state.execution_context.chain_id

    @property
    def services(self) -> Services:
        """Node services wired in by the chain (empty when none were given)."""
        return getattr(self.computation.state, "services", None) or _NO_SERVICES

    def read_storage(self, address: bytes, slot: int) -> int:
        return self.computation.state.get_storage(address, slot)

    def write_storage(self, address: bytes, slot: int, value: int) -> None:
        if self.is_static:
            raise PrecompileError("state write in a static call")
        self.computation.state.set_storage(address, slot, value)


_NO_SERVICES = Services()  # frozen in practice: nothing writes to the one given when none were


@dataclass(frozen=True)
class Precompile:
    """A precompile: where it lives, what it costs, what it does.

    `gas(data)` prices the input before anything runs; `run(ctx)` returns the
    output bytes or raises PrecompileError / PrecompileRevert. `stateful`
    precompiles get a genesis account (nonce 1, code 0xfe) so EIP-161 never
    wipes their storage and `extcodesize` sees code.
    """

    name: str
    address: int
    gas: Callable[[bytes], int]
    run: Callable[[CallContext], bytes]
    stateful: bool = False
    doc: str = ""

    @property
    def address_bytes(self) -> bytes:
        return self.address.to_bytes(20, "big")

    def __call__(self, computation: Any) -> Any:
        """The py-evm calling convention: charge, run, set output."""
        ctx = CallContext(computation)
        try:
            cost = self.gas(ctx.data)
        except Exception as exc:  # a gas function must never crash the VM
            raise PrecompileError(f"{self.name}: bad input: {exc}") from exc
        computation.consume_gas(cost, reason=f"AIVM precompile {self.name}")
        try:
            computation.output = self.run(ctx)
        except PrecompileRevert as rev:
            computation.output = rev.data
            raise Revert(rev.data) from None
        except VMError:
            raise
        except Exception as exc:  # any other failure fails the call, never the node
            raise PrecompileError(f"{self.name}: {exc}") from exc
        return computation


_REGISTRY: dict[int, Precompile] = {}


def register(precompile: Precompile) -> Precompile:
    """Add a precompile; addresses are unique, start at 0x0100, and each has its entry in precompiles/spec.py."""
    from precompiles.spec import BY_ADDRESS

    if precompile.address < FIRST_ADDRESS:
        raise ValueError(f"{precompile.name}: AIVM precompiles live at 0x0100 and up")
    spec = BY_ADDRESS.get(precompile.address)
    if spec is None or spec.name != precompile.name:
        raise ValueError(f"{precompile.name} at {precompile.address:#06x} has no matching entry in precompiles/spec.py")
    existing = _REGISTRY.get(precompile.address)
    if existing is not None and existing.name != precompile.name:
        raise ValueError(
            f"address {precompile.address:#06x} is taken by {existing.name}"
        )
    _REGISTRY[precompile.address] = precompile
    return precompile


def all_precompiles() -> list[Precompile]:
    return sorted(_REGISTRY.values(), key=lambda p: p.address)


def by_name(name: str) -> Precompile:
    for p in _REGISTRY.values():
        if p.name == name:
            return p
    raise KeyError(name)


def py_evm_table() -> dict[bytes, Callable[[Any], Any]]:
    """{20-byte address: fn(computation)} for merging into a py-evm fork."""
    return {p.address_bytes: p for p in _REGISTRY.values()}


def genesis_accounts() -> dict[bytes, dict[str, Any]]:
    """Genesis entries that keep stateful precompile accounts alive."""
    return {
        p.address_bytes: {"balance": 0, "nonce": 1, "code": b"\xfe", "storage": {}}
        for p in _REGISTRY.values()
        if p.stateful
    }
