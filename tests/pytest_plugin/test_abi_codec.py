"""A contract function's kept coder (`aivm_pytest.abi.Codec`) encodes and decodes as `encode`/`decode`
(eth-abi's own calls) do, errors included."""
import pytest
from eth_abi import encode as abi_encode

from aivm_pytest.abi import Codec, decode, encode

ADDR = "0x" + "ab" * 20
PARAMS = [
    ([{"type": "address"}, {"type": "uint256"}], (ADDR, 10)),
    ([{"type": "bool"}], (True,)),
    ([{"type": "bytes"}, {"type": "string"}, {"type": "bytes32"}], (b"\x01\x02", "hé", b"\x07" * 32)),
    ([{"type": "uint8[]"}, {"type": "address[2]"}], ([1, 2, 3], [ADDR, ADDR])),
    ([{"type": "tuple", "components": [{"type": "address"}, {"type": "int128"}]}], ((ADDR, -5),)),
    ([{"type": "tuple[]", "components": [{"type": "uint256"}, {"type": "bytes"}]}], ([(1, b"a"), (2, b"")],)),
]


@pytest.mark.parametrize("params,values", PARAMS)
def test_codec_equals_eth_abis_own_calls(params, values):
    c = Codec(params)
    data = c.encode(values)
    assert data == encode(params, values)
    assert c.decode(data) == decode(params, data)
    assert c.decode(bytearray(data)) == decode(params, data)


def test_codec_errors_are_eth_abis():
    c = Codec([{"type": "uint8"}, {"type": "address"}])
    for bad in ((256, ADDR), (1, "0x1234"), ("x", ADDR)):
        with pytest.raises(Exception) as ours:
            c.encode(bad)
        with pytest.raises(Exception) as theirs:
            encode(c.params, bad)
        assert type(ours.value) is type(theirs.value) and str(ours.value) == str(theirs.value)
    short = abi_encode(["uint8"], [1])  # one word where two are needed
    for data in (short, "not bytes"):
        with pytest.raises(Exception) as ours:
            c.decode(data)
        with pytest.raises(Exception) as theirs:
            decode(c.params, data)
        assert type(ours.value) is type(theirs.value)
