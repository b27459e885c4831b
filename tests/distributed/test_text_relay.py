"""A text proposer's relays, driven by hand: every malformed or forged relay gets a clear refusal."""
import time

import pytest
import torch

from ai import protocol
from models.tensorio import encode_tensor
from pqc import bundle
from pqc.keys import KeySet
from tests.distributed.test_protocol import HandValidator, error
from tests.nodeproc import start_node


@pytest.fixture(scope="module")
def proposal(tmp_path_factory):
    from models import get_manifest

    work = tmp_path_factory.mktemp("relay")
    (work / "cfg.toml").write_text("[node]\nai_task_timeout = 60\nai_cache = false\nai_join_delay = 1\n")
    node = start_node(work, "--config", str(work / "cfg.toml"))
    try:
        deadline = time.monotonic() + 600
        while "error" in node.rpc("synergy_listAIModels") and time.monotonic() < deadline:
            time.sleep(0.5)
        chain_id = int(node.rpc("eth_chainId")["result"], 16)
        v = HandValidator(node, chain_id)
        node.rpc("hardhat_setBalance", "0x" + v.address.hex(), hex(10**19))
        assert "result" in v.register()
        manifest = get_manifest("distributed_ai_model")
        shards = [{"model_id": "distributed_ai_model", "stage": i, "sha256": manifest.stage_shard(i).sha256}
                  for i in range(3)]
        assert "result" in v.attest(shards)
        for _ in range(3):
            assert "result" in v.heartbeat()
            time.sleep(1.05)
        cid = node.rpc("synergy_initiateDistributedAI", "distributed_ai_model", b"Hi".hex(), 2)["result"]["computation_id"]
        tasks = [t for t in v.call("synergy_getValidatorAITasks", v.syn)["result"] if t.get("kind") == "propose"]
        assert tasks and tasks[0]["computation_id"] == cid and tasks[0]["first_stage"] == 0
        yield node, v, cid, tasks[0]
    finally:
        node.stop()


def relay(v, cid, task_id, stage, start, tensor, keys=None, raw=None):
    data = raw if raw is not None else encode_tensor(tensor)
    sig = v.sign(protocol.relay_message(v.chain_id, cid, stage, start, data), keys)
    return v.call("synergy_relayAIState", task_id, v.syn, stage, start, "0x" + data.hex(), sig)


def test_bad_relays_are_refused_with_the_reason(proposal):
    node, v, cid, task = proposal
    tid, hidden = task["task_id"], torch.zeros(1, 2, 576)
    assert "unknown proposal task" in error(relay(v, cid, "nope", 0, 0, hidden))
    forged = KeySet.generate(protocol.LEVEL, with_kem=False)
    assert "relay signature does not verify" in error(relay(v, cid, tid, 0, 0, hidden, keys=forged))
    assert "starts at position 5, the node has 0" in error(relay(v, cid, tid, 0, 5, hidden))
    assert "AIVT float32 [1, n, H]" in error(relay(v, cid, tid, 0, 0, torch.zeros(1, 2, dtype=torch.int64)))
    assert "NaN or inf" in error(relay(v, cid, tid, 0, 0, torch.full((1, 2, 576), float("nan"))))
    assert "not an AIVT tensor" in error(relay(v, cid, tid, 0, 0, None, raw=b"\x12\x34"))
    stop = task["limits"]["stop_ids"][0]
    msg = error(relay(v, cid, tid, 2, 0, torch.tensor([stop, 5], dtype=torch.int64)))
    assert "after the generation ended" in msg
    reply = relay(v, cid, tid, 0, 0, torch.zeros(1, 1, 576))
    assert reply.get("result") == {"success": True}, reply
    reply = v.call("synergy_relayAIState", tid, v.syn, "x", 0, "0x00", "0x00")
    assert reply["error"]["code"] == -32602, reply
    reply = relay(v, cid, tid, 7, 0, hidden)
    assert "stage 7 is not in this proposer's stages 0..2" in error(reply) and reply["error"]["code"] != -32603


def test_verify_tasks_say_when_the_proposal_is_complete(proposal):
    """Checks sent before the last token carry proposal_done false (a verifier may yield the CPU to the
    decoding), those sent after it true (the answer now waits on them: ai/validator/priority.py)."""
    node, v, _, _ = proposal
    cid = node.rpc("synergy_initiateDistributedAI", "distributed_ai_model", b"Yo".hex(), 9)["result"]["computation_id"]
    task = next(t for t in v.call("synergy_getValidatorAITasks", v.syn)["result"]
                if t.get("kind") == "propose" and t["computation_id"] == cid)
    tid, p = task["task_id"], task["prompt_len"]
    stop_ids = set(task["limits"]["stop_ids"])
    tokens = [t for t in range(100, 200) if t not in stop_ids][:9]

    def verify_tasks():
        return [t for t in v.call("synergy_getValidatorAITasks", v.syn)["result"]
                if t.get("kind") == "verify" and t["computation_id"] == cid]

    # chunk 0: the prompt and 8 tokens (positions 0 .. p + 6 give them), every stage
    for stage in (0, 1):
        assert relay(v, cid, tid, stage, 0, torch.zeros(1, p + 7, 576)).get("result") == {"success": True}
    assert relay(v, cid, tid, 2, 0, torch.tensor(tokens[:8])).get("result") == {"success": True}
    first = verify_tasks()
    assert sorted(t["stage"] for t in first) == [0, 1, 2] and all(t["chunk"] == 0 for t in first)
    assert all(t["proposal_done"] is False for t in first), first
    # the 9th and last token: chunk 1's checks are the critical path
    for stage in (0, 1):
        assert relay(v, cid, tid, stage, p + 7, torch.zeros(1, 1, 576)).get("result") == {"success": True}
    assert relay(v, cid, tid, 2, 8, torch.tensor(tokens[8:])).get("result") == {"success": True}
    last = [t for t in verify_tasks() if t["chunk"] == 1]
    assert sorted(t["stage"] for t in last) == [0, 1, 2]
    assert all(t["proposal_done"] is True for t in last), last
