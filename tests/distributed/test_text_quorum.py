"""Text through the quorum: proposed with KV caches, verified a chunk at a time, liars caught and slashed."""
from ai.validator import local
from vm.addresses import to_syn
from tests.distributed.cluster import start_cluster

PROMPTS = (b"Hello, DI World", b"What is a blockchain?")
TOKENS = 10


def test_a_lying_proposer_and_a_lying_verifier_are_slashed_and_never_change_the_answer(tmp_path):
    """4 validators holding every stage (quorum 3 of 4); the liar ranks first, so it proposes the first
    answer (a wrong token: rejected, slashed, proposed again by an honest one) and verifies the second
    (it rejects a right chunk: outvoted and slashed)."""
    from ai.models import generate_whole

    keys = local.prepare(tmp_path / "keys", 4)
    liar = min(range(4), key=lambda i: keys[i].address)
    c = start_cluster(tmp_path, 4, holds="distributed_ai_model", behaviours={liar: "lie"},
                      max_new_tokens=TOKENS, task_timeout=30)
    try:
        liar_hex = "0x" + c.validators[liar].address.hex()
        slashed = []
        for prompt in PROMPTS:
            out = c.compute("distributed_ai_model", prompt, timeout=300)
            assert out["status"] == "Completed", out
            assert bytes.fromhex(out["result"]).decode() == generate_whole(prompt, TOKENS)
            verdict = c.rpc("synergy_verifyAIResult", out["computation_id"])
            assert verdict["valid"] is True and to_syn(c.validators[liar].address) not in verdict["validators"]
            slashed.append(c.rpc("synergy_getValidatorAIRewards", liar_hex)["slashed"])
        assert 0 < slashed[0] < slashed[1]  # once as the proposer, once as a verifier
        assert c.rpc("synergy_getValidatorAIRewards", liar_hex)["total_rewards"] == 0
        for i, v in enumerate(c.validators):
            if i != liar:
                r = c.rpc("synergy_getValidatorAIRewards", "0x" + v.address.hex())
                assert r["slashed"] == 0 and r["total_rewards"] > 0, (i, r)
        status = c.rpc("synergy_getDistributedAIStatus", out["computation_id"])
        assert status["tokens_agreed"] >= 1 and status["text_so_far"] == bytes.fromhex(out["result"]).decode()
    finally:
        c.stop()
