"""A py-evm computation as an `ExecutionResult`: logs, revert data and the error text callers see."""
from __future__ import annotations

from typing import Any

from vm.chain_records import ExecutionResult, Log


def _friendly_validation(msg: str) -> str:
    low = msg.lower()
    if "balance" in low:
        return "insufficient funds for gas * price + value"
    if "nonce" in low:
        return f"invalid nonce: {msg}"
    return msg


def _result_from_computation(comp: Any, gas_used: int) -> ExecutionResult:
    logs = [
        Log(address, [t.to_bytes(32, "big") for t in topics], data)
        for address, topics, data in comp.get_log_entries()
    ] if comp.is_success else []
    if comp.is_success:
        return ExecutionResult(True, comp.output, gas_used, logs, computation=comp)
    err = comp.error
    output = comp.output if not err.erases_return_data else b""
    return ExecutionResult(False, output, gas_used, [], error=_error_text(err, output), computation=comp)


def _error_text(err: Exception, output: bytes) -> str:
    from eth.exceptions import Revert

    if isinstance(err, Revert):
        reason = decode_revert_reason(output)
        return "execution reverted" + (f": {reason}" if reason else "")
    name = type(err).__name__
    words = {"OutOfGas": "out of gas", "InvalidInstruction": "invalid opcode",
             "InvalidJumpDestination": "invalid jump destination",
             "StackUnderflow": "stack underflow", "StackDepthLimit": "max call depth exceeded",
             "WriteProtection": "write protection", "InsufficientFunds": "insufficient funds for transfer"}
    return words.get(name, f"{name}: {err}" if str(err) else name)


def decode_revert_reason(output: bytes) -> str:
    """Error(string) and Panic(uint256) as text; '' for custom errors or none."""
    from eth_abi import decode

    try:
        if output[:4] == bytes.fromhex("08c379a0"):
            return decode(["string"], output[4:])[0]
        if output[:4] == bytes.fromhex("4e487b71"):
            return f"panic code 0x{decode(['uint256'], output[4:])[0]:02x}"
    except Exception:
        return ""
    return ""
