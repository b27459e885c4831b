"""The AI ports (ai/ports.py) and the one vote builder (ai.protocol.task_vote).

The in-process cluster (aivm_pytest.cluster) serves a multi-stage model through the real scheduler: every
stage is a round its validators sign with the builder's vote, and the scheduler rebuilds that vote from the
submitted output to check the signature. The votes are also rebuilt by hand here, field by field, so a
mistake in the builder cannot hide behind its callers agreeing with it.
"""
from __future__ import annotations

import inspect

import pytest
import torch
from eth_hash.auto import keccak

from models import load_model, prompt_codec
from models.tensorio import encode_tensor
from ai.ports import AIError, AnswerBook, ChainHooks, InferenceService
from ai.protocol import ACCEPT, REJECT, ZERO32, TaskRef, TaskVote, task_vote
from ai.scheduler import Scheduler
from ai.scheduler import AIError as SchedulerAIError
from ai.commitments import commitment, verdict_commitment
from ai.service import AIService, NodeChainHooks
from aivm_pytest.cluster import LocalCluster, _Hooks
from precompiles.registry import Services
from vm.chain import Chain

PROPOSAL = ("Transfer the entire treasury to a new wallet controlled by a single anonymous signer, "
            "effective immediately and without a vote").encode()


def _params(fn) -> list:
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


@pytest.mark.parametrize("port, implementations", [
    (ChainHooks, [NodeChainHooks, _Hooks]),
    (InferenceService, [AIService, LocalCluster]),
    (AnswerBook, [Scheduler]),
])
def test_implementations_have_the_ports_methods(port, implementations):
    methods = [n for n, v in vars(port).items() if inspect.isfunction(v) and not n.startswith("_")]
    assert methods
    for impl in implementations:
        for name in methods:
            assert _params(getattr(impl, name)) == _params(getattr(port, name)), f"{impl.__name__}.{name}"


def test_one_error_type_for_both_sides():
    assert SchedulerAIError is AIError  # the precompiles catch what the scheduler and the service raise


def ref(model_id: str, stage: int, step: int = 0) -> TaskRef:
    return TaskRef(31337, "c1", model_id, stage, step, keccak(b"request"))


def test_vote_of_a_single_stage_model_carries_the_result_hash():
    image = bytes(range(16)) * 4
    vote = task_vote(ref("digits_cnn", 0), image, b"\x03")
    assert vote == TaskVote(31337, "c1", "digits_cnn", 0, 0, keccak(b"request"), keccak(image),
                            commitment("digits_cnn", 0, b"\x03"), keccak(b"\x03"))


def test_vote_of_an_inner_stage_has_no_result_hash():
    out0 = load_model("risk-model", stage=0).infer(PROPOSAL)
    inner = task_vote(ref("risk-model", 0), PROPOSAL, out0)
    assert inner.result_hash == ZERO32 and inner.commitment == commitment("risk-model", 0, out0)
    out1 = load_model("risk-model", stage=1).infer(out0)
    last = task_vote(ref("risk-model", 1), out0, out1)
    assert last.result_hash == keccak(out1) and last.input_hash == keccak(out0)


def test_task_ref_from_a_handed_out_task():
    task = {"computation_id": "c1", "model_id": "risk-model", "stage": 1, "step": 0,
            "request_hash": "0x" + keccak(b"request").hex(), "input": "00"}
    assert TaskRef.from_task(31337, task) == ref("risk-model", 1)


def test_text_verdict_votes():
    codec = prompt_codec()
    ids = codec.encode("The answer is 42.")
    proposal = encode_tensor(torch.tensor(list(ids), dtype=torch.int64))
    last = 2  # distributed_ai_model's last stage: the vote names the answer text
    accept = task_vote(ref("distributed_ai_model", last), b"stage input", ACCEPT, proposal=proposal, codec=codec)
    assert accept.result_hash == keccak(codec.decode(list(ids)).encode("utf-8"))
    assert accept.commitment == verdict_commitment("distributed_ai_model", last, proposal, True)
    reject = task_vote(ref("distributed_ai_model", last), b"stage input", REJECT, proposal=proposal, codec=codec)
    assert reject.commitment == verdict_commitment("distributed_ai_model", last, proposal, False)
    assert reject.message_hash != accept.message_hash
    with pytest.raises(ValueError, match="one byte"):
        task_vote(ref("distributed_ai_model", last), b"stage input", b"\x02", proposal=proposal, codec=codec)
    with pytest.raises(TypeError, match="tokenizer"):
        task_vote(ref("distributed_ai_model", last), b"stage input", ACCEPT, proposal=proposal)


def test_inner_stage_verdict_votes_need_no_tokenizer():
    hidden = encode_tensor(torch.randn(1, 3, 576))  # stage 0's proposed hidden states for 3 positions
    vote = task_vote(ref("distributed_ai_model", 0), b"stage input", ACCEPT, proposal=hidden)
    assert vote.result_hash == ZERO32
    assert vote.commitment == verdict_commitment("distributed_ai_model", 0, hidden, True)


@pytest.fixture(scope="module")
def risk_cluster():
    chain = Chain.ephemeral(services=Services())
    cluster = LocalCluster(chain, n=3, models=["risk-model"], task_timeout=15)
    yield cluster
    cluster.stop()


def test_in_process_cluster_serves_a_two_stage_model(risk_cluster):
    assert isinstance(risk_cluster, InferenceService) and isinstance(risk_cluster.hooks, ChainHooks)
    handed: list = []
    deliver = risk_cluster.scheduler.notify
    risk_cluster.scheduler.notify = lambda address, task: (handed.append(task), deliver(address, task))
    try:
        result, certificate, cid = risk_cluster.infer("risk-model", PROPOSAL, "0x" + "11" * 20, 60)
    finally:
        risk_cluster.scheduler.notify = deliver
    assert result == load_model("risk-model").infer(PROPOSAL)  # the whole model, run here
    assert sorted({t["stage"] for t in handed}) == [0, 1]  # one round per stage, each to the validators
    stage0 = [t for t in handed if t["stage"] == 0]
    assert bytes.fromhex(stage0[0]["input"]) == PROPOSAL
    stage1_input = bytes.fromhex(next(t for t in handed if t["stage"] == 1)["input"])
    assert stage1_input == load_model("risk-model", stage=0).infer(PROPOSAL)  # stage 1 got the agreed output
    vote = TaskVote.from_json(certificate["vote"])
    assert vote == TaskVote(31337, cid, "risk-model", 1, 0, keccak(PROPOSAL), keccak(stage1_input),
                            commitment("risk-model", 1, result), keccak(result))
    assert risk_cluster.scheduler.get(cid).status == "Completed"


def test_a_lying_validator_is_outvoted_on_both_stages(risk_cluster):
    risk_cluster.make_liar(0)
    try:
        text = PROPOSAL + b" (second reading)"
        result, _, _ = risk_cluster.infer("risk-model", text, "0x" + "11" * 20, 60)
        assert result == load_model("risk-model").infer(text)
    finally:
        risk_cluster.heal(0)


def test_a_validator_signs_votes_without_loading_the_scheduler_or_py_evm():
    """The vote builder lives with the protocol: a validator process (its client, a vote it signs) never
    imports the scheduler or py-evm (that import once cost a validator's first task ≈0.45 s)."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from eth_hash.auto import keccak\n"
        "import ai.validator.client\n"
        "from ai.protocol import TaskRef, task_vote\n"
        "task_vote(TaskRef(31337, 'c1', 'digits_cnn', 0, 0, keccak(b'r')), bytes(64), b'\\x03')\n"
        "print(sorted(m for m in ('eth', 'ai.scheduler', 'vm.chain') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
