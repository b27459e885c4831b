"""A real OpenAI-compatible server for tests: `transformers serve` on the converted SmolLM2 folder."""
import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

from models.errors import EndpointError
from models.openai_endpoint import list_endpoint_models

TRANSFORMERS_CLI = Path(sys.executable).with_name("transformers")


@contextlib.contextmanager
def transformers_serve(hf_dir: Path, timeout: float = 180) -> Iterator[str]:
    """Yield the server's URL once it lists its model; stop it afterwards."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([str(TRANSFORMERS_CLI), "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--device", "cpu", "--dtype", "float32", str(hf_dir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if list_endpoint_models(url, timeout=2):
                    break
            except EndpointError:
                pass
            if proc.poll() is not None:
                raise RuntimeError(f"transformers serve exited: {proc.stderr.read()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"transformers serve did not come up in {timeout:.0f} s")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
