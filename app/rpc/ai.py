"""The guide's distributed-AI methods (and the validator side of the protocol).

Where a method needs more than the guide shows (a signature), the extra
parameter comes last, as documented in docs/distributed-ai.md. Scheduler calls
run on the AI service's own threads: they verify post-quantum signatures, and
the event loop must keep serving meanwhile.

Every value a validator sends is checked for shape here, before the scheduler
sees it: a malformed one (negative or oversized stake, a timestamp that is no
unix time, a shard whose model_id is not a string, a signature that is no
signature bundle, ...) is -32602 naming the parameter and field. What is
well-formed but refused (a bad signature, an unknown model, a late result) is
-32000 with the scheduler's reason (AIError, mapped with every other refusal in app/rpc/errors.py).
"""
import asyncio
import functools
import time

from vm import ai_start, defaults
from vm.addresses import parse_any_address, to_syn
from vm.api import NodeApi
from vm.codec import InvalidValue, parse_data
from vm.errors import invalid
from app.rpc.dispatch import method as _register
from app.rpc.params import Integer, Object, Param, Text

def method(name: str):
    """`@method`, for this module's methods: each one needs the AI layer, which a `--validators 0` node
    starts on first use (vm.ai_start): the first such request starts it and waits for it (bounded)."""
    def register(fn):
        @functools.wraps(fn)
        async def with_ai(node, *args, **kwargs):
            await ai_start.ensure(node, name)
            return await fn(node, *args, **kwargs)

        return _register(name)(with_ai)

    return register


MAX_UINT256 = 2**256 - 1
MAX_UNIX_TIME = 2**40  # seconds: year 36812; anything larger is not a clock reading
MAX_TEXT = 4096  # characters in an attestation's free-text fields


class Stake(Param):
    """Wei to stake: a positive integer that fits uint256 (the registration proof signs it as one)."""

    @staticmethod
    def parse(value) -> int:
        wei = Integer.parse(value)
        if wei <= 0:
            raise InvalidValue(f"stake must be a positive amount of wei, got {wei}")
        if wei > MAX_UINT256:
            raise InvalidValue(f"stake of {len(str(wei))} digits does not fit uint256")
        return wei


class UnixTime(Param):
    """A unix time in whole seconds, 0 < t < 2^40."""

    @staticmethod
    def parse(value) -> int:
        t = Integer.parse(value)
        if not 0 < t < MAX_UNIX_TIME:
            raise InvalidValue(f"timestamp must be unix seconds between 1 and 2^40, got {str(t)[:40]}")
        return t


def _int_field(att: dict, key: str, low: int, high: int, where: str) -> None:
    x = att.get(key)
    if isinstance(x, bool) or not isinstance(x, int) or not low <= x <= high:
        raise InvalidValue(f"{where}{key} must be an integer from {low} to {high}, got {str(x)[:40]}")


def _text_field(att: dict, key: str, where: str, optional: bool = False) -> None:
    x = att.get(key)
    if optional and x is None:
        return
    if not isinstance(x, str) or len(x) > MAX_TEXT:
        raise InvalidValue(f"{where}{key} must be a string of at most {MAX_TEXT} characters, "
                           f"got {type(x).__name__}")


class Attestation(Param):
    """The attestation object's shape (what it claims is the scheduler's to judge)."""

    @staticmethod
    def parse(value) -> dict:
        att = Object.parse(value)
        _text_field(att, "software_version", "")
        _int_field(att, "cores", 1, 1 << 20, "")
        _int_field(att, "memory_mb", 0, 1 << 40, "")
        _int_field(att, "timestamp", 1, MAX_UNIX_TIME, "")
        _text_field(att, "gpu", "", optional=True)
        shards = att.get("shards")
        if not isinstance(shards, list) or len(shards) > 256:
            raise InvalidValue(f"shards must be a list of at most 256 objects, got {type(shards).__name__}")
        for i, shard in enumerate(shards):
            where = f"shards[{i}]."
            if not isinstance(shard, dict):
                raise InvalidValue(f"shards[{i}] must be an object, got {type(shard).__name__}")
            _text_field(shard, "model_id", where)
            _int_field(shard, "stage", 0, 65_535, where)
            _text_field(shard, "sha256", where, optional=True)
            _text_field(shard, "endpoint_model", where, optional=True)
        return att


def _wei(amount: int):
    """A wei amount as a JSON number while it fits 64 bits, else as a decimal string (JSON has no big ints)."""
    return amount if amount < 2**64 else str(amount)


def _signature(value: str, where: str) -> bytes:
    """A signature bundle's bytes (structure checked; whether it verifies is the scheduler's to say)."""
    return _signature_bundle(value, where)[0]


def _signature_bundle(value: str, where: str):
    """(bytes, decoded SignatureBundle): the structure checked once, the decoded form handed on to the check."""
    from pqc import bundle
    from pqc.errors import FormatError

    raw = _hex(value, where)
    try:
        return raw, bundle.SignatureBundle.decode(raw)
    except FormatError as exc:
        raise invalid(f"{where}: not a signature bundle: {exc}") from None


def _public_keys(value: str, where: str) -> bytes:
    from pqc.errors import FormatError
    from pqc.keys import PublicKeys

    raw = _hex(value, where)
    try:
        PublicKeys.decode(raw)
    except FormatError as exc:
        raise invalid(f"{where}: not a key bundle: {exc}") from None
    return raw


def _ai(node):
    """The AI service, or UNAVAILABLE saying why not (`node` is a Node or its API); an idle AI layer starts."""
    api = NodeApi.of(node)
    if api.ai is None:
        ai_start.trigger(api, "an AI request")
    return api.ai_service()


async def _ready_ai(node, timeout: float = None):
    """The AI service once usable: a request that arrives while models load or validators join waits (bounded)."""
    node = NodeApi.of(node)
    deadline = time.monotonic() + (defaults.AI_READY_WAIT if timeout is None else timeout)
    ai_start.trigger(node, "an AI request")
    while node.ai is None and node.ai_status and time.monotonic() < deadline:
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
        return _parsed_address(value)
    except ValueError as exc:
        raise invalid(f"{where}: {exc}") from None


@functools.lru_cache(maxsize=4096)
def _parsed_address(value: str) -> bytes:
    """parse_any_address, remembered: validators name themselves in every result and heartbeat, and a sYn
    address costs a base32 decode and a keccak checksum (a refusal raises, and is not remembered)."""
    return parse_any_address(value)


def _hex(value: str, where: str) -> bytes:
    try:
        return parse_data(value if value.startswith("0x") else "0x" + value, where)
    except InvalidValue as exc:
        raise invalid(f"{where}: {exc}") from None


async def _call(fn, *args, service=None):
    """fn on the AI service's threads (or a worker thread); its AIError is -32000 (app/rpc/errors.py)."""
    if service is not None:
        return await service.call(fn, *args)
    return await asyncio.to_thread(fn, *args)


# -- validators --
@method("synergy_registerValidator")
async def synergy_register_validator(node, public_keys: Text, stake: Stake, proof: Text) -> dict:
    service = _ai(node)
    v = await _call(service.scheduler.register, _public_keys(public_keys, "param 1 (public_keys)"), stake,
                    _signature(proof, "param 3 (proof)"), service=service)
    return {"success": True, "validator_address": to_syn(v.address), "address": "0x" + v.address.hex(),
            "stake": _wei(v.stake)}


@method("synergy_attestValidator")
async def synergy_attest_validator(node, address: Text, attestation: Attestation, signature: Text) -> dict:
    service = _ai(node)
    v = await _call(service.scheduler.attest, _address(address, "param 1 (address)"), attestation,
                    _signature(signature, "param 3 (signature)"), service=service)
    return {"success": True, "validator_address": to_syn(v.address), "holds": v.holds}


@method("synergy_validatorHeartbeat")
async def synergy_validator_heartbeat(node, address: Text, timestamp: UnixTime, signature: Text) -> dict:
    service = _ai(node)
    v = await _call(service.scheduler.heartbeat, _address(address, "param 1 (address)"), timestamp,
                    _signature(signature, "param 3 (signature)"), service=service)
    return {"success": True, "uptime": round(v.uptime(), 4)}


@method("synergy_getValidatorAttestation")
async def synergy_get_validator_attestation(node, address: Text) -> dict:
    s = _ai(node).scheduler
    v = await _call(s.validator, _address(address, "param 1 (address)"))
    return {"validator_address": to_syn(v.address), "attestation": v.attestation, "valid": v.attestation_valid,
            "reason": "" if v.attestation_valid else v.attestation_error, "shards_held": v.holds,
            "pqc_security_level": "Basic", "stake": _wei(v.stake), "public_key_hash": "0x" + v.keys.key_hash.hex(),
            **(await _call(s.standing, v.address))}


@method("synergy_getValidatorAITasks")
async def synergy_get_validator_ai_tasks(node, address: Text) -> list:
    return await _call(_ai(node).scheduler.tasks_for, _address(address, "param 1 (address)"))


@method("synergy_submitAIPartialResult")
async def synergy_submit_ai_partial_result(node, task_id: Text, address: Text, result: Text, signature: Text = None) -> dict:
    if signature is None:
        raise invalid("synergy_submitAIPartialResult: param 4 (signature) is required: "
                      "results must be signed by the validator's registered key")
    service = _ai(node)
    s = service.scheduler
    raw, decoded = _signature_bundle(signature, "param 4 (signature)")
    return await service.call_light(s.light_submit(task_id), s.submit, task_id, _address(address, "param 2 (address)"),
                                    _hex(result, "param 3 (result)"), raw, decoded)


@method("synergy_relayAIState")
async def synergy_relay_ai_state(node, task_id: Text, address: Text, stage: Integer, start: Integer, data: Text,
                                 signature: Text) -> dict:
    """A text proposer's signed stage output (hidden states of new positions, or new token ids).

    Run on the event loop: it is on every token's critical path, takes the scheduler lock only
    briefly, and nothing that holds that lock waits for the loop (notifications are queued)."""
    return _ai(node).scheduler.relay(task_id, _address(address, "param 2"), stage, start,
                                     _hex(data, "param 5 (data)"), _hex(signature, "param 6 (signature)"))


@method("synergy_getValidatorAIRewards")
async def synergy_get_validator_ai_rewards(node, address: Text) -> dict:
    s = _ai(node).scheduler
    v = await _call(s.validator, _address(address, "param 1 (address)"))
    return {"validator_address": to_syn(v.address), "total_rewards": _wei(v.rewards), "slashed": _wei(v.slashed),
            "stake": _wei(v.stake), "slashed_wrong_results": _wei(v.slashed_wrong),
            "slashed_unanswered": _wei(v.slashed_unanswered), "slashed_to": "burned",
            "wrong_results": v.disagreed, "timeouts": v.timeouts, "unanswered_in_row": v.missed_in_row,
            **(await _call(s.standing, v.address))}


@method("synergy_getValidatorSet")
async def synergy_get_validator_set(node, model_id: Text, stage: Integer = 0) -> dict:
    """The stage's active set now: epoch, members and stakes, the stake that decides (ours)."""
    s = _ai(node).scheduler
    if model_id not in s.manifests:
        raise invalid(f"synergy_getValidatorSet param 1 (model_id): unknown model {model_id[:80]!r}")
    from models.catalog import MODELS

    if not 0 <= stage < MODELS[model_id].num_stages:
        raise invalid(f"synergy_getValidatorSet param 2 (stage): {model_id} has stages "
                      f"0..{MODELS[model_id].num_stages - 1}, got {str(stage)[:40]}")
    return (await _call(s.stage_set, model_id, stage)).to_json()


OBSERVE_WAIT = 5.0  # seconds a read of the scheduler's state waits for its lock (then: busy, retry)


@method("synergy_listValidators")
async def synergy_list_validators(node) -> list:
    """Every registered validator (the guide has no other way to learn their addresses), best score first."""
    s = _ai(node).scheduler

    def read(s):  # under the scheduler's lock (observe): one consistent view of every validator
        now = time.time()
        out = []
        for v in sorted(s.validators.values(), key=lambda v: (-v.score, v.address)):
            why = v.ineligibility_any(now)
            out.append({"validator_address": to_syn(v.address), "address": "0x" + v.address.hex(),
                        "stake": _wei(v.stake), "synergy_score": round(v.score, 2), "uptime": round(v.uptime(now), 4),
                        "attestation_valid": v.attestation_valid, "shards_held": v.holds,
                        "eligible": why == "", "reason": why})
        return out

    return await _call(s.observe, read, OBSERVE_WAIT)


@method("synergy_getValidatorAIStats")
async def synergy_get_validator_ai_stats(node, address: Text) -> dict:
    v = await _call(_ai(node).scheduler.validator, _address(address, "param 1 (address)"))
    done = v.tasks_completed + v.tasks_failed
    avg = round(v.response_ms_total / v.responses) if v.responses else 0
    return {"validator_address": to_syn(v.address), "ai_tasks_completed": v.tasks_completed,
            "ai_tasks_failed": v.tasks_failed, "ai_rewards_earned": _wei(v.rewards),
            "average_response_time_ms": avg, "average_response_time": avg,
            "success_rate": round(v.tasks_completed / done, 4) if done else 0.0,
            "synergy_score": round(v.score, 2),
            "computation_consensus_rate": round(v.agreed / (v.agreed + v.disagreed), 4) if v.agreed + v.disagreed else 0.0,
            "uptime": round(v.uptime(), 4)}


@method("synergy_getClusterAIStats")
async def synergy_get_cluster_ai_stats(node, cluster_id: Integer) -> dict:
    from ai.statistics import cluster_stats

    s = _ai(node).scheduler
    return await _call(lambda: cluster_stats(s, cluster_id, _cross_chain_transfers(node)))


def _cross_chain_transfers(node) -> int:
    from app.rpc.bridge import cross_chain_transfers

    return cross_chain_transfers(node)


# -- computations --
MAX_WAIT = 60.0  # seconds a status call may wait for the computation to finish


class WaitSeconds(Param):
    """Seconds to wait, 0..MAX_WAIT (an integer or a fraction)."""

    @staticmethod
    def parse(value) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_WAIT:
            raise InvalidValue(f"expected seconds from 0 to {MAX_WAIT:g}, got {str(value)[:40]}")
        return float(value)


@method("synergy_initiateDistributedAI")
async def synergy_initiate_distributed_ai(node, model_id: Text, input_hex: Text, max_tokens: Integer = None,
                                          wait: WaitSeconds = None) -> dict:
    """Param 3 (optional, ours): max_tokens for the text model (default `[node] ai_max_new_tokens`, at most 256).
    Param 4 (optional, ours): seconds (0..60) to wait for the end before answering (woken by it, as
    `getDistributedAIStatus`'s wait): the reply then also carries the status fields, and `result` (hex) once
    completed, so a client needs one request instead of initiate + status."""
    data = _hex(input_hex, "param 2 (input)")
    from ai.ports import AIError  # light: the AI layer (torch) may not be imported yet, and never on the event loop

    cap = defaults.AI_MAX_ANSWER_TOKENS
    if max_tokens is not None and not 1 <= max_tokens <= cap:
        raise invalid(f"synergy_initiateDistributedAI param 3 (max_tokens): expected 1..{cap}, "
                      f"got {max_tokens}")
    service = await _ready_ai(node)
    try:
        service.scheduler.max_tokens_for(model_id, max_tokens)
    except AIError as exc:
        raise invalid(f"synergy_initiateDistributedAI param 3 (max_tokens): {exc}") from None
    s = service.scheduler
    comp = await service.call_light(s.light_initiate(model_id), s.initiate, model_id, data, None, None, max_tokens)
    out = {"success": True, "computation_id": comp.id, "message": "Distributed AI computation initiated"}
    if wait is not None:
        from ai.status import ComputationStatus

        c = await service.wait_finished(comp.id, wait)
        out.update(_status(c))
        if c.status == ComputationStatus.COMPLETED:
            out["result"] = c.result.hex()
    return out


def _recent(service, computation_id):
    """A computation of this run, read in place on the loop (its fields are set under the scheduler's lock,
    the status last), or None (then the records are read on a thread)."""
    return service.scheduler.computations.get(computation_id) if isinstance(computation_id, str) else None


@method("synergy_getDistributedAIStatus")
async def synergy_get_distributed_ai_status(node, computation_id: Text, wait: WaitSeconds = None) -> dict:
    """Param 2 (optional, ours): seconds (0..60) to wait for the computation to finish before answering
    (woken by its end, not polled), so a client needs one call instead of a polling loop."""
    service = _ai(node)
    if wait is None:  # one of this run's computations is read in place (no thread hop), older ones from records
        c = _recent(service, computation_id) or await _call(service.scheduler.get, computation_id)
    else:  # an unknown id: AIError, -32000 with its text (app/rpc/errors.py)
        c = await service.wait_finished(computation_id, wait)
    return _status(c)


def _status(c) -> dict:
    """A computation's status fields (getDistributedAIStatus; initiate with a wait)."""
    from ai.status import ComputationStatus

    out = {"status": c.status, "computation_id": c.id, "model_id": c.model_id, "rounds_completed": c.rounds_done}
    if c.text is not None:  # text: tokens agreed so far (a streamer polls them) and payload bytes moved
        out.update(tokens_agreed=len(c.generation.generated), text_so_far=c.generation.text,
                   wire_bytes=c.text.wire_bytes)
    if c.status == ComputationStatus.FAILED:
        out["reason"] = f"Distributed AI computation failed: {c.reason}"
    return out


@method("synergy_getDistributedAIResult")
async def synergy_get_distributed_ai_result(node, computation_id: Text) -> dict:
    from ai.status import ComputationStatus

    service = _ai(node)
    c = _recent(service, computation_id) or await _call(service.scheduler.get, computation_id)
    if c.status != ComputationStatus.COMPLETED:
        out = {"success": False, "computation_id": c.id, "status": c.status}
        if c.status == ComputationStatus.FAILED:
            out["error"] = f"Distributed AI computation failed: {c.reason}"
        return out
    return {"success": True, "result": c.result.hex(), "computation_id": c.id, "cached": c.cached}


@method("synergy_verifyAIResult")
async def synergy_verify_ai_result(node, computation_id: Text) -> dict:
    from ai.verify import verify_computation

    service = _ai(node)
    c = await _call(service.scheduler.get, computation_id)
    return await _call(verify_computation, c, NodeApi.of(node).chain_id(), service.scheduler.hooks.read_storage)


@method("synergy_getAIDistributedStats")
async def synergy_get_ai_distributed_stats(node) -> dict:
    s = _ai(node).scheduler
    c = await _call(s.observe, lambda s: dict(s.counters), OBSERVE_WAIT)
    finished = c["completed"] + c["failed"]
    avg = c["total_time"] / max(1, c["completed"] - c.get("cached", 0))
    return {"total_computations": str(c["computations"]), "completed_computations": str(c["completed"]),
            "failed_computations": str(c["failed"]),
            "success_rate": f"{c['completed'] / finished:.2f}" if finished else "0.00",
            "average_computation_time": f"{avg:.1f}", "total_validator_participation": str(c["participations"]),
            "total_ai_rewards_distributed": str(c["rewards"])}


@method("synergy_listAIModels")
async def synergy_list_ai_models(node) -> list:
    from models.catalog import MODELS

    service = _ai(node)
    return [{**MODELS[mid].to_dict(), "manifest_root": m.root if m is not None else None}
            for mid, m in service.scheduler.manifests.items()]


@_register("synergy_getAIWireStats")  # counters only: an idle AI layer stays idle
async def synergy_get_ai_wire_stats(node) -> dict:
    """Ours: bytes and frames through the node's WebSocket connections since it started (validators' task
    feeds, relays and results; binary frames: ai/wire.py). The bench divides a computation's share by its tokens."""
    from ai import wire

    return dict(wire.STATS)
