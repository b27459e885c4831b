"""The guide's synergy_ methods that belong to the node itself.

Deploying an AI-enhanced contract keeps its ABI and kind as a node record, so
`synergy_getAIVMStats` can count contracts by kind across restarts. The records,
counters and stats are the node API's (vm/api.py); this module translates.
"""
import asyncio
import json
from typing import Any

from vm.api import CONTRACT_KINDS, ContractKind
from vm.codec import InvalidValue, checksum, data, parse_address, parse_data
from vm.errors import invalid
from app.rpc.dispatch import method
from app.rpc.params import Json, Text


def _constructor_args(abi: list, args: Any) -> bytes:
    """Param 4: ABI-encoded bytes (hex), or a JSON list of values encoded with the ABI's constructor inputs."""
    if args is None:
        return b""
    if isinstance(args, str):
        try:
            return parse_data(args if args.startswith("0x") else "0x" + args, "constructor_args")
        except InvalidValue as exc:
            raise invalid(f"synergy_deployAIVMContract param 4 (constructor_args): {exc}") from None
    if not isinstance(args, list):
        raise invalid("synergy_deployAIVMContract param 4 (constructor_args): expected hex of "
                      "ABI-encoded arguments or a JSON list of values")
    from eth_abi import encode

    ctor = next((e for e in abi if e.get("type") == "constructor"), {"inputs": []})
    types = [_abi_type(i) for i in ctor.get("inputs", [])]
    if len(types) != len(args):
        raise invalid(f"synergy_deployAIVMContract param 4 (constructor_args): the constructor takes "
                      f"{len(types)} arguments ({', '.join(types) or 'none'}), got {len(args)}")
    try:
        values = [bytes.fromhex(v[2:]) if isinstance(v, str) and v.startswith("0x") and t.startswith("bytes")
                  else int(v, 0) if isinstance(v, str) and t.startswith(("uint", "int")) else v
                  for t, v in zip(types, args)]
        return encode(types, values)
    except Exception as exc:  # eth-abi's refusals and bad literals alike: the user's values, not a node fault
        raise invalid(f"synergy_deployAIVMContract param 4 (constructor_args): {exc}") from None


def _abi_type(entry: dict) -> str:
    t = entry.get("type", "")
    if t.startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in entry.get("components", [])) + ")" + t[len("tuple"):]
    return t


def _parse_abi(abi_json: Any) -> list:
    abi = abi_json
    if isinstance(abi_json, str):
        try:
            abi = json.loads(abi_json)
        except ValueError as exc:
            raise invalid(f"synergy_deployAIVMContract param 2 (abi_json): invalid JSON: {exc}") from None
    if not isinstance(abi, list) or not all(isinstance(e, dict) and "type" in e for e in abi):
        raise invalid("synergy_deployAIVMContract param 2 (abi_json): expected a JSON list of ABI entries")
    return abi


@method("synergy_deployAIVMContract")
async def synergy_deploy_aivm_contract(api, bytecode_hex: Text, abi_json: Json, kind: Text = "standard",
                                       constructor_args: Json = None) -> dict:
    try:
        code = parse_data(bytecode_hex if bytecode_hex.startswith("0x") else "0x" + bytecode_hex, "bytecode_hex")
    except InvalidValue as exc:
        raise invalid(f"synergy_deployAIVMContract param 1: {exc}") from None
    if not code:
        raise invalid("synergy_deployAIVMContract param 1: empty bytecode")
    abi = _parse_abi(abi_json)
    if kind not in CONTRACT_KINDS:
        raise invalid(f"synergy_deployAIVMContract param 3 (kind): expected one of {', '.join(CONTRACT_KINDS)}")
    code += _constructor_args(abi, constructor_args)
    d = await api.deploy_contract(code, ContractKind(kind), abi)
    return {
        "success": True,
        "contract_address": checksum(d.address),
        "transaction_hash": data(d.tx_hash),
        "kind": d.kind.value,
        "gas_used": d.gas_used,
        "message": "AIVM contract deployed",
    }


@method("synergy_getAIVMContract")
async def synergy_get_aivm_contract(api, address: Text) -> Any:
    try:
        addr = parse_address(address)
    except InvalidValue as exc:
        raise invalid(f"synergy_getAIVMContract param 1: {exc}") from None
    rec = await api.contract(addr)
    if rec is None:
        return None
    return {"contract_address": checksum(addr), **rec}


@method("synergy_getAIVMStats")
async def synergy_get_aivm_stats(api) -> dict:
    # node records and AI counters only: answered while the chain thread is busy with a block
    return await asyncio.to_thread(api.aivm_stats)


@method("synergy_getPQCSecurityStats")
async def synergy_get_pqc_security_stats(api) -> dict:
    from pqc.stats import security_stats

    return security_stats()
