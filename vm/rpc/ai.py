"""The guide's distributed-AI methods (and the validator side of the protocol).

Where a method needs more than the guide shows (a signature), the extra
parameter comes last, as documented in docs/distributed-ai.md. Scheduler calls
run on the AI service's own threads: they verify post-quantum signatures, and
the event loop must keep serving meanwhile.
"""
import asyncio
import statistics
import time

from vm.addresses import parse_any_address, to_syn
from vm.codec import InvalidValue, parse_data
from vm.rpc.dispatch import method
from vm.rpc.errors import INVALID_PARAMS, SERVER_ERROR, RpcError
from vm.rpc.params import Integer, Object, Text


def _ai(node):
    service = getattr(node, "ai", None)
    if service is None:
        status = getattr(node, "ai_status", None)
        if status:
            raise RpcError(SERVER_ERROR, f"distributed AI is not ready: {status}")
        raise RpcError(SERVER_ERROR, "distributed AI is disabled on this node ([aivm] enabled = false)")
    return service


async def _ready_ai(node, timeout: float = None):
    """The AI service once usable: a request that arrives while models load or validators join waits (bounded)."""
    from ai.service import READY_WAIT

    deadline = time.monotonic() + (READY_WAIT if timeout is None else timeout)
    while getattr(node, "ai", None) is None and getattr(node, "ai_status", None) and time.monotonic() < deadline:
        if str(node.ai_status).startswith("model preparation failed"):
            break
        await asyncio.sleep(0.1)
    service = _ai(node)
    left = deadline - time.monotonic()
    if not service.ready and left > 0:
        await asyncio.get_running_loop().run_in_executor(service.executor, service.wait_ready, left)
    return service


def _address(value: str, where: str) -> bytes:
    try:
        return parse_any_address(value)
    except ValueError as exc:
        raise RpcError(INVALID_PARAMS, f"{where}: {exc}") from None


def _hex(value: str, where: str) -> bytes:
    try:
        return parse_data(value if value.startswith("0x") else "0x" + value, where)
    except InvalidValue as exc:
        raise RpcError(INVALID_PARAMS, f"{where}: {exc}") from None


async def _call(fn, *args, service=None):
    from ai.scheduler import AIError  # the AI stack (torch) loads with the AI layer, not with the RPC

    try:
        if service is not None:
            return await service.call(fn, *args)
        return await asyncio.to_thread(fn, *args)
    except AIError as exc:
        raise RpcError(SERVER_ERROR, str(exc)) from None


# -- validators --
@method("synergy_registerValidator")
async def synergy_register_validator(node, public_keys: Text, stake: Integer, proof: Text) -> dict:
    service = _ai(node)
    v = await _call(service.scheduler.register, _hex(public_keys, "param 1 (public_keys)"), stake,
                    _hex(proof, "param 3 (proof)"), service=service)
    return {"success": True, "validator_address": to_syn(v.address), "address": "0x" + v.address.hex(),
            "stake": v.stake}


@method("synergy_attestValidator")
async def synergy_attest_validator(node, address: Text, attestation: Object, signature: Text) -> dict:
    service = _ai(node)
    v = await _call(service.scheduler.attest, _address(address, "param 1"), attestation,
                    _hex(signature, "param 3 (signature)"), service=service)
    return {"success": True, "validator_address": to_syn(v.address), "holds": v.holds}


@method("synergy_validatorHeartbeat")
async def synergy_validator_heartbeat(node, address: Text, timestamp: Integer, signature: Text) -> dict:
    service = _ai(node)
    v = await _call(service.scheduler.heartbeat, _address(address, "param 1"), timestamp,
                    _hex(signature, "param 3 (signature)"), service=service)
    return {"success": True, "uptime": round(v.uptime(), 4)}


@method("synergy_getValidatorAttestation")
async def synergy_get_validator_attestation(node, address: Text) -> dict:
    s = _ai(node).scheduler
    v = await _call(s.validator, _address(address, "param 1"))
    return {"validator_address": to_syn(v.address), "attestation": v.attestation, "valid": v.attestation_valid,
            "reason": "" if v.attestation_valid else v.attestation_error, "shards_held": v.holds,
            "pqc_security_level": "Basic", "stake": v.stake, "public_key_hash": "0x" + v.keys.key_hash.hex()}


@method("synergy_getValidatorAITasks")
async def synergy_get_validator_ai_tasks(node, address: Text) -> list:
    return await _call(_ai(node).scheduler.tasks_for, _address(address, "param 1"))


@method("synergy_submitAIPartialResult")
async def synergy_submit_ai_partial_result(node, task_id: Text, address: Text, result: Text, signature: Text = None) -> dict:
    if signature is None:
        raise RpcError(INVALID_PARAMS, "synergy_submitAIPartialResult: param 4 (signature) is required: "
                                       "results must be signed by the validator's registered key")
    service = _ai(node)
    return await _call(service.scheduler.submit, task_id, _address(address, "param 2"),
                       _hex(result, "param 3 (result)"), _hex(signature, "param 4 (signature)"), service=service)


@method("synergy_getValidatorAIRewards")
async def synergy_get_validator_ai_rewards(node, address: Text) -> dict:
    v = await _call(_ai(node).scheduler.validator, _address(address, "param 1"))
    return {"validator_address": to_syn(v.address), "total_rewards": v.rewards, "slashed": v.slashed, "stake": v.stake}


@method("synergy_listValidators")
async def synergy_list_validators(node) -> list:
    """Every registered validator (the guide has no other way to learn their addresses), best score first."""
    s = _ai(node).scheduler

    def read():
        now = time.time()
        out = []
        for v in sorted(list(s.validators.values()), key=lambda v: (-v.score, v.address)):
            why = v.ineligibility_any(now)
            out.append({"validator_address": to_syn(v.address), "address": "0x" + v.address.hex(),
                        "stake": v.stake, "synergy_score": round(v.score, 2), "uptime": round(v.uptime(now), 4),
                        "attestation_valid": v.attestation_valid, "shards_held": v.holds,
                        "eligible": why == "", "reason": why})
        return out

    return await _call(read)


@method("synergy_getValidatorAIStats")
async def synergy_get_validator_ai_stats(node, address: Text) -> dict:
    v = await _call(_ai(node).scheduler.validator, _address(address, "param 1"))
    done = v.tasks_completed + v.tasks_failed
    avg = round(v.response_ms_total / v.responses) if v.responses else 0
    return {"validator_address": to_syn(v.address), "ai_tasks_completed": v.tasks_completed,
            "ai_tasks_failed": v.tasks_failed, "ai_rewards_earned": v.rewards,
            "average_response_time_ms": avg, "average_response_time": avg,
            "success_rate": round(v.tasks_completed / done, 4) if done else 0.0,
            "synergy_score": round(v.score, 2),
            "computation_consensus_rate": round(v.agreed / (v.agreed + v.disagreed), 4) if v.agreed + v.disagreed else 0.0,
            "uptime": round(v.uptime(), 4)}


@method("synergy_getClusterAIStats")
async def synergy_get_cluster_ai_stats(node, cluster_id: Integer) -> dict:
    s = _ai(node).scheduler

    def read():
        from ai.scheduler import AIError
        from ai.scheduler.validators import clusters

        groups = clusters(list(s.validators.values()))
        if not 1 <= cluster_id <= len(groups):
            raise AIError(f"unknown cluster {cluster_id}: there are {len(groups)} clusters (numbered from 1)")
        members = groups[cluster_id - 1]
        addrs = {v.address for v in members}
        comps = [c for c in s.computations.values() if c.validators & addrs]
        finished = [c for c in comps if c.status in ("Completed", "Failed")]
        ok = [c for c in finished if c.status == "Completed"]
        times = [c.finished - c.created for c in ok if not c.cached]
        now = time.time()
        return {"cluster_id": cluster_id,
                "active_validators": sum(1 for v in members if v.uptime(now) > 0.95),
                "ai_computations_handled": len(comps),
                "average_consensus_time": f"{statistics.mean(times):.1f}" if times else "0.0",
                "cluster_synergy_score": round(statistics.mean(v.score for v in members), 1),
                "ai_success_rate": round(len(ok) / len(finished), 4) if finished else 0.0,
                "pqc_security_level": "Basic", "cross_chain_transfers": 0,
                "security_incidents": sum(v.disagreed for v in members),
                "validators": [to_syn(v.address) for v in members]}

    return await _call(read)


# -- computations --
@method("synergy_initiateDistributedAI")
async def synergy_initiate_distributed_ai(node, model_id: Text, input_hex: Text, max_tokens: Integer = None) -> dict:
    """Param 3 (optional, ours): max_tokens for the text model (default `[node] ai_max_new_tokens`, at most 256)."""
    data = _hex(input_hex, "param 2 (input)")
    from ai.scheduler import AIError
    from ai.scheduler.core import MAX_NEW_TOKENS

    if max_tokens is not None and not 1 <= max_tokens <= MAX_NEW_TOKENS:
        raise RpcError(INVALID_PARAMS, f"synergy_initiateDistributedAI param 3 (max_tokens): expected 1..{MAX_NEW_TOKENS}, "
                                       f"got {max_tokens}")
    service = await _ready_ai(node)
    try:
        service.scheduler.max_tokens_for(model_id, max_tokens)
    except AIError as exc:
        raise RpcError(INVALID_PARAMS, f"synergy_initiateDistributedAI param 3 (max_tokens): {exc}") from None
    comp = await _call(service.scheduler.initiate, model_id, data, None, None, max_tokens, service=service)
    return {"success": True, "computation_id": comp.id, "message": "Distributed AI computation initiated"}


@method("synergy_getDistributedAIStatus")
async def synergy_get_distributed_ai_status(node, computation_id: Text) -> dict:
    c = await _call(_ai(node).scheduler.get, computation_id)
    out = {"status": c.status, "computation_id": c.id, "model_id": c.model_id, "rounds_completed": c.rounds_done}
    if c.status == "Failed":
        out["reason"] = f"Distributed AI computation failed: {c.reason}"
    return out


@method("synergy_getDistributedAIResult")
async def synergy_get_distributed_ai_result(node, computation_id: Text) -> dict:
    c = await _call(_ai(node).scheduler.get, computation_id)
    if c.status != "Completed":
        out = {"success": False, "computation_id": c.id, "status": c.status}
        if c.status == "Failed":
            out["error"] = f"Distributed AI computation failed: {c.reason}"
        return out
    return {"success": True, "result": c.result.hex(), "computation_id": c.id, "cached": c.cached}


@method("synergy_verifyAIResult")
async def synergy_verify_ai_result(node, computation_id: Text) -> dict:
    from ai.verify import verify_computation

    service = _ai(node)
    c = await _call(service.scheduler.get, computation_id)
    return await _call(verify_computation, c, node.chain.config.chain_id, service.scheduler.hooks.read_storage)


@method("synergy_getAIDistributedStats")
async def synergy_get_ai_distributed_stats(node) -> dict:
    s = _ai(node).scheduler
    c = s.counters
    finished = c["completed"] + c["failed"]
    avg = c["total_time"] / max(1, c["completed"] - c.get("cached", 0))
    return {"total_computations": str(c["computations"]), "completed_computations": str(c["completed"]),
            "failed_computations": str(c["failed"]),
            "success_rate": f"{c['completed'] / finished:.2f}" if finished else "0.00",
            "average_computation_time": f"{avg:.1f}", "total_validator_participation": str(c["participations"]),
            "total_ai_rewards_distributed": str(c["rewards"])}


@method("synergy_listAIModels")
async def synergy_list_ai_models(node) -> list:
    from ai.models.catalog import MODELS

    service = _ai(node)
    return [{**MODELS[mid].to_dict(), "manifest_root": m.root if m is not None else None}
            for mid, m in service.scheduler.manifests.items()]
