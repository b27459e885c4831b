"""Execution tracers in geth's formats: the struct logger, callTracer, prestateTracer,
and the access-list tracer behind eth_createAccessList.

The hook into py-evm is one subclass of the VM's computation class, made per
trace by `Tracer.computation_class`: its opcode table wraps every opcode so the
tracer sees each step before and after it runs, and `apply_child_computation`
names the opcode that opened each child frame (CALL, STATICCALL, CREATE2…).
Replays of mined transactions (debug_traceTransaction) re-execute the block's
earlier transactions on the block's pre-state, then the traced one.
"""
from __future__ import annotations

from typing import Any, Optional

from eth._utils.address import generate_contract_address
from eth.exceptions import Halt, Revert
from eth.vm.spoof import SpoofTransaction

from vm.chain import UnknownBlock, decode_revert_reason
from vm.codec import InvalidValue, checksum, data, quantity

CALL_OPS = {"CALL", "CALLCODE", "DELEGATECALL", "STATICCALL"}
CREATE_OPS = {"CREATE", "CREATE2"}
ADDRESS_TOP_OPS = {"BALANCE", "EXTCODESIZE", "EXTCODECOPY", "EXTCODEHASH", "SELFDESTRUCT"}


def _int(v: Any) -> int:
    return int.from_bytes(v, "big") if isinstance(v, (bytes, bytearray)) else v


def _addr(v: Any) -> bytes:
    return (_int(v) % 2**160).to_bytes(20, "big")


class Tracer:
    """Base: builds the traced computation class and receives the hooks."""

    def computation_class(self, base: type) -> type:
        tracer = self
        ops = {code: _wrap(fn, tracer) for code, fn in base.opcodes.items()}

        class Traced(base):  # type: ignore[misc, valid-type]
            opcodes = ops

            def apply_child_computation(self, child_msg):
                kind = getattr(self, "_aivm_last_op", "CALL")
                tracer.enter(self, child_msg, kind)
                child = super().apply_child_computation(child_msg)
                child._aivm_kind = kind
                return child

        Traced.__name__ = f"Traced{base.__name__}"
        return Traced

    # hooks (all optional)
    def begin(self, state: Any, sender: bytes, to: Optional[bytes], gas: int) -> None:
        self.state = state

    def before(self, comp: Any, op: str) -> Any:
        return None

    def after(self, comp: Any, token: Any, error: Optional[BaseException]) -> None:
        pass

    def enter(self, parent: Any, child_msg: Any, kind: str) -> None:
        pass

    def end(self, comp: Any, gas_used: int) -> None:
        self.comp, self.gas_used = comp, gas_used

    def result(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError


def _wrap(fn: Any, tracer: Tracer) -> Any:
    mnemonic = getattr(fn, "mnemonic", None) or getattr(getattr(fn, "__wrapped__", None), "mnemonic", "UNKNOWN")

    def traced(computation: Any) -> None:
        computation._aivm_last_op = mnemonic
        token = tracer.before(computation, mnemonic)
        try:
            fn(computation=computation)
        except Halt:
            tracer.after(computation, token, None)
            raise
        except Exception as exc:
            tracer.after(computation, token, exc)
            raise
        tracer.after(computation, token, None)

    traced.mnemonic = mnemonic  # type: ignore[attr-defined]
    return traced


def error_text(err: BaseException) -> str:
    if isinstance(err, Revert):
        return "execution reverted"
    words = {"OutOfGas": "out of gas", "InvalidInstruction": "invalid opcode",
             "InvalidJumpDestination": "invalid jump destination", "StackUnderflow": "stack underflow",
             "StackDepthLimit": "max call depth exceeded", "WriteProtection": "write protection",
             "InsufficientFunds": "insufficient balance for transfer", "InsufficientStack": "stack underflow",
             "FullStack": "stack limit reached 1024", "ContractCreationCollision": "contract address collision",
             "OutOfBoundsRead": "return data out of bounds"}
    name = type(err).__name__
    return words.get(name, str(err) or name)


# -- the struct logger (geth's default tracer) --
class StructLogger(Tracer):
    def __init__(self, config: Optional[dict] = None) -> None:
        cfg = config or {}
        self.memory = bool(cfg.get("enableMemory", False))
        self.stack = not cfg.get("disableStack", False)
        self.storage = not cfg.get("disableStorage", False)
        self.return_data = bool(cfg.get("enableReturnData", False))
        self.limit = int(cfg.get("limit", 0) or 0)
        self.logs: list[dict] = []
        self._storage: dict[bytes, dict[str, str]] = {}

    def before(self, comp: Any, op: str) -> Any:
        if (self.limit and len(self.logs) >= self.limit) or not comp.msg.code:
            return None  # geth logs no steps for a frame without code
        stack = comp._stack.values
        entry: dict = {"pc": max(0, comp.code.program_counter - 1), "op": op,
                       "gas": comp.get_gas_remaining(), "gasCost": 0, "depth": comp.msg.depth + 1}
        if self.stack:
            entry["stack"] = [hex(_int(v)) for v in stack]
        if self.memory:
            mem = bytes(comp._memory._bytes)
            entry["memory"] = [mem[i:i + 32].hex() for i in range(0, len(mem), 32)]
        if self.return_data:
            entry["returnData"] = data(comp.return_data)
        refund = comp.get_gas_refund()
        if refund:
            entry["refund"] = refund
        self.logs.append(entry)
        entry["_children"] = len(comp.children)
        key = None
        if self.storage and op in ("SLOAD", "SSTORE") and stack:
            key = _int(stack[-1])
            if op == "SSTORE" and len(stack) >= 2:
                self._record(comp, key, _int(stack[-2]), entry)
                key = None
        return entry, key

    def _record(self, comp: Any, key: int, value: int, entry: dict) -> None:
        slots = self._storage.setdefault(comp.msg.storage_address, {})
        slots[key.to_bytes(32, "big").hex()] = value.to_bytes(32, "big").hex()
        entry["storage"] = dict(slots)

    def after(self, comp: Any, token: Any, error: Optional[BaseException]) -> None:
        if token is None:
            return
        entry, key = token
        cost = entry["gas"] - comp.get_gas_remaining()
        if len(comp.children) > entry.pop("_children"):  # a CALL/CREATE: geth counts the gas handed over
            child = comp.children[-1]
            cost += child.get_gas_remaining()  # = cost - used by the child + given to the child
        entry["gasCost"] = cost
        if error is not None and not isinstance(error, Revert):
            entry["error"] = error_text(error)
        elif key is not None and comp._stack.values:
            self._record(comp, key, _int(comp._stack.values[-1]), entry)

    def result(self) -> dict:
        comp = self.comp
        return {"gas": self.gas_used, "failed": not comp.is_success,
                "returnValue": data(comp.output), "structLogs": self.logs}


# -- callTracer --
KNOWN_ERRORS = {  # custom errors every Solidity/OpenZeppelin user meets, decoded by name
    "ERC20InsufficientBalance(address,uint256,uint256)", "ERC20InsufficientAllowance(address,uint256,uint256)",
    "ERC20InvalidSender(address)", "ERC20InvalidReceiver(address)", "ERC20InvalidApprover(address)",
    "ERC20InvalidSpender(address)", "ERC721NonexistentToken(uint256)", "ERC721IncorrectOwner(address,uint256,address)",
    "ERC721InsufficientApproval(address,uint256)", "ERC721InvalidReceiver(address)",
    "OwnableUnauthorizedAccount(address)", "OwnableInvalidOwner(address)", "ReentrancyGuardReentrantCall()",
    "EnforcedPause()", "ExpectedPause()", "AccessControlUnauthorizedAccount(address,bytes32)",
    "SafeERC20FailedOperation(address)", "AddressEmptyCode(address)", "FailedCall()", "InvalidShortString()",
}
PANIC_CODES = {0x00: "generic panic", 0x01: "assert(false)", 0x11: "arithmetic underflow or overflow",
               0x12: "division or modulo by zero", 0x21: "enum overflow", 0x22: "invalid storage byte array",
               0x31: "pop on empty array", 0x32: "array out-of-bounds access", 0x41: "out of memory",
               0x51: "uninitialized function"}


def _selectors() -> dict[bytes, tuple[str, list[str]]]:
    from eth_hash.auto import keccak

    out = {}
    for sig in KNOWN_ERRORS:
        name, args = sig[:-1].split("(", 1)
        out[keccak(sig.encode())[:4]] = (name, [a for a in args.split(",") if a])
    return out


_KNOWN = _selectors()


def revert_reason(output: bytes, extra_errors: Optional[dict] = None) -> Optional[str]:
    """Error(string), Panic(uint256) with its meaning, or a known custom error with its arguments."""
    from eth_abi import decode

    if len(output) < 4:
        return None
    sel = output[:4]
    if sel == bytes.fromhex("4e487b71"):
        try:
            code = decode(["uint256"], output[4:])[0]
        except Exception:
            return None
        return f"panic: {PANIC_CODES.get(code, 'unknown panic')} (0x{code:02x})"
    text = decode_revert_reason(output)
    if text:
        return text
    known = dict(_KNOWN)
    known.update(extra_errors or {})
    if sel in known:
        name, types = known[sel]
        try:
            args = decode(types, output[4:])
        except Exception:
            return f"{name}(<undecodable arguments>)"
        shown = [checksum(bytes.fromhex(a[2:])) if t == "address" else
                 ("0x" + a.hex() if isinstance(a, bytes) else str(a)) for t, a in zip(types, args)]
        return f"{name}({', '.join(shown)})"
    return None


def selectors_from_abi(abi: Any) -> dict[bytes, tuple[str, list[str]]]:
    """Custom errors declared in an ABI (tracerConfig.abi), for decoding reverts by name."""
    from eth_hash.auto import keccak

    if not isinstance(abi, list):
        raise InvalidValue("tracerConfig.abi must be a JSON ABI (a list)")
    out = {}
    for item in abi:
        if isinstance(item, dict) and item.get("type") == "error":
            inputs = item.get("inputs", [])
            if not isinstance(item.get("name"), str) or not isinstance(inputs, list) or not all(
                    isinstance(i, dict) and isinstance(i.get("type"), str) for i in inputs):
                raise InvalidValue("tracerConfig.abi: an error entry needs a name and typed inputs")
            types = [i["type"] for i in inputs]
            out[keccak(f"{item['name']}({','.join(types)})".encode())[:4]] = (item["name"], types)
    return out


class CallTracer(Tracer):
    def __init__(self, config: Optional[dict] = None) -> None:
        cfg = config or {}
        self.only_top = bool(cfg.get("onlyTopCall", False))
        self.with_log = bool(cfg.get("withLog", False))
        self.errors = selectors_from_abi(cfg["abi"]) if cfg.get("abi") is not None else {}
        self.top: dict = {}

    def begin(self, state: Any, sender: bytes, to: Optional[bytes], gas: int) -> None:
        super().begin(state, sender, to, gas)
        self.sender, self.to, self.gas = sender, to, gas

    def _frame(self, comp: Any, kind: str) -> dict:
        msg = comp.msg
        if msg.is_create:
            to, inp, out = msg.storage_address, msg.code, comp.output if comp.is_success else comp.output
        elif kind == "DELEGATECALL" or kind == "CALLCODE":
            to, inp, out = msg.code_address, msg.data_as_bytes, comp.output
        else:
            to, inp, out = msg.storage_address, msg.data_as_bytes, comp.output
        f: dict = {"type": kind, "from": checksum(msg.sender), "to": checksum(to),
                   "gas": quantity(msg.gas), "gasUsed": quantity(msg.gas - comp.get_gas_remaining()),
                   "input": data(inp)}
        if kind != "STATICCALL":
            f["value"] = quantity(msg.value)
        if out or comp.is_success:
            f["output"] = data(out)
        if comp.is_error:
            f["error"] = error_text(comp.error)
            if isinstance(comp.error, Revert):
                reason = revert_reason(comp.output, self.errors)
                if reason:
                    f["revertReason"] = reason
        if self.with_log and comp.is_success:
            f["logs"] = [{"address": checksum(a), "topics": [data(t.to_bytes(32, "big")) for t in topics],
                          "data": data(d), "position": quantity(len(comp.children))}
                         for _, a, topics, d in comp._log_entries]
        if not self.only_top:
            calls = [self._frame(c, getattr(c, "_aivm_kind", "CALL")) for c in comp.children]
            if calls:
                f["calls"] = calls
        return f

    def end(self, comp: Any, gas_used: int) -> None:
        super().end(comp, gas_used)
        kind = "CREATE" if comp.msg.is_create else "CALL"
        self.top = self._frame(comp, kind)
        self.top["from"] = checksum(self.sender)
        self.top["gas"] = quantity(self.gas)
        self.top["gasUsed"] = quantity(gas_used)

    def result(self) -> dict:
        return self.top


# -- prestateTracer --
class PrestateTracer(Tracer):
    def __init__(self, config: Optional[dict] = None) -> None:
        cfg = config or {}
        self.diff = bool(cfg.get("diffMode", False))
        self.no_code = bool(cfg.get("disableCode", False))
        self.no_storage = bool(cfg.get("disableStorage", False))
        self.pre: dict[bytes, dict] = {}
        self.slots: dict[bytes, dict[int, int]] = {}

    def _touch(self, address: bytes) -> None:
        if address in self.pre:
            return
        s = self.state
        self.pre[address] = {"balance": s.get_balance(address), "nonce": s.get_nonce(address),
                             "code": s.get_code(address)}
        self.slots.setdefault(address, {})

    def _touch_slot(self, address: bytes, slot: int) -> None:
        self._touch(address)
        if slot not in self.slots[address]:
            self.slots[address][slot] = self.state.get_storage(address, slot)

    def begin(self, state: Any, sender: bytes, to: Optional[bytes], gas: int) -> None:
        super().begin(state, sender, to, gas)
        self._touch(sender)
        self.coinbase = state.coinbase
        self._touch(state.coinbase)
        if to:
            self._touch(to)
        else:
            self._touch(generate_contract_address(sender, state.get_nonce(sender)))

    def before(self, comp: Any, op: str) -> Any:
        stack = comp._stack.values
        if op in ("SLOAD", "SSTORE") and stack:
            self._touch_slot(comp.msg.storage_address, _int(stack[-1]))
        elif op in ADDRESS_TOP_OPS and stack:
            self._touch(_addr(stack[-1]))
        elif op in CALL_OPS and len(stack) >= 2:
            self._touch(_addr(stack[-2]))
        return None

    def enter(self, parent: Any, child_msg: Any, kind: str) -> None:
        self._touch(child_msg.storage_address)
        self._touch(child_msg.code_address)

    def _account_json(self, acct: dict, slots: dict[int, int]) -> dict:
        out: dict = {"balance": quantity(acct["balance"])}
        if acct["nonce"]:
            out["nonce"] = acct["nonce"]
        if acct["code"] and not self.no_code:
            out["code"] = data(acct["code"])
        if slots and not self.no_storage:
            out["storage"] = {data(k.to_bytes(32, "big")): data(v.to_bytes(32, "big")) for k, v in sorted(slots.items())}
        return out

    def result(self) -> dict:
        s = self.state
        if not self.diff:
            return {checksum(a): self._account_json(acct, self.slots[a]) for a, acct in self.pre.items()}
        pre_out, post_out = {}, {}
        for a, acct in self.pre.items():
            post = {"balance": s.get_balance(a), "nonce": s.get_nonce(a), "code": s.get_code(a)}
            post_slots = {k: s.get_storage(a, k) for k in self.slots[a]}
            changed_slots = {k: v for k, v in post_slots.items() if v != self.slots[a][k]}
            changed = {k: v for k, v in post.items() if v != acct[k]}
            if not changed and not changed_slots:
                continue
            existed = acct["balance"] or acct["nonce"] or acct["code"]
            if existed:
                pre_out[checksum(a)] = self._account_json(
                    acct, {k: v for k, v in self.slots[a].items() if k in changed_slots and v})
            post_json: dict = {}
            if "balance" in changed:
                post_json["balance"] = quantity(post["balance"])
            if "nonce" in changed:
                post_json["nonce"] = post["nonce"]
            if "code" in changed and not self.no_code:
                post_json["code"] = data(post["code"])
            if changed_slots and not self.no_storage:
                post_json["storage"] = {data(k.to_bytes(32, "big")): data(v.to_bytes(32, "big"))
                                        for k, v in sorted(changed_slots.items())}
            post_out[checksum(a)] = post_json
        return {"pre": pre_out, "post": post_out}


# -- access lists (eth_createAccessList) --
class AccessListTracer(Tracer):
    def __init__(self) -> None:
        self.touched: dict[bytes, set[int]] = {}
        self.creates: list = []

    def before(self, comp: Any, op: str) -> Any:
        stack = comp._stack.values
        if op in ("SLOAD", "SSTORE") and stack:
            self.touched.setdefault(comp.msg.storage_address, set()).add(_int(stack[-1]))
        elif op in ADDRESS_TOP_OPS and stack:
            self.touched.setdefault(_addr(stack[-1]), set())
        elif op in CALL_OPS and len(stack) >= 2:
            self.touched.setdefault(_addr(stack[-2]), set())
        return None

    def enter(self, parent: Any, child_msg: Any, kind: str) -> None:
        if child_msg.is_create:
            self.creates.append(type("C", (), {"msg": child_msg})())

    def access_list(self, exclude: set) -> list:
        return [(a, sorted(slots)) for a, slots in self.touched.items() if slots or a not in exclude]


TRACERS = {"callTracer": CallTracer, "prestateTracer": PrestateTracer}
OPTION_TYPES = {"tracer": str, "tracerConfig": dict, "timeout": str, "reexec": int, "enableMemory": bool,
                "disableStack": bool, "disableStorage": bool, "enableReturnData": bool, "limit": int,
                "debug": bool}
OPTION_WORDS = {str: "a string", dict: "an object", int: "a number", bool: "true or false"}
CONFIG_TYPES = {"onlyTopCall": bool, "withLog": bool, "abi": list, "diffMode": bool, "disableCode": bool,
                "disableStorage": bool}


def make_tracer(options: Optional[dict]) -> Tracer:
    """The tracer a debug_trace* options object asks for (struct logger by default)."""
    opts = options or {}
    if not isinstance(opts, dict):
        raise InvalidValue("trace options must be an object")
    for key, value in opts.items():
        kind = OPTION_TYPES.get(key)
        if kind is None:
            raise InvalidValue(f"unknown trace option {key!r}")
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool) and kind is not bool):
            raise InvalidValue(f"trace option {key} must be {OPTION_WORDS[kind]}")
    name = opts.get("tracer")
    if name is None:
        if opts.get("limit") is not None and opts["limit"] < 0:
            raise InvalidValue("trace option limit must not be negative")
        return StructLogger(opts)
    if name not in TRACERS:
        raise InvalidValue(f"tracer {name!r} is not supported: use callTracer, prestateTracer or the default struct logger")
    cfg = opts.get("tracerConfig") or {}
    for key, value in cfg.items():
        kind = CONFIG_TYPES.get(key)
        if kind is None:
            raise InvalidValue(f"unknown tracerConfig field {key!r} for {name}")
        if value is not None and not isinstance(value, kind):
            raise InvalidValue(f"tracerConfig.{key} must be {OPTION_WORDS[kind] if kind in OPTION_WORDS else 'a list'}")
    return TRACERS[name](cfg)


# -- replays of mined transactions --
def trace_transaction(chain: Any, tx_hash: bytes, tracer: Tracer) -> Any:
    """Re-execute a mined transaction's block up to it, tracing that transaction."""
    rec = chain.index.transaction(tx_hash)
    if rec is None:
        raise UnknownBlock(f"transaction 0x{tx_hash.hex()} not found")
    number = int(rec["tx"]["blockNumber"], 16)
    index = int(rec["tx"]["transactionIndex"], 16)
    return trace_block(chain, number, tracer_for={index: tracer})[index]


def trace_block(chain: Any, number: int, tracer_for: Optional[dict] = None, make: Any = None) -> dict:
    """{tx index: tracer result} for the block's transactions (all with `make()`, or those in tracer_for)."""
    if number == 0:
        return {}
    from vm.lookups import mined_raw

    block_header = chain._chain.get_canonical_block_header_by_number(number)
    parent = chain._chain.get_canonical_block_header_by_number(number - 1)
    records = [chain.index.transaction(bytes.fromhex(h[2:])) for h in chain.index.block(number)["transactions"]]
    transactions = [chain.decode_raw(mined_raw(r)) for r in records]
    pre_root = chain.index.meta(f"block_pre_root/{number}")
    pre_root = bytes.fromhex(pre_root) if pre_root else parent.state_root
    header = block_header.copy(state_root=pre_root, gas_used=0)
    vm = chain._chain.get_vm(header)
    out = {}
    last = max(tracer_for) if tracer_for else len(transactions) - 1
    for i, (tx, rec) in enumerate(zip(transactions, records)):
        if i > last:
            break
        sender = bytes.fromhex(rec["tx"]["from"][2:])
        spoof = SpoofTransaction(tx, sender=sender, get_sender=lambda s=sender: s)
        tracer = (tracer_for or {}).get(i) or (make() if make else None)
        state = vm.state
        previous = state.computation_class
        if tracer is not None:
            state.computation_class = tracer.computation_class(previous)
            tracer.begin(state, sender, tx.to or None, tx.gas)
        try:
            receipt, comp = vm.apply_transaction(header, spoof)
        finally:
            state.computation_class = previous
        gas_used = receipt.gas_used - header.gas_used
        header = vm.add_receipt_to_header(header, receipt)
        if tracer is not None:
            tracer.end(comp, gas_used)
            out[i] = tracer.result()
    return out
