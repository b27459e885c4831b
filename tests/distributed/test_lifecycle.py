"""A clean lifecycle (issue 9): ready means usable, stopping is bounded in every state, validators follow the node.

Real `aivm start` processes with local validator processes, plus an external
`aivm validator` that hangs on its tasks.
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sklearn.datasets import load_digits

from ai.validator import local
from tests.distributed.ai_contract import compiled
from tests.nodeproc import free_port, start_node

DIGITS = load_digits()
CONFIG = """
[node]
validator_holds = "digits_cnn"
ai_task_timeout = 30
"""


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        out += [int(p) for p in text]
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


def _ok(node, method, *params):
    reply = node.rpc(method, *params, timeout=120)
    assert "result" in reply, reply
    return reply["result"]


def test_ready_means_usable_stop_is_bounded_and_validators_follow_the_node(tmp_path):
    cfg = tmp_path / "aivm-config.toml"
    cfg.write_text(CONFIG)
    data = tmp_path / "chain"
    port = free_port()
    node = start_node(tmp_path, "--config", str(cfg), "--validators", "2", data_dir=data, port=port, timeout=120)
    external = None
    try:
        # a request right after start-up waits for the local validators instead of failing
        image = bytes(int(x) for x in DIGITS.data[5])
        cid = _ok(node, "synergy_initiateDistributedAI", "digits_cnn", image.hex())["computation_id"]
        deadline = time.monotonic() + 120
        while (status := _ok(node, "synergy_getDistributedAIStatus", cid))["status"] not in ("Completed", "Failed"):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert status["status"] == "Completed", status
        assert "distributed AI ready: 2 validators registered and eligible" in node.log()
        stats = _ok(node, "synergy_getAIVMStats")
        assert stats["ai_ready"] is True and stats["ai_status"] == "ready" and stats["eligible_validators"] == 2
        assert "cross_chain" not in stats["supported_features"] and "distributed_ai" in stats["supported_features"]
        listed = _ok(node, "synergy_listValidators")
        assert len(listed) == 2 and all(v["eligible"] and v["validator_address"].startswith("sYn") for v in listed)
        local_pids = _children(node.proc.pid)
        assert len(local_pids) == 2

        # an external validator that hangs on every task, connected over HTTP and WebSocket
        keys = local.prepare(tmp_path / "external", 1)[0]
        _ok(node, "hardhat_setBalance", "0x" + keys.address.hex(), hex(20 * 10**18))
        log = open(tmp_path / "external.log", "wb")
        external = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "validator", "--rpc", node.url, "--keystore", str(keys.keystore_path),
             "--password-file", str(keys.password_path), "--holds", "digits_cnn", "--behaviour", "delay=120",
             "--stake", "15"],  # 15 of 35 ETH: more than a third of the stake, so rounds wait for it
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + 120
        while _ok(node, "synergy_getAIVMStats")["eligible_validators"] < 3:
            assert time.monotonic() < deadline and external.poll() is None, (tmp_path / "external.log").read_text()
            time.sleep(0.3)

        # in flight: an RPC computation and a contract's ai_infer, both waiting on the hung validator
        art = compiled()
        contract = _ok(node, "synergy_deployAIVMContract", art["bytecode"], art["abi"], "ai")["contract_address"]
        from web3 import Web3

        w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 5}))
        ai = w3.eth.contract(address=contract, abi=art["abi"])
        _ok(node, "synergy_initiateDistributedAI", "digits_cnn", bytes(int(x) for x in DIGITS.data[9]).hex())
        raw = {"from": w3.eth.accounts[1], "to": contract, "gas": hex(500_000),
               "data": ai.encode_abi("infer", ["digits_cnn", bytes(int(x) for x in DIGITS.data[11])])}
        import threading

        threading.Thread(target=lambda: _quiet(node, "eth_sendTransaction", raw), daemon=True).start()
        time.sleep(1.0)
        t = time.monotonic()
        node.proc.send_signal(signal.SIGTERM)
        node.proc.wait(30)
        took = time.monotonic() - t
        assert took < 8, f"SIGTERM took {took:.1f} s with a computation in flight and a hung validator"
        assert "stopped cleanly" in node.log()
        assert not _wait_gone(local_pids, 5), "local validators outlived their node"
        assert external.poll() is None  # the external one keeps trying to reconnect

        # the node comes back on the same port and data: the external validator rejoins by itself
        node = start_node(tmp_path, "--config", str(cfg), "--validators", "2", data_dir=data, port=port, timeout=120)
        ext = "0x" + keys.address.hex()
        deadline = time.monotonic() + 60
        while not any(v["address"] == ext and v["eligible"]
                      for v in node.rpc("synergy_listValidators", timeout=30).get("result", [])):
            assert time.monotonic() < deadline, (tmp_path / "external.log").read_text()[-3000:]
            time.sleep(0.3)

        # kill -9: nothing tidy happens in the node, yet its local validators exit
        local_pids = _children(node.proc.pid)
        assert len(local_pids) == 2
        node.proc.send_signal(signal.SIGKILL)
        node.proc.wait(10)
        assert not _wait_gone(local_pids, 5), "local validators outlived a killed node"
    finally:
        node.stop()
        if external is not None and external.poll() is None:
            external.kill()
            external.wait()


def _quiet(node, method, *params):
    try:
        node.rpc(method, *params, timeout=30)
    except Exception:
        pass
