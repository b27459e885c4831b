"""Deploy SynQ contracts on an in-process AIVM chain and call them through their ABI.

Every call is its own transaction (or an eth_call for `call`), so gas is never
under-reported by warm state. Reverts raise `Reverted`, which decodes
Error(string), Panic(uint256) and the contract's custom errors.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import eth_abi
from eth_utils import keccak

import synq
from vm.chain import Chain

ERROR_SEL = keccak(text="Error(string)")[:4]
PANIC_SEL = keccak(text="Panic(uint256)")[:4]


def abi_type(p: dict) -> str:
    t = p["type"]
    if t.startswith("tuple"):
        return "(" + ",".join(abi_type(c) for c in p["components"]) + ")" + t[5:]
    return t


class Reverted(Exception):
    def __init__(self, data: bytes, errors: dict[bytes, tuple[str, list[str]]] | None = None, gas_used: int = 0):
        self.data = data
        self.gas_used = gas_used
        self.kind, self.name, self.values = decode_revert(data, errors or {})
        super().__init__(f"reverted: {self.kind} {self.name} {self.values}")

    @property
    def reason(self):
        return self.values[0] if self.kind == "error" and self.values else None

    @property
    def panic(self):
        return self.values[0] if self.kind == "panic" else None


def decode_revert(data: bytes, errors: dict) -> tuple[str, str, list]:
    if not data:
        return ("empty", "", [])
    sel = data[:4]
    if sel == ERROR_SEL:
        return ("error", "Error", [eth_abi.decode(["string"], data[4:])[0]])
    if sel == PANIC_SEL:
        return ("panic", "Panic", [eth_abi.decode(["uint256"], data[4:])[0]])
    if sel in errors:
        name, types = errors[sel]
        return ("custom", name, list(eth_abi.decode(types, data[4:])))
    return ("unknown", data.hex(), [])


@dataclass
class Tx:
    result: Any
    value: Any
    gas_used: int
    logs: list


class Contract:
    def __init__(self, env: "Env", address: bytes, output: synq.CompilerOutput) -> None:
        self.env, self.address, self.output = env, address, output
        self.fns = {f["name"]: f for f in output.abi if f["type"] == "function"}
        self.events = {
            keccak(text=f"{e['name']}({','.join(abi_type(i) for i in e['inputs'])})"): e
            for e in output.abi if e["type"] == "event"
        }
        self.errors = {
            keccak(text=f"{e['name']}({','.join(abi_type(i) for i in e['inputs'])})")[:4]:
                (e["name"], [abi_type(i) for i in e["inputs"]])
            for e in output.abi if e["type"] == "error"
        }

    def calldata(self, name: str, *args) -> bytes:
        f = self.fns[name]
        types = [abi_type(i) for i in f["inputs"]]
        return keccak(text=f"{name}({','.join(types)})")[:4] + eth_abi.encode(types, list(args))

    def _decode(self, name: str, out: bytes):
        types = [abi_type(o) for o in self.fns[name]["outputs"]]
        if not types:
            return None
        vals = eth_abi.decode(types, out)
        return vals[0] if len(vals) == 1 else tuple(vals)

    def call(self, name: str, *args, sender: bytes | None = None, value: int = 0):
        r = self.env.chain.call(sender=sender or self.env.accounts[0], to=self.address,
                                data=self.calldata(name, *args), value=value)
        if not r.success:
            raise Reverted(r.output, self.errors, r.gas_used)
        return self._decode(name, r.output)

    def transact(self, name: str, *args, sender: bytes | None = None, value: int = 0, gas: int | None = None) -> Tx:
        r = self.env.chain.transact(sender=sender or self.env.accounts[0], to=self.address,
                                    data=self.calldata(name, *args), value=value, gas=gas or 5_000_000)
        if not r.success:
            raise Reverted(r.output, self.errors, r.gas_used)
        return Tx(r, self._decode(name, r.output), r.gas_used,
                  [self.decode_log(l) for l in r.logs if l.address == self.address])

    def decode_log(self, log) -> tuple[str, dict]:
        ev = self.events[log.topics[0]]
        indexed = [i for i in ev["inputs"] if i["indexed"]]
        data_in = [i for i in ev["inputs"] if not i["indexed"]]
        out = {}
        for inp, topic in zip(indexed, log.topics[1:]):
            t = abi_type(inp)
            out[inp["name"]] = eth_abi.decode([t], topic)[0] if t not in ("string", "bytes") and "[" not in t and "(" not in t else topic
        vals = eth_abi.decode([abi_type(i) for i in data_in], log.data) if data_in else []
        for inp, v in zip(data_in, vals):
            out[inp["name"]] = v
        return ev["name"], out

    def __getattr__(self, name: str):
        if name.startswith("_") or name not in self.fns:
            raise AttributeError(name)
        f = self.fns[name]
        if f["stateMutability"] in ("view", "pure"):
            return lambda *a, **k: self.call(name, *a, **k)
        return lambda *a, **k: self.transact(name, *a, **k).value


class Env:
    def __init__(self, chain: Chain | None = None) -> None:
        self.chain = chain or Chain.ephemeral()
        self.accounts = [a.address for a in self.chain.accounts]

    def deploy(self, source: str | synq.CompilerOutput, *args, sender: bytes | None = None, value: int = 0,
               path: str = "<test>") -> Contract:
        out = synq.compile_source(source, path) if isinstance(source, str) else source
        ctor = [e for e in out.abi if e["type"] == "constructor"]
        data = out.bytecode
        if ctor:
            data += eth_abi.encode([abi_type(i) for i in ctor[0]["inputs"]], list(args))
        r = self.chain.transact(sender=sender or self.accounts[0], to=None, data=data, value=value, gas=10_000_000)
        if not r.success:
            raise Reverted(r.output, {}, r.gas_used)
        c = Contract(self, r.contract_address, out)
        c.deploy_gas = r.gas_used
        return c

    def advance(self, seconds: int) -> None:
        """Move the clock on and mine a block, so calls see the new time."""
        self.chain.increase_time(seconds)
        self.chain.transact(sender=self.accounts[9], to=self.accounts[9], value=0)

    def anchor(self):
        """Context manager: state is reverted on exit."""
        chain = self.chain

        class _Anchor:
            def __enter__(self_):
                self_.sid = chain.snapshot()
                return self_

            def __exit__(self_, *exc):
                chain.revert(self_.sid)
                return False

        return _Anchor()


def ai_precompile_registered() -> bool:
    import precompiles

    return any(p.address == 0x0120 for p in precompiles.all_precompiles())
