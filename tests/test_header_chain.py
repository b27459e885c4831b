"""Blocks that extend the head are written by vm.header_chain, not py-evm's general
`ChainDB.persist_block`: every stored key and value must be the same, block after
block — with transactions, empty blocks, a dev edit, a snapshot revert (the next
block replaces a number already written) and blocks mined again on top."""
from eth_abi import encode

from tests.contracts import compiled
from vm import header_chain
from vm.chain import Chain, ChainConfig


def _workload(fast: bool, monkeypatch) -> tuple[dict, list]:
    monkeypatch.setattr(header_chain, "ENABLED", fast)
    art = compiled()
    c = Chain.ephemeral(ChainConfig(genesis_timestamp=1_700_000_000))
    a = [x.address for x in c.accounts]
    ts = iter(range(1_700_000_001, 1_800_000_000))
    heads = []

    def mine(*txs):
        b = c.open_block(next(ts))
        for sender, to, data in txs:
            tx, s = c.sign(sender, to, data, 0, gas=600_000, nonce=c.nonce(sender) + len(
                [1 for t in b.included if t.sender == sender]))
            b.add(tx, s)
        m = c.seal_block(b)
        heads.append((m.number, c._head.hash, c._chain.get_canonical_head().hash))
        return m

    token = mine((a[0], None, bytes.fromhex(art["bytecode"][2:]) + encode(["uint256"], [10**6]))).results[0].contract_address
    sel = bytes.fromhex("a9059cbb")
    for i in range(4):
        mine(*[(a[0], token, sel + encode(["address", "uint256"], [a[1 + j], 1 + i])) for j in range(i)])
    c.set_balance(a[5], 9)
    mine()
    sid = c.snapshot()
    mine((a[0], token, sel + encode(["address", "uint256"], [a[2], 3]))), mine()
    c.revert(sid)
    mine((a[0], token, sel + encode(["address", "uint256"], [a[3], 4])))
    mine(), mine()
    assert c._chain.get_canonical_block_by_number(c.head_number).header == c._head
    return dict(c.store.kv._data), heads


def test_fast_header_writes_store_exactly_py_evms_keys(monkeypatch):
    fast_kv, fast_heads = _workload(True, monkeypatch)
    slow_kv, slow_heads = _workload(False, monkeypatch)
    assert fast_heads == slow_heads and len(fast_heads) == 11
    assert fast_kv.keys() == slow_kv.keys()
    assert [k for k in fast_kv if fast_kv[k] != slow_kv[k]] == []


def test_a_block_that_does_not_extend_the_stored_head_takes_py_evms_path(monkeypatch):
    c = Chain.ephemeral(ChainConfig(genesis_timestamp=1_700_000_000))
    seen = []
    monkeypatch.setattr(type(c._chain.chaindb), "persist_block",
                        lambda self, block, *a: seen.append(block.number) or ((), ()))
    b = c.open_block(1_700_000_001)
    block = c._chain.get_canonical_block_by_number(0)
    with c.store.transaction():
        header_chain.persist_block(c._chain.chaindb, c.store, block)  # genesis: no parent is the head
    assert seen == [0]
    assert b.number == 1


def test_gap_records_written_directly_equal_py_evms_encoding():
    import rlp
    from eth.rlp.sedes import chain_gaps

    for n in (1, 2, 255, 256, 65_535, 2**32, 2**64 + 3):
        assert header_chain.gaps_rlp(n) == rlp.encode(((), n), sedes=chain_gaps)


def test_a_block_on_the_head_updates_the_gaps_without_py_evms_gap_functions(monkeypatch):
    """The tail write is taken block after block (else the key comparison above would only
    show py-evm's path)."""
    from eth.db.chain import ChainDB

    calls = []
    for name in ("_update_chain_gaps", "_update_header_chain_gaps"):
        original = getattr(ChainDB, name)
        monkeypatch.setattr(ChainDB, name, classmethod(
            lambda cls, *a, _o=original, _n=name, **k: calls.append(_n) or _o.__func__(cls, *a, **k)))
    c = Chain.ephemeral(ChainConfig(genesis_timestamp=1_700_000_000))
    a = [x.address for x in c.accounts]
    c.transact(a[0], a[1], b"", value=1)
    del calls[:]  # genesis stores no gap records: block 1 is py-evm's case
    for _ in range(4):
        c.transact(a[0], a[1], b"", value=1)
    assert c.head_number == 5 and calls == []
    assert c._chain.chaindb.get_chain_gaps() == ((), 6)
    assert c._chain.chaindb.get_header_chain_gaps() == ((), 6)
