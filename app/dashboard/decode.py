"""Calls, events and errors decoded with the ABIs the node recorded (synergy_deployAIVMContract).

Pure functions over an ABI list and raw bytes: no node, no chain. Anything
that does not match the ABI is shown raw rather than guessed at.
"""
from __future__ import annotations

from typing import Any, Optional

from eth_abi import decode
from eth_utils.abi import collapse_if_tuple, event_abi_to_log_topic, function_abi_to_4byte_selector
from eth_hash.auto import keccak

from vm.chain import decode_revert_reason


def _json(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
        return str(value)
    return value


def _types(inputs: list) -> list[str]:
    return [collapse_if_tuple(i) for i in inputs]


def _signature(entry: dict) -> str:
    return f"{entry.get('name', '')}({','.join(_types(entry.get('inputs', [])))})"


def _args(inputs: list, values: tuple) -> list[dict]:
    return [{"name": i.get("name") or f"arg{n}", "type": collapse_if_tuple(i), "value": _json(v)}
            for n, (i, v) in enumerate(zip(inputs, values))]


def decode_call(abi: list, calldata: bytes) -> Optional[dict]:
    """The function a call's data selects, with its arguments; None when the ABI has no match."""
    if len(calldata) < 4:
        return None
    for entry in abi:
        if entry.get("type") != "function":
            continue
        if function_abi_to_4byte_selector(entry) != calldata[:4]:
            continue
        try:
            values = decode(_types(entry.get("inputs", [])), calldata[4:])
        except Exception as exc:
            return {"function": _signature(entry), "error": f"arguments do not decode: {exc}"}
        return {"function": _signature(entry), "name": entry.get("name"), "args": _args(entry["inputs"], values)}
    return None


def decode_constructor(abi: list) -> dict:
    ctor = next((e for e in abi if e.get("type") == "constructor"), None)
    return {"function": "constructor(" + ",".join(_types(ctor.get("inputs", []))) + ")" if ctor else "constructor()"}


def decode_log(abi: list, log: dict) -> Optional[dict]:
    """One receipt log -> {"event", "args"} when the ABI declares it."""
    topics = [bytes.fromhex(t[2:]) for t in log["topics"]]
    if not topics:
        return None
    body = bytes.fromhex(log["data"][2:])
    for entry in abi:
        if entry.get("type") != "event" or entry.get("anonymous"):
            continue
        if event_abi_to_log_topic(entry) != topics[0]:
            continue
        inputs = entry.get("inputs", [])
        indexed = [i for i in inputs if i.get("indexed")]
        plain = [i for i in inputs if not i.get("indexed")]
        try:
            plain_values = list(decode(_types(plain), body))
            out = []
            for n, (i, topic) in enumerate(zip(indexed, topics[1:])):
                t = collapse_if_tuple(i)
                dynamic = t in ("string", "bytes") or t.endswith("]") or t.startswith("(")
                value = "0x" + topic.hex() if dynamic else decode([t], topic)[0]  # dynamic: only the hash is logged
                out.append((i, value))
            by_input = {id(i): v for i, v in out}
            it = iter(plain_values)
            ordered = [(i, by_input[id(i)] if i.get("indexed") else next(it)) for i in inputs]
        except Exception as exc:
            return {"event": _signature(entry), "error": f"log does not decode: {exc}"}
        return {"event": _signature(entry), "name": entry.get("name"),
                "args": [{"name": i.get("name") or f"arg{n}", "type": collapse_if_tuple(i),
                          "indexed": bool(i.get("indexed")), "value": _json(v)}
                         for n, (i, v) in enumerate(ordered)]}
    return None


def decode_error(abi: list, output: bytes) -> dict:
    """Revert data -> a reason: Error(string), Panic(uint256), or a custom error the ABI declares."""
    reason = decode_revert_reason(output)
    if reason:
        return {"reason": reason}
    for entry in abi:
        if entry.get("type") != "error":
            continue
        selector = keccak(_signature(entry).encode())[:4]
        if output[:4] == selector:
            try:
                values = decode(_types(entry.get("inputs", [])), output[4:])
            except Exception:
                break
            return {"reason": _signature(entry), "error": entry.get("name"),
                    "args": _args(entry.get("inputs", []), values)}
    return {"reason": "", "data": "0x" + output.hex()}
