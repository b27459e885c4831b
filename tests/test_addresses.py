import pytest

from vm.addresses import from_syn, parse_any_address, to_syn

ADDR = bytes.fromhex("f39fd6e51aad88f6f4ce6ab8827279cfffb92266")


def test_syn_round_trip_and_checksum():
    s = to_syn(ADDR)
    assert s.startswith("sYn") and from_syn(s) == ADDR
    assert parse_any_address(s) == parse_any_address("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266") == ADDR
    typo = s[:-2] + ("a" if s[-2] != "a" else "b") + s[-1]
    with pytest.raises(ValueError, match="checksum|base32|length"):
        from_syn(typo)


@pytest.mark.parametrize("bad", ["sYn", "sYn!!!", "0x123", "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92267", "hello"])
def test_bad_addresses(bad):
    with pytest.raises(ValueError):
        parse_any_address(bad)
