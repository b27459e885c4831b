"""`Env`: what the `chain` fixture is. Deploys contracts, runs their calls, and owns
snapshots, time, balances and impersonation, over a local or a network backend.

Addresses go in as checksum strings, bytes, accounts or contracts, and come out as
checksum strings, like eth-abi's decoded addresses, so `token.owner() == accounts[0]`.
"""
from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import Any, Iterator, Optional, Union

from eth_utils import to_canonical_address, to_checksum_address

from aivm_pytest.abi import encode
from aivm_pytest.compile import Artifact, load
from aivm_pytest.contract import Contract
from aivm_pytest.events import EventList
from aivm_pytest.gas import GasLog
from aivm_pytest.reverts import Reverted, error_class, make_error, source_line_for
from vm.chain import ExecutionResult

AddressLike = Union[str, bytes, "Account", Contract]


class Account(str):
    """A checksum address string that tests pass as `sender=`; `.raw` is its 20 bytes."""

    @property
    def raw(self) -> bytes:
        return to_canonical_address(self)


def raw_address(a: Any) -> bytes:
    if isinstance(a, Contract):
        a = a.address
    if isinstance(a, (bytes, bytearray)):
        return bytes(a)
    return _canonical(str(a))


@functools.lru_cache(maxsize=4096)
def _canonical(a: str) -> bytes:
    """Checksum/hex address -> 20 bytes (every call converts its sender and target: cached)."""
    return to_canonical_address(a)


class Env:
    def __init__(self, backend: Any, cache_dir: Optional[Path] = None, search: tuple[Path, ...] = ()) -> None:
        self.backend = backend
        self.cache_dir = cache_dir
        self.search = search
        self.accounts = [Account(to_checksum_address(a)) for a in backend.accounts]
        self.gas = GasLog()
        self.last_tx: Optional[ExecutionResult] = None
        self._contracts: dict[bytes, Contract] = {}  # address -> the object that knows its ABI and source

    def __repr__(self) -> str:
        where = "in-process chain" if self.raw is not None else f"node at {self.backend.url}"
        return f"<Env: {where}, head #{self.block_number}>"

    @property
    def raw(self) -> Any:
        """The in-process `vm.chain.Chain` (None with --network)."""
        return getattr(self.backend, "chain", None)

    # -- contracts
    def deploy(self, contract: Any, *args: Any, sender: Any = None, value: int = 0, gas: Optional[int] = None,
               name: Optional[str] = None) -> Contract:
        """Compile if needed, run the constructor in a transaction, return the contract object."""
        __tracebackhide__ = True
        art = load(contract, name, self.cache_dir, self.search)
        ctor = next((e for e in art.abi if e.get("type") == "constructor"), {"inputs": []})
        if len(args) != len(ctor["inputs"]):
            raise TypeError(f"{art.name}'s constructor takes {len(ctor['inputs'])} arguments, got {len(args)}")
        data = art.bytecode + encode(ctor["inputs"], args)
        result = self.backend.transact(self._sender(sender), None, data, value, gas)
        self.last_tx = result
        if not result.success:
            raise self._error(result, art, "constructor")
        self.gas.record(art.name, "(deploy)", result.gas_used)
        c = Contract(self, to_checksum_address(result.contract_address), art)
        c._record(result)
        self._contracts[result.contract_address] = c
        return c

    def at(self, address: AddressLike, contract: Any, name: Optional[str] = None) -> Contract:
        """A contract object for code already on chain (deployed by another contract, say)."""
        c = Contract(self, to_checksum_address(raw_address(address)), load(contract, name, self.cache_dir, self.search))
        self._contracts.setdefault(raw_address(address), c)
        return c

    def decode_logs(self, logs: list, fallback: Optional[Contract] = None) -> EventList:
        """Every log as an Event: by the ABI of the contract that emitted it when we deployed
        (or `at()`-ed) it, else by `fallback`'s ABI; logs neither can read are left out."""
        out = EventList()
        for log in logs:
            for c in (self._contracts.get(log.address), fallback):
                ev = c._decoder.decode(log) if c is not None else None
                if ev is not None:
                    out.append(ev)
                    break
        return out

    @property
    def events(self) -> EventList:
        """The events of the last transaction sent through this Env."""
        return self.decode_logs(self.last_tx.logs) if self.last_tx is not None else EventList()

    def _sender(self, sender: Any) -> bytes:
        return raw_address(sender) if sender is not None else raw_address(self.accounts[0])

    def _transact(self, c: Contract, fn: str, data: bytes, sender: Any, value: int,
                  gas: Optional[int]) -> ExecutionResult:
        __tracebackhide__ = True
        result = self.backend.transact(self._sender(sender), raw_address(c.address), data, value, gas)
        self.last_tx = result
        c._record(result)
        self.gas.record(c._name, fn, result.gas_used)
        if not result.success:
            raise self._error(result, c.artifact, fn)
        return result

    def _call(self, c: Contract, fn: str, data: bytes, sender: Any, value: int,
              gas: Optional[int]) -> ExecutionResult:
        __tracebackhide__ = True
        result = self.backend.call(self._sender(sender), raw_address(c.address), data, value, gas)
        if not result.success:
            raise self._error(result, c.artifact, fn)
        return result

    def _error(self, result: ExecutionResult, art: Artifact, fn: str) -> Reverted:
        """The exception for a failed result, naming the function and, for SynQ, the source line."""
        where = f"in {art.name}.{fn}"
        frames = self.backend.revert_frames(result)
        for depth, (address, pc, in_init) in reversed(list(enumerate(frames))):
            if in_init:  # only the constructor being deployed has a known init source map
                owner = art if depth == 0 else None
            else:
                owner = getattr(self._contracts.get(address), "artifact", None)
            line = source_line_for(owner, pc, in_init) if owner is not None else ""
            if line:
                where += f" at {line}"
                break
        gas = result.gas_used if result.tx_hash else 0
        return make_error(result.output, result.error, self._error_classes(art), where, gas)

    def _error_classes(self, art: Artifact) -> dict:
        """selector -> CustomError class, over every ABI we know: a revert may come from a callee."""
        abis = [art.abi, *(c.artifact.abi for c in self._contracts.values())]
        classes = (error_class(e) for abi in abis for e in abi if e.get("type") == "error")
        return {cls.selector: cls for cls in classes}

    # -- snapshots
    @contextlib.contextmanager
    def anchor(self) -> Iterator[None]:
        """Everything done inside the block is undone when it exits (state, blocks, time)."""
        sid = self.backend.snapshot()
        try:
            yield
        finally:
            self.backend.revert(sid)

    def snapshot(self) -> Any:
        return self.backend.snapshot()

    def revert(self, snapshot_id: Any) -> bool:
        return self.backend.revert(snapshot_id)

    # -- blocks and time
    @property
    def block_number(self) -> int:
        return self.backend.block_number

    @property
    def timestamp(self) -> int:
        """The latest block's timestamp (what a view call sees as block.timestamp)."""
        return self.backend.timestamp

    def mine(self, blocks: int = 1, timestamp: Optional[int] = None) -> None:
        """Mine empty blocks; the first at `timestamp` if given."""
        for i in range(blocks):
            self.backend.mine(timestamp if i == 0 else None)

    def time_travel(self, seconds: int) -> None:
        """Mine a block `seconds` after the latest one, so views and later blocks see the new time."""
        if seconds > 0:
            self.backend.set_next_timestamp(self.timestamp + seconds)
        self.backend.mine(None)

    def set_next_timestamp(self, timestamp: int) -> None:
        self.backend.set_next_timestamp(timestamp)

    # -- balances and accounts
    def balance(self, address: AddressLike) -> int:
        return self.backend.balance(raw_address(address))

    def set_balance(self, address: AddressLike, wei: int) -> None:
        self.backend.set_balance(raw_address(address), wei)

    def code(self, address: AddressLike) -> bytes:
        return self.backend.code(raw_address(address))

    def nonce(self, address: AddressLike) -> int:
        return self.backend.nonce(raw_address(address))

    def impersonate(self, address: AddressLike) -> Account:
        """Let tests send from `address` without its key (`sender=chain.impersonate(addr)`)."""
        self.backend.impersonate(raw_address(address), True)
        return Account(to_checksum_address(raw_address(address)))

    def transfer(self, to: AddressLike, value: int, sender: Any = None) -> ExecutionResult:
        """Send plain ether (no data)."""
        __tracebackhide__ = True
        result = self.backend.transact(self._sender(sender), raw_address(to), b"", value, None)
        self.last_tx = result
        if not result.success:
            raise Reverted(result.output, error=result.error, gas_used=result.gas_used)
        return result
