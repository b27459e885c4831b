"""Calls between contracts through interfaces, sending value, and the reentrancy lock."""
from __future__ import annotations

import pytest

from tests.synq.harness import Reverted

VAULT = """
interface IHook { fn onWithdraw(amount: uint256); }
event Withdrawn(who: indexed address, amount: uint256);
public storage deposits: map[address, uint256];

external payable fn deposit() { deposits[msg.sender] += msg.value; }

// makes an external call: SynQ locks it automatically
external fn withdraw(hook: address) {
    let amount: uint256 = deposits[msg.sender];
    IHook(hook).onWithdraw(amount);
    deposits[msg.sender] = 0;
    send(msg.sender, amount);
    emit Withdrawn(msg.sender, amount);
}

// changes state but calls nobody: not locked, yet refuses to run inside a locked call
external fn touch() { deposits[msg.sender] += 0; }
external view fn peek(a: address) -> uint256 { return deposits[a]; }
"""

ATTACKER = """
interface IVault { fn withdraw(hook: address); fn touch(); view fn peek(a: address) -> uint256; }
public storage vault: address;
public storage mode: uint256;
public storage seen: uint256;
constructor(v: address) { vault = v; }
external fn setMode(m: uint256) { mode = m; }
external fn onWithdraw(amount: uint256) {
    seen = amount;
    if mode == 1 { IVault(vault).withdraw(self); }
    if mode == 2 { IVault(vault).touch(); }
    if mode == 3 { seen = IVault(vault).peek(tx.origin) + 1; }
}
external fn attack() { IVault(vault).withdraw(self); }
external payable fn fund() {}
"""

CALLER = """
interface ICallee {
    fn setAndGet(x: uint256, s: string) -> (uint256, string);
    view fn sum(xs: uint256[]) -> uint256;
    payable fn take() -> uint256;
    fn boom();
}
external fn relay(target: address, x: uint256, s: string) -> (uint256, string) {
    let a: uint256, b: string = ICallee(target).setAndGet(x, s);
    return a, b;
}
external view fn relaySum(target: address, xs: uint256[]) -> uint256 { return ICallee(target).sum(xs); }
external payable fn forward(target: address) -> uint256 { return ICallee(target).take(value=msg.value); }
external fn explode(target: address) { ICallee(target).boom(); }
"""

CALLEE = """
error Boom(code: uint256);
public storage last: uint256;
external fn setAndGet(x: uint256, s: string) -> (uint256, string) { last = x; return x * 2, s; }
external view fn sum(xs: uint256[]) -> uint256 { let t: uint256 = 0; for i in range(len(xs)) max 50 { t += xs[i]; } return t; }
external payable fn take() -> uint256 { return self.balance; }
external fn boom() { revert Boom(42); }
"""


def test_interface_calls(env):
    callee = env.deploy(CALLEE)
    caller = env.deploy(CALLER)
    assert caller.transact("relay", callee.address, 21, "hi").value == (42, "hi")
    assert callee.last() == 21
    assert caller.relaySum(callee.address, [1, 2, 3]) == 6
    assert caller.transact("forward", callee.address, value=5).value == 5
    with pytest.raises(Reverted) as info:
        caller.transact("explode", callee.address)
    assert info.value.data[4:] == (42).to_bytes(32, "big")  # the callee's revert data bubbles up
    with pytest.raises(Reverted) as info:
        caller.transact("explode", env.accounts[3])
    assert info.value.reason == "call to a non-contract"


def test_reentrancy_lock(env):
    vault = env.deploy(VAULT)
    attacker = env.deploy(ATTACKER, vault.address)
    user = env.accounts[1]
    vault.transact("deposit", value=1000, sender=user)
    # an honest hook: the withdrawal goes through and pays out
    r = vault.transact("withdraw", attacker.address, sender=user)
    assert r.logs == [("Withdrawn", {"who": "0x" + user.hex(), "amount": 1000})]
    assert attacker.seen() == 1000 and vault.peek(user) == 0
    assert env.chain.balance(vault.address) == 0  # paid out with send()
    # re-entering the locked function reverts the whole withdrawal
    vault.transact("deposit", value=500, sender=user)
    attacker.transact("setMode", 1)
    with pytest.raises(Reverted) as info:
        vault.transact("withdraw", attacker.address, sender=user)
    assert info.value.reason == "reentrant call"
    assert vault.peek(user) == 500
    # a state-changing function that makes no calls is refused while the lock is held
    attacker.transact("setMode", 2)
    with pytest.raises(Reverted) as info:
        vault.transact("withdraw", attacker.address, sender=user)
    assert info.value.reason == "reentrant call"
    # views stay readable
    attacker.transact("setMode", 3)
    vault.transact("withdraw", attacker.address, sender=user)
    assert attacker.seen() == 501
