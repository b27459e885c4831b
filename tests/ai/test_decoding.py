"""Propose-and-verify decoding: the proposal is `generate`'s answer, verifiers accept it and catch lies."""
import json
import subprocess
import sys

import pytest
import torch

from models.decoding import (LOGIT_EPS, GreedyRule, Limits, StageProposer, chunk_bounds, propose,
                                verify_chunk)
from models.pipeline import StageCache

PROMPT = b"Hello, DI World"
TOKENS = 12
CHUNK = 5


@pytest.fixture(scope="module")
def transcript(greedy_transcript):
    return greedy_transcript(PROMPT, TOKENS)


def verify_all(runners, ids, tokens, hidden, chunk=CHUNK):
    """Every chunk, every stage, each with its own cache: the verdicts in order."""
    caches = [StageCache() for _ in runners]
    verdicts = []
    seq = torch.tensor([ids + tokens], dtype=torch.int64)
    for c in range((len(tokens) + chunk - 1) // chunk):
        _, end, start, stop = chunk_bounds(len(ids), c, len(tokens), chunk)
        for k, runner in enumerate(runners):
            x = seq[:, start:stop] if k == 0 else hidden[k - 1][:, start:stop]
            proposal = torch.tensor(tokens[:end]) if runner.module.is_last else hidden[k][:, start:stop]
            verdicts.append(verify_chunk(runner, caches[k], x, start, proposal, GreedyRule(), len(ids)))
    return verdicts


def test_proposal_is_the_one_process_greedy_answer(models_dir, transcript, codec):
    from models import generate_whole

    ids, t = transcript
    assert codec.decode(t["tokens"]) == generate_whole(PROMPT, TOKENS, models_dir)
    assert [h.shape[1] for h in t["hidden"]] == [len(ids) + TOKENS - 1] * 2


def test_transformers_generate_with_kv_cache_gives_the_same_tokens(models_dir, transcript):
    from transformers import LlamaForCausalLM

    from models import ensure_smollm2

    ids, t = transcript
    model = LlamaForCausalLM.from_pretrained(str(ensure_smollm2(models_dir)), dtype=torch.float32,
                                             local_files_only=True).eval()
    out = model.generate(torch.tensor([ids]), max_new_tokens=TOKENS, do_sample=False)
    assert out[0, len(ids):].tolist() == t["tokens"][: out.shape[1] - len(ids)]


def test_honest_proposal_passes_every_chunk_of_every_stage(runners, transcript):
    ids, t = transcript
    assert verify_all(runners, ids, t["tokens"], t["hidden"]) == [(True, "")] * (3 * 3)


def test_a_wrong_token_or_hidden_state_is_caught(runners, transcript):
    ids, t = transcript
    tokens = list(t["tokens"])
    tokens[7] = (tokens[7] + 1) % 49152
    verdicts = verify_all(runners, ids, tokens, t["hidden"])
    assert not verdicts[5][0] and "token 7" in verdicts[5][1]  # chunk 1, last stage
    hidden = [h.clone() for h in t["hidden"]]
    hidden[0][0, len(ids) + 6, 3] += 0.05 * float(hidden[0][0, len(ids) + 6].pow(2).mean().sqrt())
    verdicts = verify_all(runners, ids, t["tokens"], hidden)
    assert not verdicts[3][0] and "off" in verdicts[3][1]  # chunk 1 (the prompt is chunk 0), stage 0


def test_near_tie_rule():
    rule = GreedyRule()
    logits = torch.tensor([1.0, 3.0, 3.0 - LOGIT_EPS / 2, 3.0 - 2 * LOGIT_EPS])
    assert rule.select(logits, 0) == 1
    assert rule.accepts(logits, 1, 0) and rule.accepts(logits, 2, 0)
    assert not rule.accepts(logits, 3, 0) and not rule.accepts(logits, 0, 0) and not rule.accepts(logits, 9, 0)


def test_limits():
    lim = Limits(4, (2,))
    assert lim.done([5, 2]) and lim.done([1, 1, 1, 1]) and not lim.done([1, 1])
    assert lim.valid([1, 2]) and not lim.valid([2, 1])


VERIFY_ELSEWHERE = r"""
import json, sys, torch
torch.set_num_threads(int(sys.argv[1]))
from models import load_model
from tests.ai.test_decoding import verify_all
d = json.loads(sys.stdin.read())
runners = [load_model("distributed_ai_model", d["dir"], stage=i) for i in range(3)]
hidden = [torch.tensor(h) for h in d["hidden"]]
print(json.dumps(verify_all(runners, d["ids"], d["tokens"], hidden, d["chunk"])))
"""


def verdicts_elsewhere(models_dir, ids, t, threads):
    """`verify_all` of transcript `t` in a fresh process on `threads` torch threads, chunks of 4 tokens."""
    payload = json.dumps({"dir": str(models_dir), "ids": ids, "tokens": t["tokens"], "chunk": 4,
                          "hidden": [h.tolist() for h in t["hidden"]]})
    out = subprocess.run([sys.executable, "-c", VERIFY_ELSEWHERE, str(threads)], input=payload, text=True,
                         capture_output=True, timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("threads", [1, 2])
def test_the_rule_holds_across_processes_and_thread_counts(models_dir, transcript, threads):
    """Proposed here (this process, its thread count), verified in a fresh process with 1 or 2 threads."""
    ids, t = transcript
    assert verdicts_elsewhere(models_dir, ids, t, threads) == [[True, ""]] * (3 * 3)


@pytest.mark.parametrize("propose_threads,verify_threads", [(2, 1), (1, 2)])
def test_a_proposal_decoded_on_either_thread_count_verifies_on_the_other(runners, codec, models_dir, transcript,
                                                                           propose_threads, verify_threads):
    """A validator's proposer picks its thread's torch count (ai/validator/priority.py): decoded on a thread set
    to one count, the proposal is the same greedy answer and passes a fresh process's check at the other."""
    import concurrent.futures

    from ai.validator.priority import use_torch_threads

    ids, _ = transcript

    def decode():
        use_torch_threads(propose_threads)
        assert torch.get_num_threads() == propose_threads
        return propose(StageProposer(runners), ids, Limits(TOKENS, tuple(codec.stop_ids)))

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        t = pool.submit(decode).result(timeout=300)
    assert t["tokens"] == transcript[1]["tokens"]
    assert verdicts_elsewhere(models_dir, ids, t, verify_threads) == [[True, ""]] * (3 * 3)
