"""Distributed AI: what the quorum costs over running the model once, in the same run.

- direct: `digits_cnn` inference in this process (the baseline);
- quorum: the same inference through a node and N validator processes
  (RPC + scheduling + N model runs + N ML-DSA signatures and verifications),
  one request at a time (latency) and many in flight (throughput);
- scheduler: the scheduler's own time per computation (initiate + submits,
  signature checks included, model runs and signing excluded), in process.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def _images(n: int) -> list[bytes]:
    from sklearn.datasets import load_digits

    data = load_digits().data
    return [bytes(int(x) for x in data[i % len(data)]) for i in range(n)]


def direct(images: list[bytes]) -> float:
    import torch

    from ai.models import load_model

    torch.set_num_threads(1)  # as validators run it
    runner = load_model("digits_cnn")
    runner.infer(images[0])
    times = []
    for img in images:
        t = time.perf_counter()
        runner.infer(img)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


class _Node:
    def __init__(self, work: Path, validators: int) -> None:
        import socket

        from ai.validator import local

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        cfg = work / "cfg.toml"
        cfg.write_text("[node]\nai_cache = false\nai_task_timeout = 30\n")
        self.log = open(work / "node.log", "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vm.cli", "start", "--ephemeral", "--port", str(self.port), "--validators", "0",
             "--config", str(cfg)], stdout=self.log, stderr=subprocess.STDOUT, cwd=work)
        self.url = f"http://127.0.0.1:{self.port}"
        self._wait(lambda: "result" in self.rpc_raw("synergy_listAIModels"), 600)
        self.validators = local.prepare(work / "keys", validators)
        for v in self.validators:
            self.rpc("hardhat_setBalance", "0x" + v.address.hex(), hex(20 * 10**18))
        local.start(self.validators, self.url, work / "logs", holds="digits_cnn")
        self._wait(lambda: self.rpc("synergy_getAIVMStats")["active_validators"] >= validators, 300)

    def _wait(self, ready, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if ready():
                    return
            except requests.RequestException:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("the node exited")
            time.sleep(0.3)
        raise TimeoutError("the node or its validators did not become ready")

    def rpc_raw(self, method, *params):
        return requests.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
                             timeout=120).json()

    def rpc(self, method, *params):
        reply = self.rpc_raw(method, *params)
        if "error" in reply:
            raise RuntimeError(reply["error"]["message"])
        return reply["result"]

    def infer(self, image: bytes) -> float:
        t = time.perf_counter()
        cid = self.rpc("synergy_initiateDistributedAI", "digits_cnn", image.hex())["computation_id"]
        while self.rpc("synergy_getDistributedAIStatus", cid)["status"] not in ("Completed", "Failed"):
            time.sleep(0.005)
        return time.perf_counter() - t

    def stop(self) -> None:
        from ai.validator import local

        local.stop(self.validators)
        self.proc.terminate()
        self.proc.wait(30)


def quorum(validators: int, images: list[bytes], concurrency: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="aivm-bench-ai-") as tmp:
        node = _Node(Path(tmp), validators)
        try:
            node.infer(images[0])
            latency = statistics.median(node.infer(img) for img in images[: max(5, len(images) // 4)])
            t = time.perf_counter()
            with ThreadPoolExecutor(concurrency) as pool:
                list(pool.map(node.infer, images))
            throughput = len(images) / (time.perf_counter() - t)
        finally:
            node.stop()
    return latency, throughput


def scheduler_time(validators: int, computations: int) -> float:
    """Seconds of scheduler work per computation, with real keys, models and records."""
    from eth_hash.auto import keccak

    from ai import protocol
    from ai.models import get_manifest, load_model
    from ai.records import AIRecords
    from ai.scheduler import Scheduler
    from pqc import bundle
    from pqc.keys import KeySet
    from pqc.validators import set_size
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

    manifest = get_manifest("digits_cnn")
    s = Scheduler(AIRecords(chain.store.kv), 31337, {"digits_cnn": manifest}, Hooks(), cache=False)
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
    assert set_size(chain.storage, protocol.stage_set_id("digits_cnn", 0)) == validators
    by_addr = {protocol.validator_address(k.signing_keys()): k for k in keys}
    spent = 0.0
    for img in _images(computations):
        t = time.perf_counter()
        comp = s.initiate("digits_cnn", img)
        spent += time.perf_counter() - t
        output = runner.infer(img)
        for task in list(comp.round.tasks.values()):
            vote = protocol.TaskVote(31337, comp.id, "digits_cnn", 0, 0, keccak(img), keccak(img),
                                     runner.commitment(output), keccak(output))
            sig = bundle.sign(by_addr[task.address], vote.message_hash).encode()
            t = time.perf_counter()
            if task.status == "Assigned":
                s.submit(task.task_id, task.address, output, sig)
            spent += time.perf_counter() - t
        assert s.get(comp.id).status == "Completed"
    return spent / computations


def main(quick: bool) -> str:
    n_images = 40 if quick else 120
    images = _images(n_images)
    base = direct(images)
    sched = scheduler_time(5, 10 if quick else 40)
    rows = []
    for validators in ((3, 5) if quick else (3, 5, 7)):
        for conc in ((1, 8) if quick else (1, 8, 32)):
            lat, thr = quorum(validators, images, conc)
            rows.append((validators, conc, lat, thr))
    load = os.getloadavg()[0]
    lines = [
        "## Distributed AI (digits_cnn)",
        "",
        f"Machine: {os.cpu_count()} cores, load average {load:.2f} at the end of the run; "
        f"{'quick' if quick else 'full'} run, {n_images} images, answer cache off.",
        "",
        f"- direct inference in one process: **{base * 1e3:.2f} ms** (median)",
        f"- scheduler's own time per computation (5 validators, ML-DSA checks included): **{sched * 1e3:.1f} ms**",
        "",
        "| validators | requests in flight | end-to-end latency (median) | x direct | throughput |",
        "|---:|---:|---:|---:|---:|",
    ]
    for validators, conc, lat, thr in rows:
        lines.append(f"| {validators} | {conc} | {lat * 1e3:.1f} ms | {lat / base:.0f}x | {thr:.1f} computations/s |")
    text = "\n".join(lines) + "\n"
    print(text)
    return text


if __name__ == "__main__":
    main("--quick" in sys.argv)
