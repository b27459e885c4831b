"""The OpenAI-compatible API on a real node with three real validator processes.

The official clients (Python `openai`, and the JS one from npm) talk to it unchanged; what they
do not enforce (required fields, chunk shapes, error shapes, retry behaviour) is checked on the
raw HTTP here. Every answer is compared with the same computation run in this process, so the
quorum's sampling is checked against an independent run (other process, other thread count).
"""
import concurrent.futures
import json
import shutil
import subprocess
from pathlib import Path

import openai
import pytest
import requests
from eth_abi import decode
from eth_hash.auto import keccak

from models.text_request import TextRequest

MODEL = "distributed_ai_model"
JS = Path(__file__).resolve().parents[1] / "js"
DEV0 = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
DEV1 = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8"


@pytest.fixture(scope="module")
def cluster(chat_cluster):
    return chat_cluster


@pytest.fixture(scope="module")
def client(cluster):
    return openai.OpenAI(base_url=cluster.node.url + "/v1", api_key="unused", max_retries=2, timeout=300)


def reference(messages, max_tokens, temperature=0.0, top_p=1.0, seed=None, stop=None) -> tuple:
    """The same text request generated in this process, decoding with a KV cache as `generate` does
    (the quorum's proposer path): (full text, finish reason, completion tokens)."""
    import torch

    from models import prompt_codec
    from models.decoding import StageProposer, token_rule
    from models.pipeline import stage_runner
    from models.tensorio import encode_tensor
    from models.text_request import new_generation

    data = TextRequest.build(messages, max_tokens, temperature, top_p, seed, stop).encode()
    gen = new_generation(prompt_codec(), data, 32)
    proposer = StageProposer([stage_runner(i) for i in range(3)], token_rule(gen.rule))
    x = torch.tensor([gen.prompt_ids])
    while not gen.done:
        token = proposer.feed(x, len(gen.generated))[-1]
        gen.accept(encode_tensor(token))
        x = token.reshape(1, 1)
    return gen.text, gen.finish_reason, len(gen.generated), data


def post(cluster, body, headers=None, stream=False):
    return requests.post(cluster.node.url + "/v1/chat/completions", data=body if isinstance(body, bytes) else
                         json.dumps(body), headers={"Content-Type": "application/json", **(headers or {})},
                         stream=stream, timeout=300)


def sse(resp) -> list:
    events = [line[len("data: "):] for line in resp.iter_lines(decode_unicode=True) if line.startswith("data: ")]
    assert events[-1] == "[DONE]", events[-3:]
    return [json.loads(e) for e in events[:-1]]


def started(cluster) -> int:
    return int(cluster.rpc("synergy_getAIDistributedStats")["total_computations"])


def balance(cluster, who) -> int:
    return int(cluster.rpc("eth_getBalance", who, "latest"), 16)


def check_completion(body: dict) -> None:
    for key in ("id", "object", "created", "model", "choices", "usage", "system_fingerprint"):
        assert key in body, key
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    (choice,) = body["choices"]
    assert set(choice) >= {"index", "message", "finish_reason", "logprobs"} and choice["index"] == 0
    assert choice["message"]["role"] == "assistant" and isinstance(choice["message"]["content"], str)
    u = body["usage"]
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"] and u["prompt_tokens"] > 0


def test_models_and_a_greedy_multi_turn_answer_with_its_certificate(cluster, client):
    assert [m.id for m in client.models.list().data] == [MODEL, "gpt_oss_chat"]
    assert client.models.retrieve(MODEL).id == MODEL
    messages = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Name a color."},
                {"role": "assistant", "content": "Blue."}, {"role": "user", "content": "Another one?"}]
    before = balance(cluster, DEV1)
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=messages, max_tokens=5,
                                                            temperature=0, user=DEV1)
    body = json.loads(raw.text)
    check_completion(body)
    text, reason, count, data = reference(messages, 5)
    choice = body["choices"][0]
    assert choice["message"]["content"] == text and choice["finish_reason"] == reason
    assert body["usage"]["completion_tokens"] == count
    completion = raw.parse()  # the client's own model of it
    assert completion.choices[0].message.content == text

    proof = body["aivm"]
    cid = proof["computation_id"]
    assert raw.headers["x-aivm-computation-id"] == cid and body["id"] == f"chatcmpl-{cid}"
    cert = bytes.fromhex(proof["certificate"][2:])
    assert raw.headers["x-aivm-certificate-hash"] == "0x" + keccak(cert).hex()
    assert proof["request_hash"] == "0x" + keccak(data).hex()
    verdict = cluster.rpc("synergy_verifyAIResult", cid)
    # stake-weighted (docs/distributed-ai.md): 2 of 3 equal stakes already hold the 2/3 that decides
    assert verdict["valid"] is True and verdict["signers"] >= 2 and verdict["certificate"] == proof["certificate"]
    assert int(verdict["signed_stake"]) * 3 >= int(verdict["total_stake"]) * 2
    # the consensus precompile accepts the same certificate on-chain
    out = cluster.rpc("eth_call", {"to": "0x" + "0118".rjust(40, "0"), "data": proof["certificate"]}, "latest")
    passed, signers, _, signed, total, epoch = decode(["bool"] + ["uint256"] * 5, bytes.fromhex(out[2:]))
    assert (passed, signers, str(signed), str(total), epoch) == \
        (True, verdict["signers"], verdict["signed_stake"], verdict["total_stake"], verdict["epoch"])
    # the payer (named by `user`) paid the fee in one transaction to the staking pool, naming the computation
    tx = cluster.rpc("eth_getTransactionByHash", proof["payment_tx"])
    assert tx["from"].lower() == DEV1 and int(tx["value"], 16) == int(proof["fee_wei"]) > 0
    assert bytes.fromhex(tx["input"][2:]) == b"aivm.chat " + cid.encode()
    receipt = cluster.rpc("eth_getTransactionReceipt", proof["payment_tx"])
    gas_cost = int(receipt["gasUsed"], 16) * int(receipt["effectiveGasPrice"], 16)
    assert before - balance(cluster, DEV1) == int(proof["fee_wei"]) + gas_cost
    rewards = [cluster.rpc("synergy_getValidatorAIRewards", "0x" + v.address.hex())["total_rewards"]
               for v in cluster.validators]
    assert sum(r > 0 for r in rewards) >= 2  # the signers that decided (2 of 3 stakes suffice)


def test_streaming_with_sampling_matches_an_independent_run(cluster, client):
    messages = [{"role": "user", "content": "Write a short line about the sea."}]
    text, reason, count, _ = reference(messages, 6, temperature=0.9, top_p=0.95, seed=11)
    # the official client, streaming with usage
    chunks = list(client.chat.completions.create(model=MODEL, messages=messages, max_tokens=6, temperature=0.9,
                                                 top_p=0.95, seed=11, stream=True,
                                                 stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == count
    # raw SSE: every chunk complete; `choices: []` only for the usage chunk that was asked for
    resp = post(cluster, {"model": MODEL, "messages": messages, "max_tokens": 6, "temperature": 0.9, "top_p": 0.95,
                          "seed": 11, "stream": True, "stream_options": {"include_usage": True}}, stream=True)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
    assert resp.headers["x-aivm-computation-id"]
    events = sse(resp)
    for e in events:
        assert {"id", "object", "created", "model", "choices"} <= set(e) and e["object"] == "chat.completion.chunk"
        assert "usage" in e
    assert [e for e in events if e["choices"] == []] == [events[-1]] and events[-1]["usage"]["completion_tokens"] == count
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    finals = [e for e in events if e["choices"] and e["choices"][0]["finish_reason"]]
    assert len(finals) == 1 and finals[0]["choices"][0]["finish_reason"] == reason
    assert cluster.rpc("synergy_verifyAIResult", finals[0]["aivm"]["computation_id"])["valid"] is True
    # without include_usage: no choices-less chunk, no usage key at all
    resp = post(cluster, {"model": MODEL, "messages": messages, "max_tokens": 6, "temperature": 0.9, "top_p": 0.95,
                          "seed": 11, "stream": True}, stream=True)
    events = sse(resp)
    assert all(e["choices"] for e in events) and all("usage" not in e for e in events)
    assert "".join(e["choices"][0]["delta"].get("content") or "" for e in events) == text


def test_stop_sequence_cuts_the_answer_and_reports_stop(cluster, client):
    messages = [{"role": "user", "content": "Count: one, two, three, four, five, six"}]
    full, _, _, _ = reference(messages, 12)
    assert len(full) > 4
    stop = full[3:5]  # a string the greedy answer contains
    out = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=12, temperature=0, stop=[stop])
    assert out.choices[0].finish_reason == "stop" and out.choices[0].message.content == full[: full.find(stop)]
    events = sse(post(cluster, {"model": MODEL, "messages": messages, "max_tokens": 12, "temperature": 0,
                                "stop": stop, "stream": True}, stream=True))
    assert "".join(e["choices"][0]["delta"].get("content") or "" for e in events) == full[: full.find(stop)]


BAD = [
    (b"{not json", 400, None, "invalid_json"),
    (b"", 400, None, "invalid_json"),
    (b"[1, 2]", 400, None, "invalid_json"),
    ({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}, 404, "model", "model_not_found"),
    ({"messages": [{"role": "user", "content": "hi"}]}, 400, "model", None),
    ({"model": MODEL}, 400, "messages", "missing_required_parameter"),
    ({"model": MODEL, "messages": []}, 400, "messages", None),
    ({"model": MODEL, "messages": [{"role": "wizard", "content": "hi"}]}, 400, "messages[0].role", None),
    ({"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10**9}, 400, "max_tokens", None),
    ({"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}, 400, "max_tokens", None),
    ({"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "n": 2}, 400, "n", "unsupported_value"),
    ({"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "temperature": 5}, 400, "temperature", None),
    ({"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream_options": {"include_usage": True}},
     400, "stream_options", None),
    ({"model": MODEL, "messages": [{"role": "user", "content": "word " * 3000}]}, 400, "messages",
     "context_length_exceeded"),
    ({"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "user": "0x" + "12" * 20}, 403, "user",
     "account_not_unlocked"),
]


@pytest.mark.parametrize("body,status,param,code", BAD)
def test_bad_input_gets_an_openai_shaped_4xx_and_starts_nothing(cluster, body, status, param, code):
    before = started(cluster)
    resp = post(cluster, body)
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["message"]
    assert err["param"] == param and err["code"] == code
    assert resp.headers["x-should-retry"] == "false"
    assert started(cluster) == before


def test_the_official_client_raises_the_right_errors_without_retrying(cluster, client):
    before = started(cluster)
    with pytest.raises(openai.NotFoundError) as exc:
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])
    assert exc.value.code == "model_not_found" and exc.value.param == "model"
    with pytest.raises(openai.BadRequestError) as exc:
        client.chat.completions.create(model=MODEL, messages=[], max_tokens=3)
    assert exc.value.param == "messages"
    assert requests.get(cluster.node.url + "/v1/embeddings").status_code == 404
    assert started(cluster) == before


def test_retries_and_duplicates_never_start_or_charge_a_second_computation(cluster, client):
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Tell me about validators."}],
            "max_tokens": 6, "temperature": 0.7}  # no seed: the node draws one, certified in the input
    before, paid = started(cluster), balance(cluster, DEV0)
    # identical requests in flight at once: one computation
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        replies = list(pool.map(lambda _: post(cluster, body), range(3)))
    ids = {r.json()["aivm"]["computation_id"] for r in replies}
    assert len(ids) == 1 and started(cluster) == before + 1
    assert sorted(r.headers["x-aivm-deduplicated"] for r in replies) == ["false", "true", "true"]
    assert len({r.json()["choices"][0]["message"]["content"] for r in replies}) == 1
    fee = int(replies[0].json()["aivm"]["fee_wei"])
    assert paid - balance(cluster, DEV0) < 2 * fee  # charged once (fee + one transaction's gas)

    # the official client timing out and retrying (x-stainless-retry-count) attaches to the same job
    # long enough to outlast the impatient client's 0.5 s (the quorum decodes at near one-process speed)
    # (sampled, as `body`: a re-proposal of a long sampled answer replays the agreed tokens, issue 12)
    body2 = {**body, "messages": [{"role": "user", "content": "And about blocks?"}], "max_tokens": 96}
    impatient = openai.OpenAI(base_url=cluster.node.url + "/v1", api_key="unused", max_retries=2, timeout=0.5)
    try:  # the first attempt always times out; a later retry may still catch the answer on a fast machine
        got = impatient.chat.completions.with_raw_response.create(**body2)
        assert got.headers["x-aivm-deduplicated"] == "true"
    except openai.APITimeoutError:
        pass
    assert started(cluster) == before + 2
    finished = client.chat.completions.create(**body2, extra_headers={"x-stainless-retry-count": "1"})
    assert started(cluster) == before + 2 and finished.aivm["computation_id"]

    # an idempotency key: the same answer again (even after completion), a different body is refused
    key = {"Idempotency-Key": "chat-test-key-1"}
    first = post(cluster, {**body, "max_tokens": 3}, key).json()
    again = post(cluster, {**body, "max_tokens": 3}, key)
    assert again.json()["aivm"]["computation_id"] == first["aivm"]["computation_id"]
    assert again.headers["x-aivm-deduplicated"] == "true" and started(cluster) == before + 3
    clash = post(cluster, {**body, "max_tokens": 4}, key)
    assert clash.status_code == 400 and clash.headers["x-should-retry"] == "false"
    assert clash.json()["error"]["code"] == "idempotency_key_reused" and started(cluster) == before + 3
    # a first attempt (not a retry, no key) of a finished request is a new computation
    post(cluster, {**body, "max_tokens": 3})
    assert started(cluster) == before + 4


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_the_js_client_streams_and_completes_unchanged(cluster):
    from tests.chat.js_deps import ensure_js_openai

    ensure_js_openai()
    out = subprocess.run(["node", str(JS / "openai_client.mjs"), cluster.node.url + "/v1", MODEL],
                         capture_output=True, text=True, timeout=300, cwd=JS)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    text, _, count, _ = reference([{"role": "user", "content": "Say hello."}], 4)
    assert result["content"] == text and result["streamed"] == text
    assert result["usage"]["completion_tokens"] == count and result["streamUsage"]["completion_tokens"] == count
    assert result["models"] == [MODEL, "gpt_oss_chat"]
    assert result["notFound"] == {"status": 404, "code": "model_not_found"}
    assert cluster.rpc("synergy_verifyAIResult", result["computation_id"])["valid"] is True


def test_a_quorum_that_cannot_form_is_a_503_that_says_do_not_retry_and_costs_nothing(cluster, client):
    # no validator of this cluster serves the endpoint model: the computation fails at assignment
    body = {"model": "gpt_oss_chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3,
            "temperature": 0}
    before, paid = started(cluster), balance(cluster, DEV0)
    resp = post(cluster, body)
    assert resp.status_code == 503 and resp.headers["x-should-retry"] == "false"
    err = resp.json()["error"]
    assert err["code"] == "quorum_failed" and err["type"] == "server_error" and "eligible" in err["message"]
    cid = resp.headers["x-aivm-computation-id"]
    assert cluster.rpc("synergy_getDistributedAIStatus", cid)["status"] == "Failed"
    with pytest.raises(openai.InternalServerError):  # the official client: one attempt, no retries
        client.chat.completions.create(**body)
    assert started(cluster) == before + 2 and balance(cluster, DEV0) == paid
    events = sse(post(cluster, {**body, "stream": True}, stream=True))
    assert events[-1]["error"]["code"] == "quorum_failed"
