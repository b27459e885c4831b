"""Logs decoded into Python objects with named fields.

`contract.events` is the list of events the contract's last transaction emitted;
`contract.events.Transfer` is the Transfer events among them.
"""
from __future__ import annotations

from typing import Any, Iterable, Optional

from eth_utils import keccak, to_checksum_address

from aivm_pytest.abi import abi_type, decode, signature


class Event:
    """One decoded log: `ev.name`, `ev.args` (dict), fields as attributes (`ev.value`), `ev.address`.

    Indexed dynamic values (strings, bytes, arrays) are only their keccak hash in a log: those
    fields hold the 32-byte topic.
    """

    __slots__ = ("name", "args", "address")

    def __init__(self, name: str, args: dict, address: str) -> None:
        self.name, self.args, self.address = name, args, address

    def __getattr__(self, field: str) -> Any:
        try:
            return self.args[field]
        except KeyError:
            raise AttributeError(f"{self.name} has no field {field!r} (fields: {', '.join(self.args)})") from None

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, Event):
            return (self.name, self.args) == (other.name, other.args)
        return NotImplemented

    def __repr__(self) -> str:
        return f"{self.name}({', '.join(f'{k}={v!r}' for k, v in self.args.items())})"


class EventList(list):
    """A list of Events; `events.Transfer` picks those of one name."""

    def __getattr__(self, name: str) -> "EventList":
        if name.startswith("_"):
            raise AttributeError(name)
        return EventList(e for e in self if e.name == name)


class EventDecoder:
    """Decodes the logs whose first topic is one of an ABI's event signatures."""

    def __init__(self, abi: list[dict]) -> None:
        self.by_topic = {keccak(text=signature(e)): e for e in abi
                         if e.get("type") == "event" and not e.get("anonymous")}

    def decode(self, log: Any) -> Optional[Event]:
        """An Event for a vm.chain.Log (address, topics, data), or None if not ours."""
        if not log.topics or log.topics[0] not in self.by_topic:
            return None
        entry = self.by_topic[log.topics[0]]
        plain = [i for i in entry["inputs"] if not i.get("indexed")]
        values_plain = iter(decode(plain, log.data))
        topics = iter(log.topics[1:])
        args = {}
        for n, p in enumerate(entry["inputs"]):
            key = p.get("name") or f"arg{n}"
            if p.get("indexed"):
                t = next(topics)
                args[key] = t if _is_dynamic(p) else decode([p], t)[0]
            else:
                args[key] = next(values_plain)
        return Event(entry["name"], args, to_checksum_address(log.address))

    def decode_all(self, logs: Iterable[Any]) -> EventList:
        return EventList(e for e in (self.decode(log) for log in logs) if e is not None)


def _is_dynamic(p: dict) -> bool:
    t = abi_type(p)
    return t in ("string", "bytes") or t.endswith("]") or t.startswith("(")
