"""Method-per-node-type dispatch for the compiler's passes (as vyper's `parse_<NodeType>` methods).

`method_for(obj, "stmt_", node)` is `type(obj).stmt_<type(node).__name__>` or None. The lookup is
cached per (pass class, prefix, node type): a name built at run time is not interned, so a plain
`getattr(self, prefix + name)` would miss CPython's attribute cache and walk the whole MRO on
every node.
"""
from __future__ import annotations

from typing import Any, Callable

# pass class -> prefix -> node type -> method (nested dicts: no key tuple to allocate on every node)
_METHODS: dict[type, dict[str, dict[type, Callable[..., Any] | None]]] = {}


def method_for(obj: object, prefix: str, node: object) -> Callable[..., Any] | None:
    """The unbound method for `node` (call it as `method(obj, node, ...)`), or None."""
    try:
        return _METHODS[type(obj)][prefix][type(node)]
    except KeyError:
        methods = _METHODS.setdefault(type(obj), {}).setdefault(prefix, {})
        method = methods[type(node)] = getattr(type(obj), prefix + type(node).__name__, None)
        return method
