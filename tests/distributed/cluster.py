"""A node plus real validator processes (some misbehaving on purpose) for end-to-end tests."""
from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import requests

from ai.validator import local
from tests.nodeproc import NodeProcess, start_node

CONFIG = """
[node]
ai_task_timeout = {task_timeout}
ai_max_new_tokens = {max_new_tokens}
ai_infer_timeout = {infer_timeout}
ai_join_delay = 0.5
"""


@dataclass
class Cluster:
    node: NodeProcess
    validators: list = field(default_factory=list)
    workdir: Optional[Path] = None

    def rpc(self, method, *params):
        reply = self.node.rpc(method, *params, timeout=120)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']['message']}")
        return reply["result"]

    def rpc_error(self, method, *params) -> str:
        reply = self.node.rpc(method, *params, timeout=120)
        assert "error" in reply, reply
        return reply["error"]["message"]

    def start_ai_layer(self) -> None:
        """Ask for the AI layer without waiting: it loads its models while the validators import theirs
        (they register once it is up)."""
        def ask() -> None:
            with contextlib.suppress(requests.RequestException):  # a node stopped meanwhile: nothing to start
                self.node.rpc("synergy_listAIModels", timeout=600)

        threading.Thread(target=ask, daemon=True).start()

    def wait_active(self, count: int, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.rpc("synergy_getAIVMStats")["active_validators"] >= count:
                return
            dead = [v.index for v in self.validators if v.process and v.process.poll() is not None]
            if dead:
                logs = "\n".join((self.workdir / "logs" / f"validator-{i}.log").read_text()[-2000:] for i in dead)
                raise RuntimeError(f"validators {dead} exited:\n{logs}")
            time.sleep(0.1)
        raise TimeoutError(f"fewer than {count} validators became active")

    def compute(self, model_id: str, data: bytes, timeout: float = 300) -> dict:
        cid = self.rpc("synergy_initiateDistributedAI", model_id, data.hex())["computation_id"]
        return self.wait(cid, timeout)

    def wait(self, cid: str, timeout: float = 300) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.rpc("synergy_getDistributedAIStatus", cid)
            if status["status"] in ("Completed", "Failed"):
                return {**status, **self.rpc("synergy_getDistributedAIResult", cid)}
            time.sleep(0.2)
        raise TimeoutError(f"computation {cid} still running after {timeout}s")

    def stop(self) -> None:
        local.stop(self.validators)
        self.node.stop()


def start_cluster(workdir: Path, count: int, holds: str = "digits_cnn", behaviours: Optional[dict] = None,
                  task_timeout: float = 10, max_new_tokens: int = 4, data_dir: Optional[Path] = None,
                  wait_for: Optional[int] = None, extra_args: tuple = (), infer_timeout: float = 60,
                  hedge_after: Optional[float] = None) -> Cluster:
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / "aivm-config.toml"
    cfg.write_text(CONFIG.format(task_timeout=task_timeout, max_new_tokens=max_new_tokens, infer_timeout=infer_timeout)
                   + ("" if hedge_after is None else f"ai_hedge_after = {hedge_after}\n"))  # CONFIG ends inside [node]
    validators = local.prepare(workdir / "keys", count)
    node = start_node(workdir, "--config", str(cfg), data_dir=data_dir)
    cluster = Cluster(node, workdir=workdir)
    try:
        cluster.start_ai_layer()
        for v in validators:
            node.rpc("hardhat_setBalance", "0x" + v.address.hex(), hex((local.STAKE_ETH + 1) * 10**18))
        local.start(validators, node.url, workdir / "logs", holds=holds, behaviours=behaviours, extra_args=extra_args)
        cluster.validators = validators
        cluster.wait_active(count if wait_for is None else wait_for)
    except BaseException:
        cluster.stop()
        raise
    return cluster
