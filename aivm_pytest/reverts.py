"""What a failed call raises, and `reverts(...)` to assert on it.

A revert raises `Reverted` (or the contract's own `CustomError` subclass, so
`pytest.raises(token.errors.NotOwner)` works too). Its message names the reason,
the function, and for SynQ the source line the failing REVERT came from.
"""
from __future__ import annotations

from typing import Any, Optional

import eth_abi

from aivm_pytest.abi import abi_type, selector

ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
PANIC_SELECTOR = bytes.fromhex("4e487b71")  # Panic(uint256)


class Reverted(Exception):
    """A transaction or call that failed.

    `reason`: the Error(string) text, or the VM's words for a non-revert failure ("out of gas");
    `panic`: the Panic(uint256) code; `data`: raw revert data; `where`: function and source line;
    `gas_used`: the failed transaction's gas (0 for a call).
    """

    def __init__(self, data: bytes = b"", *, error: str = "", where: str = "", gas_used: int = 0) -> None:
        self.data = data
        self.where = where
        self.gas_used = gas_used
        self.reason: Optional[str] = None
        self.panic: Optional[int] = None
        try:
            if data[:4] == ERROR_SELECTOR:
                self.reason = eth_abi.decode(["string"], data[4:])[0]
            elif data[:4] == PANIC_SELECTOR:
                self.panic = eth_abi.decode(["uint256"], data[4:])[0]
        except Exception:
            pass
        if self.reason is None and not data and error and error != "execution reverted":
            self.reason = error  # "out of gas", "invalid opcode", ...
        super().__init__(self._text())

    def _describe(self) -> str:
        if self.reason is not None:
            return repr(self.reason)
        if self.panic is not None:
            return f"panic 0x{self.panic:02x}"
        return f"data 0x{self.data.hex()}" if self.data else "no reason"

    def _text(self) -> str:
        return f"reverted: {self._describe()}" + (f"\n  {self.where}" if self.where else "")


class CustomError(Reverted):
    """Base of the classes made from a contract's `error` ABI entries (`contract.errors.X`).

    Instantiate one with the expected values to assert them: `reverts(token.errors.NotOwner(alice))`.
    """

    name = ""
    inputs: list = []
    selector = b""

    def __init__(self, *values: Any, data: bytes = b"", where: str = "", gas_used: int = 0) -> None:
        self.values = tuple(values)
        super().__init__(data, where=where, gas_used=gas_used)

    def __getattr__(self, field: str) -> Any:  # named fields: err.owner
        names = [i.get("name") for i in type(self).inputs]
        if field in names:
            return self.values[names.index(field)]
        raise AttributeError(field)

    def _describe(self) -> str:
        return f"{self.name}({', '.join(repr(v) for v in self.values)})"

    @classmethod
    def decode(cls, data: bytes, where: str = "", gas_used: int = 0) -> "CustomError":
        from aivm_pytest.abi import decode

        return cls(*decode(cls.inputs, data[4:]), data=data, where=where, gas_used=gas_used)


_classes: dict[bytes, type[CustomError]] = {}


def error_class(entry: dict) -> type[CustomError]:
    """The CustomError subclass for one `error` ABI entry: one class per error signature,
    shared by every contract declaring it, so `isinstance` works across contracts."""
    sel = selector(entry)
    if sel not in _classes:
        _classes[sel] = _new_error_class(entry, sel)
    return _classes[sel]


def _new_error_class(entry: dict, sel: bytes) -> type[CustomError]:
    return type(entry["name"], (CustomError,), {
        "name": entry["name"], "inputs": entry.get("inputs", []), "selector": sel,
        "__doc__": f"error {entry['name']}({', '.join(abi_type(i) for i in entry.get('inputs', []))})",
    })


def make_error(data: bytes, error: str, errors: dict[bytes, type[CustomError]], where: str = "",
               gas_used: int = 0) -> Reverted:
    """The exception for revert data: a known custom error, else a plain Reverted."""
    cls = errors.get(data[:4]) if len(data) >= 4 else None
    if cls is not None:
        try:
            return cls.decode(data, where, gas_used)
        except Exception:
            pass
    return Reverted(data, error=error, where=where, gas_used=gas_used)


def source_line_for(artifact: Any, pc: int, in_init: bool = False) -> str:
    """Where `pc` of a SynQ artifact's runtime (or init) code comes from; '' without a source map."""
    smap = (artifact.source_map or {}).get("init" if in_init else "runtime")
    if not smap or not artifact.source:
        return ""
    return source_line(artifact.source, artifact.path or "<source>", smap, pc)


def source_line(source: str, path: str, smap: dict, pc: int) -> str:
    """`path:line:col` and the line's text for the instruction at `pc` (SynQ source maps)."""
    span = smap.get(str(pc)) or smap.get(pc)
    if span is None:  # the nearest mapped instruction before pc
        earlier = [int(k) for k in smap if int(k) <= pc]
        span = smap.get(str(max(earlier))) if earlier else None
    if not span:
        return ""
    line, col = span[0], span[1]
    lines = source.splitlines()
    text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    return f"{path}:{line}:{col}" + (f"\n    {text}" if text else "")


class reverts:
    """Assert that the block raises a revert: any, a reason, a custom error, or a panic code.

        with reverts("insufficient balance"): token.transfer(bob, 10**30)
        with reverts(token.errors.NotOwner): token.mint(bob, 1, sender=bob)
        with reverts(panic=0x11): counter.decrement()

    The caught exception is `.value` afterwards.
    """

    def __init__(self, expected: Any = None, *, panic: Optional[int] = None) -> None:
        self.expected = expected
        self.panic = panic
        self.value: Optional[Reverted] = None

    def __enter__(self) -> "reverts":
        return self

    def __exit__(self, typ, exc, tb) -> bool:
        __tracebackhide__ = True
        if exc is None:
            raise AssertionError(f"did not revert (expected {self._wanted()})")
        if not isinstance(exc, Reverted):
            return False
        self.value = exc
        problem = self._mismatch(exc)
        if problem:
            raise AssertionError(f"reverted, but {problem}\n  {exc}") from exc
        return True

    def _wanted(self) -> str:
        if self.panic is not None:
            return f"panic 0x{self.panic:02x}"
        if isinstance(self.expected, type):
            return self.expected.__name__
        return repr(self.expected) if self.expected is not None else "a revert"

    def _mismatch(self, exc: Reverted) -> str:
        want = self.expected
        if self.panic is not None and exc.panic != self.panic:
            return f"expected panic 0x{self.panic:02x}, got {exc._describe()}"
        if want is None:
            return ""
        if isinstance(want, str):
            return "" if exc.reason == want else f"expected {want!r}, got {exc._describe()}"
        if isinstance(want, type) and issubclass(want, Reverted):
            return "" if isinstance(exc, want) else f"expected {want.__name__}, got {exc._describe()}"
        if isinstance(want, CustomError):
            same = type(exc) is type(want) and getattr(exc, "values", None) == want.values
            return "" if same else f"expected {want._describe()}, got {exc._describe()}"
        raise TypeError(f"reverts() takes a reason string, an error class or instance, or panic=, not {want!r}")
