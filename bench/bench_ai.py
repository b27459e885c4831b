"""Distributed AI: what the quorum costs over running the model once, in the same run.

- direct: `digits_cnn` inference in this process (the baseline);
- quorum: the same inference through a node and N validator processes
  (RPC + scheduling + N model runs + N ML-DSA signatures and verifications),
  one request at a time (latency) and many in flight (throughput);
- scheduler: the scheduler's own time per computation (initiate + submits,
  signature checks included, model runs and signing excluded), in process.
- text: `distributed_ai_model` (SmolLM2-135M, 3 stages) through the quorum vs
  `transformers` `generate` (KV cache, greedy) in one process, same prompt,
  same run: ms/token, tokens/s, per-stage time, rounds per computation and
  payload bytes through the node per token, for 5 validators holding every
  stage and for 3 validators holding one stage each.
"""
from __future__ import annotations

import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson

from bench import host

ROOT = Path(__file__).resolve().parent.parent


def _images(n: int) -> list[bytes]:
    from sklearn.datasets import load_digits

    data = load_digits().data
    return [bytes(int(x) for x in data[i % len(data)]) for i in range(n)]


def direct(images: list[bytes]) -> float:
    import torch

    from models import load_model

    torch.set_num_threads(1)  # as validators run it
    runner = load_model("digits_cnn")
    runner.infer(images[0])
    times = []
    for img in images:
        t = time.perf_counter()
        runner.infer(img)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


class BenchNode:
    """`aivm start` plus local validator processes for a benchmark (bench_chat uses it too)."""

    def __init__(self, work: Path, validators: int, holds="digits_cnn", max_new_tokens: int = 32,
                 task_timeout: int = 30) -> None:
        import socket
        import threading

        from ai.validator import local

        self._local = threading.local()

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        cfg = work / "cfg.toml"
        cfg.write_text(f"[node]\nai_cache = false\nai_task_timeout = {task_timeout}\n"
                       f"ai_max_new_tokens = {max_new_tokens}\n")
        self.log = open(work / "node.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "start", "--ephemeral", "--port", str(self.port), "--validators", "0",
             "--config", str(cfg)], stdout=self.log, stderr=subprocess.STDOUT, cwd=work)
        self.url = f"http://127.0.0.1:{self.port}"
        self.validators = []
        try:
            self._wait(lambda: "result" in self.rpc_raw("synergy_listAIModels"), 600)
            self.validators = local.prepare(work / "keys", validators)
            for v in self.validators:
                self.rpc("hardhat_setBalance", "0x" + v.address.hex(), hex(20 * 10**18))
            local.start(self.validators, self.url, work / "logs", holds=holds)
            self._wait(lambda: self.rpc("synergy_getAIVMStats")["active_validators"] >= validators, 600)
        except BaseException:
            self.stop()
            raise

    def _wait(self, ready, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if ready():
                    return
            except (OSError, http.client.HTTPException):  # the node not listening yet
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("the node exited")
            time.sleep(0.3)
        raise TimeoutError("the node or its validators did not become ready")

    def rpc_raw(self, method, *params):
        """One call on this thread's keep-alive connection (as any real client pools them). `http.client`, not
        `requests`: a `requests.Session` call costs ≈1.3 ms of CPU here, on the same 2 cores as the quorum."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        body = orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        try:
            conn.request("POST", "/", body, {"Content-Type": "application/json"})
            return orjson.loads(conn.getresponse().read())
        except (OSError, http.client.HTTPException):
            conn.close()
            self._local.conn = None
            raise

    def rpc(self, method, *params):
        reply = self.rpc_raw(method, *params)
        if "error" in reply:
            raise RuntimeError(reply["error"]["message"])
        return reply["result"]

    def infer(self, image: bytes, model_id: str = "digits_cnn") -> float:
        t = time.perf_counter()
        cid = self.rpc("synergy_initiateDistributedAI", model_id, image.hex())["computation_id"]
        # the status call waits for the end (param 2: seconds), woken by it: no polling loop
        while (status := self.rpc("synergy_getDistributedAIStatus", cid, 30))["status"] not in ("Completed", "Failed"):
            pass
        elapsed = time.perf_counter() - t
        if status["status"] != "Completed":
            raise RuntimeError(f"{model_id} computation failed: {status.get('reason')}")
        self.last = {**status, **self.rpc("synergy_getDistributedAIResult", cid)}
        return elapsed

    def infer_one(self, image: bytes, model_id: str = "digits_cnn") -> float:
        """One request: initiate with a wait (param 4), answered at the end with the status and the result."""
        t = time.perf_counter()
        out = self.rpc("synergy_initiateDistributedAI", model_id, image.hex(), None, 30)
        elapsed = time.perf_counter() - t
        if out.get("status") != "Completed" or "result" not in out:
            raise RuntimeError(f"{model_id} computation did not complete in one request: {out}")
        return elapsed

    def stop(self) -> None:
        from ai.validator import local

        local.stop(self.validators)
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc; clock ticks, so measure many calls)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def quorum(validators: int, images: list[bytes], concurrency: tuple[int, ...]) -> tuple[float, dict, tuple, float]:
    """Median latency one at a time, and computations/s at each number in flight, on one cluster; and the CPU
    each computation costs (node, all validators together, this client: ms), measured over the one-at-a-time calls. On 2
    cores that CPU, halved, is a floor under the latency whatever the scheduling."""
    with tempfile.TemporaryDirectory(prefix="aivm-bench-ai-") as tmp:
        node = BenchNode(Path(tmp), validators)
        try:
            for img in images[:2 * validators]:  # warm: every validator has had tasks (the audit slot rotates)
                node.infer(img)
            pids = [node.proc.pid] + [v.process.pid for v in node.validators]
            # every image one at a time: /proc counts 10 ms clock ticks per process (all its threads), so the
            # window must hold many of them (a quarter of the quick run's 40 images read 18 ms of validator CPU
            # a computation that was 8-10); the client's own CPU (this process: http.client) is on the same cores
            before, client = [_cpu_seconds(p) for p in pids], time.process_time()
            latency = statistics.median([node.infer(img) for img in images])
            spent = [_cpu_seconds(p) - b for p, b in zip(pids, before)]
            cpu = (spent[0] / len(images), sum(spent[1:]) / len(images), (time.process_time() - client) / len(images))
            one = statistics.median([node.infer_one(img) for img in images])  # initiate with a wait: one request
            rates = {}
            for conc in concurrency:
                t = time.perf_counter()
                with ThreadPoolExecutor(conc) as pool:
                    list(pool.map(node.infer, images))
                rates[conc] = len(images) / (time.perf_counter() - t)
        finally:
            node.stop()
    return latency, rates, cpu, one


def scheduler_time(validators: int, computations: int) -> float:
    """CPU seconds of scheduler work per computation (this thread's CPU time: on a shared machine the wall
    clock mostly measures the others' load), with real keys, models and records."""
    from eth_hash.auto import keccak

    from ai import protocol
    from models import get_manifest, load_model
    from ai.records import AIRecords
    from ai.scheduler import Scheduler
    from pqc import bundle
    from pqc.keys import KeySet
    from vm.chain import Chain

    chain = Chain.ephemeral()

    class Hooks:
        def lock_stake(self, address, amount):
            chain.set_balance(address, 0)

        def update_storage(self, compute):
            for address, slot, value in compute(chain.storage):
                chain.set_storage(address, slot, value)

        def read_storage(self, address, slot):
            return chain.storage(address, slot)

        def burn_stake(self, amount):  # ai.ports.ChainHooks: slashed wei leave the pool (nobody lies here)
            pass

    manifest = get_manifest("digits_cnn")
    s = Scheduler(AIRecords(chain.store.kv), 31337, {"digits_cnn": manifest}, Hooks(), cache=False, join_delay=0)
    runner = load_model("digits_cnn")
    keys = [KeySet.generate(protocol.LEVEL, with_kem=False) for _ in range(validators)]
    for k in keys:
        addr = protocol.validator_address(k.signing_keys())
        stake = 10**18
        s.register(k.signing_keys().encode(), stake,
                   bundle.sign(k, protocol.registration_message(31337, addr, k.signing_keys().key_hash, stake)).encode())
        att = {"software_version": "bench", "shards": [{"model_id": "digits_cnn", "stage": 0,
                                                          "sha256": manifest.stage_shard(0).sha256}],
               "cores": 2, "memory_mb": 4096, "timestamp": int(time.time())}
        s.attest(addr, att, bundle.sign(k, protocol.attestation_message(31337, addr, att)).encode())
        ts = int(time.time())
        s.heartbeat(addr, ts, bundle.sign(k, protocol.heartbeat_message(31337, addr, ts)).encode())
    s.refresh_sets()
    assert s.stage_set_size("digits_cnn", 0) == validators  # the stake-weighted active set (no join delay here)
    by_addr = {protocol.validator_address(k.signing_keys()): k for k in keys}
    spent = 0.0
    for i, img in enumerate(_images(computations)):
        if i % 10 == 0:  # a fresh liveness window (set-up took longer than the heartbeat interval)
            for addr in by_addr:
                s.restore(addr)
        t = time.thread_time()
        comp = s.initiate("digits_cnn", img)
        spent += time.thread_time() - t
        output = runner.infer(img)
        for task in list(comp.round.tasks.values()):
            vote = protocol.task_vote(protocol.TaskRef(31337, comp.id, "digits_cnn", 0, 0, keccak(img)), img, output)
            sig = bundle.sign(by_addr[task.address], vote.message_hash).encode()
            t = time.thread_time()
            if task.status == "Assigned":
                s.submit(task.task_id, task.address, output, sig)
            spent += time.thread_time() - t
        assert s.get(comp.id).status == "Completed"
    return spent / computations


PROMPT = b"Hello, DI World"  # the guide's example


class TextReference:
    """One process: `generate` (KV cache, greedy), and the staged KV-cache decode with each stage timed."""

    def __init__(self, tokens: int) -> None:
        import torch

        from models import ensure_smollm2, prompt_codec
        from models.smollm2 import offline_env

        offline_env()
        from transformers import LlamaForCausalLM

        self.torch, self.tokens = torch, tokens
        self.codec = prompt_codec()
        self.ids = self.codec.encode(PROMPT)
        self.model = LlamaForCausalLM.from_pretrained(str(ensure_smollm2()), dtype=torch.float32,
                                                      local_files_only=True).eval()
        self.default_threads = os.cpu_count() or 1  # torch's default (direct() set this process to 1)
        self.answer = self.codec.decode(self.generate(1)[1])

    def generate(self, threads: int) -> tuple[float, list]:
        """Seconds per generated token, and the tokens."""
        torch = self.torch
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            with torch.no_grad():
                t = time.perf_counter()
                gen = self.model.generate(torch.tensor([self.ids]), max_new_tokens=self.tokens, do_sample=False)
                elapsed = time.perf_counter() - t
        finally:
            torch.set_num_threads(before)
        made = gen[0, len(self.ids):].tolist()
        return elapsed / len(made), made

    def stage_times(self, runs: int) -> list[float]:
        from models import stage_runner
        from models.decoding import Limits, StageProposer

        torch = self.torch
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        runners = [stage_runner(i) for i in range(3)]
        spent, made = [0.0] * 3, []
        for _ in range(runs):
            prop = StageProposer(runners)
            x, made = torch.tensor([self.ids]), []
            while not Limits(self.tokens, tuple(self.codec.stop_ids)).done(made):
                for k, (runner, cache) in enumerate(zip(prop.runners, prop.caches)):
                    t = time.perf_counter()
                    x = runner.extend(x, cache)
                    spent[k] += time.perf_counter() - t
                made.append(int(x[0, -1].argmax()))
                x = torch.tensor([[made[-1]]])
        torch.set_num_threads(before)
        return [s / runs / len(made) for s in spent]


def text_quorum(layout: str, ref: TextReference, runs: int) -> dict:
    """Quorum runs interleaved with one-process runs, so both see the same machine load."""
    holds = {0: "distributed_ai_model:0", 1: "distributed_ai_model:1", 2: "distributed_ai_model:2"} \
        if layout == "3x1" else "distributed_ai_model"
    q, r1, rd, rounds, wire, ws, answers = [], [], [], [], [], [], []
    with tempfile.TemporaryDirectory(prefix="aivm-bench-text-") as tmp:
        node = BenchNode(Path(tmp), 3 if layout == "3x1" else 5, holds=holds, max_new_tokens=ref.tokens)
        try:
            node.infer(PROMPT, "distributed_ai_model")  # warm: first use of caches and connections
            for _ in range(runs):
                r1.append(ref.generate(1)[0])
                if ref.default_threads != 1:
                    rd.append(ref.generate(ref.default_threads)[0])
                before = node.rpc("synergy_getAIWireStats")
                seconds = node.infer(PROMPT, "distributed_ai_model")
                after = node.rpc("synergy_getAIWireStats")
                last = node.last
                n = last.get("tokens_agreed") or len(ref.codec.tokenizer(bytes.fromhex(last["result"]).decode(),
                                                                         add_special_tokens=False)["input_ids"])
                q.append(seconds / n)
                rounds.append(last["rounds_completed"])
                wire.append(last.get("wire_bytes", 0) / n)
                # every byte through the node's WebSockets during the computation (one at a time here): tasks,
                # relays, results, signatures and JSON; heartbeats go by HTTP and are not in it
                ws.append(sum(after[k] - before[k] for k in ("bytes_in", "bytes_out")) / n)
                answers.append(bytes.fromhex(last["result"]).decode())
        finally:
            node.stop()
    best = [min(a, b) for a, b in zip(r1, rd)] if rd else r1
    return {"per_token": statistics.median(q), "ref1": statistics.median(r1),
            "refd": statistics.median(rd) if rd else None,
            "ratio": statistics.median(a / b for a, b in zip(q, best)), "rounds": statistics.median(rounds),
            "wire": statistics.median(wire), "ws": statistics.median(ws), "equal": all(a == ref.answer for a in answers)}


def text_section(quick: bool) -> list[str]:
    tokens, runs = 32, (3 if quick else 6)
    ref = TextReference(tokens)
    stages = ref.stage_times(1 if quick else 2)
    rows = [(layout, text_quorum(layout, ref, runs)) for layout in ("5x3", "3x1")]
    load, probe = os.getloadavg(), host.probe_ns()
    lines = [
        "## Text through the quorum (distributed_ai_model, SmolLM2-135M in 3 stages)",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {os.cpu_count()} cores, load average "
        f"{load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f} (1/5/15 min) at the end,"
        f" host probe {probe:.0f} ns (bench/host.py: lower is faster); prompt {PROMPT.decode()!r}, "
        f"{tokens} new tokens, greedy, answer cache off, {runs} quorum runs after one warm-up, each next to "
        f"one-process `transformers` `generate` runs (KV cache, greedy; at 1 thread as validators run, and at "
        f"{ref.default_threads} threads): the ratio is the median of quorum ÷ the faster one-process run beside it. "
        "Per-stage decode time (one process, KV cache, 1 thread): "
        + ", ".join(f"stage {i} {t * 1e3:.1f} ms/token" for i, t in enumerate(stages)) + ". "
        "Payload bytes: the tensors relayed and handed to verifiers, counted as hex; WebSocket bytes: every "
        "byte of every frame through the node's WebSockets during the computation (binary frames, ai/wire.py).",
        "",
        "| layout | quorum ms/token | quorum tokens/s | generate ms/token (1 thread / "
        f"{ref.default_threads} threads) | quorum ÷ generate | rounds per computation | payload bytes per token | "
        "WebSocket bytes per token | "
        "answer = one-process greedy |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    names = {"5x3": "5 validators, each holding all 3 stages", "3x1": "3 validators, one stage each"}
    for layout, q in rows:
        refd = f"{q['refd'] * 1e3:.1f}" if q["refd"] else "-"
        lines.append(f"| {names[layout]} | {q['per_token'] * 1e3:.1f} | {1 / q['per_token']:.1f} | "
                     f"{q['ref1'] * 1e3:.1f} / {refd} | **{q['ratio']:.2f}x** | {q['rounds']:.0f} | "
                     f"{q['wire']:,.0f} | {q['ws']:,.0f} | {'yes' if q['equal'] else 'NO'} |")
    lines.append("")
    return lines


def main(quick: bool, digits_only: bool = False) -> str:
    """`--digits`: the digits_cnn part only (no SmolLM2 validators: minutes less, 1 GB less per validator)."""
    n_images = 40 if quick else 120
    images = _images(n_images)
    base = direct(images)
    sched = scheduler_time(5, 10 if quick else 40)
    flights = (1, 4, 16)
    rows = [(v, *quorum(v, images, flights)) for v in ((3, 5) if quick else (3, 5, 7))]
    load, probe = os.getloadavg(), host.probe_ns()
    lines = [
        "## Distributed AI (digits_cnn)",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {os.cpu_count()} cores, load average "
        f"{load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f} (1/5/15 min) at the end,"
        f" host probe {probe:.0f} ns (bench/host.py: lower is faster); {'quick' if quick else 'full'} run, "
        f"{n_images} images, answer cache off. Quorum overhead = end-to-end latency - the model's compute "
        "(validators run it in parallel, so once on the critical path); the client (`http.client`: a `requests` call "
        "costs ≈1.3 ms of CPU on the same 2 cores) keeps its HTTP connections alive and waits for the end with one "
        "`synergy_getDistributedAIStatus(id, 30)` call (woken by the finish, no polling); every validator has had tasks "
        "before the measured calls (2 computations a validator first).",
        "",
        f"- direct inference in one process: **{base * 1e3:.2f} ms** (median)",
        f"- scheduler's own CPU time per computation (5 validators, ML-DSA checks included): **{sched * 1e3:.2f} ms**",
        "",
        "| validators | end-to-end latency (median) | quorum overhead | overhead, one request (initiate with wait) | "
        "CPU per computation: node / validators / client | "
        + " | ".join(f"computations/s, {f} in flight" for f in flights) + " |",
        "|---:|---:|---:|---:|---:|" + "---:|" * len(flights),
    ]
    for validators, lat, rates, cpu, one in rows:
        lines.append(f"| {validators} | {lat * 1e3:.1f} ms | {(lat - base) * 1e3:.1f} ms | {(one - base) * 1e3:.1f} ms | "
                     f"{cpu[0] * 1e3:.1f} / {cpu[1] * 1e3:.1f} / {cpu[2] * 1e3:.1f} ms | "
                     + " | ".join(f"{rates[f]:.1f}" for f in flights) + " |")
    if not digits_only:
        lines += ["", *text_section(quick)]
    text = "\n".join(lines) + "\n"
    print(text)
    return text


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="Distributed AI: the quorum against one process, printed "
                                 "(`python -m bench.run --only ai` records it in RESULTS.md)")
    ap.add_argument("--quick", action="store_true", help="fewer images and runs, 3 and 5 validators only")
    ap.add_argument("--digits", action="store_true", help="the digits_cnn part only (no text validators)")
    args = ap.parse_args()
    main(args.quick, args.digits)
