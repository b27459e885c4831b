"""Contract unit tests in pytest for AIVM: SynQ (or any ABI + bytecode) on an in-process chain.

    from aivm_pytest import reverts

    def test_transfer(deploy, accounts):
        token = deploy("contracts/ERC20.synq", "Token", "TKN", 18, 1000)
        token.transfer(accounts[1], 10)
        assert token.balanceOf(accounts[1]) == 10
        with reverts("insufficient balance"):
            token.transfer(accounts[2], 10**30, sender=accounts[1])

See docs/testing.md.
"""
from aivm_pytest.contract import Contract
from aivm_pytest.env import Account, Env
from aivm_pytest.events import Event
from aivm_pytest.reverts import CustomError, Reverted, reverts

__all__ = ["Account", "Contract", "CustomError", "Env", "Event", "Reverted", "reverts"]
