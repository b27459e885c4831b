"""The facts semantic analysis hands to later stages: types and symbols per node, constant
values, call kinds, the storage layout, functions, events, errors and user types.

`analyze()` (synq/semantics/analyzer.py) fills one `Analysis` per contract.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from synq.ast import nodes as n
from synq.semantics import types as T
from synq.semantics.symbols import (
    CallKind,
    ConstVar,
    ErrorInfo,
    EventInfo,
    ExtFunction,
    FunctionInfo,
    ImmutableVar,
    StorageVar,
)


@dataclass
class Analysis:
    module: n.Module
    types: dict[n.Node, T.Type] = field(default_factory=dict)
    symbols: dict[n.Node, Any] = field(default_factory=dict)
    consts: dict[n.Node, Any] = field(default_factory=dict)
    calls: dict[n.Call, CallKind] = field(default_factory=dict)
    storage: dict[str, StorageVar] = field(default_factory=dict)
    immutables: dict[str, ImmutableVar] = field(default_factory=dict)
    constants: dict[str, ConstVar] = field(default_factory=dict)
    functions: dict[str, FunctionInfo] = field(default_factory=dict)
    constructor: FunctionInfo | None = None
    events: dict[str, EventInfo] = field(default_factory=dict)
    errors: dict[str, ErrorInfo] = field(default_factory=dict)
    structs: dict[str, T.StructT] = field(default_factory=dict)
    enums: dict[str, T.EnumT] = field(default_factory=dict)
    interfaces: dict[str, dict[str, ExtFunction]] = field(default_factory=dict)
    getters: list[FunctionInfo] = field(default_factory=list)
    next_slot: int = 0

    def type_of(self, node: n.Node) -> T.Type:
        return self.types[node]

    @property
    def external_functions(self) -> list[FunctionInfo]:
        return [f for f in self.functions.values() if f.is_external] + self.getters

