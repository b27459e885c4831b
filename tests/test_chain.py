"""The in-process chain adapter (vm.chain) without the server."""
import os
import random

import pytest
from eth.db.trie import _make_trie_root_and_nodes
from eth_abi import encode
from eth_utils import keccak

from tests.contracts import compiled
from vm.chain import Chain, ChainConfig, TxRejected
from vm.trie_root import ordered_trie_root

SEL_TRANSFER = keccak(b"transfer(address,uint256)")[:4]


@pytest.fixture
def chain():
    return Chain.ephemeral()


@pytest.fixture
def token(chain):
    art = compiled()
    code = bytes.fromhex(art["bytecode"][2:]) + encode(["uint256"], [10**24])
    r = chain.transact(chain.accounts[0].address, None, code)
    assert r.success
    return r.contract_address


@pytest.mark.parametrize("n", [0, 1, 2, 15, 16, 17, 128, 129, 300])
def test_trie_root_matches_py_evm(n):
    rng = random.Random(n)
    values = tuple(os.urandom(rng.choice([1, 20, 31, 32, 33, 120])) for _ in range(n))
    assert ordered_trie_root(values) == _make_trie_root_and_nodes(values)[0]


def test_pending_transactions_mine_in_one_block(chain, token):
    a = chain.accounts
    start = chain.nonce(a[0].address)
    txs = [chain.sign(a[0].address, token, SEL_TRANSFER + encode(["address", "uint256"], [a[1].address, 1]),
                      gas=100_000, nonce=start + i) for i in range(40)]
    mined = chain.mine(txs)
    assert len(mined.results) == 40 and all(r.success for r in mined.results)
    assert len(mined.record["transactions"]) == 40
    logs = chain.index.logs(mined.number, mined.number, [token])
    assert [int(l["logIndex"], 16) for l in logs] == list(range(40))


def test_block_gas_limit_defers_the_rest():
    chain = Chain.ephemeral(ChainConfig(gas_limit=50_000))
    a = chain.accounts
    txs = [chain.sign(a[0].address, a[1].address, b"", value=1, gas=21_000, nonce=i) for i in range(4)]
    mined = chain.mine(txs)
    assert len(mined.results) == 2 and len(mined.deferred) == 2
    assert len(chain.mine(mined.deferred).results) == 2


def test_invalid_tx_in_batch_is_rejected_alone(chain):
    a = chain.accounts
    good = chain.sign(a[0].address, a[1].address, b"", value=1, gas=21000, nonce=chain.nonce(a[0].address))
    stale = chain.sign(a[2].address, a[1].address, b"", value=1, gas=21000, nonce=5)
    mined = chain.mine([stale, good])
    assert len(mined.results) == 1 and len(mined.rejected) == 1
    assert "nonce" in mined.rejected[0][1]


def test_call_and_estimate(chain, token):
    a = chain.accounts
    data = SEL_TRANSFER + encode(["address", "uint256"], [a[1].address, 10**30])
    res = chain.call(a[0].address, token, data)
    assert not res.success and res.error == "execution reverted: insufficient balance"
    ok = SEL_TRANSFER + encode(["address", "uint256"], [a[1].address, 5])
    est = chain.estimate_gas(a[0].address, token, ok)
    r = chain.transact(a[0].address, token, ok, gas=est)
    assert r.success and r.gas_used <= est


def test_check_refuses_bad_transactions(chain):
    a = chain.accounts
    tx, s = chain.sign(a[0].address, a[1].address, b"", value=10**40, gas=21000)
    with pytest.raises(TxRejected, match="insufficient funds"):
        chain.check(tx, s)
    tx, s = chain.sign(a[0].address, a[1].address, b"", gas=21000, nonce=3)
    with pytest.raises(TxRejected, match="nonce too high"):
        chain.check(tx, s)


def test_snapshot_revert_and_remine(chain):
    a = chain.accounts
    sid = chain.snapshot()
    chain.transact(a[0].address, a[3].address, value=1)
    chain.set_balance(a[4].address, 5)
    assert chain.head_number == 1 and chain.balance(a[4].address) == 5
    assert chain.revert(sid)
    assert chain.head_number == 0 and chain.balance(a[4].address) == 10_000 * 10**18
    assert chain.index.block(1) is None
    r = chain.transact(a[0].address, a[3].address, value=2)
    assert r.block_number == 1 and chain.balance(a[3].address) == 10_000 * 10**18 + 2


def test_unknown_precompile_range_address_is_a_plain_account(chain):
    res = chain.call(chain.accounts[0].address, (0x150).to_bytes(20, "big"), b"\x01\x02")
    assert res.success and res.output == b""
