"""The guide's synergy_ methods that belong to the node itself.

Deploying an AI-enhanced contract keeps its ABI and kind as a node record, so
`synergy_getAIVMStats` can count contracts by kind across restarts.
"""
import json
from typing import Any

from vm.codec import InvalidValue, checksum, data, parse_data
from vm.rpc.dispatch import method
from vm.rpc.errors import INVALID_PARAMS, SERVER_ERROR, RpcError
from vm.rpc.params import Json, Text

CONTRACT_KINDS = ("standard", "ai", "pqc", "bridge")
SUPPORTED_FEATURES = ["distributed_ai", "consensus_computation", "cross_chain", "ai_enhanced"]


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
async def synergy_deploy_aivm_contract(node, bytecode_hex: Text, abi_json: Json, kind: Text = "standard") -> dict:
    try:
        code = parse_data(bytecode_hex if bytecode_hex.startswith("0x") else "0x" + bytecode_hex, "bytecode_hex")
    except InvalidValue as exc:
        raise RpcError(INVALID_PARAMS, f"synergy_deployAIVMContract param 1: {exc}") from None
    if not code:
        raise RpcError(INVALID_PARAMS, "synergy_deployAIVMContract param 1: empty bytecode")
    abi = _parse_abi(abi_json)
    if kind not in CONTRACT_KINDS:
        raise RpcError(INVALID_PARAMS, f"synergy_deployAIVMContract param 3 (kind): expected one of {', '.join(CONTRACT_KINDS)}")
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
    """Chain thread: the guide's synergy_getAIVMStats shape with real figures."""
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
        "supported_features": SUPPORTED_FEATURES,
        "network_uptime": f"{node.uptime_percent():.1f}%",
        "consensus_success_rate": round(completed / total, 4) if total else 0.0,
    }


@method("synergy_getAIVMStats")
async def synergy_get_aivm_stats(node) -> dict:
    return await node.run(aivm_stats, node)


@method("synergy_getPQCSecurityStats")
async def synergy_get_pqc_security_stats(node) -> dict:
    from pqc.stats import security_stats

    return security_stats()
