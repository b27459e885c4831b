"""Start a real `aivm start` process for tests, and stop it."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class NodeProcess:
    proc: subprocess.Popen
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def rpc(self, method: str, *params, timeout: float = 30):
        r = requests.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}, timeout=timeout)
        return r.json()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_node(workdir: Path, *args: str, data_dir: Optional[Path] = None, port: Optional[int] = None,
               timeout: float = 60) -> NodeProcess:
    port = port or free_port()
    cmd = [sys.executable, "-m", "app.cli", "start", "--port", str(port), "--validators", "0", *args]
    cmd += ["--data-dir", str(data_dir)] if data_dir else ["--ephemeral"]
    log_path = workdir / f"node-{port}-{time.monotonic_ns()}.log"
    log = open(log_path, "wb")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=workdir, env=env)
    node = NodeProcess(proc, port, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"node exited with {proc.returncode}:\n{node.log()}")
        if "Listening on" in node.log():
            return node
        time.sleep(0.1)
    node.stop(signal.SIGKILL)
    raise RuntimeError(f"node did not start in {timeout}s:\n{node.log()}")
