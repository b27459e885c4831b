"""The shipped AI contracts, end to end: a real node process, real validator processes, real models.

Four validators hold only the small models the contracts call (price-v1, mm-v1 and both stages of
risk-model); validator 3 lies on every task. The quorum (3 of 4) still gives each contract the
answer the model gives when run here, and the liar is slashed. One cluster serves the module.
"""
from __future__ import annotations

from pathlib import Path

import eth_abi
import pytest
from web3 import Web3

import synq
from models import load_model
from tests.distributed.cluster import start_cluster

ROOT = Path(__file__).resolve().parents[2]
HOLDS = "price-v1,mm-v1,risk-model"
ONE = 10**18


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = start_cluster(tmp_path_factory.mktemp("shipped"), 4, holds=HOLDS, behaviours={3: "lie"}, task_timeout=20,
                      hedge_after=0)  # the spare with every round: the liar is always asked
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def w3(cluster):
    return Web3(Web3.HTTPProvider(cluster.node.url, request_kwargs={"timeout": 120}))


def deploy(w3, name: str, *args):
    out = synq.compile_source((ROOT / "contracts" / f"{name}.synq").read_text(), f"{name}.synq")
    factory = w3.eth.contract(abi=out.abi, bytecode=out.bytecode)
    receipt = w3.eth.wait_for_transaction_receipt(factory.constructor(*args).transact({"from": w3.eth.accounts[0]}))
    assert receipt.status == 1
    return w3.eth.contract(address=receipt.contractAddress, abi=out.abi)


def send(w3, fn, sender=None):
    receipt = w3.eth.wait_for_transaction_receipt(fn.transact({"from": sender or w3.eth.accounts[0], "gas": 3_000_000}))
    assert receipt.status == 1, receipt
    return receipt


def liar_was_slashed(cluster) -> None:
    """The lying validator lost stake and earned nothing; an honest one was paid."""
    import time

    liar = "0x" + cluster.validators[3].address.hex()
    deadline = time.monotonic() + 20  # a lie that lands after the quorum decided is judged on arrival
    while cluster.rpc("synergy_getValidatorAIRewards", liar)["slashed"] == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    rewards = cluster.rpc("synergy_getValidatorAIRewards", liar)
    assert rewards["slashed"] > 0 and rewards["total_rewards"] == 0
    honest = cluster.rpc("synergy_getValidatorAIRewards", "0x" + cluster.validators[0].address.hex())
    assert honest["total_rewards"] > 0 and honest["slashed"] == 0


def test_price_oracle_on_price_v1(cluster, w3):
    from models import marketdata

    closes = [int(round(b.close * 10**6)) * 10**12 for b in marketdata.bars("nasdaq")[-16:]]
    oracle = deploy(w3, "AIPriceOracle", "price-v1", 3600)
    for p in closes:
        send(w3, oracle.functions.observe("NDX", p))
    assert oracle.functions.window("NDX").call() == closes
    receipt = send(w3, oracle.functions.update("NDX"))
    event = oracle.events.PriceUpdated().process_receipt(receipt)[0].args
    expect = eth_abi.decode(["uint256"], load_model("price-v1").infer(eth_abi.encode(["uint256[16]"], [closes])))[0]
    assert event.price == expect == oracle.functions.priceOf("NDX").call()
    assert abs(expect - closes[-1]) <= closes[-1] // 10
    liar_was_slashed(cluster)


def test_market_maker_on_mm_v1(cluster, w3):
    token_a = deploy(w3, "ERC20", "A", "A", 18, 1000)
    token_b = deploy(w3, "ERC20", "B", "B", 18, 1000)
    amm = deploy(w3, "AIMarketMaker", token_a.address, token_b.address, "mm-v1", 2 * ONE, 30)
    send(w3, token_a.functions.transfer(amm.address, 100 * ONE))
    send(w3, token_b.functions.transfer(amm.address, 200 * ONE))
    for p in (199, 203, 195, 201):
        send(w3, amm.functions.observe(p * ONE // 100))
    send(w3, token_a.functions.approve(amm.address, 5 * ONE))
    send(w3, amm.functions.swap(True, 5 * ONE, 0))
    conditions = [2 * ONE, 203 * ONE // 100, 195 * ONE // 100, 201 * ONE // 100, 5 * ONE, 0]
    model_price, model_fee = eth_abi.decode(["uint256", "uint256"],
                                            load_model("mm-v1").infer(eth_abi.encode(["uint256"] * 6, conditions)))
    receipt = send(w3, amm.functions.rebalance())
    event = amm.events.Rebalanced().process_receipt(receipt)[0].args
    assert (event.oldPrice, event.modelPrice, event.feeBps) == (2 * ONE, model_price, model_fee)
    assert event.newPrice == min(max(model_price, 18 * ONE // 10), 22 * ONE // 10) == amm.functions.price().call()
    assert amm.functions.feeBps().call() == model_fee
    assert amm.functions.quote(True, ONE).call() == event.newPrice * (10000 - model_fee) // 10000
    liar_was_slashed(cluster)


def test_governance_review_on_two_stage_risk_model(cluster, w3):
    routine = "Translate the user handbook into Spanish and publish the community call notes"
    risky = "Grant the admin role of all contracts to an anonymous externally owned account and disable the pause guardian"
    model = load_model("risk-model")
    expect = [eth_abi.decode(["uint256"], model.infer(t.encode()))[0] for t in (routine, risky)]
    assert expect[0] < expect[1]
    token = deploy(w3, "ERC20", "Vote", "V", 0, 100)
    gov = deploy(w3, "AIGovernance", token.address, 40, 2, "risk-model", True, (expect[0] + expect[1]) // 2)
    for text in (routine, risky):
        send(w3, gov.functions.propose(text))
    for i in (0, 1):
        send(w3, gov.functions.vote(i, True))
    risks = [gov.events.Reviewed().process_receipt(send(w3, gov.functions.review(i)))[0].args.risk for i in (0, 1)]
    assert risks == expect
    # the review ran as two quorum rounds, one per pipeline stage, and its certificate verifies
    fresh = "Raise the borrow cap of the USDC market by 20 percent"  # not asked before: computed, not cached
    out = cluster.compute("risk-model", fresh.encode())
    assert out["status"] == "Completed", out
    assert eth_abi.decode(["uint256"], bytes.fromhex(out["result"]))[0] == \
        eth_abi.decode(["uint256"], model.infer(fresh.encode()))[0]
    assert out["rounds_completed"] == 2
    assert cluster.rpc("synergy_verifyAIResult", out["computation_id"])["valid"] is True
    att = cluster.rpc("synergy_getValidatorAttestation", "0x" + cluster.validators[0].address.hex())
    assert ["risk-model", 0] in att["shards_held"] and ["risk-model", 1] in att["shards_held"]
    # after the voting period the routine proposal executes, the risky one is held back by its review
    import time

    time.sleep(3)
    send(w3, token.functions.transfer(w3.eth.accounts[1], 1))  # mine a block past the deadline
    send(w3, gov.functions.execute(0))
    with pytest.raises(Exception, match="too risky"):
        gov.functions.execute(1).call({"from": w3.eth.accounts[0]})
    liar_was_slashed(cluster)
