"""The devnet's foreign chains as clients apart: `polygon` is Hardhat 3 (its own chain id, automine
plus an interval block), `ethereum` is Anvil, Solana keeps its state on disk and mints only within the
attesters' policy (rate limits and a pause). Real processes: AIVM node, Anvil, Hardhat, Solana,
3 attesters, a relayer (bridge/devnet.py)."""
from __future__ import annotations

import signal
import time

import pytest
from solders.pubkey import Pubkey

from bridge.devnet import CHAIN_IDS, RATE_LIMIT, Devnet, dev_address
from bridge.solana import spl
from bridge.solana.client import SolanaClient, dev_user

pytestmark = pytest.mark.timeout(300)
ETHER = 10**18
USER = "0x" + "cd" * 20


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    with Devnet(tmp_path_factory.mktemp("chains"), attesters=3, solana=True, confirmations={"polygon": 3}) as n:
        yield n


@pytest.fixture
def polygon_still(net):
    """Hardhat mining only on transactions (its interval block off) for the test; restored after."""
    poly = net.client("polygon")
    poly.rpc("evm_setIntervalMining", 0)
    yield poly
    poly.rpc("evm_setIntervalMining", 1000)


def wrapped_balance(net, chain, origin, who=USER):
    return net.client(chain).view(net.chains[chain].wrapped[origin], "WrappedToken", "balanceOf",
                                  bytes.fromhex(who[2:]))


def status(net, transfer_id):
    return net.node_rpc()("synergy_getCrossChainTransferStatus", transfer_id)


def test_polygon_is_hardhat_with_its_own_chain_id_ethereum_is_anvil(net):
    poly, eth = net.client("polygon"), net.client("ethereum")
    assert poly.rpc("web3_clientVersion").startswith("HardhatNetwork/3.")
    assert eth.rpc("web3_clientVersion").startswith("anvil/")
    assert poly.chain_id() == CHAIN_IDS["polygon"] != eth.chain_id() == CHAIN_IDS["ethereum"]
    assert poly.code(net.chains["polygon"].bridge)          # ordinary EVM bytecode, deployed by the devnet
    lanes = {l["name"]: l for l in net.node_rpc()("synergy_getBridgeLanes")["lanes"]}
    assert lanes["polygon"]["chain_id"] == CHAIN_IDS["polygon"] and lanes["polygon"]["confirmations"] == 3
    # automine plus an interval block: the head moves with no traffic, so confirmations accrue
    head = poly.block_number()
    deadline = time.monotonic() + 10
    while poly.block_number() < head + 2:
        assert time.monotonic() < deadline, "Hardhat mined no interval blocks"
        time.sleep(0.2)


def test_to_hardhat_and_back_waits_for_its_confirmations(net, polygon_still):
    rpc, poly = net.node_rpc(), polygon_still
    # AIVM -> polygon: delivered on Hardhat (ECDSA quorum checked by PQCBridge there)
    r = rpc("synergy_initiateCrossChainTransfer", "aivm", "native", 3 * ETHER, dev_address(0), "polygon")
    st = net.wait_status(r["transfer_id"])
    assert poly.rpc("eth_getTransactionReceipt", st["delivered_tx"])["status"] == "0x1"
    assert wrapped_balance(net, "polygon", "aivm", dev_address(0)) >= 3 * ETHER
    # polygon -> AIVM with 3 confirmations and no interval blocks: it waits for exactly 3
    before = net.client("aivm").balance(USER)
    back = rpc("synergy_initiateCrossChainTransfer", "polygon", net.chains["polygon"].wrapped["aivm"], 2 * ETHER,
               USER, "aivm")
    time.sleep(2)
    assert status(net, back["transfer_id"])["status"] == "initiated"           # 1 of 3
    poly.rpc("hardhat_mine", "0x1")
    time.sleep(2)
    assert status(net, back["transfer_id"])["status"] == "initiated"           # 2 of 3
    poly.rpc("hardhat_mine", "0x1")
    net.wait_status(back["transfer_id"])                                       # 3 of 3
    assert net.client("aivm").balance(USER) == before + 2 * ETHER


def test_hardhat_reorg_below_confirmations_never_mints(net, polygon_still):
    """Hardhat has no anvil_reorg; evm_snapshot/evm_revert drops the lock's block and new blocks take
    its height: the attesters never saw it 3 deep, so nothing is attested or minted."""
    rpc, poly = net.node_rpc(), polygon_still
    before = wrapped_balance(net, "ethereum", "polygon")
    snap = poly.rpc("evm_snapshot")
    r = rpc("synergy_initiateCrossChainTransfer", "polygon", "native", ETHER, USER, "ethereum")
    lock_block = poly.block_number()
    lock_hash = poly.block_hash(lock_block)
    assert poly.rpc("evm_revert", snap) is True
    poly.rpc("hardhat_mine", "0x5")
    assert poly.block_hash(lock_block) != lock_hash and poly.block_number() >= lock_block + 4
    time.sleep(3)
    assert status(net, r["transfer_id"])["status"] == "initiated"
    assert status(net, r["transfer_id"])["attestations"] == 0
    assert wrapped_balance(net, "ethereum", "polygon") == before


def test_solana_rate_limit_and_pause_are_enforced_by_the_attesters(net):
    rpc = net.node_rpc()
    sol = SolanaClient(net.chains["solana"].url)
    account = spl.ata(dev_user().pubkey(), Pubkey.from_string(net.chains["solana"].wrapped["aivm"]))
    start = sol.token_balance(account)
    to = str(dev_user().pubkey())
    net.write_solana_policy(limit=5 * ETHER)
    ok = rpc("synergy_initiateCrossChainTransfer", "aivm", "native", 3 * ETHER, to, "solana")
    net.wait_status(ok["transfer_id"])
    assert sol.token_balance(account) == start + 3 * 10**9
    # 3 + 3 > 5 in this window: no attester signs the mint, and the status says why
    over = rpc("synergy_initiateCrossChainTransfer", "aivm", "native", 3 * ETHER, to, "solana")
    st = net.wait_status(over["transfer_id"], "failed")
    assert "rate limit" in st["reason"] and "attester policy" in st["reason"]
    time.sleep(1)
    assert sol.token_balance(account) == start + 3 * 10**9
    net.write_solana_policy(limit=RATE_LIMIT)             # the operators raise it: the same message lands, once
    net.wait_status(over["transfer_id"])
    assert sol.token_balance(account) == start + 6 * 10**9
    # paused: nothing is signed; resumed: delivered
    net.write_solana_policy(paused=True)
    held = rpc("synergy_initiateCrossChainTransfer", "aivm", "native", ETHER, to, "solana")
    assert "paused" in net.wait_status(held["transfer_id"], "failed")["reason"]
    net.write_solana_policy()
    net.wait_status(held["transfer_id"])
    assert sol.token_balance(account) == start + 7 * 10**9
    # a route with no limit cannot cross (as on the EVM bridge)
    from bridge.solana.policy import Policy

    Policy(limits={}).save(net.solana_policy_path())
    closed = rpc("synergy_initiateCrossChainTransfer", "aivm", "native", ETHER, to, "solana")
    assert "not enabled" in net.wait_status(closed["transfer_id"], "failed")["reason"]
    net.write_solana_policy()
    net.wait_status(closed["transfer_id"])


def test_solana_chain_killed_comes_back_with_its_state(net):
    rpc = net.node_rpc()
    sol = SolanaClient(net.chains["solana"].url)
    mint = Pubkey.from_string(net.chains["solana"].wrapped["aivm"])
    account = spl.ata(dev_user().pubkey(), mint)
    balance, slot = sol.token_balance(account), sol.slot()
    assert balance > 0
    net.restart_solana(signal.SIGKILL)
    assert sol.token_balance(account) == balance and sol.slot() >= slot
    assert sol.account_data(net.chains["solana"].bridge) is not None       # the guardian multisig
    # and the bridge goes on: a mint after the crash, a burn back to ethereum
    r = rpc("synergy_initiateCrossChainTransfer", "aivm", "native", 2 * ETHER, str(dev_user().pubkey()), "solana")
    net.wait_status(r["transfer_id"])
    assert sol.token_balance(account) == balance + 2 * 10**9
    before = wrapped_balance(net, "ethereum", "aivm", dev_address(1))
    burn = rpc("synergy_initiateCrossChainTransfer", "solana", "aivm", 10**9, dev_address(1), "ethereum")
    deadline = time.monotonic() + 60
    while True:  # the transfer id appears once the attesters have read the burn
        try:
            if status(net, burn["source_tx"])["status"] == "delivered":
                break
        except Exception:
            pass
        assert time.monotonic() < deadline, "burn after the restart not delivered"
        time.sleep(0.2)
    assert wrapped_balance(net, "ethereum", "aivm", dev_address(1)) == before + ETHER


def test_calls_and_sealed_messages_to_solana_are_refused_plainly(net):
    import requests

    url = net.chains["aivm"].url
    for method, params in (
            ("synergy_executeMultiChainContract", [["solana"], USER, "setValue(uint256)", "0x" + "00" * 32]),
            ("synergy_createSecureCrossChainMessage", ["aivm", "solana", dev_address(0), str(dev_user().pubkey()),
                                                       "hi", "TokenTransfer", "Enhanced"])):
        body = requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
                             timeout=30).json()
        assert body["error"]["code"] in (-32000, -32602), body       # never -32603
        assert "transfers only" in body["error"]["message"], body


def test_solana_killed_mid_transfer_mints_exactly_once(net):
    """The mint transaction is signed for a blockhash the restarted chain no longer knows: the relayer
    asks for a fresh one, each attester signs it only because the first can never land and never
    did, and the transfer mints once."""
    rpc = net.node_rpc()
    sol = SolanaClient(net.chains["solana"].url)
    account = spl.ata(dev_user().pubkey(), Pubkey.from_string(net.chains["solana"].wrapped["aivm"]))
    start = sol.token_balance(account)
    net.write_solana_policy(paused=True)              # hold the mint at the signing step
    r = rpc("synergy_initiateCrossChainTransfer", "aivm", "native", ETHER, str(dev_user().pubkey()), "solana")
    net.wait_status(r["transfer_id"], "failed")       # requested, refused while paused
    net.procs["relayer"].stop(signal.SIGKILL)
    net.restart_solana(signal.SIGKILL)                # the requested transaction's blockhash is gone
    net.write_solana_policy()
    time.sleep(2)                                     # attesters sign the stale request: it can never land
    net.start_relayer()
    net.wait_status(r["transfer_id"])
    time.sleep(2)
    assert sol.token_balance(account) == start + 10**9
    assert status(net, r["transfer_id"])["status"] == "delivered"
