"""[interoperability] lanes: strict at start-up, each mistake one line naming its key."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.nodeproc import ROOT, free_port
from vm import config

ADDR = "0x" + "11" * 20
GOOD = f'''
[interoperability]
supported_chains = ["ethereum", "polygon", "solana"]

[interoperability.chains.ethereum]
rpc_url = "http://127.0.0.1:1"
chain_id = 5
confirmations = 2
bridge_address = "{ADDR}"
'''


def load(tmp_path, text):
    p = tmp_path / "aivm-config.toml"
    p.write_text(text)
    return config.load(p)


def test_good_lane_loads_and_guide_keys_stay(tmp_path):
    cfg = load(tmp_path, GOOD)
    lane = cfg.interoperability.chains["ethereum"]
    assert (lane.chain_id, lane.confirmations, lane.kind, lane.level) == (5, 2, "evm", "Enhanced")
    assert cfg.interoperability.bridge_enabled and cfg.interoperability.cross_chain_gas_limit == 1_000_000
    from interop.config import lanes

    assert lanes(cfg.interoperability)["ethereum"].bridge_address == ADDR


def chain(name="ethereum", **fields):
    body = {"rpc_url": '"http://127.0.0.1:1"', "chain_id": "5", "bridge_address": f'"{ADDR}"', **fields}
    return f"[interoperability.chains.{name}]\n" + "".join(f"{k} = {v}\n" for k, v in body.items() if v is not None)


@pytest.mark.parametrize("text,words", [
    (chain(confirmations="0"), "[interoperability] chains.ethereum.confirmations: input should be greater than or equal to 1"),
    (chain(chain_id="0"), "chains.ethereum.chain_id"),
    (chain(chain_id=None), "chains.ethereum.chain_id: missing"),
    (chain(bridge_address='"0x1234"'), "chains.ethereum.bridge_address: expected a 0x EVM address or a base58"),
    (chain(bridge_address='"0x' + "00" * 20 + '"'), "[interoperability.chains.ethereum] bridge_address: the zero address"),
    (chain(rpc_url='"localhost:8545"'), "chains.ethereum.rpc_url: expected an http(s) URL"),
    (chain(kind='"cosmos"'), "chains.ethereum.kind: expected 'evm', 'aivm' or 'solana'"),
    (chain(level='"Military"'), "[interoperability.chains.ethereum] level: Military requires a zero-knowledge proof"),
    (chain(colour='"blue"'), "chains.ethereum.colour: unknown key"),
    (chain("avalanche"), "[interoperability.chains.avalanche]: 'avalanche' is not in [interoperability] supported_chains"),
    (chain("solana", kind='"solana"'), "[interoperability.chains.solana] bridge_address: a Solana lane needs a base58"),
    (chain() + chain("polygon"), "[interoperability.chains.polygon] chain_id: 5 is already the id of 'ethereum'"),
    ('[interoperability]\nsupported_chains = ["ethereum", "bitcoin"]\n', "Bitcoin bridging is planned"),
])
def test_misconfigured_lane_names_the_key(tmp_path, text, words):
    with pytest.raises(config.ConfigError) as info:
        load(tmp_path, text)
    assert words in str(info.value)


def test_node_refuses_to_start_with_a_lane_that_answers_another_chain_id(tmp_path):
    """The lane's RPC answers (an Anvil): its chain id must be the configured one, and the bridge must exist."""
    from bridge.devnet import anvil_binary
    from bridge.hub import BridgeHub
    from interop.config import lanes

    port = free_port()
    anvil = subprocess.Popen([str(anvil_binary()), "--port", str(port), "--chain-id", "777", "--silent"])
    try:
        from bridge.evm import EvmClient
        import time

        deadline = time.monotonic() + 30
        while True:
            try:
                EvmClient(f"http://127.0.0.1:{port}", timeout=1).chain_id()
                break
            except Exception:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        cfg = tmp_path / "c.toml"
        cfg.write_text(f'[aivm]\nenabled = false\n[interoperability.chains.ethereum]\nrpc_url = "http://127.0.0.1:{port}"\n'
                       f'chain_id = 5\nbridge_address = "{ADDR}"\n')
        r = subprocess.run([sys.executable, "-m", "app.cli", "start", "--ephemeral", "--port", str(free_port()),
                            "--validators", "0", "--config", str(cfg)], cwd=ROOT, capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 2
        assert f"[interoperability.chains.ethereum] chain_id: configured 5, but http://127.0.0.1:{port} is chain 777" in r.stderr
        # the same check in-process: right chain id, but no bridge contract at the address
        section = load(tmp_path, cfg.read_text().replace("chain_id = 5", "chain_id = 777")).interoperability

        class FakeNode:
            class chain:
                class config:
                    chain_id = 31337

        problems = BridgeHub(FakeNode, lanes(section)).check_lanes()
        assert problems == [f"[interoperability.chains.ethereum] bridge_address: no contract at {ADDR} on ethereum"]
    finally:
        anvil.terminate()
        anvil.wait(10)


def test_attester_can_watch_its_own_lane_table(tmp_path):
    from bridge.attester import Attester
    from bridge.keys import AttesterKeys
    from bridge.testing import DevGuardians

    p = tmp_path / "own.toml"
    p.write_text(GOOD)
    a = Attester("http://127.0.0.1:1", AttesterKeys.from_keyset(DevGuardians(1).pqc(0)), tmp_path)
    a.use_config(p)
    assert [(l["name"], l["chain_id"], l["confirmations"]) for l in a.lanes] == [("ethereum", 5, 2)]
