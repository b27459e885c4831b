"""Calls: internal (static frames, return label), struct constructors, conversions, external
calls through an interface, and the precompile call every precompile builtin shares."""
from __future__ import annotations

from typing import Any

from synq.ast import nodes as n
from synq.errors import InternalCompilerError
from synq.ir.lowering.base import REVERT0, LoweringBase, ceil32, no_calls
from synq.semantics import types as T
from synq.semantics.symbols import (
    ExtFunction,
    FunctionInfo,
)


class CallLowering(LoweringBase):
    def call(self, e: n.Call) -> Any:
        kind = self.a.calls[e]
        method = getattr(self, "call_" + kind.kind, None)
        if method is None:
            raise InternalCompilerError(f"cannot lower call kind {kind.kind}")
        return method(e, kind.target)

    def call_internal(self, e: n.Call, f: FunctionInfo) -> Any:
        if len(f.returns) > 1:
            raise InternalCompilerError("a multi-value call must be destructured")
        return self.internal_call(f, [self.expr(x) for x in e.args], want_value=bool(f.returns))

    def call_struct(self, e: n.Call, st: T.StructT) -> Any:
        vals = [self.expr(x) for x in e.args]
        names = [self.tmp("f") for _ in vals]
        body = self.alloc(32 * len(vals), lambda p: ["seq", *[["mstore", ["add", p, 32 * k], nm] for k, nm in enumerate(names)], p])
        for nm, v in reversed(list(zip(names, vals))):
            body = ["with", nm, v, body]
        return body

    def call_convert(self, e: n.Call, target: T.Type) -> Any:
        return self.convert(self.a.types[e.args[0]], target, self.expr(e.args[0]))

    def call_external(self, e: n.Call, ext: ExtFunction) -> Any:
        return self.external_call(e, ext, None, None)

    def call_builtin(self, e: n.Call, name: str) -> Any:
        return self.builtin(e, name)

    def internal_call(self, f: FunctionInfo, args: list, want_value: bool, after: Any = None) -> list:
        ret = self.label("ret")
        if all(no_calls(a) for a in args):
            # no argument can run another call, so the callee's parameters can be written in turn
            seq: list = ["seq", *[["mstore", self.mem[p], a] for p, a in zip(f.params, args)],
                         ["mstore", self.ret_slot[f], ["label_addr", ret]], ["goto", f"fn_{f.name}"], ["label", ret]]
            if after is not None:
                seq.append(after)
            elif want_value:
                seq.append(["mload", self.ret_vals[f][0]])
            return seq
        names = [self.tmp("arg") for _ in args]
        seq: list = ["seq", *[["mstore", self.mem[p], nm] for p, nm in zip(f.params, names)],
                     ["mstore", self.ret_slot[f], ["label_addr", ret]], ["goto", f"fn_{f.name}"], ["label", ret]]
        if after is not None:
            seq.append(after)
        elif want_value:
            seq.append(["mload", self.ret_vals[f][0]])
        body = seq
        for nm, v in reversed(list(zip(names, args))):
            body = ["with", nm, v, body]
        return body

    def call_multi(self, call: n.Call, kind, names: list[str], then: list) -> list:
        """Run a call returning several values, bind them to `names`, run `then`."""
        if kind.kind == "internal":
            f = kind.target
            inner = then
            for nm, slot in reversed(list(zip(names, self.ret_vals[f]))):
                inner = ["with", nm, ["mload", slot], inner]
            return self.internal_call(f, [self.expr(x) for x in call.args], False, after=inner)
        if kind.kind == "external":
            return self.external_call(call, kind.target, names, then)
        raise InternalCompilerError("bad multi-value call")

    def returndata_values(self, types: list[T.Type], names: list[str], then: Any) -> list:
        """Copy returndata to memory, check and decode it into `names`, then run `then`."""
        rd, end = self.tmp("rd"), self.tmp("rdend")
        head = sum(t.abi_head for t in types)
        inner = then
        off = 0
        decs = []
        for t, nm in zip(types, names):
            decs.append((nm, self.decode(t, ["add", ["add", rd, 32], off], ["add", rd, 32], end, "memory")))
            off += t.abi_head
        for nm, d in reversed(decs):
            inner = ["with", nm, d, inner]
        return ["with", rd, self.alloc(["add", 32, ceil32(["returndatasize"])], lambda p: ["seq",
                    ["mstore", p, ["returndatasize"]], ["returndatacopy", ["add", p, 32], 0, ["returndatasize"]], p]),
                ["with", end, ["add", ["add", rd, 32], ["returndatasize"]], ["seq",
                    ["if", ["lt", ["returndatasize"], head], REVERT0], inner]]]

    def external_call(self, e: n.Call, ext: ExtFunction, names: list[str] | None, then: Any) -> list:
        func: n.Attribute = e.func
        target = self.tmp("target")
        kw = dict(e.kwargs)
        value = self.expr(kw["value"]) if "value" in kw else 0
        gas = self.expr(kw["gas"]) if "gas" in kw else ["gas"]
        buf, ok = self.tmp("cbuf"), self.tmp("ok")
        static = ext.mutability in ("view", "pure")
        if static:
            call = ["staticcall", gas, target, ["add", buf, 32], ["mload", buf], 0, 0]
        else:
            call = ["call", gas, target, value, ["add", buf, 32], ["mload", buf], 0, 0]
        if names is None:
            if ext.returns:
                res = self.tmp("res")
                names, then = [res], res
            else:
                names, then = [], ["seq"]
        after = self.returndata_values(ext.returns, names, then) if ext.returns else then
        return ["with", target, self.expr(func.value), ["seq",
                ["if", ["iszero", ["extcodesize", target]], self.revert_string("call to a non-contract")],
                ["with", buf, self.encode(ext.params, [self.expr(x) for x in e.args], ext.selector),
                 ["with", ok, call, ["seq", ["if", ["iszero", ok], self.bubble_revert()], after]]]]]

    def precompile_call(self, address: Any, input_bytes: Any, static: bool, result: Any) -> list:
        """Call a precompile with a `bytes` input; `result(rd, end)` reads the copied returndata."""
        buf, ok, rd = self.tmp("pbuf"), self.tmp("ok"), self.tmp("rd")
        if static:
            call = ["staticcall", ["gas"], address, ["add", buf, 32], ["mload", buf], 0, 0]
        else:
            call = ["call", ["gas"], address, 0, ["add", buf, 32], ["mload", buf], 0, 0]
        return ["with", buf, input_bytes, ["with", ok, call, ["seq",
                ["if", ["iszero", ok], self.bubble_revert()],
                ["with", rd, self.alloc(["add", 32, ceil32(["returndatasize"])], lambda p: ["seq",
                    ["mstore", p, ["returndatasize"]], ["returndatacopy", ["add", p, 32], 0, ["returndatasize"]], p]),
                 result(rd)]]]]

