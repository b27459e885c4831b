"""Endpoint-served validators (`transformers serve`, as the guide sets up GPT-OSS) answer chat through the quorum."""
import json

import openai
import pytest
import requests

from models import ensure_smollm2
from tests.distributed.cluster import start_cluster
from tests.endpoint_server import transformers_serve

MESSAGES = [{"role": "system", "content": "Answer in one word."}, {"role": "user", "content": "Capital of France?"},
            {"role": "assistant", "content": "Paris."}, {"role": "user", "content": "And of Italy?"}]


@pytest.fixture(scope="module")
def endpoint():
    with transformers_serve(ensure_smollm2()) as url:
        yield url


@pytest.mark.timeout(600)
def test_chat_on_endpoint_validators_is_the_servers_greedy_answer_certified(tmp_path, endpoint):
    cfg = tmp_path / "validator.toml"
    cfg.write_text(f'[ai_models]\ngpt_oss_endpoint = "{endpoint}"\nmax_tokens = 6\ntemperature = 0.0\n')
    c = start_cluster(tmp_path, 3, holds="gpt_oss_chat", extra_args=("--config", str(cfg)), task_timeout=60)
    try:
        direct = requests.post(endpoint + "/v1/chat/completions", json={
            "model": requests.get(endpoint + "/v1/models").json()["data"][0]["id"], "messages": MESSAGES,
            "max_tokens": 6, "temperature": 0.0, "top_p": 1.0, "stream": False}, timeout=120).json()
        expected = direct["choices"][0]["message"]["content"]
        client = openai.OpenAI(base_url=c.node.url + "/v1", api_key="unused", max_retries=0, timeout=300)
        out = client.chat.completions.create(model="gpt_oss_chat", messages=MESSAGES, max_tokens=6, temperature=0)
        assert out.choices[0].message.content == expected and out.choices[0].finish_reason in ("stop", "length")
        assert out.usage.completion_tokens == direct["usage"]["completion_tokens"]
        cid = out.aivm["computation_id"]
        verdict = c.rpc("synergy_verifyAIResult", cid)
        # stake-weighted: 2 of 3 equal stakes already hold the 2/3 that decides
        assert verdict["valid"] is True and verdict["signers"] >= 2
        assert int(verdict["signed_stake"]) * 3 >= int(verdict["total_stake"]) * 2
        # streamed: the same certified answer, ending in [DONE]
        chunks = list(client.chat.completions.create(model="gpt_oss_chat", messages=MESSAGES, max_tokens=6,
                                                     temperature=0, stream=True))
        assert "".join(ch.choices[0].delta.content or "" for ch in chunks) == expected
        # the small offline model refuses tools; this one passes them to the validators' servers
        with pytest.raises(openai.BadRequestError) as exc:
            client.chat.completions.create(model="distributed_ai_model", messages=MESSAGES, max_tokens=2,
                                           tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}])
        assert exc.value.param == "tools"
    finally:
        c.stop()
