"""The contracts in contracts/, deployed and exercised on the AIVM."""
from __future__ import annotations

from pathlib import Path

import eth_abi
import pytest
from eth_utils import keccak

# imported at collection, not in a fixture: pytester's in-process runs (tests/pytest_plugin) restore
# sys.modules afterwards, and torch imported for the first time inside one cannot be imported again
from aivm_pytest.cluster import LocalCluster
from models import load_model
from tests.synq.harness import Env, Reverted, ai_precompile_registered
from precompiles.registry import Services
from vm.chain import Chain

AI_MODELS = ["price-v1", "mm-v1", "risk-model"]  # the real models the AI contracts ship with

ROOT = Path(__file__).resolve().parents[2]


def source(name: str) -> str:
    return (ROOT / "contracts" / name).read_text()


def release_source() -> str:
    """The single-relayer release example that PQCBridge.synq was before it became the real bridge
    (tests/bridge/ covers that one): it still exercises `pqc.verify` and `quorum.verify`."""
    return (Path(__file__).resolve().parent / "contracts" / "PQCRelease.synq").read_text()


def reverts(fn, *a, **k) -> Reverted:
    with pytest.raises(Reverted) as info:
        fn(*a, **k)
    return info.value


def hexaddr(b: bytes) -> str:
    return "0x" + b.hex()


@pytest.fixture(scope="module")
def ai_env():
    """A chain whose ai.infer is answered by 3 in-process validators running the real models
    through the real scheduler (aivm_pytest.cluster.LocalCluster): no scripted answers."""
    if not ai_precompile_registered():
        pytest.skip("the AI precompile (0x0120) is not registered yet")
    chain = Chain.ephemeral(services=Services())
    cluster = LocalCluster(chain, n=3, models=AI_MODELS, task_timeout=15)
    env = Env(chain)
    env.cluster = cluster
    env.model = {m: load_model(m) for m in AI_MODELS}  # the same models, run here, to check the answers
    yield env
    cluster.stop()


@pytest.fixture
def aienv(ai_env):
    with ai_env.anchor():
        yield ai_env


# ---- ERC20 -----------------------------------------------------------------------------
@pytest.fixture
def token(env):
    return env.deploy(source("ERC20.synq"), "Synergy", "SYN", 18, 1000, path="ERC20.synq")


def test_erc20_metadata_and_supply(env, token):
    a0 = env.accounts[0]
    assert token.name() == "Synergy" and token.symbol() == "SYN" and token.decimals() == 18
    assert token.totalSupply() == 1000 * 10**18
    assert token.balanceOf(a0) == 1000 * 10**18
    assert token.minter() == hexaddr(a0)


def test_erc20_transfer(env, token):
    a0, a1 = env.accounts[:2]
    t = token.transact("transfer", a1, 250)
    assert t.value is True
    assert t.logs == [("Transfer", {"sender": hexaddr(a0), "receiver": hexaddr(a1), "value": 250})]
    assert token.balanceOf(a1) == 250
    assert token.balanceOf(a0) == 1000 * 10**18 - 250
    assert token.totalSupply() == 1000 * 10**18
    r = reverts(token.transact, "transfer", a0, 251, sender=a1)
    assert r.panic == 0x11  # checked subtraction underflow
    assert token.balanceOf(a1) == 250


def test_erc20_approve_and_transfer_from(env, token):
    a0, a1, a2 = env.accounts[:3]
    t = token.transact("approve", a1, 100)
    assert t.logs == [("Approval", {"owner": hexaddr(a0), "spender": hexaddr(a1), "value": 100})]
    assert token.allowance(a0, a1) == 100
    token.transact("transferFrom", a0, a2, 60, sender=a1)
    assert token.allowance(a0, a1) == 40
    assert token.balanceOf(a2) == 60
    assert reverts(token.transact, "transferFrom", a0, a2, 41, sender=a1).panic == 0x11
    assert reverts(token.transact, "transferFrom", a0, a2, 1, sender=a2).panic == 0x11
    token.transact("approve", a1, 0)
    assert token.allowance(a0, a1) == 0


def test_erc20_mint_and_burn(env, token):
    a0, a1 = env.accounts[:2]
    token.transact("mint", a1, 5)
    assert token.balanceOf(a1) == 5 and token.totalSupply() == 1000 * 10**18 + 5
    assert reverts(token.transact, "mint", a1, 5, sender=a1).reason == "only the minter can mint"
    assert reverts(token.transact, "mint", b"\0" * 20, 5).reason == "mint to the zero address"
    t = token.transact("burn", 2, sender=a1)
    assert t.logs == [("Transfer", {"sender": hexaddr(a1), "receiver": "0x" + "00" * 20, "value": 2})]
    assert token.balanceOf(a1) == 3 and token.totalSupply() == 1000 * 10**18 + 3
    assert reverts(token.transact, "burnFrom", a1, 1).panic == 0x11  # no allowance
    token.transact("approve", a0, 1, sender=a1)
    token.transact("burnFrom", a1, 1)
    assert token.balanceOf(a1) == 2


def test_erc20_rejects_value_and_bad_calldata(env, token):
    a1 = env.accounts[1]
    assert reverts(token.transact, "transfer", a1, 1, value=1).kind == "empty"
    data = token.calldata("transfer", a1, 1)
    bad = data[:4] + b"\x01" + data[5:]  # dirty high bits of the address
    assert not env.chain.call(sender=env.accounts[0], to=token.address, data=bad).success


def test_erc20_with_web3_contract_abi(env, token):
    from web3 import Web3

    w3 = Web3()
    c = w3.eth.contract(abi=token.output.abi)
    data = bytes.fromhex(c.encode_abi("transfer", args=[Web3.to_checksum_address(env.accounts[1]), 7])[2:])
    r = env.chain.transact(sender=env.accounts[0], to=token.address, data=data)
    assert r.success and eth_abi.decode(["bool"], r.output) == (True,)
    assert token.balanceOf(env.accounts[1]) == 7


# ---- governance (with the AI review switched off: pure voting logic) ---------------------
def gov_setup(env, review=False, max_risk=50):
    a0, a1, a2, a3 = env.accounts[:4]
    tok = env.deploy(source("ERC20.synq"), "Vote", "V", 0, 100, path="ERC20.synq")
    tok.transact("transfer", a1, 30)
    tok.transact("transfer", a2, 20)
    gov = env.deploy(source("AIGovernance.synq"), tok.address, 40, 100, "risk-model", review, max_risk,
                     path="AIGovernance.synq")
    return tok, gov


def test_governance_full_flow(env):
    a0, a1, a2, a3 = env.accounts[:4]
    tok, gov = gov_setup(env)
    assert gov.token() == hexaddr(tok.address)
    t = gov.transact("propose", "raise the fee to 0.3%", sender=a1)
    assert t.value == 0
    assert t.logs == [("Proposed", {"id": 0, "proposer": hexaddr(a1), "description": "raise the fee to 0.3%"})]
    assert gov.count() == 1
    assert gov.status(0) == 0  # Active
    t = gov.transact("vote", 0, True, sender=a1)
    assert t.logs == [("Voted", {"id": 0, "voter": hexaddr(a1), "support": True, "weight": 30})]
    gov.transact("vote", 0, False, sender=a2)
    gov.transact("vote", 0, True)  # a0 holds 50
    r = reverts(gov.transact, "vote", 0, True, sender=a1)
    assert (r.name, r.values) == ("AlreadyVoted", [0, hexaddr(a1)])
    r = reverts(gov.transact, "vote", 0, True, sender=a3)
    assert (r.name, r.values) == ("NoVotingPower", [hexaddr(a3)])
    r = reverts(gov.transact, "execute", 0)
    assert (r.name, r.values) == ("NotSucceeded", [0, 0])
    p = gov.proposals(0)
    assert p == (hexaddr(a1), "raise the fee to 0.3%", p[2], 80, 20, False, 0, False)
    env.advance(200)
    assert gov.status(0) == 2  # Succeeded
    r = reverts(gov.transact, "vote", 0, True, sender=a3)
    assert (r.name, r.values) == ("VotingClosed", [0])
    t = gov.transact("execute", 0)
    assert t.logs == [("Executed", {"id": 0})]
    assert gov.status(0) == 3  # Executed
    assert reverts(gov.transact, "execute", 0).values == [0, 3]


def test_governance_defeat_and_quorum(env):
    a0, a1, a2 = env.accounts[:3]
    tok, gov = gov_setup(env)
    gov.transact("propose", "defeated")
    gov.transact("propose", "no quorum")
    gov.transact("vote", 0, False)  # 50 against
    gov.transact("vote", 0, True, sender=a1)  # 30 for
    gov.transact("vote", 1, True, sender=a2)  # 20 for < quorum 40
    env.advance(200)
    assert gov.status(0) == 1 and gov.status(1) == 1  # Defeated
    assert reverts(gov.transact, "execute", 1).values == [1, 1]
    r = reverts(gov.status, 7)
    assert (r.name, r.values) == ("UnknownProposal", [7])
    assert reverts(gov.transact, "propose", "").reason == "gov: empty description"
    assert reverts(gov.transact, "propose", "x", sender=env.accounts[5]).reason == "gov: proposer holds no tokens"


def test_governance_requires_review_when_configured(env):
    tok, gov = gov_setup(env, review=True)
    gov.transact("propose", "needs review")
    gov.transact("vote", 0, True)
    env.advance(200)
    assert reverts(gov.transact, "execute", 0).reason == "gov: needs an AI review"


ROUTINE = "Publish the quarterly analytics dashboard and fix broken links in the documentation"
RISKY = "Remove the timelock and transfer the entire treasury to a new address controlled by one anonymous signer"


def test_governance_ai_review(aienv):
    env = aienv
    expect = [eth_abi.decode(["uint256"], env.model["risk-model"].infer(t.encode()))[0] for t in (ROUTINE, RISKY)]
    assert expect[0] < expect[1]  # the real classifier tells a routine proposal from a drain
    max_risk = (expect[0] + expect[1]) // 2
    tok, gov = gov_setup(env, review=True, max_risk=max_risk)
    gov.transact("propose", ROUTINE)
    gov.transact("propose", RISKY)
    for i in (0, 1):
        gov.transact("vote", i, True)
    t = gov.transact("review", 0)
    assert t.value == expect[0] and t.logs == [("Reviewed", {"id": 0, "risk": expect[0]})]
    assert gov.transact("review", 1).value == expect[1]
    assert gov.proposals(1)[5:7] == (True, expect[1])
    env.advance(200)
    gov.transact("execute", 0)
    assert reverts(gov.transact, "execute", 1).reason == "gov: the AI review scored it too risky"


# ---- AI oracle and market maker --------------------------------------------------------
def sp500_closes(n: int, end: int = -1) -> list[int]:
    """n real S&P 500 closes (18 decimals) ending at bar `end` of the series shipped in `arch`."""
    from models import marketdata

    bars = marketdata.bars("sp500")
    stop = len(bars) + end + 1 if end < 0 else end + 1
    return [int(round(b.close * 10**6)) * 10**12 for b in bars[stop - n:stop]]


def test_oracle_prices_from_model(aienv):
    env = aienv
    a0, a1 = env.accounts[:2]
    oracle = env.deploy(source("AIPriceOracle.synq"), "price-v1", 3600, path="AIPriceOracle.synq")
    r = reverts(oracle.priceOf, "SPX")
    assert r.name == "StalePrice"
    closes = sp500_closes(17)
    for p in closes[:15]:
        oracle.transact("observe", "SPX", p)
    r = reverts(oracle.transact, "update", "SPX")
    assert (r.name, r.values) == ("NotEnoughHistory", [keccak(b"SPX"), 15, 16])
    t = oracle.transact("observe", "SPX", closes[15])
    assert t.logs == [("Observed", {"asset": keccak(b"SPX"), "price": closes[15], "count": 16})]
    assert list(oracle.window("SPX")) == closes[:16]
    expect = eth_abi.decode(["uint256"], env.model["price-v1"].infer(eth_abi.encode(["uint256[16]"], [closes[:16]])))[0]
    t = oracle.transact("update", "SPX")
    assert t.value == expect and abs(expect - closes[15]) <= closes[15] // 10
    assert t.logs[0] == ("PriceUpdated", {"asset": keccak(b"SPX"), "price": expect, "updater": hexaddr(a0)})
    assert oracle.priceOf("SPX") == expect
    # one more observation: the window slides (oldest first), and the model sees the new one
    oracle.transact("observe", "SPX", closes[16])
    assert list(oracle.window("SPX")) == closes[1:17]
    expect2 = eth_abi.decode(["uint256"], env.model["price-v1"].infer(eth_abi.encode(["uint256[16]"], [closes[1:17]])))[0]
    assert oracle.transact("update", "SPX").value == expect2
    env.advance(7200)
    assert reverts(oracle.priceOf, "SPX").name == "StalePrice"
    assert reverts(oracle.transact, "observe", "SPX", 1, sender=a1).reason == "oracle: not a reporter"
    assert reverts(oracle.transact, "observe", "SPX", 0).reason == "oracle: zero price"
    oracle.transact("setReporter", a1, True)
    oracle.transact("observe", "SPX", closes[0], sender=a1)
    assert reverts(oracle.transact, "setModel", "x", sender=a1).reason == "oracle: not the owner"
    oracle.transact("setModel", "missing-model")
    r = reverts(oracle.transact, "update", "SPX")
    assert r.reason.startswith("Distributed AI computation failed")


def test_market_maker_rebalances_and_swaps(aienv):
    env = aienv
    a0, a1 = env.accounts[:2]
    ONE = 10**18
    ta = env.deploy(source("ERC20.synq"), "A", "A", 18, 1000)
    tb = env.deploy(source("ERC20.synq"), "B", "B", 18, 1000)
    amm = env.deploy(source("AIMarketMaker.synq"), ta.address, tb.address, "mm-v1", 2 * ONE, 30,
                     path="AIMarketMaker.synq")
    ta.transact("transfer", amm.address, 100 * ONE)
    tb.transact("transfer", amm.address, 200 * ONE)
    assert amm.reserves() == (100 * ONE, 200 * ONE)
    # a keeper reports the reference price through the period: the bar is 2.00 / 2.06 / 1.97 / 2.04
    for p in (202, 206, 197, 204):
        amm.transact("observe", p * ONE // 100)
    assert (amm.open(), amm.high(), amm.low(), amm.close()) == (2 * ONE, 206 * ONE // 100, 197 * ONE // 100, 204 * ONE // 100)
    assert reverts(amm.transact, "observe", ONE, sender=a1).reason == "amm: not the owner"
    # a trade in the period: volume counts token A
    ta.transact("transfer", a1, 20 * ONE)
    ta.transact("approve", amm.address, 20 * ONE, sender=a1)
    expect = 10 * ONE * 2 * (10000 - 30) // 10000
    r = reverts(amm.transact, "swap", True, 10 * ONE, expect + 1, sender=a1)
    assert (r.name, r.values) == ("Slippage", [expect, expect + 1])
    assert amm.transact("swap", True, 10 * ONE, expect, sender=a1).value == expect
    assert amm.volume() == 10 * ONE and tb.balanceOf(a1) == expect

    conditions = [2 * ONE, 206 * ONE // 100, 197 * ONE // 100, 204 * ONE // 100, 10 * ONE, 0]
    model_price, model_fee = eth_abi.decode(["uint256", "uint256"],
                                            env.model["mm-v1"].infer(eth_abi.encode(["uint256"] * 6, conditions)))
    t = amm.transact("rebalance")
    step = 2 * ONE // 10
    assert t.value == min(max(model_price, 2 * ONE - step), 2 * ONE + step)
    assert t.logs == [("Rebalanced", {"oldPrice": 2 * ONE, "newPrice": t.value, "modelPrice": model_price,
                                      "feeBps": model_fee})]
    assert amm.price() == t.value and amm.feeBps() == model_fee and 1 <= model_fee <= 1000
    # the next period opens at the last reference price, and remembers this period's volume
    assert (amm.open(), amm.high(), amm.low(), amm.close()) == (204 * ONE // 100,) * 4
    assert (amm.volume(), amm.prevVolume(), amm.rebalances()) == (0, 10 * ONE, 1)
    # swaps use the model's price and fee, in both directions
    price = amm.price()
    expect = 10 * ONE * price // ONE * (10000 - model_fee) // 10000
    assert amm.quote(True, 10 * ONE) == expect
    t = amm.transact("swap", True, 10 * ONE, expect, sender=a1)
    assert t.value == expect and ta.balanceOf(a1) == 0
    assert amm.reserves() == (120 * ONE, 200 * ONE - (10 * ONE * 2 * (10000 - 30) // 10000) - expect)
    tb.transact("approve", amm.address, 2**256 - 1, sender=a1)
    back = amm.call("swap", False, expect, 0, sender=a1)
    assert back == expect * ONE // price * (10000 - model_fee) // 10000
    assert reverts(amm.transact, "swap", True, 10**6 * ONE, 0).reason == "amm: not enough liquidity"


# ---- PQC bridge ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mldsa():
    import precompiles
    from pqc import algorithms

    if not any(p.address == 0x0110 for p in precompiles.all_precompiles()):
        pytest.skip("the ML-DSA precompile (0x0110) is not registered yet")
    alg = algorithms.signature(0x0101)
    pk, sk = alg.keygen()
    return alg, pk, sk


def test_bridge_pqc_release(env, mldsa):
    alg, pk, sk = mldsa
    a0, a1, a2 = env.accounts[:3]
    bridge = env.deploy(release_source(), alg.id, pk, path="PQCRelease.synq")
    t = bridge.transact("deposit", a2, value=10**18)
    assert t.value == 0
    assert t.logs == [("Deposited", {"nonce": 0, "sender": hexaddr(a0), "recipient": hexaddr(a2), "amount": 10**18})]
    assert bridge.locked() == 10**18
    msg = eth_abi.encode(["uint256", "address", "uint256", "address", "uint256"],
                         [env.chain.config.chain_id, bridge.address, 7, a1, 4 * 10**17])
    assert bridge.messageFor(7, a1, 4 * 10**17) == msg
    sig = alg.sign(sk, msg)
    before = env.chain.balance(a1)
    t = bridge.transact("release", 7, a1, 4 * 10**17, sig, sender=a2)
    assert t.logs == [("Released", {"nonce": 7, "recipient": hexaddr(a1), "amount": 4 * 10**17})]
    assert env.chain.balance(a1) == before + 4 * 10**17
    assert bridge.released(7) is True and bridge.locked() == 6 * 10**17
    r = reverts(bridge.transact, "release", 7, a1, 4 * 10**17, sig)
    assert (r.name, r.values) == ("AlreadyReleased", [7])
    # a signature over different terms does not verify
    r = reverts(bridge.transact, "release", 8, a1, 5 * 10**17, sig)
    assert (r.name, r.values) == ("BadSignature", [8])
    sig9 = alg.sign(sk, eth_abi.encode(["uint256", "address", "uint256", "address", "uint256"],
                                       [env.chain.config.chain_id, bridge.address, 9, a1, 10**18]))
    assert reverts(bridge.transact, "release", 9, a1, 10**18, sig9).reason == "bridge: not enough locked value"
    assert reverts(bridge.transact, "deposit", a1).reason == "bridge: nothing to bridge"


def test_bridge_quorum_release(env, mldsa):
    from pqc import validators as registry
    from pqc.keys import KeySet
    from pqc.quorum import QuorumCertificate

    alg, pk, sk = mldsa
    a0, a1 = env.accounts[:2]
    signers = [KeySet.generate("Enhanced", with_kem=False) for _ in range(3)]
    for keys in signers:
        read = lambda addr, slot: env.chain.storage(addr, slot)
        for addr, slot, value in registry.registration_writes(keys.signing_keys(), read, 0):
            env.chain.set_storage(addr, slot, value)
    bridge = env.deploy(release_source(), alg.id, pk)
    bridge.transact("deposit", a0, value=10**18)
    terms = eth_abi.encode(["uint256", "address", "uint256", "address", "uint256"],
                           [env.chain.config.chain_id, bridge.address, 3, a1, 10**17])
    cert = QuorumCertificate.build(keccak(terms), "Enhanced", signers).encode()
    t = bridge.transact("releaseWithQuorum", 3, a1, 10**17, cert)
    assert t.logs == [("Released", {"nonce": 3, "recipient": hexaddr(a1), "amount": 10**17})]
    # the same certificate cannot release other terms
    r = reverts(bridge.transact, "releaseWithQuorum", 4, a1, 10**17, cert)
    assert r.reason == "bridge: certificate is for another message"
    # too few signers: the precompile says no
    terms5 = eth_abi.encode(["uint256", "address", "uint256", "address", "uint256"],
                            [env.chain.config.chain_id, bridge.address, 5, a1, 10**17])
    weak = QuorumCertificate.build(keccak(terms5), "Enhanced", signers[:1]).encode()
    assert reverts(bridge.transact, "releaseWithQuorum", 5, a1, 10**17, weak).reason == \
        "bridge: quorum certificate rejected"


def test_bridge_unknown_family_and_quorum(env, mldsa):
    alg, pk, sk = mldsa
    bridge = env.deploy(release_source(), 0x0901, pk)
    r = reverts(bridge.transact, "release", 1, env.accounts[1], 0, b"\x01")
    assert r.reason == "unknown PQC signature family"
    bridge2 = env.deploy(release_source(), alg.id, pk)
    # a malformed certificate fails the quorum precompile, and the bridge refuses to release
    r = reverts(bridge2.transact, "releaseWithQuorum", 1, env.accounts[1], 0, b"\x00" * 64)
    assert r.reason == "bridge: certificate is for another message"
