"""The OpenAI-compatible endpoint backend against a real local server: ``transformers serve`` on the
converted SmolLM2 folder (offline), greedy, compared with our own whole-model generation."""
import socket

import pytest

from models import EndpointError, InvalidInputError, ensure_smollm2, generate_whole
from models.openai_endpoint import EndpointRunner, chat_completion
from tests.endpoint_server import transformers_serve

PROMPT = "What is the capital of France?"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(models_dir, stages_dir):
    from transformers.utils.import_utils import is_serve_available

    if not is_serve_available():
        pytest.fail("`transformers serve` needs fastapi, uvicorn and openai in the venv")
    hf_dir = ensure_smollm2(models_dir)
    with transformers_serve(hf_dir) as url:
        yield url, hf_dir


def test_greedy_chat_completion_matches_our_generation(server, models_dir):
    url, hf_dir = server
    text = chat_completion(url, PROMPT, max_tokens=8, temperature=0)
    assert text == generate_whole(PROMPT, 8, models_dir)
    assert "Paris" in text


def test_runner_from_guide_config(server):
    url, hf_dir = server
    runner = EndpointRunner.from_config({"aivm": {"model_endpoint": "http://unused"},
                                         "ai_models": {"gpt_oss_endpoint": url + "/v1", "max_tokens": 4,
                                                       "temperature": 0.0}})
    out = runner.infer(PROMPT.encode())
    assert out == runner.infer(PROMPT.encode())  # greedy: the same answer every time
    assert len(runner.commitment(out)) == 32


def test_errors_are_clear():
    with pytest.raises(EndpointError, match="cannot reach"):
        chat_completion(f"http://127.0.0.1:{_free_port()}", "hi", model="m", timeout=2)
    with pytest.raises(InvalidInputError, match="UTF-8"):
        chat_completion("http://127.0.0.1:1", b"\xff", model="m")
    with pytest.raises(EndpointError, match="neither"):
        EndpointRunner.from_config({"ai_models": {"max_tokens": 8}})
