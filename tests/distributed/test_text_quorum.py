"""Text through the quorum: proposed with KV caches, verified a chunk at a time, liars caught and slashed."""
from concurrent.futures import ThreadPoolExecutor

from ai.validator import local
from tests.distributed.cluster import start_cluster
from vm.addresses import to_syn

PROMPTS = (b"Hello, DI World", b"What is a blockchain?")
TOKENS = 10


def _references(prompts):
    """One-process greedy answers, computed while the cluster starts."""
    from ai.models import generate_whole

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
