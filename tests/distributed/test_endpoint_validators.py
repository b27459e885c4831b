"""Validators that serve a model from their own OpenAI-compatible endpoint (`transformers serve`)."""
import pytest

from models import ensure_smollm2
from models.openai_endpoint import chat_completion
from tests.distributed.cluster import start_cluster
from tests.endpoint_server import transformers_serve


@pytest.fixture(scope="module")
def endpoint():
    with transformers_serve(ensure_smollm2()) as url:
        yield url


def test_validators_agree_on_their_endpoints_greedy_answer(tmp_path, endpoint):
    cfg = tmp_path / "validator.toml"
    cfg.write_text(f'[ai_models]\ngpt_oss_endpoint = "{endpoint}"\nmax_tokens = 6\ntemperature = 0.0\n')
    c = start_cluster(tmp_path, 3, holds="gpt_oss_chat", extra_args=("--config", str(cfg)), task_timeout=60)
    try:
        prompt = "What is the capital of France?"
        out = c.compute("gpt_oss_chat", prompt.encode())
        assert out["status"] == "Completed", out
        assert bytes.fromhex(out["result"]).decode() == chat_completion(endpoint, prompt, max_tokens=6, temperature=0)
        att = c.rpc("synergy_getValidatorAttestation", "0x" + c.validators[0].address.hex())
        assert att["valid"] and att["attestation"]["shards"][0]["endpoint_model"]
        assert c.rpc("synergy_verifyAIResult", out["computation_id"])["valid"] is True
    finally:
        c.stop()
