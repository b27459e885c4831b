"""Contracts compiled with vyper (from PyPI) for the node's tests."""
from functools import lru_cache

TOKEN = '''
# pragma version 0.4.3
event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

balanceOf: public(HashMap[address, uint256])
totalSupply: public(uint256)

@deploy
def __init__(supply: uint256):
    self.balanceOf[msg.sender] = supply
    self.totalSupply = supply
    log Transfer(sender=empty(address), receiver=msg.sender, value=supply)

@external
def transfer(to: address, amount: uint256) -> bool:
    assert self.balanceOf[msg.sender] >= amount, "insufficient balance"
    self.balanceOf[msg.sender] -= amount
    self.balanceOf[to] += amount
    log Transfer(sender=msg.sender, receiver=to, value=amount)
    return True

@external
@view
def aivm_version() -> (String[64], uint256, uint256):
    out: Bytes[256] = raw_call(0x0000000000000000000000000000000000000100, b"", max_outsize=256, is_static_call=True)
    return abi_decode(out, (String[64], uint256, uint256))

@external
@view
def call_precompile(target: address, gas_limit: uint256) -> (bool, Bytes[256]):
    ok: bool = False
    out: Bytes[256] = b""
    ok, out = raw_call(target, b"", max_outsize=256, gas=gas_limit, is_static_call=True, revert_on_failure=False)
    return ok, out
'''


@lru_cache(maxsize=None)
def compiled(source: str = TOKEN) -> dict:
    from vyper import compile_code

    out = compile_code(source, output_formats=["bytecode", "abi"])
    return {"abi": out["abi"], "bytecode": out["bytecode"]}


def deploy_token(w3, supply: int = 10**24):
    """The test token deployed from the first account through web3.py; a contract object bound to it."""
    art = compiled()
    factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    receipt = w3.eth.wait_for_transaction_receipt(factory.constructor(supply).transact({"from": w3.eth.accounts[0]}))
    assert receipt.status == 1
    return w3.eth.contract(address=receipt.contractAddress, abi=art["abi"])
