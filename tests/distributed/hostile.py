"""Hostile validators of the tests' own: they speak the real protocol over JSON-RPC only.

Each has real ML-DSA keys, registers with proof of possession (after the test
funds its account), attests the real digits shard, sends signed heartbeats and
answers its tasks as told:

- "lie": computes the true digit with the real model, then signs and submits
  (true + 1) % 10; every liar signs the same wrong answer, pooling its stake;
- "withhold": accepts tasks and never answers;
- "honest": submits the true answer;
- silent (`Swarm.silence`): stops heartbeating altogether (offline).

A `Swarm` drives many of them from one thread with JSON-RPC batches (one POST
a second carries every heartbeat and task poll), so 100 validators cost the
machine little.
"""
from __future__ import annotations

import threading
import time
from typing import Optional

import requests
from eth_hash.auto import keccak

from ai import protocol
from pqc import bundle
from pqc.keys import KeySet
from vm.addresses import to_syn

ETH = 10**18
MODEL = "digits_cnn"


class Hostile:
    def __init__(self, url: str, chain_id: int, behaviour: str = "lie") -> None:
        self.url, self.chain_id, self.behaviour = url, chain_id, behaviour
        self.keys = KeySet.generate(protocol.LEVEL, with_kem=False)
        self.pub = self.keys.signing_keys()
        self.address = protocol.validator_address(self.pub)
        self.hex = "0x" + self.address.hex()
        self.syn = to_syn(self.address)
        self.alive = True  # sends heartbeats
        self.last_ts = 0
        self.answered: set[str] = set()

    def sign(self, message: bytes) -> str:
        return "0x" + bundle.sign(self.keys, message).encode().hex()

    def call(self, method: str, *params):
        reply = requests.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
                              timeout=60).json()
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']['message']}")
        return reply["result"]

    # -- the protocol, one request each --
    def registration(self, stake: int) -> list:
        msg = protocol.registration_message(self.chain_id, self.address, self.pub.key_hash, stake)
        return ["synergy_registerValidator", "0x" + self.pub.encode().hex(), hex(stake), self.sign(msg)]

    def attestation(self, sha256: str) -> list:
        att = {"software_version": "hostile/1", "shards": [{"model_id": MODEL, "stage": 0, "sha256": sha256}],
               "cores": 1, "memory_mb": 4096, "gpu": None, "timestamp": int(time.time())}
        return ["synergy_attestValidator", self.syn, att,
                self.sign(protocol.attestation_message(self.chain_id, self.address, att))]

    def heartbeat(self) -> Optional[list]:
        ts = max(int(time.time()), self.last_ts + 1)
        if ts > time.time() + 30:
            return None
        self.last_ts = ts
        return ["synergy_validatorHeartbeat", self.syn, ts,
                self.sign(protocol.heartbeat_message(self.chain_id, self.address, ts))]

    def answer(self, task: dict, runner) -> Optional[list]:
        """The submission this validator makes for `task` (None: it withholds)."""
        if self.behaviour == "withhold" or task["task_id"] in self.answered or "input" not in task:
            return None
        self.answered.add(task["task_id"])
        data = bytes.fromhex(task["input"])
        output = runner.infer(data)
        if self.behaviour == "lie":
            output = bytes([(output[0] + 1) % 10])
        vote = protocol.TaskVote(self.chain_id, task["computation_id"], MODEL, 0, task["step"],
                                 bytes.fromhex(task["request_hash"][2:]), keccak(data),
                                 runner.commitment(output), keccak(output))
        return ["synergy_submitAIPartialResult", task["task_id"], self.syn, output.hex(), self.sign(vote.message_hash)]


    def late_lie(self, computation_id: str, data: bytes, runner) -> list:
        """A signed wrong answer for a task of a decided round (its id is the guide's `<cid>_task_<addr>`)."""
        task = {"task_id": f"{computation_id}_task_{self.syn}", "computation_id": computation_id, "step": 0,
                "input": data.hex(), "request_hash": "0x" + keccak(data).hex()}
        self.answered.discard(task["task_id"])
        behaviour, self.behaviour = self.behaviour, "lie"
        try:
            return self.answer(task, runner)
        finally:
            self.behaviour = behaviour


class Swarm:
    """Many hostile validators, kept alive (heartbeats, task answers) by one background thread."""

    def __init__(self, url: str, chain_id: int = 31337) -> None:
        from models import get_manifest, load_model

        self.url, self.chain_id = url, chain_id
        self.sha256 = get_manifest(MODEL).stage_shard(0).sha256
        self.runner = load_model(MODEL)
        self.members: list[Hostile] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="hostile-swarm")
        self._thread.start()

    def batch(self, calls: list[list]) -> list[dict]:
        out = []
        for i in range(0, len(calls), 500):
            body = [{"jsonrpc": "2.0", "id": j, "method": c[0], "params": c[1:]} for j, c in enumerate(calls[i:i + 500])]
            replies = requests.post(self.url, json=body, timeout=120).json()
            out += sorted(replies, key=lambda r: r["id"])
        return out

    def join(self, stakes: list[int], behaviour: str = "lie", beat: bool = True) -> list[Hostile]:
        """Fund, register (with proof of possession), attest and (unless `beat` is False) heartbeat."""
        new = [Hostile(self.url, self.chain_id, behaviour) for _ in stakes]
        self.batch([["hardhat_setBalance", h.hex, hex(s + ETH)] for h, s in zip(new, stakes)])
        steps = [[h.registration(s) for h, s in zip(new, stakes)], [h.attestation(self.sha256) for h in new]]
        if beat:
            steps.append([h.heartbeat() for h in new])
        for step in steps:
            replies = self.batch(step)
            bad = [r["error"]["message"] for r in replies if "error" in r]
            assert not bad, bad[:3]
        for h in new:
            h.alive = beat
        with self._lock:
            self.members += new
        return new

    def top_up(self, h: Hostile, total: int) -> dict:
        """Re-register with a higher total stake: the difference is locked (the top-up path)."""
        return h.call(*h.registration(total))

    def reattest(self, h: Hostile) -> dict:
        return h.call(*h.attestation(self.sha256))

    def silence(self, members: list[Hostile]) -> None:
        """These stop heartbeating (and answering): offline."""
        with self._lock:
            for h in members:
                h.alive = False

    def silence_all(self) -> None:
        self.silence(list(self.members))

    def _run(self) -> None:
        while not self._stop.wait(0.7):
            with self._lock:
                alive = [h for h in self.members if h.alive]
            if not alive:
                continue
            try:
                beats = [(h, h.heartbeat()) for h in alive]
                calls = [c for _, c in beats if c] + [["synergy_getValidatorAITasks", h.syn] for h in alive]
                replies = self.batch(calls)
                tasks = replies[len(calls) - len(alive):]
                answers = []
                for h, reply in zip(alive, tasks):
                    for task in reply.get("result", []):
                        a = h.answer(task, self.runner)
                        if a:
                            answers.append(a)
                if answers:
                    self.batch(answers)
            except Exception as exc:  # keep going: a test asserts on outcomes, this only keeps them alive
                self.errors.append(repr(exc))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
