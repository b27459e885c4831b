"""ethers.js v6 drives a real node: tests/js/client.mjs, checked here.

The node is ours (``python -m app.cli start --ephemeral``) once app/cli.py
exists. Before that, or with ``AIVM_ETHERS_TARGET=anvil``, the script runs
against Anvil from .peers so the script itself stays known-good.
ethers is installed into tests/js/node_modules with npm when missing; the
test is skipped only when npm (or node) is not on PATH.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

JS = Path(__file__).resolve().parent
REPO = JS.parents[1]
CONTRACT = JS / "Store.vy"
DEV0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
DEV1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _chain_id(url: str) -> str:
    body = b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}'
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=2) as resp:
        return json.loads(resp.read())["result"]


def _aivm_available() -> bool:
    from bridge import peers

    return peers.aivm_available()


def _start_aivm(log_path: Path) -> tuple[str, subprocess.Popen]:
    port = _free_port()
    cmd = [sys.executable, "-m", "app.cli", "start", "--ephemeral", "--host", "127.0.0.1",
           "--port", str(port), "--validators", "0"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    return f"http://127.0.0.1:{port}", proc


@contextlib.contextmanager
def running_aivm(log_path: Path, ready_within: float = 60):
    """A fresh dev node (its own process group), its URL yielded once eth_chainId answers; stopped on exit."""
    url, proc = _start_aivm(log_path)
    try:
        deadline = time.monotonic() + ready_within
        while True:
            if proc.poll() is not None:
                pytest.fail(f"node exited ({proc.returncode}):\n{log_path.read_text()[-3000:]}")
            try:
                _chain_id(url)
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"node not ready in {ready_within:.0f} s:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.1)
        yield url
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@pytest.fixture(scope="module")
def ethers_installed() -> None:
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        pytest.skip("npm/node are not on PATH: cannot install or run ethers.js")
    if (JS / "node_modules" / "ethers" / "package.json").exists():
        return
    verb = "ci" if (JS / "package-lock.json").exists() else "install"
    res = subprocess.run([npm, verb, "--no-audit", "--no-fund", "--loglevel=error"],
                         cwd=JS, capture_output=True, text=True, timeout=300)
    if res.returncode != 0 and verb == "ci":
        res = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
                             cwd=JS, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, f"npm {verb} in tests/js failed:\n{res.stderr[-2000:]}"


@pytest.fixture(scope="module")
def node_url(tmp_path_factory) -> str:
    """URL of a fresh dev node: ours, or Anvil until ours exists."""
    target = os.environ.get("AIVM_ETHERS_TARGET") or ("aivm" if _aivm_available() else "anvil")
    if target == "anvil":
        sys.path.insert(0, str(REPO))
        from bridge import peers

        if peers.anvil_binary() is None and peers.install().get("anvil"):
            pytest.skip("app.cli is not there yet and Anvil could not be installed")
        node = peers.start("anvil", timeout=30)
        try:
            yield node.url
        finally:
            peers.stop(node)
        return
    with running_aivm(tmp_path_factory.mktemp("aivm") / "node.log") as url:
        yield url


@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> Path:
    import vyper

    out = vyper.compile_code(CONTRACT.read_text(), output_formats=["abi", "bytecode"])
    path = tmp_path_factory.mktemp("ethers") / "Store.json"
    path.write_text(json.dumps({"abi": out["abi"], "bytecode": out["bytecode"]}))
    return path


@pytest.fixture(scope="module")
def result(ethers_installed, node_url, artifact) -> dict:
    proc = subprocess.run(["node", str(JS / "client.mjs"), node_url, str(artifact)],
                          cwd=JS, capture_output=True, text=True, timeout=90)
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"client.mjs printed no JSON (exit {proc.returncode}):\n"
                    f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    data["exit_code"] = proc.returncode
    return data


def test_no_step_failed(result):
    assert result["errors"] == [], json.dumps(result["errors"], indent=2)
    assert result["exit_code"] == 0


def test_basics_and_accounts(result):
    s = result["steps"]
    assert s["basics"]["chainId"] == 31337
    assert s["basics"]["walletAddress"] == DEV1
    assert int(s["basics"]["walletBalance"]) > 0
    assert s["unlockedSigner"]["address"] == DEV0


def test_deploy_call_transact(result):
    s = result["steps"]
    assert s["deploy"]["status"] == 1 and s["deploy"]["code"] is True
    assert s["viewCall"] == {"get": "42", "value": "42", "owner": DEV1}
    assert s["transact"]["status"] == 1
    assert s["transact"]["events"] == [{"name": "Stored", "who": DEV1, "value": "7"}]
    assert s["transact"]["valueAfter"] == "7"


def test_estimate_gas_close_to_used(result):
    est = result["steps"]["estimateGas"]
    estimate, used = int(est["estimate"]), int(est["gasUsed"])
    assert used <= estimate <= used * 1.25 + 5_000, est
    assert int(est["plainTransfer"]) == 21_000


def test_revert_reasons_decoded(result):
    rev = result["steps"]["revert"]
    for name, reason in [("sendWithReason", "unlucky number"), ("staticCall", "always fails"),
                         ("estimate", "always fails"), ("viaProviderCall", "unlucky number")]:
        assert rev[name]["code"] == "CALL_EXCEPTION", (name, rev[name])
        assert rev[name]["reason"] == reason, (name, rev[name])


def test_unlocked_account_sends(result):
    s = result["steps"]["unlockedSend"]
    assert s["from"] == DEV0 and s["status"] == 1
    assert (s["who"], s["value"]) == (DEV0, "21")
    assert s["ethTransferStatus"] == 1


def test_transaction_types(result):
    s = result["steps"]
    assert s["eip1559"]["type"] == 2 and s["eip1559"]["status"] == 1
    assert int(s["eip1559"]["maxFeePerGas"]) >= int(s["eip1559"]["effectiveGasPrice"])
    assert s["legacy"]["type"] == 0 and s["legacy"]["status"] == 1


def test_logs_with_filters(result):
    logs = result["steps"]["logs"]
    assert logs["all"] == 3
    assert logs["byWallet"] == ["7", "8"]
    assert logs["bySigner"] == ["21"]
    assert logs["none"] == 0


def test_websocket_subscriptions(result):
    ws = result["steps"]["websocket"]
    assert ws["chainId"] == 31337
    assert ws["event"] == {"who": DEV1, "value": "99"}
    assert ws["block"] >= 1
