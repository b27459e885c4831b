"""Talking to an EVM chain (AIVM or a foreign one) over plain JSON-RPC.

The bridge needs little: heads, logs, a block's hash (reorg checks), calls,
and signed transactions. Everything goes through the one JSON-RPC client
(bridge/jsonrpc.py), so the attester, the relayer and the node's hub share it
and a chain that knows nothing of AIVM (Anvil, Hardhat, geth) works as it is.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_hash.auto import keccak
from eth_utils import to_checksum_address

from bridge.jsonrpc import ChainError, JsonRpcClient

ROOT = Path(__file__).resolve().parent.parent
MESSAGE_SENT = keccak(b"MessageSent(bytes32,uint256,uint256,bytes)")
MESSAGE_DELIVERED = keccak(b"MessageDelivered(bytes32,uint256,uint256)")


@functools.lru_cache(maxsize=None)
def artifact(name: str):
    """A compiled contract from contracts/ (PQCBridge, WrappedToken, ERC20)."""
    import synq

    return synq.compile_source((ROOT / "contracts" / f"{name}.synq").read_text(), f"{name}.synq")


def _types(entry: dict) -> list[str]:
    def one(p: dict) -> str:
        t = p["type"]
        if t.startswith("tuple"):
            return "(" + ",".join(one(c) for c in p["components"]) + ")" + t[5:]
        return t
    return [one(p) for p in entry["inputs"]]


def calldata(contract: str, fn: str, *args) -> bytes:
    entry = next(e for e in artifact(contract).abi if e.get("name") == fn and e["type"] == "function")
    types = _types(entry)
    return keccak(f"{fn}({','.join(types)})".encode())[:4] + abi_encode(types, list(args))


def returns(contract: str, fn: str, data: bytes):
    entry = next(e for e in artifact(contract).abi if e.get("name") == fn and e["type"] == "function")
    types = [o["type"] for o in entry["outputs"]]
    values = abi_decode(types, data)
    return values[0] if len(values) == 1 else values


def deploy_data(contract: str, *args) -> bytes:
    out = artifact(contract)
    ctor = next((e for e in out.abi if e["type"] == "constructor"), None)
    return out.bytecode + (abi_encode(_types(ctor), list(args)) if ctor else b"")


@dataclass
class Receipt:
    tx_hash: str
    status: int
    block_number: int
    logs: list
    gas_used: int


class EvmClient(JsonRpcClient):
    """The EVM methods the bridge uses, over `JsonRpcClient.rpc`."""

    # -- reads --
    def chain_id(self) -> int:
        return int(self.rpc("eth_chainId"), 16)

    def block_number(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)

    def block_hash(self, number: int) -> str | None:
        block = self.rpc("eth_getBlockByNumber", hex(number), False)
        return block["hash"] if block else None

    def timestamp(self) -> int:
        return int(self.rpc("eth_getBlockByNumber", "latest", False)["timestamp"], 16)

    def code(self, address: str) -> bytes:
        return bytes.fromhex(self.rpc("eth_getCode", address, "latest")[2:])

    def balance(self, address: str) -> int:
        return int(self.rpc("eth_getBalance", address, "latest"), 16)

    def call(self, to: str, data: bytes, sender: str | None = None) -> bytes:
        tx = {"to": to, "data": "0x" + data.hex()}
        if sender:
            tx["from"] = sender
        return bytes.fromhex(self.rpc("eth_call", tx, "latest")[2:])

    def view(self, address: str, contract: str, fn: str, *args):
        return returns(contract, fn, self.call(address, calldata(contract, fn, *args)))

    def logs(self, address: str, topic: bytes, start: int, end: int) -> list[dict]:
        return self.rpc("eth_getLogs", {"address": address, "fromBlock": hex(start), "toBlock": hex(end),
                                        "topics": ["0x" + topic.hex()]})

    # -- writes --
    def send(self, key: str, to: str | None, data: bytes, value: int = 0, gas: int | None = None,
             wait: float = 30.0) -> Receipt:
        """Sign with `key`, send, wait for the receipt; ChainError if it fails or reverts."""
        return self.wait(self.submit(key, to, data, value, gas), wait)

    def submit(self, key: str, to: str | None, data: bytes, value: int = 0, gas: int | None = None,
               nonce: int | None = None) -> str:
        """Sign with `key` and send; the transaction hash, without waiting for it to be mined.
        `nonce`: the caller's own count when it sends several before any is mined."""
        acct = Account.from_key(key)
        tx = {"from": acct.address, "data": "0x" + data.hex(), "value": hex(value)}
        if to:
            tx["to"] = to
        if gas is None:
            gas = int(int(self.rpc("eth_estimateGas", tx), 16) * 1.3) + 50_000
        if nonce is None:
            nonce = self.next_nonce(acct.address)
        fields = {"chainId": self.chain_id(), "nonce": nonce, "gas": gas, "value": value,
                  "data": data, "gasPrice": self._gas_price()}
        if to:
            fields["to"] = to_checksum_address(to)
        signed = acct.sign_transaction(fields)
        return self.rpc("eth_sendRawTransaction", "0x" + signed.raw_transaction.hex())

    def next_nonce(self, address: str) -> int:
        return int(self.rpc("eth_getTransactionCount", address, "pending"), 16)

    def _gas_price(self) -> int:
        """Twice the latest base fee plus a 1 gwei tip (never eth_gasPrice doubled: a node that
        suggests from recent prices would then double its suggestion with every transaction)."""
        block = self.rpc("eth_getBlockByNumber", "latest", False)
        base = int(block.get("baseFeePerGas") or "0x0", 16)
        return 2 * base + 10**9 if base else int(self.rpc("eth_gasPrice"), 16)

    def wait(self, tx_hash: str, timeout: float = 30.0) -> Receipt:
        deadline = time.monotonic() + timeout
        while True:
            rc = self.rpc("eth_getTransactionReceipt", tx_hash)
            if rc is not None:
                receipt = Receipt(tx_hash, int(rc["status"], 16), int(rc["blockNumber"], 16), rc["logs"],
                                  int(rc["gasUsed"], 16))
                if receipt.status != 1:
                    raise ChainError(f"{self.url}: transaction {tx_hash} reverted")
                return receipt
            if time.monotonic() > deadline:
                raise ChainError(f"{self.url}: no receipt for {tx_hash} after {timeout:.0f} s")
            time.sleep(0.05)

    def revert_reason(self, to: str, data: bytes, sender: str) -> str:
        """Why a call would revert ('' if it would not): for clear relayer errors. The contract's
        own Error(string) when the chain returns it (Anvil and Hardhat word the rest differently)."""
        try:
            self.call(to, data, sender)
        except ChainError as exc:
            reason = error_string(exc.data)
            return reason if reason is not None else str(exc).split(": ", 2)[-1]
        return ""


ERROR_STRING = keccak(b"Error(string)")[:4]


def error_string(data) -> str | None:
    """The message of an ABI-encoded Error(string) revert, from a JSON-RPC error's data field."""
    if isinstance(data, dict):  # some clients nest it: {"message": ..., "data": "0x..."}
        data = data.get("data")
    if not isinstance(data, str) or not data.startswith("0x"):
        return None
    try:
        raw = bytes.fromhex(data[2:])
        if raw[:4] != ERROR_STRING:
            return None
        return abi_decode(["string"], raw[4:])[0]
    except Exception:
        return None


def sent_messages(receipt_logs: list, bridge: str) -> list[bytes]:
    """The encoded messages a transaction's MessageSent logs carry (from `bridge` only)."""
    out = []
    for log in receipt_logs:
        if log["address"].lower() == bridge.lower() and log["topics"] and \
                bytes.fromhex(log["topics"][0][2:]) == MESSAGE_SENT:
            _, message = abi_decode(["uint256", "bytes"], bytes.fromhex(log["data"][2:]))
            out.append(message)
    return out
