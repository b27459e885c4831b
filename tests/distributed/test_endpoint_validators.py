"""Validators that serve a model from their own OpenAI-compatible endpoint (`transformers serve`)."""
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ai.models import ensure_smollm2
from ai.models.errors import EndpointError
from ai.models.openai_endpoint import chat_completion, list_endpoint_models
from tests.distributed.cluster import start_cluster

TRANSFORMERS_CLI = Path(sys.executable).with_name("transformers")


@pytest.fixture(scope="module")
def endpoint():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([str(TRANSFORMERS_CLI), "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--device", "cpu", "--dtype", "float32", str(ensure_smollm2())],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if list_endpoint_models(url, timeout=2):
                    break
            except EndpointError:
                pass
            assert proc.poll() is None, f"transformers serve exited: {proc.stderr.read()[-2000:]}"
            assert time.monotonic() < deadline, "transformers serve did not come up"
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


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
