"""Chain operations for the chat: facts to read, actions to confirm, all over the node's JSON-RPC.

Reads (balances, a transaction explained with the ABI the node recorded at
``synergy_deployAIVMContract``, a contract's functions, AI stats, a certificate check) return
plain dicts: the terminal shows them and they go into the model's context as chain facts.
State changes (send ETH, call a contract function, deploy a SynQ file) are prepared as an
``Action`` — what will be sent, shown in full — and only ``Action.run()`` sends it, after the
user confirmed. ``TOOLS`` describes the same operations to a model that calls tools.
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Callable, Optional

from eth_hash.auto import keccak

ETHER = 10**18


class ChainError(Exception):
    """A chain operation that cannot be done; the message is for the user."""


@dataclass
class Action:
    """A state-changing operation, prepared but not sent."""

    title: str
    details: dict
    send: Callable[[], dict]

    def run(self) -> dict:
        return self.send()


def _type(inp: dict) -> str:
    t = inp["type"]
    if t.startswith("tuple"):
        return "(" + ",".join(_type(c) for c in inp.get("components", [])) + ")" + t[len("tuple"):]
    return t


def signature(entry: dict) -> str:
    return f"{entry.get('name', '')}({','.join(_type(i) for i in entry.get('inputs', []))})"


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def parse_arg(kind: str, text: str) -> Any:
    """A command-line word as an ABI value of ``kind``."""
    try:
        if kind.startswith(("uint", "int")):
            return int(text, 0)
        if kind == "bool":
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError("expected true or false")
            return text.lower() in ("true", "1")
        if kind == "address":
            from vm.addresses import parse_any_address
            from vm.codec import checksum

            return checksum(parse_any_address(text))
        if kind.startswith("bytes"):
            return bytes.fromhex(text.removeprefix("0x"))
        if kind == "string":
            return text
        if kind.endswith("]"):
            value = json.loads(text)
            inner = kind[: kind.rindex("[")]
            return [parse_arg(inner, v if isinstance(v, str) else json.dumps(v)) for v in value]
    except ValueError as exc:
        raise ChainError(f"{text!r} is not a {kind}: {exc}") from None
    raise ChainError(f"arguments of type {kind} are not supported from the command line")


def parse_eth(text: str) -> int:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ChainError(f"{text!r} is not an amount of ETH") from None
    if value < 0:
        raise ChainError("the amount must not be negative")
    return int(value * ETHER)


class Chain:
    def __init__(self, rpc_url: str, account: Optional[str] = None, timeout: float = 120.0) -> None:
        self.url = rpc_url.rstrip("/")
        self.timeout = timeout
        self._id = 0
        self._account = account

    # -- transport --
    def rpc(self, method: str, *params: Any) -> Any:
        self._id += 1
        body = json.dumps({"jsonrpc": "2.0", "id": self._id, "method": method, "params": list(params)}).encode()
        req = urllib.request.Request(self.url, body, {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                reply = json.loads(resp.read())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise ChainError(f"cannot reach the node at {self.url}: {getattr(exc, 'reason', exc)}") from None
        if "error" in reply:
            raise ChainError(f"{method}: {reply['error'].get('message')}")
        return reply["result"]

    @property
    def account(self) -> str:
        if self._account is None:
            accounts = self.rpc("eth_accounts")
            if not accounts:
                raise ChainError("the node has no unlocked accounts; pass --account")
            self._account = accounts[0]
        return self._account

    def recorded_abi(self, address: Optional[str]) -> Optional[dict]:
        if not address:
            return None
        try:
            return self.rpc("synergy_getAIVMContract", address)
        except ChainError:
            return None

    # -- reads --
    def balances(self, addresses: Optional[list[str]] = None) -> dict:
        from vm.addresses import parse_any_address
        from vm.codec import checksum

        if not addresses:
            addresses = self.rpc("eth_accounts")[:5]
        out = {}
        for a in addresses:
            try:
                addr = checksum(parse_any_address(a))
            except ValueError as exc:
                raise ChainError(f"{a!r} is not an address: {exc}") from None
            wei = int(self.rpc("eth_getBalance", addr, "latest"), 16)
            out[addr] = {"wei": str(wei), "eth": str(Decimal(wei) / ETHER)}
        return {"balances": out, "block": int(self.rpc("eth_blockNumber"), 16)}

    def explain_tx(self, tx_hash: str) -> dict:
        """A transaction and its receipt, the call and events decoded with the recorded ABI."""
        from eth_abi import decode

        tx = self.rpc("eth_getTransactionByHash", tx_hash)
        if tx is None:
            raise ChainError(f"no transaction {tx_hash} on this chain")
        receipt = self.rpc("eth_getTransactionReceipt", tx_hash) or {}
        facts = {"hash": tx["hash"], "from": tx["from"], "to": tx.get("to"), "value_eth": str(Decimal(int(tx["value"], 16)) / ETHER),
                 "block": int(tx["blockNumber"], 16) if tx.get("blockNumber") else None,
                 "status": "success" if receipt.get("status") == "0x1" else "reverted" if receipt else "pending",
                 "gas_used": int(receipt["gasUsed"], 16) if receipt.get("gasUsed") else None}
        if receipt.get("contractAddress"):
            facts["created_contract"] = receipt["contractAddress"]
        target = tx.get("to") or receipt.get("contractAddress")
        record = self.recorded_abi(target)
        abi = record["abi"] if record else []
        if record:
            facts["contract_kind"] = record.get("kind")
        data = bytes.fromhex(tx["input"][2:])
        if tx.get("to") and len(data) >= 4:
            for entry in abi:
                if entry.get("type") == "function" and keccak(signature(entry).encode())[:4] == data[:4]:
                    types = [_type(i) for i in entry.get("inputs", [])]
                    try:
                        values = decode(types, data[4:])
                        facts["call"] = {"function": signature(entry),
                                         "args": {i.get("name") or f"arg{n}": _plain(v) for n, (i, v) in
                                                  enumerate(zip(entry["inputs"], values))}}
                    except Exception as exc:  # noqa: BLE001 - undecodable call data is a fact too
                        facts["call"] = {"function": signature(entry), "error": f"arguments do not decode: {exc}"}
                    break
            else:
                facts["call"] = {"selector": "0x" + data[:4].hex(), "note": "no recorded ABI names this function"}
        elif data and tx.get("to"):
            facts["data"] = tx["input"][:66]
        if data.startswith(b"aivm.chat "):
            facts["note"] = f"payment for the chat completion {data[len(b'aivm.chat '):].decode(errors='replace')}"
        events = []
        by_topic = {keccak(signature(e).encode()): e for e in abi if e.get("type") == "event"}
        for log in receipt.get("logs", []):
            topics = [bytes.fromhex(t[2:]) for t in log["topics"]]
            entry = by_topic.get(topics[0]) if topics else None
            if entry is None:
                events.append({"address": log["address"], "topics": log["topics"], "data": log["data"]})
                continue
            inputs = entry.get("inputs", [])
            indexed = [i for i in inputs if i.get("indexed")]
            plain = [i for i in inputs if not i.get("indexed")]
            values = {}
            for i, topic in zip(indexed, topics[1:]):
                kind = _type(i)
                hashed = kind in ("string", "bytes") or kind.endswith("]") or kind.startswith("(")  # topic = keccak
                values[i["name"]] = "0x" + topic.hex() if hashed else _plain(decode([kind], topic)[0])
            for i, v in zip(plain, decode([_type(i) for i in plain], bytes.fromhex(log["data"][2:]))):
                values[i["name"]] = _plain(v)
            events.append({"event": entry["name"], "address": log["address"], "args": values})
        if events:
            facts["events"] = events
        return facts

    def contract(self, address: str) -> dict:
        record = self.recorded_abi(address)
        code = self.rpc("eth_getCode", address, "latest")
        if record is None:
            if code in ("0x", "0x0"):
                raise ChainError(f"{address} has no code: it is not a contract")
            return {"address": address, "code_bytes": (len(code) - 2) // 2,
                    "note": "deployed without synergy_deployAIVMContract: the node recorded no ABI"}
        functions = [{"signature": signature(e), "mutability": e.get("stateMutability", "nonpayable"),
                      "returns": [_type(o) for o in e.get("outputs", [])]}
                     for e in record["abi"] if e.get("type") == "function"]
        events = [signature(e) for e in record["abi"] if e.get("type") == "event"]
        return {"address": record["contract_address"], "kind": record.get("kind"), "functions": functions,
                "events": events, "deployed_in": record.get("transaction_hash"), "code_bytes": (len(code) - 2) // 2}

    def ai_stats(self) -> dict:
        return {"aivm": self.rpc("synergy_getAIVMStats"), "distributed_ai": self.rpc("synergy_getAIDistributedStats")}

    def verify(self, computation_id: str) -> dict:
        return self.rpc("synergy_verifyAIResult", computation_id)

    def verify_on_chain(self, certificate_hex: str) -> dict:
        """The same certificate through the consensus precompile 0x0118 (what a contract would see)."""
        from eth_abi import decode

        out = bytes.fromhex(self.rpc("eth_call", {"to": "0x" + "0118".rjust(40, "0"), "data": certificate_hex},
                                     "latest")[2:])
        words = decode(["bool"] + ["uint256"] * (len(out) // 32 - 1), out)
        names = ("passed", "signers", "required", "signed_stake", "total_stake", "epoch")
        return dict(zip(names, words))

    # -- actions (prepared; sent only by Action.run) --
    def prepare_send(self, to: str, amount_eth: str) -> Action:
        from vm.addresses import parse_any_address
        from vm.codec import checksum

        try:
            target = checksum(parse_any_address(to))
        except ValueError as exc:
            raise ChainError(f"{to!r} is not an address: {exc}") from None
        value = parse_eth(amount_eth)
        tx = {"from": self.account, "to": target, "value": hex(value)}
        gas = int(self.rpc("eth_estimateGas", tx), 16)
        details = {"from": self.account, "to": target, "value": f"{Decimal(value) / ETHER} ETH ({value} wei)", "gas": gas}
        return Action("send ETH", details, lambda: self._send({**tx, "gas": hex(gas)}))

    def prepare_call(self, address: str, function: str, args: list[str]) -> "Action | dict":
        """A view function is called at once (a fact); anything else is an Action to confirm."""
        from eth_abi import decode, encode

        record = self.recorded_abi(address)
        if record is None:
            raise ChainError(f"the node recorded no ABI for {address} (deploy it with synergy_deployAIVMContract)")
        matches = [e for e in record["abi"] if e.get("type") == "function" and e.get("name") == function
                   and len(e.get("inputs", [])) == len(args)]
        if not matches:
            names = sorted({signature(e) for e in record["abi"] if e.get("type") == "function"})
            raise ChainError(f"{address} has no function {function} taking {len(args)} arguments; it has: {', '.join(names)}")
        entry = matches[0]
        types = [_type(i) for i in entry.get("inputs", [])]
        values = [parse_arg(t, a) for t, a in zip(types, args)]
        data = "0x" + (keccak(signature(entry).encode())[:4] + encode(types, values)).hex()
        tx = {"from": self.account, "to": record["contract_address"], "data": data}
        if entry.get("stateMutability") in ("view", "pure"):
            out = bytes.fromhex(self.rpc("eth_call", tx, "latest")[2:])
            result = decode([_type(o) for o in entry.get("outputs", [])], out)
            return {"contract": record["contract_address"], "call": signature(entry), "args": _plain(values),
                    "result": _plain(list(result))}
        gas = int(self.rpc("eth_estimateGas", tx), 16)
        details = {"from": self.account, "to": record["contract_address"], "function": signature(entry),
                   "args": _plain(values), "gas": gas}
        return Action(f"call {entry['name']}", details, lambda: self._send({**tx, "gas": hex(gas)}))

    def prepare_deploy(self, path: str, args: list[str], kind: str = "standard") -> Action:
        from eth_abi import encode

        from synq.compiler import compile_source

        file = Path(path).expanduser()
        try:
            source = file.read_text()
        except OSError as exc:
            raise ChainError(f"cannot read {file}: {exc.strerror or exc}") from None
        try:
            out = compile_source(source, str(file))
        except Exception as exc:  # noqa: BLE001 - the compiler's message (with its span) is what the user needs
            raise ChainError(f"{file} does not compile: {exc}") from None
        ctor = next((e for e in out.abi if e.get("type") == "constructor"), {"inputs": []})
        types = [_type(i) for i in ctor.get("inputs", [])]
        if len(types) != len(args):
            raise ChainError(f"the constructor takes {len(types)} arguments ({', '.join(types) or 'none'}), got {len(args)}")
        values = [parse_arg(t, a) for t, a in zip(types, args)]
        code = out.bytecode + encode(types, values)
        functions = [signature(e) for e in out.abi if e.get("type") == "function"]
        details = {"file": str(file), "kind": kind, "deployer": self.rpc("eth_accounts")[0],
                   "constructor_args": _plain(values), "bytecode_bytes": len(code), "functions": functions}

        def send() -> dict:
            return self.rpc("synergy_deployAIVMContract", "0x" + code.hex(), json.dumps(out.abi), kind)

        return Action(f"deploy {file.name}", details, send)

    def _send(self, tx: dict) -> dict:
        tx_hash = self.rpc("eth_sendTransaction", tx)
        receipt = self.rpc("eth_getTransactionReceipt", tx_hash)
        return {"transaction_hash": tx_hash, "status": "success" if receipt and receipt.get("status") == "0x1"
                else "reverted" if receipt else "pending",
                "block": int(receipt["blockNumber"], 16) if receipt else None}


def _fn(name: str, description: str, properties: dict, required: list) -> dict:
    return {"type": "function", "function": {"name": name, "description": description, "parameters": {
        "type": "object", "properties": properties, "required": required}}}


_S = {"type": "string"}
TOOLS = [
    _fn("get_balances", "ETH balances of accounts (default: the node's dev accounts)",
        {"addresses": {"type": "array", "items": _S}}, []),
    _fn("explain_transaction", "A transaction and its receipt, decoded with the contract's recorded ABI",
        {"hash": _S}, ["hash"]),
    _fn("contract_functions", "The functions and events of a deployed contract", {"address": _S}, ["address"]),
    _fn("ai_stats", "AIVM and distributed-AI statistics of the node", {}, []),
    _fn("send_eth", "Send ETH (the user confirms first)", {"to": _S, "amount_eth": _S}, ["to", "amount_eth"]),
    _fn("call_contract", "Call a contract function; state-changing calls are confirmed by the user first",
        {"address": _S, "function": _S, "args": {"type": "array", "items": _S}}, ["address", "function"]),
    _fn("deploy_synq", "Compile and deploy a SynQ file (the user confirms first)",
        {"path": _S, "args": {"type": "array", "items": _S}, "kind": _S}, ["path"]),
]


def run_tool(chain: Chain, name: str, arguments: dict) -> "dict | Action":
    """A tool call from a model: a fact, or an Action the user must confirm."""
    if name == "get_balances":
        return chain.balances(arguments.get("addresses"))
    if name == "explain_transaction":
        return chain.explain_tx(arguments["hash"])
    if name == "contract_functions":
        return chain.contract(arguments["address"])
    if name == "ai_stats":
        return chain.ai_stats()
    if name == "send_eth":
        return chain.prepare_send(arguments["to"], str(arguments["amount_eth"]))
    if name == "call_contract":
        return chain.prepare_call(arguments["address"], arguments["function"], [str(a) for a in arguments.get("args", [])])
    if name == "deploy_synq":
        return chain.prepare_deploy(arguments["path"], [str(a) for a in arguments.get("args", [])],
                                    arguments.get("kind", "standard"))
    raise ChainError(f"unknown tool {name!r}")
