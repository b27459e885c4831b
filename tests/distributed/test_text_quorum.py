"""Text through the quorum: proposed with KV caches, verified a chunk at a time, liars caught and slashed."""
from concurrent.futures import ThreadPoolExecutor

from ai.validator import local
from tests.distributed.cluster import start_cluster
from vm.addresses import to_syn

PROMPTS = (b"Hello, DI World", b"What is a blockchain?")
TOKENS = 10


def _references(prompts):
    """One-process greedy answers, computed while the cluster starts."""
    from models import generate_whole

    pool = ThreadPoolExecutor(1)
    return pool, pool.submit(lambda: [generate_whole(p, TOKENS) for p in prompts])


def test_a_lying_proposer_and_a_lying_verifier_are_slashed_and_never_change_the_answer(tmp_path):
    """4 validators holding every stage (quorum 3 of 4); the liar ranks first, so it proposes the first
    answer (a wrong token: rejected, slashed, proposed again by an honest one); in the second it may
    verify (a flipped verdict: outvoted, or a canary accepted: slashed) and is never paid."""
    keys = local.prepare(tmp_path / "keys", 4)
    liar = min(range(4), key=lambda i: keys[i].address)
    pool, expected = _references(PROMPTS)
    c = start_cluster(tmp_path, 4, holds="distributed_ai_model", behaviours={liar: "lie"},
                      max_new_tokens=TOKENS, task_timeout=30)
    try:
        liar_hex = "0x" + c.validators[liar].address.hex()
        slashed = []
        for prompt, want in zip(PROMPTS, expected.result(timeout=600)):
            out = c.compute("distributed_ai_model", prompt, timeout=300)
            assert out["status"] == "Completed", out
            assert bytes.fromhex(out["result"]).decode() == want
            verdict = c.rpc("synergy_verifyAIResult", out["computation_id"])
            assert verdict["valid"] is True and to_syn(c.validators[liar].address) not in verdict["validators"]
            slashed.append(c.rpc("synergy_getValidatorAIRewards", liar_hex)["slashed"])
        assert 0 < slashed[0] <= slashed[1]  # as the proposer; as a verifier when it is picked (ranks last now)
        assert c.rpc("synergy_getValidatorAIRewards", liar_hex)["total_rewards"] == 0
        for i, v in enumerate(c.validators):
            if i != liar:
                r = c.rpc("synergy_getValidatorAIRewards", "0x" + v.address.hex())
                assert r["slashed"] == 0 and r["total_rewards"] > 0, (i, r)
        status = c.rpc("synergy_getDistributedAIStatus", out["computation_id"])
        assert status["tokens_agreed"] >= 1 and status["text_so_far"] == bytes.fromhex(out["result"]).decode()
    finally:
        c.stop()
        pool.shutdown(wait=False)


def test_a_verifier_that_signs_without_checking_is_caught_by_a_canary(tmp_path, monkeypatch):
    """Every round hands one verifier a canary (a proposal with one position made wrong); the lazy
    verifier accepts what it is given, so it accepts a canary and is slashed; the answer stands."""
    monkeypatch.setenv("AIVM_TEXT_CANARY_RATE", "1")
    keys = local.prepare(tmp_path / "keys", 4)
    lazy = max(range(4), key=lambda i: keys[i].address)  # never the first proposer
    pool, expected = _references(PROMPTS[:1])
    c = start_cluster(tmp_path, 4, holds="distributed_ai_model", behaviours={lazy: "lazy"},
                      max_new_tokens=TOKENS, task_timeout=30)
    try:
        out = c.compute("distributed_ai_model", PROMPTS[0], timeout=300)
        assert out["status"] == "Completed", out
        assert bytes.fromhex(out["result"]).decode() == expected.result(timeout=600)[0]
        assert c.rpc("synergy_verifyAIResult", out["computation_id"])["valid"] is True
        r = c.rpc("synergy_getValidatorAIRewards", "0x" + c.validators[lazy].address.hex())
        assert r["slashed"] > 0 and r["total_rewards"] == 0
        log = (tmp_path / "logs" / f"validator-{lazy}.log").read_text()
        assert "Traceback" not in log
    finally:
        c.stop()
        pool.shutdown(wait=False)


def _sampled_reference(data: bytes) -> tuple[str, int]:
    """A chat request's sampled answer in one process, decoding with KV caches as `generate` does."""
    import torch

    from models import prompt_codec
    from models.decoding import StageProposer, token_rule
    from models.pipeline import stage_runner
    from models.tensorio import encode_tensor
    from models.text_request import new_generation

    gen = new_generation(prompt_codec(), data, 32)
    proposer = StageProposer([stage_runner(i) for i in range(3)], token_rule(gen.rule))
    x = torch.tensor([gen.prompt_ids])
    while not gen.done:
        token = proposer.feed(x, len(gen.generated))[-1]
        gen.accept(encode_tensor(token))
        x = token.reshape(1, 1)
    return gen.text, len(gen.generated)


def test_a_sampled_answer_proposed_again_after_a_rejection_is_the_one_process_answer(tmp_path):
    """temperature > 0: the first proposer is honest for chunk 0 and lies from token 10 on, so chunk 0 is
    agreed and chunk 1 rejected. The next proposer replays the agreed tokens on the first one's path (prompt
    in one pass, then one position at a time), so the verifiers' exact check, on caches built from the first
    proposal, agrees with it: the answer is the one-process sampled answer, the liar slashed and unpaid."""
    from models.text_request import TextRequest

    keys = local.prepare(tmp_path / "keys", 4)
    liar = min(range(4), key=lambda i: keys[i].address)  # ranks first: it proposes first
    data = TextRequest.build([{"role": "user", "content": "Tell me a story about a robot."}], 24,
                             temperature=0.9, top_p=0.95, seed=7).encode()
    pool = ThreadPoolExecutor(1)
    expected = pool.submit(_sampled_reference, data)
    c = start_cluster(tmp_path, 4, holds="distributed_ai_model", behaviours={liar: "lie-from=10"},
                      max_new_tokens=24, task_timeout=30)
    try:
        want, count = expected.result(timeout=600)
        assert count > 16  # chunks 0 (agreed), 1 (rejected, proposed again) and 2 (after the re-proposal)
        out = c.compute("distributed_ai_model", data, timeout=300)
        assert out["status"] == "Completed", out
        assert bytes.fromhex(out["result"]).decode() == want
        verdict = c.rpc("synergy_verifyAIResult", out["computation_id"])
        assert verdict["valid"] is True and to_syn(c.validators[liar].address) not in verdict["validators"]
        r = c.rpc("synergy_getValidatorAIRewards", "0x" + c.validators[liar].address.hex())
        assert r["slashed"] > 0 and r["total_rewards"] == 0
        assert "proposing again from 8 agreed tokens" in c.node.log()  # the rejection came after chunk 0
    finally:
        c.stop()
        pool.shutdown(wait=False)


def test_a_lazy_verifier_is_caught_even_with_no_holder_beyond_the_quorum(tmp_path, monkeypatch):
    """Two holders of every stage: the quorum needs both, so no one can take a canary *instead of* the
    real task. The verifier then gets the canary as a second task of the round (it cannot tell which is
    real): the lazy one accepts it and is slashed, excluded and never paid; with no honest quorum left for
    the chunks after that, the computation fails rather than certify them (or, had every chunk been
    decided before, its answer is the one-process answer)."""
    monkeypatch.setenv("AIVM_TEXT_CANARY_RATE", "1")
    keys = local.prepare(tmp_path / "keys", 2)
    lazy = max(range(2), key=lambda i: keys[i].address)  # never the first proposer
    pool, expected = _references(PROMPTS[:1])
    c = start_cluster(tmp_path, 2, holds="distributed_ai_model", behaviours={lazy: "lazy"},
                      max_new_tokens=TOKENS, task_timeout=30)
    try:
        out = c.compute("distributed_ai_model", PROMPTS[0], timeout=300)
        assert out["status"] in ("Completed", "Failed"), out
        if out["status"] == "Completed":
            assert bytes.fromhex(out["result"]).decode() == expected.result(timeout=600)[0]
        r = c.rpc("synergy_getValidatorAIRewards", "0x" + c.validators[lazy].address.hex())
        assert r["slashed"] > 0 and r["total_rewards"] == 0
        honest = c.rpc("synergy_getValidatorAIRewards", "0x" + c.validators[1 - lazy].address.hex())
        assert honest["slashed"] == 0
    finally:
        c.stop()
        pool.shutdown(wait=False)


def test_validators_checking_each_chunk_at_once_on_one_thread_give_the_greedy_answer(tmp_path):
    """`aivm validator --defer-checks 0 --decode-threads 1`: validators that park no check and decode on one
    thread (as on machines of their own) agree on the one-process answer, every honest one paid, none slashed."""
    pool, expected = _references(PROMPTS[:1])
    c = start_cluster(tmp_path, 3, holds="distributed_ai_model", max_new_tokens=TOKENS, task_timeout=30,
                      extra_args=("--defer-checks", "0", "--decode-threads", "1"))
    try:
        out = c.compute("distributed_ai_model", PROMPTS[0], timeout=300)
        assert out["status"] == "Completed", out
        assert bytes.fromhex(out["result"]).decode() == expected.result(timeout=600)[0]
        for v in c.validators:
            r = c.rpc("synergy_getValidatorAIRewards", "0x" + v.address.hex())
            assert r["slashed"] == 0, r
    finally:
        c.stop()
        pool.shutdown(wait=False)
