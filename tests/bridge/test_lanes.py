"""Real chains end to end: AIVM <-> Anvil `ethereum` <-> Anvil `polygon` <-> Solana (LiteSVM),
real attester and relayer processes, the node's RPC methods. One devnet for the module
(bridge/devnet.py)."""
from __future__ import annotations

import signal
import time

import pytest

from bridge.devnet import Devnet, dev_address, dev_key
from bridge.evm import EvmClient, calldata, deploy_data
from interop.message import word
from bridge.solana import spl
from bridge.solana.client import SolanaClient, dev_user

pytestmark = pytest.mark.timeout(240)
USER = "0x" + "ab" * 20
ETHER = 10**18


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    with Devnet(tmp_path_factory.mktemp("devnet"), attesters=4, solana=True, aivm2=True,
                confirmations={"ethereum": 3}) as n:
        yield n


def wrapped_balance(net, chain, origin, who=USER):
    return net.client(chain).view(net.chains[chain].wrapped[origin], "WrappedToken", "balanceOf", bytes.fromhex(who[2:]))


def test_lanes_and_round_trip_with_status(net):
    rpc = net.node_rpc()
    lanes = {l["name"]: l for l in rpc("synergy_getBridgeLanes")["lanes"]}
    assert set(lanes) == {"aivm", "aivm2", "ethereum", "polygon", "solana"} and lanes["ethereum"]["confirmations"] == 3
    # AIVM -> polygon: lock AIVM coin, mint wrapped on polygon
    r = rpc("synergy_initiateCrossChainTransfer", "aivm", "native", 3 * ETHER, USER, "polygon")
    assert r["status"] == "initiated"
    st = net.wait_status(r["transfer_id"])
    assert st["attestations"] >= 3 and st["signed_weight"] >= st["required_weight"] == 3
    assert wrapped_balance(net, "polygon", "aivm") == 3 * ETHER
    # polygon -> aivm: the wrapped token is burned and the locked coin released (from dev account 0)
    rpc("synergy_initiateCrossChainTransfer", "aivm", "native", ETHER, dev_address(0), "polygon")
    first = net.wait_status(rpc("synergy_initiateCrossChainTransfer", "aivm", "native", ETHER, dev_address(0),
                                "polygon")["transfer_id"])
    w = net.chains["polygon"].wrapped["aivm"]
    assert net.client("polygon").view(w, "WrappedToken", "balanceOf", bytes.fromhex(dev_address(0)[2:])) >= ETHER
    before = net.client("aivm").balance(USER)
    back = rpc("synergy_initiateCrossChainTransfer", "polygon", w, ETHER, USER, "aivm")
    net.wait_status(back["transfer_id"])
    assert net.client("aivm").balance(USER) == before + ETHER
    assert first["status"] == "delivered"
    stats_total = rpc("synergy_getCrossChainTransferStatus", back["transfer_id"])
    assert stats_total["source_chain"] == "polygon" and stats_total["kind"] == "transfer"
    # the dashboard's Bridges view reads the same hub: lanes, these transfers, their attestations
    assert "cross_chain" in rpc("synergy_getAIVMStats")["supported_features"]  # lanes configured: it exists here
    view = rpc("dashboard_bridges")
    assert view["configured"] is True
    assert {"ethereum", "polygon", "solana"} <= {lane["target_chain"] for lane in view["lanes"]}
    shown = {t["id"]: t for t in view["transfers"]}
    assert back["transfer_id"] in shown and shown[back["transfer_id"]]["state"] == "Completed"
    assert len(shown[back["transfer_id"]]["attestations"]) >= 3
    assert all(a["validator"].startswith("sYn") for a in shown[back["transfer_id"]]["attestations"])


def test_aivm_to_aivm_both_ways(net):
    """Two AIVM nodes (chains 31337 and 31338): PQC certificates verified by 0x0130 on both ends."""
    rpc = net.node_rpc()
    w = net.chains["aivm2"].wrapped["aivm"]
    r = rpc("synergy_initiateCrossChainTransfer", "aivm", "native", 2 * ETHER, dev_address(0), "aivm2")
    st = net.wait_status(r["transfer_id"])
    assert st["delivered_tx"]
    assert net.client("aivm2").view(w, "WrappedToken", "balanceOf", bytes.fromhex(dev_address(0)[2:])) >= 2 * ETHER
    before = net.client("aivm").balance(USER)
    back = rpc("synergy_initiateCrossChainTransfer", "aivm2", w, ETHER, USER, "aivm")
    net.wait_status(back["transfer_id"])
    assert net.client("aivm").balance(USER) == before + ETHER


def test_cross_chain_call_to_two_chains(net):
    rpc = net.node_rpc()
    receivers = {}
    for name in ("ethereum", "polygon"):
        c = net.client(name)
        nonce = int(c.rpc("eth_getTransactionCount", dev_address(7), "latest"), 16)
        c.send(dev_key(7), None, deploy_data("BridgeReceiver", bytes.fromhex(net.chains[name].bridge[2:])))
        from bridge.devnet import create_address

        receivers[name] = create_address(dev_address(7), nonce)
    # the same address on both chains (same deployer and nonce): one call, two chains
    assert receivers["ethereum"] == receivers["polygon"]
    out = rpc("synergy_executeMultiChainContract", ["ethereum", "polygon"], receivers["ethereum"],
              "setValue(uint256)", "0x" + (42).to_bytes(32, "big").hex())
    assert len(out["calls"]) == 2
    for call in out["calls"]:
        net.wait_status(call["transfer_id"])
    from eth_hash.auto import keccak

    for name, addr in receivers.items():
        c = net.client(name)
        assert c.view(addr, "BridgeReceiver", "calls") == 1
        assert c.view(addr, "BridgeReceiver", "lastPayload") == keccak(b"setValue(uint256)")[:4] + (42).to_bytes(32, "big")
        assert c.view(addr, "BridgeReceiver", "lastSrcChain") == net.chains["aivm"].chain_id
        assert c.view(addr, "BridgeReceiver", "lastSender") == word(dev_address(0))


def test_bad_requests_get_clear_errors(net):
    cases = [
        (("synergy_initiateCrossChainTransfer", "aivm", "native", 1, USER, "solana"), "base58"),
        (("synergy_initiateCrossChainTransfer", "aivm", "native", 1, str(dev_user().pubkey()), "solana"), "multiple of"),
        (("synergy_initiateCrossChainTransfer", "aivm", "native", 1, USER, "bitcoin"), "unknown chain"),
        (("synergy_initiateCrossChainTransfer", "aivm", "native", 0, USER, "polygon"), "must be positive"),
        (("synergy_initiateCrossChainTransfer", "aivm", "native", 1, "0x1234", "polygon"), "recipient"),
        (("synergy_initiateCrossChainTransfer", "aivm", "native", 1, USER, "aivm"), "same"),
        (("synergy_getCrossChainTransferStatus", "0x" + "00" * 32), "unknown transfer"),
        (("synergy_createSecureCrossChainMessage", "aivm", "polygon", USER, USER, "hi", "TokenTransfer", "Military"),
         "zero-knowledge"),
        (("synergy_executeMultiChainContract", ["polygon"], USER, "nonsense", "0x"), "selector"),
    ]
    import requests

    for (method, *params), words in cases:
        body = requests.post(net.chains["aivm"].url, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                                           "params": params}, timeout=30).json()
        assert body["error"]["code"] in (-32000, -32602), (method, body)  # never -32603
        assert words in body["error"]["message"], (method, body)


def test_reorg_below_confirmations_never_mints(net):
    """ethereum needs 3 confirmations: a transfer whose block is reorganised away before that is
    never attested, so nothing is minted, and the status says it was only initiated."""
    rpc = net.node_rpc()
    eth = net.client("ethereum")
    before = wrapped_balance(net, "polygon", "ethereum")
    r = rpc("synergy_initiateCrossChainTransfer", "ethereum", "native", ETHER, USER, "polygon")
    head = eth.block_number()
    eth.rpc("anvil_reorg", 1, [])          # replace the transfer's block: the lock is gone
    eth.rpc("anvil_mine", "0x5")
    assert eth.block_number() >= head + 5
    time.sleep(3)
    assert rpc("synergy_getCrossChainTransferStatus", r["transfer_id"])["status"] == "initiated"
    assert wrapped_balance(net, "polygon", "ethereum") == before
    # a transfer that does reach 3 confirmations goes through
    r2 = rpc("synergy_initiateCrossChainTransfer", "ethereum", "native", ETHER, USER, "polygon")
    time.sleep(1.5)
    assert rpc("synergy_getCrossChainTransferStatus", r2["transfer_id"])["status"] == "initiated"  # 1 of 3
    eth.rpc("anvil_mine", "0x2")
    net.wait_status(r2["transfer_id"])
    assert wrapped_balance(net, "polygon", "ethereum") == before + ETHER


def test_kill9_relayer_and_attester_then_node_restart_exactly_once(net):
    rpc = net.node_rpc()
    net.procs["relayer"].stop(signal.SIGKILL)
    net.procs["attester-3"].stop(signal.SIGKILL)   # 3 of 4 still reach Enhanced's 75%
    before = wrapped_balance(net, "ethereum", "aivm")
    r = rpc("synergy_initiateCrossChainTransfer", "aivm", "native", 2 * ETHER, USER, "ethereum")
    st = net.wait_status(r["transfer_id"], "attested")
    assert st["attestations"] == 3
    net.restart_aivm("aivm", signal.SIGKILL)        # the hub's queue must survive a crash
    rpc = net.node_rpc()
    assert rpc("synergy_getCrossChainTransferStatus", r["transfer_id"])["status"] == "attested"
    net.start_relayer()
    net.start_attester(3)
    net.wait_status(r["transfer_id"])
    assert wrapped_balance(net, "ethereum", "aivm") == before + 2 * ETHER
    # a second relayer run, a restarted attester and node: still exactly once
    net.procs["relayer"].stop(signal.SIGKILL)
    net.start_relayer()
    time.sleep(2)
    assert wrapped_balance(net, "ethereum", "aivm") == before + 2 * ETHER
    assert rpc("synergy_getCrossChainTransferStatus", r["transfer_id"])["attestations"] == 4


def test_rate_limit_failure_has_a_reason_and_pause(net):
    rpc = net.node_rpc()
    eth = net.client("ethereum")
    bridge = net.chains["ethereum"].bridge
    from bridge.devnet import DEPLOYER_INDEX, NATIVE

    eth.send(dev_key(DEPLOYER_INDEX), bridge, calldata("PQCBridge", "setRateLimit", net.chains["aivm"].chain_id,
                                                       net.chains["aivm"].chain_id, word(NATIVE), ETHER))
    r = rpc("synergy_initiateCrossChainTransfer", "aivm", "native", 5 * ETHER, USER, "ethereum")
    st = net.wait_status(r["transfer_id"], "failed")
    assert "rate limit" in st["reason"]
    # raise the limit: the relayer retries and the same message lands, once
    eth.send(dev_key(DEPLOYER_INDEX), bridge, calldata("PQCBridge", "setRateLimit", net.chains["aivm"].chain_id,
                                                       net.chains["aivm"].chain_id, word(NATIVE), 10**24))
    net.wait_status(r["transfer_id"])
    # paused destination: failed with the reason, delivered after unpausing
    eth.send(dev_key(DEPLOYER_INDEX), bridge, calldata("PQCBridge", "setPaused", True))
    r = rpc("synergy_initiateCrossChainTransfer", "aivm", "native", ETHER, USER, "ethereum")
    assert "paused" in net.wait_status(r["transfer_id"], "failed")["reason"]
    eth.send(dev_key(DEPLOYER_INDEX), bridge, calldata("PQCBridge", "setPaused", False))
    net.wait_status(r["transfer_id"])


def test_tutorial_path_aivm_ethereum_solana_and_back(net):
    """docs/bridges.md's walk: AIVM coin -> ethereum (wrapped) -> solana (SPL) -> ethereum -> AIVM."""
    rpc = net.node_rpc()
    me, sol_user = dev_address(0), dev_user().pubkey()
    def hop(source, *rest):
        r = rpc("synergy_initiateCrossChainTransfer", source, *rest)
        if source == "ethereum":  # this devnet's ethereum lane waits for 3 confirmations
            net.client("ethereum").rpc("anvil_mine", "0x3")
        return net.wait_status(r["transfer_id"])
    hop("aivm", "native", 4 * ETHER, me, "ethereum")
    w_eth = net.chains["ethereum"].wrapped["aivm"]
    hop("ethereum", w_eth, 3 * ETHER, str(sol_user), "solana")
    sol = SolanaClient(net.chains["solana"].url)
    mint = net.chains["solana"].wrapped["aivm"]
    from solders.pubkey import Pubkey

    account = spl.ata(sol_user, Pubkey.from_string(mint))
    assert sol.token_balance(account) == 3 * 10**9
    burn = rpc("synergy_initiateCrossChainTransfer", "solana", "aivm", 2 * 10**9, me, "ethereum")
    deadline = time.monotonic() + 60
    while True:  # the transfer id appears once validators have read the burn
        try:
            st = rpc("synergy_getCrossChainTransferStatus", burn["source_tx"])
            if st["status"] == "delivered":
                break
        except Exception:
            pass
        assert time.monotonic() < deadline, "Solana burn not delivered"
        time.sleep(0.2)
    assert sol.token_balance(account) == 10**9
    before = net.client("aivm").balance(USER)
    hop("ethereum", w_eth, 3 * ETHER, USER, "aivm")
    assert net.client("aivm").balance(USER) == before + 3 * ETHER


def test_sealed_message_only_the_recipient_opens(net):
    from eth_abi import decode as abi_decode
    from eth_hash.auto import keccak as k

    from bridge.sealed import sign_keys
    from pqc import crosschain
    from pqc.keys import KeySet

    rpc = net.node_rpc()
    recipient_keys = KeySet.generate("Enhanced")
    kem = recipient_keys.kem_keys().encode()
    who = dev_address(6)
    with pytest.raises(Exception, match="signed by the recipient"):
        rpc("synergy_registerBridgeRecipientKeys", "polygon", who, "0x" + kem.hex(),
            "0x" + sign_keys(dev_key(5), "polygon", kem).hex())
    rpc("synergy_registerBridgeRecipientKeys", "polygon", who, "0x" + kem.hex(),
        "0x" + sign_keys(dev_key(6), "polygon", kem).hex())
    out = rpc("synergy_createSecureCrossChainMessage", "aivm", "polygon", dev_address(0), who,
              "pay 5 to bob", "TokenTransfer", "Enhanced")
    net.wait_status(out["message_id"])
    poly = net.client("polygon")
    topic = k(b"SealedMessage(bytes32,address,bytes)")
    logs = poly.logs(net.chains["polygon"].bridge, topic, 0, poly.block_number())
    sealed = abi_decode(["bytes"], bytes.fromhex(logs[-1]["data"][2:]))[0]
    opened = crosschain.open_message(sealed, recipient_keys, destination_chain="polygon")
    assert (opened.data, opened.message_type, opened.source_chain) == (b"pay 5 to bob", "TokenTransfer", "aivm")
    with pytest.raises(Exception):
        crosschain.open_message(sealed, KeySet.generate("Enhanced"))
