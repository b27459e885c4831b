"""The next block's header template, carried from head to head by one copy
(vm.chain_mining.next_prague_template), equals py-evm's own
`create_header_from_parent` for every head: base fee up and down, empty blocks,
a dev edit's pending root, a snapshot revert, another gas limit."""
from eth_abi import encode

from tests.contracts import compiled
from vm.chain import Chain, ChainConfig


def _reference(c: Chain):
    return c.vm_class.create_header_from_parent(
        c._head, gas_limit=c.config.gas_limit,
        timestamp=c._head.timestamp + 1, coinbase=c.config.coinbase,
    )


def _check(c: Chain) -> None:
    got, want = c._pending_header_template(), _reference(c)
    assert type(got) is type(want)
    assert got.as_dict() == want.as_dict()
    assert got.hash == want.hash
    opened = c.open_block(c._head.timestamp + 5).header
    assert opened.as_dict() == want.copy(timestamp=c._head.timestamp + 5, state_root=c._pending_root).as_dict()


def test_template_equals_py_evms_header_for_every_head():
    art = compiled()
    c = Chain.ephemeral(ChainConfig(genesis_timestamp=1_700_000_000, gas_limit=1_000_000))
    a = [x.address for x in c.accounts]
    ts = iter(range(1_700_000_001, 1_800_000_000))
    nonce = {x: 0 for x in a}

    def mine(*txs):
        _check(c)
        b = c.open_block(next(ts))
        for sender, to, data, gas in txs:
            tx, s = c.sign(sender, to, data, 0, gas=gas, nonce=nonce[sender])
            nonce[sender] += 1
            b.add(tx, s)
        return c.seal_block(b)

    deploy = bytes.fromhex(art["bytecode"][2:]) + encode(["uint256"], [10**9])
    token = mine((a[0], None, deploy, 400_000)).results[0].contract_address
    sel = bytes.fromhex("a9059cbb")
    base_fees = [c._head.base_fee_per_gas]
    for i in range(6):  # full blocks: the base fee rises
        mine(*[(a[j], None, deploy, 320_000) for j in range(3)])
        base_fees.append(c._head.base_fee_per_gas)
    for i in range(6):  # empty and light blocks: it falls
        mine() if i % 2 else mine((a[1], token, sel + encode(["address", "uint256"], [a[2], 0]), 100_000))
        base_fees.append(c._head.base_fee_per_gas)
    assert max(base_fees) > base_fees[0] and base_fees[-1] < max(base_fees)
    c.set_balance(a[5], 7)  # a dev edit: the pending root differs from the head's
    mine()
    sid = c.snapshot()
    mine(), mine()
    c.revert(sid)
    _check(c)
    mine()
    c.config.gas_limit = 2_000_000  # another gas limit: py-evm builds it again
    mine()
    _check(c)
