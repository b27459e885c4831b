"""The guide's synergy_ methods that belong to the node itself.

Deploying an AI-enhanced contract keeps its ABI and kind as a node record, so
`synergy_getAIVMStats` can count contracts by kind across restarts.
"""
import asyncio
import json
from typing import Any

from vm.codec import InvalidValue, checksum, data, parse_data
from vm.rpc.dispatch import method
from vm.rpc.errors import INVALID_PARAMS, SERVER_ERROR, RpcError
from vm.rpc.params import Json, Text

CONTRACT_KINDS = ("standard", "ai", "pqc", "bridge")


def supported_features(node) -> list[str]:
    """Only what this node can do now: AI features once the AI layer runs, PQC precompiles always."""
    features = ["pqc_signatures", "quorum_certificates"]
    if getattr(node, "ai", None) is not None:
        features += ["distributed_ai", "consensus_computation", "ai_enhanced"]
    bridge = getattr(node, "bridge", None)
    if bridge is not None and bridge.lanes:  # the bridge is on and at least one lane is configured
        features.append("cross_chain")
    return features


def _constructor_args(abi: list, args: Any) -> bytes:
    """Param 4: ABI-encoded bytes (hex), or a JSON list of values encoded with the ABI's constructor inputs."""
    if args is None:
        return b""
    if isinstance(args, str):
        try:
            return parse_data(args if args.startswith("0x") else "0x" + args, "constructor_args")
        except InvalidValue as exc:
            raise RpcError(INVALID_PARAMS, f"synergy_deployAIVMContract param 4 (constructor_args): {exc}") from None
    if not isinstance(args, list):
        raise RpcError(INVALID_PARAMS, "synergy_deployAIVMContract param 4 (constructor_args): expected hex of "
                                       "ABI-encoded arguments or a JSON list of values")
    from eth_abi import encode

    ctor = next((e for e in abi if e.get("type") == "constructor"), {"inputs": []})
    types = [_abi_type(i) for i in ctor.get("inputs", [])]
    if len(types) != len(args):
        raise RpcError(INVALID_PARAMS, f"synergy_deployAIVMContract param 4 (constructor_args): the constructor takes "
                                       f"{len(types)} arguments ({', '.join(types) or 'none'}), got {len(args)}")
    try:
        values = [bytes.fromhex(v[2:]) if isinstance(v, str) and v.startswith("0x") and t.startswith("bytes")
                  else int(v, 0) if isinstance(v, str) and t.startswith(("uint", "int")) else v
                  for t, v in zip(types, args)]
        return encode(types, values)
    except Exception as exc:  # eth-abi's refusals and bad literals alike: the user's values, not a node fault
        raise RpcError(INVALID_PARAMS, f"synergy_deployAIVMContract param 4 (constructor_args): {exc}") from None


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
            raise RpcError(INVALID_PARAMS, f"synergy_deployAIVMContract param 2 (abi_json): invalid JSON: {exc}") from None
    if not isinstance(abi, list) or not all(isinstance(e, dict) and "type" in e for e in abi):
        raise RpcError(INVALID_PARAMS, "synergy_deployAIVMContract param 2 (abi_json): expected a JSON list of ABI entries")
    return abi


@method("synergy_deployAIVMContract")
async def synergy_deploy_aivm_contract(node, bytecode_hex: Text, abi_json: Json, kind: Text = "standard",
                                       constructor_args: Json = None) -> dict:
    try:
        code = parse_data(bytecode_hex if bytecode_hex.startswith("0x") else "0x" + bytecode_hex, "bytecode_hex")
    except InvalidValue as exc:
        raise RpcError(INVALID_PARAMS, f"synergy_deployAIVMContract param 1: {exc}") from None
    if not code:
        raise RpcError(INVALID_PARAMS, "synergy_deployAIVMContract param 1: empty bytecode")
    abi = _parse_abi(abi_json)
    if kind not in CONTRACT_KINDS:
        raise RpcError(INVALID_PARAMS, f"synergy_deployAIVMContract param 3 (kind): expected one of {', '.join(CONTRACT_KINDS)}")
    code += _constructor_args(abi, constructor_args)
    from vm.chain import TxRejected, ExecutionFailed

    deployer = node.chain.accounts[0].address
    try:
        tx_hash, result = await node.send_unsigned({"sender": deployer, "data": code, "gas": None})
    except ExecutionFailed as exc:
        raise RpcError(SERVER_ERROR, f"contract creation failed: {exc.result.error}", data(exc.result.output)) from None
    except TxRejected as exc:
        raise RpcError(SERVER_ERROR, f"contract creation rejected: {exc}") from None
    if result is None:  # interval mining: the record is written when the block lands
        raise RpcError(SERVER_ERROR, "synergy_deployAIVMContract needs automine (the node mines on an interval)")
    if not result.success:
        raise RpcError(SERVER_ERROR, f"contract creation failed: {result.error}", data(result.output))
    address = checksum(result.contract_address)

    def record():
        with node.chain.store.transaction():
            node.chain.index.set_meta(
                f"contracts/{address.lower()}",
                {"kind": kind, "abi": abi, "transaction_hash": data(tx_hash), "block": result.block_number},
            )
            counts = node.chain.index.meta("contract_counts", {})
            counts[kind] = counts.get(kind, 0) + 1
            node.chain.index.set_meta("contract_counts", counts)

    await node.run(record)
    return {
        "success": True,
        "contract_address": address,
        "transaction_hash": data(tx_hash),
        "kind": kind,
        "gas_used": result.gas_used,
        "message": "AIVM contract deployed",
    }


@method("synergy_getAIVMContract")
async def synergy_get_aivm_contract(node, address: Text) -> Any:
    from vm.codec import parse_address

    try:
        addr = parse_address(address)
    except InvalidValue as exc:
        raise RpcError(INVALID_PARAMS, f"synergy_getAIVMContract param 1: {exc}") from None
    rec = await node.run(node.chain.index.meta, f"contracts/{checksum(addr).lower()}")
    if rec is None:
        return None
    return {"contract_address": checksum(addr), **rec}


def aivm_stats(node) -> dict:
    """The guide's synergy_getAIVMStats shape with real figures (store reads: any thread)."""
    counts = node.chain.index.meta("contract_counts", {})
    ai = getattr(node, "ai_stats", None)
    ai_figures = ai() if ai else {}
    total = ai_figures.get("distributed_computations", 0)
    completed = ai_figures.get("completed_computations", 0)
    return {
        "total_contracts": sum(counts.values()),
        "contracts_by_kind": {k: counts.get(k, 0) for k in CONTRACT_KINDS},
        "distributed_computations": total,
        "completed_computations": completed,
        "active_validators": ai_figures.get("active_validators", 0),
        "total_ai_rewards_distributed": ai_figures.get("total_ai_rewards_distributed", 0),
        "supported_features": supported_features(node),
        "ai_ready": ai_figures.get("ai_ready", False),
        "ai_status": ai_figures.get("ai_status") or getattr(node, "ai_status", None) or "disabled",
        "eligible_validators": ai_figures.get("eligible_validators", 0),
        "network_uptime": f"{node.uptime_percent():.1f}%",
        "consensus_success_rate": round(completed / total, 4) if total else 0.0,
    }


@method("synergy_getAIVMStats")
async def synergy_get_aivm_stats(node) -> dict:
    # node records and AI counters only: answered while the chain thread is busy with a block
    return await asyncio.to_thread(aivm_stats, node)


@method("synergy_getPQCSecurityStats")
async def synergy_get_pqc_security_stats(node) -> dict:
    from pqc.stats import security_stats

    return security_stats()
