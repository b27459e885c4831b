"""What names resolve to, and the contract-level facts later stages need."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eth_utils import keccak

from synq.ast import nodes as n
from synq.errors import NO_SPAN, Span
from synq.semantics.types import Type


@dataclass(eq=False)
class LocalVar:
    name: str
    type: Type
    span: Span = NO_SPAN
    readonly: bool = False  # loop variables


@dataclass(eq=False)
class StorageVar:
    name: str
    type: Type
    slot: int
    public: bool
    span: Span = NO_SPAN


@dataclass(eq=False)
class ImmutableVar:
    name: str
    type: Type
    index: int
    public: bool
    span: Span = NO_SPAN


@dataclass(eq=False)
class ConstVar:
    name: str
    type: Type
    value: Any  # int, bool or bytes
    span: Span = NO_SPAN


@dataclass(eq=False)
class FunctionInfo:
    name: str
    node: n.FuncDef | None
    params: list[LocalVar]
    returns: list[Type]
    visibility: str  # external | public | internal
    mutability: str  # pure | view | nonpayable | payable
    nonreentrant: bool = False
    locals: list[LocalVar] = field(default_factory=list)
    calls: dict["FunctionInfo", list[n.Node]] = field(default_factory=dict)
    effects: dict[str, list[n.Node]] = field(default_factory=dict)  # read/write/call -> nodes
    getter_of: StorageVar | ImmutableVar | None = None  # auto getter for a public variable
    getter_keys: list[Type] = field(default_factory=list)

    @property
    def is_external(self) -> bool:
        return self.visibility in ("external", "public")

    @property
    def is_internal(self) -> bool:
        return self.visibility in ("internal", "public")

    @property
    def is_constructor(self) -> bool:
        return self.node is not None and self.node.is_constructor

    @property
    def signature(self) -> str:
        keys = self.getter_keys if self.getter_of is not None else [p.type for p in self.params]
        return f"{self.name}({','.join(t.abi for t in keys)})"

    @property
    def selector(self) -> bytes:
        return keccak(text=self.signature)[:4]


@dataclass(eq=False)
class EventInfo:
    name: str
    params: list[tuple[str, Type, bool]]

    @property
    def signature(self) -> str:
        return f"{self.name}({','.join(t.abi for _, t, _ in self.params)})"

    @property
    def topic0(self) -> bytes:
        return keccak(text=self.signature)


@dataclass(eq=False)
class ErrorInfo:
    name: str
    params: list[tuple[str, Type]]

    @property
    def signature(self) -> str:
        return f"{self.name}({','.join(t.abi for _, t in self.params)})"

    @property
    def selector(self) -> bytes:
        return keccak(text=self.signature)[:4]


@dataclass(eq=False)
class ExtFunction:
    """A function declared in an interface."""

    interface: str
    name: str
    params: list[Type]
    returns: list[Type]
    mutability: str

    @property
    def signature(self) -> str:
        return f"{self.name}({','.join(t.abi for t in self.params)})"

    @property
    def selector(self) -> bytes:
        return keccak(text=self.signature)[:4]


@dataclass(frozen=True)
class CallKind:
    """How a Call node is carried out: kind is internal/external/struct/convert/builtin/error/getter."""

    kind: str
    target: Any = None
