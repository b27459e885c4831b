"""The `--network URL` backend: the same interface as `LocalBackend`, over JSON-RPC with web3.py.

A transaction is first run as `eth_call` on the latest block (its return value, or its
revert data), then sent with `eth_sendTransaction` and its receipt read for gas and logs.
Snapshots are `evm_snapshot` / `evm_revert`; time and balances use the Hardhat/Anvil dev methods.
"""
from __future__ import annotations

from typing import Any, Optional

from eth_utils import to_checksum_address
from web3 import Web3

from vm.chain import ExecutionResult, Log


class RpcError(Exception):
    def __init__(self, error: dict) -> None:
        super().__init__(error.get("message", str(error)))
        self.code = error.get("code")
        data = error.get("data")
        self.data = bytes.fromhex(data[2:]) if isinstance(data, str) and data.startswith("0x") else b""


class RpcBackend:
    """What `Env` needs from a chain, over a running node's JSON-RPC."""

    def __init__(self, url: str, timeout: float = 120) -> None:
        self.url = url
        self.w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": timeout}))
        self.accounts = [bytes.fromhex(a[2:]) for a in self.rpc("eth_accounts")]
        self.gas_limit = int(self.rpc("eth_getBlockByNumber", "latest", False)["gasLimit"], 16)

    def rpc(self, method: str, *params: Any) -> Any:
        resp = self.w3.provider.make_request(method, list(params))
        if resp.get("error"):
            raise RpcError(resp["error"])
        return resp["result"]

    @staticmethod
    def _tx(sender: Optional[bytes], to: Optional[bytes], data: bytes, value: int, gas: Optional[int]) -> dict:
        tx = {"data": "0x" + data.hex(), "value": hex(value)}
        if sender:
            tx["from"] = to_checksum_address(sender)
        if to:
            tx["to"] = to_checksum_address(to)
        if gas:
            tx["gas"] = hex(gas)
        return tx

    # -- execution
    def call(self, sender: bytes, to: Optional[bytes], data: bytes, value: int, gas: Optional[int]) -> ExecutionResult:
        try:
            out = self.rpc("eth_call", self._tx(sender, to, data, value, gas), "latest")
        except RpcError as exc:
            if exc.code not in (3, -32000, -32015):
                raise
            return ExecutionResult(False, exc.data, 0, error=str(exc))
        return ExecutionResult(True, bytes.fromhex(out[2:]), 0)

    def transact(self, sender: bytes, to: Optional[bytes], data: bytes, value: int,
                 gas: Optional[int]) -> ExecutionResult:
        first = self.call(sender, to, data, value, gas or self.gas_limit)
        tx_hash = self.rpc("eth_sendTransaction", self._tx(sender, to, data, value, gas or self.gas_limit))
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=120)
        ok = receipt["status"] == 1
        logs = [Log(bytes.fromhex(log["address"][2:]), [bytes(t) for t in log["topics"]], bytes(log["data"]))
                for log in receipt["logs"]]
        created = receipt.get("contractAddress")
        return ExecutionResult(
            ok, first.output if ok == first.success else b"", receipt["gasUsed"], logs,
            error="" if ok else (first.error or "execution failed"),
            tx_hash=bytes(receipt["transactionHash"]), block_number=receipt["blockNumber"],
            contract_address=bytes.fromhex(created[2:]) if created else None, receipt=dict(receipt),
        )

    def revert_frames(self, result: ExecutionResult) -> list:
        return []  # a node does not say where a transaction reverted

    # -- snapshots
    def snapshot(self) -> str:
        return self.rpc("evm_snapshot")

    def revert(self, snapshot_id: str) -> bool:
        return bool(self.rpc("evm_revert", snapshot_id))

    # -- state and time
    def balance(self, address: bytes) -> int:
        return int(self.rpc("eth_getBalance", to_checksum_address(address), "latest"), 16)

    def set_balance(self, address: bytes, wei: int) -> None:
        self.rpc("hardhat_setBalance", to_checksum_address(address), hex(wei))

    def code(self, address: bytes) -> bytes:
        return bytes.fromhex(self.rpc("eth_getCode", to_checksum_address(address), "latest")[2:])

    def nonce(self, address: bytes) -> int:
        return int(self.rpc("eth_getTransactionCount", to_checksum_address(address), "latest"), 16)

    def impersonate(self, address: bytes, on: bool = True) -> None:
        method = "hardhat_impersonateAccount" if on else "hardhat_stopImpersonatingAccount"
        self.rpc(method, to_checksum_address(address))

    def increase_time(self, seconds: int) -> None:
        self.rpc("evm_increaseTime", seconds)

    def set_next_timestamp(self, timestamp: int) -> None:
        self.rpc("evm_setNextBlockTimestamp", timestamp)

    def mine(self, timestamp: Optional[int] = None) -> None:
        self.rpc("evm_mine", *([timestamp] if timestamp is not None else []))

    @property
    def block_number(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)

    @property
    def timestamp(self) -> int:
        return int(self.rpc("eth_getBlockByNumber", "latest", False)["timestamp"], 16)
