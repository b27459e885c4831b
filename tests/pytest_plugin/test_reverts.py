"""`reverts(...)` and the exceptions it matches, from raw revert data."""
import eth_abi
import pytest
from eth_utils import keccak

from aivm_pytest import CustomError, Reverted, reverts
from aivm_pytest.reverts import error_class, make_error

NOT_OWNER = {"type": "error", "name": "NotOwner", "inputs": [{"name": "who", "type": "address"}]}
WHO = "0x" + "11" * 20


def error_data(reason: str) -> bytes:
    return keccak(text="Error(string)")[:4] + eth_abi.encode(["string"], [reason])


def panic_data(code: int) -> bytes:
    return keccak(text="Panic(uint256)")[:4] + eth_abi.encode(["uint256"], [code])


def not_owner_data(who: str) -> bytes:
    return keccak(text="NotOwner(address)")[:4] + eth_abi.encode(["address"], [who])


def raise_(exc):
    raise exc


def test_reason_panic_and_vm_errors():
    assert Reverted(error_data("nope")).reason == "nope"
    assert Reverted(panic_data(0x11)).panic == 0x11
    assert str(Reverted(panic_data(0x11))) == "reverted: panic 0x11"
    assert Reverted(b"", error="out of gas").reason == "out of gas"
    assert str(Reverted(b"\x01\x02")) == "reverted: data 0x0102"


def test_reverts_matches_and_mismatches():
    with reverts("nope") as r:
        raise_(Reverted(error_data("nope")))
    assert r.value.reason == "nope"
    with reverts():
        raise_(Reverted(b""))
    with reverts(panic=0x11):
        raise_(Reverted(panic_data(0x11)))
    with pytest.raises(AssertionError, match="expected 'yes', got 'nope'"):
        with reverts("yes"):
            raise_(Reverted(error_data("nope")))
    with pytest.raises(AssertionError, match="expected panic 0x12, got panic 0x11"):
        with reverts(panic=0x12):
            raise_(Reverted(panic_data(0x11)))
    with pytest.raises(AssertionError, match=r"did not revert \(expected 'nope'\)"):
        with reverts("nope"):
            pass
    with pytest.raises(ValueError):  # other exceptions pass through untouched
        with reverts("nope"):
            raise ValueError("not a revert")


def test_custom_errors():
    NotOwner = error_class(NOT_OWNER)
    assert error_class(dict(NOT_OWNER)) is NotOwner  # one class per signature, shared by contracts
    exc = make_error(not_owner_data(WHO), "execution reverted", {NotOwner.selector: NotOwner}, "in C.f")
    assert isinstance(exc, NotOwner) and isinstance(exc, CustomError) and isinstance(exc, Reverted)
    assert exc.who.lower() == WHO and str(exc).startswith("reverted: NotOwner(")
    with reverts(NotOwner):
        raise_(exc)
    with reverts(NotOwner(exc.who)):
        raise_(exc)
    with pytest.raises(AssertionError, match="expected NotOwner"):
        with reverts(NotOwner("0x" + "22" * 20)):
            raise_(exc)
    with pytest.raises(AssertionError, match="expected NotOwner, got 'nope'"):
        with reverts(NotOwner):
            raise_(Reverted(error_data("nope")))
    unknown = make_error(not_owner_data(WHO), "execution reverted", {})
    assert type(unknown) is Reverted and unknown.data == not_owner_data(WHO)
