"""A `--validators 0` node keeps its AI layer (and torch) unloaded until first use.

Checked on a real node process through /proc/<pid>/maps (torch's shared libraries are
mapped exactly when torch is imported), not by timing: idle, the node answers stats and
chain requests with torch absent; the first AI request starts the layer and is answered;
an external validator registers on such a node.
"""
from __future__ import annotations

import os
import time

import pytest
from eth_abi import encode

from tests.nodeproc import start_node

PRECOMPILE_AI_INFER = "0x" + (0x0120).to_bytes(20, "big").hex()


def torch_loaded(node) -> bool:
    maps = open(f"/proc/{node.proc.pid}/maps").read()
    return "libtorch" in maps or "/torch/" in maps


def rss_mb(node) -> float:
    for line in open(f"/proc/{node.proc.pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.fixture
def idle_node(tmp_path):
    n = start_node(tmp_path)
    yield n
    n.stop()


def _wait_models(node, timeout: float = 180) -> list:
    deadline = time.monotonic() + timeout
    while True:
        reply = node.rpc("synergy_listAIModels", timeout=timeout)
        if "result" in reply or time.monotonic() > deadline:
            return reply
        time.sleep(0.2)



def register_one_validator(node, keys_dir):
    """A fresh validator key set funded and registered over RPC, as an external validator does; (keys, reply)."""
    from ai.validator import local

    v = local.prepare(keys_dir, 1)[0]
    stake = local.STAKE_ETH * 10**18
    node.rpc("hardhat_setBalance", "0x" + v.address.hex(), hex(stake + 10**18))
    public_keys, proof = local.registration(v, 31337, stake)
    reply = node.rpc("synergy_registerValidator", "0x" + public_keys.hex(), hex(stake), "0x" + proof.hex(),
                     timeout=180)
    assert reply.get("result", {}).get("success") is True, reply
    return v, reply

def test_idle_node_has_no_torch_until_the_first_ai_request(idle_node):
    node = idle_node
    assert node.rpc("eth_blockNumber")["result"] == "0x0"
    stats = node.rpc("synergy_getAIVMStats")["result"]  # answered while idle: no error, says why
    assert stats["ai_ready"] is False and stats["ai_status"].startswith("idle")
    assert "distributed_ai" not in stats["supported_features"]
    assert not torch_loaded(node), "torch was imported by an idle --validators 0 node"
    idle_rss = rss_mb(node)

    # a contract (here: a call straight to the precompile) gets a clear error, and starts the layer
    data = "0x" + encode(["string", "bytes"], ["digits_cnn", bytes(64)]).hex()
    reply = node.rpc("eth_call", {"to": PRECOMPILE_AI_INFER, "data": data}, "latest")
    assert reply["error"]["code"] != -32603
    assert "starting on this node" in reply["error"]["message"]

    models = _wait_models(node)  # the first AI RPC request waits for the layer, then answers
    assert "result" in models, models
    assert "digits_cnn" in {m["model_id"] for m in models["result"]}
    assert torch_loaded(node)
    stats = node.rpc("synergy_getAIVMStats")["result"]
    assert stats["ai_ready"] is True and "distributed_ai" in stats["supported_features"]
    assert rss_mb(node) > idle_rss  # what the lazy start saves (figures in bench/RESULTS.md)
    assert "starting the AI layer (first use" in node.log()


def test_openai_model_list_starts_the_layer(idle_node):
    import requests

    node = idle_node
    assert not torch_loaded(node)
    r = requests.get(f"{node.url}/v1/models", timeout=180)
    assert r.status_code == 200, r.text
    assert torch_loaded(node)
    assert "starting the AI layer (first use: GET /v1/models)" in node.log()


def test_external_validator_registers_on_an_idle_node(idle_node, tmp_path):
    node = idle_node
    assert not torch_loaded(node)
    v, reply = register_one_validator(node, tmp_path / "keys")
    assert reply["result"]["address"] == "0x" + v.address.hex()
    listed = node.rpc("synergy_listValidators")["result"]
    assert any(("0x" + v.address.hex()) in str(entry).lower() for entry in listed), listed


def test_a_restart_with_validators_on_record_starts_the_layer_at_once(tmp_path):
    """A data dir that holds registered validators: they will reconnect, so the node does not wait."""
    data = tmp_path / "data"
    node = start_node(tmp_path, data_dir=data)
    try:
        register_one_validator(node, tmp_path / "keys")
    finally:
        node.stop()
    node = start_node(tmp_path, data_dir=data)
    try:
        deadline = time.monotonic() + 180
        while not torch_loaded(node) and time.monotonic() < deadline:  # no request is sent meanwhile
            time.sleep(0.2)
        assert torch_loaded(node)
        assert "idle" not in node.log()
        assert _wait_models(node).get("result")
    finally:
        node.stop()


# Loaded by the node process as `sitecustomize` (PYTHONPATH): notes which thread first imports torch.
TORCH_IMPORT_WATCH = """
import os, sys, threading


class _Watch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch":
            sys.meta_path.remove(self)
            with open(os.environ["AIVM_TEST_TORCH_THREAD"], "a") as f:
                f.write(threading.current_thread().name + "\\n")
        return None


sys.meta_path.insert(0, _Watch())
"""


def test_the_ai_layer_is_imported_off_the_event_loop(tmp_path, monkeypatch):
    """Importing the AI layer imports torch (seconds on a loaded machine). On the event loop (the main thread)
    that would stall every HTTP and WebSocket request meanwhile, chain reads included, so the start imports it
    on a worker thread."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(TORCH_IMPORT_WATCH)
    record = tmp_path / "torch-thread.txt"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH")) if p))
    monkeypatch.setenv("AIVM_TEST_TORCH_THREAD", str(record))
    node = start_node(tmp_path)
    try:
        assert node.rpc("eth_blockNumber")["result"] == "0x0" and not record.exists()
        assert "result" in _wait_models(node)  # the first AI request starts the layer
        threads = record.read_text().split()
        assert threads and "MainThread" not in threads, f"torch was first imported on {threads}"
    finally:
        node.stop()
