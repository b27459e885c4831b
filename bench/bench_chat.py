"""Chat: time to first token and tokens/s through the quorum vs the same model in one process.

Same run, same prompts, greedy, answer cache off:

- one process: the SmolLM2 pipeline stages run in this process exactly as validators run them
  (one thread, full recompute per token), and `transformers` `generate` on the unsharded model
  (KV cache) as the outside peer;
- quorum via RPC: the text request through `synergy_initiateDistributedAI`, polled to the end;
- quorum via /v1: the OpenAI-compatible endpoint, not streaming and streaming (first content
  chunk = first token; tokens/s from the first to the last chunk).

The endpoint's own cost is /v1 ÷ RPC for the same computation kind.
"""
from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import requests

from bench.bench_ai import BenchNode

PROMPTS = ["Tell me about the sea.", "What is a validator?", "Name three colours.", "Why is the sky blue?",
           "Describe a blockchain.", "Write a line about rain."]


def _request(prompt: str, tokens: int) -> dict:
    return {"model": "distributed_ai_model", "messages": [{"role": "user", "content": prompt}],
            "max_tokens": tokens, "temperature": 0}


def one_process(prompts: list[str], tokens: int) -> dict:
    import torch

    from models import prompt_codec
    from models.pipeline import stage_runner
    from models.text_request import TextRequest, new_generation

    torch.set_num_threads(1)  # as validators run
    runners = [stage_runner(i) for i in range(3)]
    ttft, rate, total = [], [], []
    for p in prompts:
        data = TextRequest.build([{"role": "user", "content": p}], tokens).encode()
        gen = new_generation(prompt_codec(), data, tokens)
        t0 = time.perf_counter()
        first = None
        while not gen.done:
            x = gen.stage0_input()
            for r in runners:
                x = r.infer(x)
            gen.accept(x)
            first = first or time.perf_counter()
        end = time.perf_counter()
        ttft.append(first - t0)
        total.append(end - t0)
        if len(gen.generated) > 1:
            rate.append((len(gen.generated) - 1) / (end - first))
    return {"ttft": statistics.median(ttft), "tps": statistics.median(rate), "total": statistics.median(total)}


def hf_generate(prompts: list[str], tokens: int) -> dict:
    import torch

    from models.generation import WholeModel
    from models.text_request import TextRequest

    torch.set_num_threads(1)
    whole = WholeModel()
    ttft, rate, total = [], [], []
    for p in prompts:
        ids = TextRequest.build([{"role": "user", "content": p}], tokens).render(whole.codec.tokenizer)
        x = torch.tensor([ids])
        t0 = time.perf_counter()
        whole.model.generate(x, max_new_tokens=1, min_new_tokens=1, do_sample=False)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = whole.model.generate(x, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False)
        elapsed = time.perf_counter() - t0
        n = out.shape[1] - x.shape[1]
        ttft.append(first)
        total.append(elapsed)
        rate.append((n - 1) / max(elapsed - first, 1e-9))
    return {"ttft": statistics.median(ttft), "tps": statistics.median(rate), "total": statistics.median(total)}


class Node(BenchNode):
    """The node with text validators only, patient tasks (long answers on a loaded machine)."""

    def __init__(self, work: Path, validators: int) -> None:
        super().__init__(work, validators, holds="distributed_ai_model", task_timeout=60)


def via_rpc(node: Node, prompts: list[str], tokens: int) -> dict:
    from models.text_request import TextRequest

    total = []
    for p in prompts:
        data = TextRequest.build([{"role": "user", "content": p}], tokens, seed=None).encode()
        t0 = time.perf_counter()
        cid = node.rpc("synergy_initiateDistributedAI", "distributed_ai_model", data.hex(), tokens)["computation_id"]
        while node.rpc("synergy_getDistributedAIStatus", cid)["status"] not in ("Completed", "Failed"):
            time.sleep(0.005)
        total.append(time.perf_counter() - t0)
    return {"total": statistics.median(total)}


def via_v1(node: Node, prompts: list[str], tokens: int, stream: bool) -> dict:
    ttft, rate, total, counts = [], [], [], []
    for p in prompts:
        body = {**_request(p, tokens), "stream": stream}
        if stream:
            body["stream_options"] = {"include_usage": True}
        t0 = time.perf_counter()
        if not stream:
            r = requests.post(node.url + "/v1/chat/completions", json=body, timeout=600)
            r.raise_for_status()
            total.append(time.perf_counter() - t0)
            counts.append(r.json()["usage"]["completion_tokens"])
            continue
        first = last = None
        chunks = 0  # completion tokens, from the usage chunk
        with requests.post(node.url + "/v1/chat/completions", json=body, stream=True, timeout=600) as r:
            for line in r.iter_lines():
                if not line.startswith(b"data: ") or line == b"data: [DONE]":
                    continue
                event = json.loads(line[6:])
                if event.get("usage"):
                    chunks = event["usage"]["completion_tokens"]
                if event["choices"] and event["choices"][0]["delta"].get("content"):
                    now = time.perf_counter()
                    first = first or now
                    last = now
        end = time.perf_counter()
        ttft.append(first - t0)
        total.append(end - t0)
        if chunks > 1:
            rate.append((chunks - 1) / (last - first))
    out = {"total": statistics.median(total)}
    if stream:
        out.update(ttft=statistics.median(ttft), tps=statistics.median(rate) if rate else 0.0)
    return out


def main(quick: bool) -> str:
    tokens = 8 if quick else 16
    prompts = PROMPTS[:3] if quick else PROMPTS
    load_before = os.getloadavg()
    local = one_process(prompts, tokens)
    hf = hf_generate(prompts, tokens)
    with tempfile.TemporaryDirectory(prefix="aivm-bench-chat-") as work:
        node = Node(Path(work), 3)
        try:
            # the same prompts on every path (the answer cache is off: each is computed again), the paths
            # interleaved prompt by prompt so that the shared machine's load drifts across all of them alike
            runs = {"rpc": [], "v1": [], "sse": []}
            for p in prompts:
                runs["rpc"].append(via_rpc(node, [p], tokens))
                runs["v1"].append(via_v1(node, [p], tokens, stream=False))
                runs["sse"].append(via_v1(node, [p], tokens, stream=True))
            rpc, v1, v1s = ({k: statistics.median(r[k] for r in runs[name]) for k in runs[name][0]}
                            for name in ("rpc", "v1", "sse"))
        finally:
            node.stop()
    load_after = os.getloadavg()
    lines = [
        "## Chat: the quorum vs one process (distributed_ai_model, greedy)",
        "",
        f"- Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {os.cpu_count()} cores; load average (1/5/15 min) "
        f"{'/'.join(f'{x:.2f}' for x in load_before)} before, {'/'.join(f'{x:.2f}' for x in load_after)} after "
        f"(the machine is shared: compare ratios within this run).",
        f"- {len(prompts)} prompts × {tokens} tokens, medians; 3 validators each holding all 3 stages, one torch thread "
        "each; the node's answer cache off. One process = the same stage files and rule in this process, one thread.",
        "",
        "| path | time to first token | tokens/s after the first | whole answer | ÷ one process (whole answer) |",
        "|---|---:|---:|---:|---:|",
        f"| one process (pipeline stages, as validators run them) | {local['ttft'] * 1e3:.0f} ms | {local['tps']:.1f} | "
        f"{local['total']:.2f} s | 1.00× |",
        f"| transformers generate (unsharded, KV cache) | {hf['ttft'] * 1e3:.0f} ms | {hf['tps']:.1f} | "
        f"{hf['total']:.2f} s | {hf['total'] / local['total']:.2f}× |",
        f"| quorum via synergy_initiateDistributedAI (poll) | | | {rpc['total']:.2f} s | "
        f"{rpc['total'] / local['total']:.2f}× |",
        f"| quorum via /v1/chat/completions | | | {v1['total']:.2f} s | {v1['total'] / local['total']:.2f}× |",
        f"| quorum via /v1/chat/completions, stream | {v1s['ttft'] * 1e3:.0f} ms | {v1s['tps']:.1f} | "
        f"{v1s['total']:.2f} s | {v1s['total'] / local['total']:.2f}× |",
        "",
        f"- endpoint overhead: /v1 ÷ RPC = {v1['total'] / rpc['total']:.2f}× (not streaming), "
        f"{v1s['total'] / rpc['total']:.2f}× (streaming), same prompts, paths interleaved; /v1 answers also wait "
        "for the fee's payment transaction (one automined block).",
        f"- streaming time to first token through the quorum ÷ one process: {v1s['ttft'] / local['ttft']:.2f}×; "
        f"tokens/s ratio {v1s['tps'] / local['tps']:.2f}×.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    return text


if __name__ == "__main__":
    from bench.run import quick_flag

    main(quick_flag(__doc__))
