"""A deployed contract as a Python object: one method per ABI function.

    token.transfer(bob, 10, sender=alice)      # a transaction (its own block); returns the decoded value
    token.balanceOf(bob)                       # view/pure: an eth_call
    token.transfer.call(bob, 10)               # simulate a non-view function without a transaction
    token.events.Transfer[0].value             # events of this contract's last transaction (any emitter)
    token.last_gas                             # gas of this contract's last transaction (receipt gasUsed)

Attributes of the object itself (`address`, `abi`, `artifact`, `env`, `events`, `errors`,
`last_tx`, `last_gas`, `function`, `decode_logs`) win over ABI functions of the same name;
reach such a function with `contract.function("address")`.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Optional

from aivm_pytest.abi import Codec, selector, signature
from aivm_pytest.compile import Artifact
from aivm_pytest.events import EventDecoder, EventList
from aivm_pytest.reverts import error_class

if TYPE_CHECKING:
    from aivm_pytest.env import Env
    from vm.chain import ExecutionResult


class ContractFunction:
    """All ABI overloads of one name; the argument count picks the overload."""

    def __init__(self, contract: "Contract", entries: list[dict]) -> None:
        self.contract = contract
        self.name = entries[0]["name"]
        self.entries = {len(e.get("inputs", [])): e for e in entries}
        self._codecs: dict[int, tuple] = {}  # id(entry) -> (selector, inputs codec, outputs codec)

    def _entry(self, args: tuple) -> dict:
        entry = self.entries.get(len(args))
        if entry is None:
            sigs = ", ".join(signature(e) for e in self.entries.values())
            raise TypeError(f"{self.contract._name}.{self.name} takes {sigs}; got {len(args)} arguments")
        return entry

    def _codec(self, entry: dict) -> tuple:
        c = self._codecs.get(id(entry))
        if c is None:
            outputs = entry.get("outputs", [])
            c = self._codecs[id(entry)] = (selector(entry), Codec(entry.get("inputs", [])),
                                           Codec(outputs) if outputs else None)
        return c

    def _data(self, entry: dict, args: tuple) -> bytes:
        sel, inputs, _ = self._codec(entry)
        return sel + inputs.encode(args)

    def _returned(self, entry: dict, output: bytes) -> Any:
        outputs = self._codec(entry)[2]
        if outputs is None:
            return None
        values = outputs.decode(output)
        return values[0] if len(values) == 1 else values

    def __call__(self, *args: Any, sender: Any = None, value: int = 0, gas: Optional[int] = None) -> Any:
        __tracebackhide__ = True  # a failing test shows the test's line and the contract's, not ours
        entry = self._entry(args)
        data = self._data(entry, args)
        if entry.get("stateMutability") in ("view", "pure"):
            result = self.contract.env._call(self.contract, self.name, data, sender, value, gas)
        else:
            result = self.contract.env._transact(self.contract, self.name, data, sender, value, gas)
        return self._returned(entry, result.output)

    def call(self, *args: Any, sender: Any = None, value: int = 0, gas: Optional[int] = None) -> Any:
        """Run without a transaction (eth_call), whatever the function's mutability."""
        __tracebackhide__ = True
        entry = self._entry(args)
        result = self.contract.env._call(self.contract, self.name, self._data(entry, args), sender, value, gas)
        return self._returned(entry, result.output)

    def __repr__(self) -> str:
        return f"<{self.contract._name}.{' | '.join(signature(e) for e in self.entries.values())}>"


class Contract:
    def __init__(self, env: "Env", address: str, artifact: Artifact) -> None:
        self.env = env
        self.address = address
        self.artifact = artifact
        self.abi = artifact.abi
        self._name = artifact.name
        self._decoder = EventDecoder(artifact.abi)
        self.errors = SimpleNamespace(**{e["name"]: error_class(e) for e in artifact.abi if e.get("type") == "error"})
        self.last_tx: Optional["ExecutionResult"] = None
        self._events: Optional[EventList] = EventList()
        groups: dict[str, list[dict]] = {}
        for e in artifact.abi:
            if e.get("type") == "function":
                groups.setdefault(e["name"], []).append(e)
        self._functions = {name: ContractFunction(self, entries) for name, entries in groups.items()}

    def __getattr__(self, name: str) -> ContractFunction:
        fns = self.__dict__.get("_functions", {})
        if name in fns:
            return fns[name]
        raise AttributeError(f"{self.__dict__.get('_name', 'contract')} has no function {name!r}")

    def function(self, name: str) -> ContractFunction:
        return self._functions[name]

    @property
    def last_gas(self) -> Optional[int]:
        """Gas used by this contract's last transaction, refunds applied, as its receipt says."""
        return self.last_tx.gas_used if self.last_tx is not None else None

    def decode_logs(self, logs: list) -> EventList:
        """Events in `logs` this contract's ABI can read (whoever emitted them)."""
        return self._decoder.decode_all(logs)

    @property
    def events(self) -> EventList:
        """Events of this contract's last transaction (any emitter its ABI or ours can read);
        decoded when first asked for, not for every transaction."""
        if self._events is None:
            self._events = self.env.decode_logs(self.last_tx.logs, self)
        return self._events

    def _record(self, result: "ExecutionResult") -> None:
        self.last_tx = result
        self._events = None

    def __dir__(self) -> list[str]:  # tab completion in a debugger shows the ABI functions
        return sorted(set(super().__dir__()) | set(self._functions))

    def __repr__(self) -> str:
        return f"<{self._name} at {self.address}>"
