"""A real node derives its bridge guardian set from its validator registry, by stake.

Validators of the tests' own (tests/distributed/hostile.py: real ML-DSA keys, proof of possession,
signed attestations of the real digits shard, signed heartbeats) join a real `aivm start` over
JSON-RPC; the node's bridge hub follows issue 11's active set on its own. Nobody can install a
set by hand on such a node, and a node that cannot derive one refuses to start.
"""
from __future__ import annotations

import subprocess
import sys
import time

from tests.nodeproc import ROOT, free_port, start_node

ETH = 10**18
GRACE = 4
CONFIG = f"""
[aivm]
enabled = true
[node]
ai_join_delay = 0.5
ai_heartbeat_grace = {GRACE}
[interoperability]
supported_chains = ["ethereum"]
[interoperability.chains.aivm]
kind = "aivm"
rpc_url = "http://127.0.0.1:1"
chain_id = 31337
bridge_address = "0x{'99' * 20}"
"""


def result(node, method, *params):
    reply = node.rpc(method, *params)
    assert "error" not in reply, reply
    return reply["result"]


def wait_for(fn, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def test_node_derives_guardians_from_its_registry_by_stake(tmp_path):
    from tests.distributed.hostile import Swarm

    (tmp_path / "cfg.toml").write_text(CONFIG)
    node = start_node(tmp_path, "--config", str(tmp_path / "cfg.toml"), timeout=180)
    swarm = None
    try:
        # the AI layer (and its registry) starts when the first validator registers (vm/ai_start.py)
        lanes = result(node, "synergy_getBridgeLanes")
        assert lanes["guardian_source"] == "validators" and lanes["guardian_set"] is None
        swarm = Swarm(node.url)
        members = swarm.join([5 * ETH, 3 * ETH, 2 * ETH], behaviour="honest")

        def current():
            r = node.rpc("synergy_getBridgeGuardianSet")
            if "error" in r or r["result"]["members"] != 3:
                return None
            return r["result"]

        gs = wait_for(current, 60, "a derived guardian set of 3")
        assert gs["source"] == "validators" and gs["total_stake"] == str(10 * ETH) and gs["status"] == "valid"
        assert gs["required_stake"] == {"Basic": str(-(-20 * ETH // 3)), "Enhanced": str(-(-30 * ETH // 4))}
        by_validator = {g["validator"]: int(g["stake"]) for g in gs["guardians"]}
        assert by_validator == {m.hex: s for m, s in zip(members, [5 * ETH, 3 * ETH, 2 * ETH])}
        # a validator's attester votes with an Enhanced bundle it endorses (what `aivm validator --bridge-state` does)
        from bridge.attester import Attester
        from bridge.endorse import bridge_keyset
        from bridge.keys import AttesterKeys

        bundle_keys = bridge_keyset(members[1].keys, tmp_path / "bridge-state", scrypt_n=2**10)
        assert bridge_keyset(members[1].keys, tmp_path / "bridge-state").encode_secret() == bundle_keys.encode_secret()
        att = Attester(node.url, AttesterKeys.from_keyset(bundle_keys), tmp_path / "bridge-state", endorser=members[1].keys)
        att.register(lanes["chain_id"], lanes["guardian_source"])
        h = "0x" + bundle_keys.signing_keys().key_hash.hex()
        def endorsed():
            r = current()
            keys = [g["key_hashes"] for g in (r or {"guardians": []})["guardians"] if g["validator"] == members[1].hex]
            return r if keys and h in keys[0] else None

        gs = wait_for(endorsed, 30, "the endorsed bundle in the guardian set")
        assert gs["total_stake"] == str(10 * ETH) and gs["members"] == 3  # one validator, counted once
        # a caller cannot choose the identities this bridge trusts
        reply = node.rpc("synergy_setBridgeGuardians", ["0x" + members[0].pub.encode().hex()])
        assert reply["error"]["code"] == -32000 and "validator registry" in reply["error"]["message"]
        # the 5 ETH validator goes silent: after the heartbeat grace the bridge's set follows
        first = gs["index"]
        swarm.silence([members[0]])
        gs2 = wait_for(lambda: (lambda r: r if r.get("result", {}).get("members") == 2 else None)(
            node.rpc("synergy_getBridgeGuardianSet")), GRACE + 30, "the set without the silent validator")["result"]
        assert gs2["index"] > first and gs2["total_stake"] == str(5 * ETH)
        old = result(node, "synergy_getBridgeGuardianSet", first)
        assert old["status"] == "valid" and not old["current"]  # still inside the stated grace period
        assert 0 < old["expires_at"] - time.time() <= old["grace_seconds"] == 86_400
        bad = node.rpc("synergy_getBridgeGuardianSet", "one")
        assert bad["error"]["code"] == -32602
    finally:
        if swarm is not None:
            swarm.stop()
        node.stop()


def test_registry_source_without_ai_stops_start_up(tmp_path):
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(CONFIG.replace("enabled = true", "enabled = false"))
    r = subprocess.run([sys.executable, "-m", "app.cli", "start", "--ephemeral", "--port", str(free_port()),
                        "--validators", "0", "--config", str(cfg)], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2
    assert '[interoperability] guardian_source: "validators" derives the guardian set' in r.stderr
    # with governance, the same node starts and takes sets by RPC (the devnet's way)
    cfg.write_text(CONFIG.replace("enabled = true", "enabled = false")
                   .replace('supported_chains = ["ethereum"]', 'supported_chains = ["ethereum"]\nguardian_source = "governance"'))
    node = start_node(tmp_path, "--config", str(cfg))
    try:
        from bridge.testing import DevGuardians

        keys = ["0x" + k.signing_keys().encode().hex() for k in DevGuardians(2, seed=b"gov ").pqc_members()]
        out = result(node, "synergy_setBridgeGuardians", keys, [str(3 * ETH), 1])
        assert out == {"guardian_set": 0, "members": 2, "total_stake": str(3 * ETH + 1), "grace_seconds": 86_400}
        assert node.rpc("synergy_setBridgeGuardians", keys, [1])["error"]["code"] == -32602
        assert node.rpc("synergy_setBridgeGuardians", keys, [0, 1])["error"]["code"] == -32602
        gs = result(node, "synergy_getBridgeGuardianSet")
        assert gs["source"] == "governance" and gs["total_stake"] == str(3 * ETH + 1)
    finally:
        node.stop()
