"""eth_getLogs splices whole blocks' stored logs (orjson Fragments): the same JSON as decoding them."""
import orjson
import pytest
from eth_abi import encode

from tests.contracts import compiled
from vm.chain import Chain


def test_raw_logs_are_the_decoded_logs_byte_for_byte():
    art = compiled()
    c = Chain.ephemeral()
    a = [x.address for x in c.accounts]
    deploy = bytes.fromhex(art["bytecode"][2:]) + encode(["uint256"], [10**6])
    ta = c.transact(a[0], None, deploy).contract_address
    tb = c.transact(a[0], None, deploy).contract_address

    def transfer(token, to, amount, nonce):
        tx, s = c.sign(a[0], token, bytes.fromhex("a9059cbb") + encode(["address", "uint256"], [to, amount]),
                       gas=100_000, nonce=nonce)
        return tx, s

    n = c.nonce(a[0])
    c.mine([transfer(ta, a[1], 1, n), transfer(tb, a[2], 2, n + 1)])  # a block with both tokens' logs
    c.mine([transfer(ta, a[3], 3, n + 2), transfer(ta, a[4], 4, n + 3)])  # only token A
    c.mine([transfer(tb, a[5], 5, n + 4)])  # only token B
    head = c.head_number
    topic = bytes.fromhex("ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef")
    filters = [
        (None, None), ([ta], None), ([tb], None), ([ta, tb], None),
        (None, [[topic]]), ([ta], [None, [a[0].rjust(32, b"\0")]]), ([ta], [[topic], None, [a[3].rjust(32, b"\0")]]),
    ]
    for addresses, topics in filters:
        for lo, hi in ((0, head), (head - 1, head), (head - 2, head - 2)):
            plain = c.index.logs(lo, hi, addresses, topics)
            raw = c.index.logs(lo, hi, addresses, topics, raw=True)
            assert orjson.dumps(raw) == orjson.dumps(plain), (addresses, topics, lo, hi)
    assert len(c.index.logs(0, head, [ta], None)) == 1 + 3
    assert any(isinstance(x, orjson.Fragment) for x in c.index.logs(0, head, [ta], None, raw=True))
    # the result limit counts logs, not blocks
    with pytest.raises(OverflowError):
        c.index.logs(0, head, None, None, limit=6, raw=True)
    assert len(c.index.logs(0, head, None, None, limit=7)) == 7
