"""The contract API and chain controls, used directly (no pytester): calls, events, gas, time, accounts."""
import json

import pytest
from eth_utils import to_checksum_address

from aivm_pytest import Reverted, reverts
from aivm_pytest.compile import compile_vyper
from aivm_pytest.env import Env
from aivm_pytest.local import LocalBackend
from tests.pytest_plugin.conftest import COUNTER, TOKEN_VY


@pytest.fixture(scope="module")
def env():
    return Env(LocalBackend())


@pytest.fixture
def chain(env):
    with env.anchor():
        yield env


@pytest.fixture
def token(chain):
    return chain.deploy(compile_vyper(TOKEN_VY, "Token"), 1_000_000)


def test_views_transactions_and_decoded_values(chain, token):
    alice, bob = chain.accounts[:2]
    assert token.transfer(bob, 10) is True
    assert token.balanceOf(bob) == 10
    assert token.pair(21, sender=bob) == (42, bob)  # tuples decoded, addresses as checksum strings
    assert token.transfer.call(bob, 5) is True and token.balanceOf(bob) == 10  # .call: no transaction
    assert chain.last_tx.receipt["status"] == "0x1"


def test_events_have_named_fields(chain, token):
    alice, bob = chain.accounts[:2]
    token.transfer(bob, 7)
    [ev] = token.events.Transfer
    assert (ev.sender, ev.receiver, ev.value) == (alice, bob, 7)
    assert ev.args == {"sender": alice, "receiver": bob, "value": 7}
    assert ev.address == token.address
    assert repr(ev) == f"Transfer(sender={alice!r}, receiver={bob!r}, value=7)"
    assert token.events.Approval == []


def test_each_call_is_its_own_transaction_so_gas_repeats(chain, token):
    bob = chain.accounts[1]
    token.transfer(bob, 1)
    new_recipient = token.last_gas
    repeats = []
    for _ in range(4):
        token.transfer(bob, 1)
        repeats.append(token.last_gas)
    # warm slots never carry over: every repeat costs the same as the first repeat
    assert len(set(repeats)) == 1
    # and a zero -> nonzero balance costs exactly 20000 - 2900 more than nonzero -> nonzero
    assert new_recipient - repeats[0] == 17_100
    assert token.last_gas == int(chain.last_tx.receipt["gasUsed"], 16)


def test_gas_matches_a_chain_that_never_saw_the_earlier_calls(chain):
    counter = chain.deploy(COUNTER, 5)
    for _ in range(3):
        counter.bump()
    fresh = Env(LocalBackend())
    other = fresh.deploy(COUNTER, 8)
    other.bump()  # 8 -> 9: the same kind of write as 7 -> 8 above
    assert other.last_gas == counter.last_gas


def test_revert_names_function_and_synq_line(chain):
    counter = chain.deploy(COUNTER, 5, name="Counter")
    with pytest.raises(Reverted) as info:
        counter.set(1, sender=chain.accounts[1])
    msg = str(info.value)
    assert "reverted: 'only the owner'" in msg
    assert "in Counter.set at <source>:19:5" in msg
    assert 'require(msg.sender == owner, "only the owner");' in msg
    assert info.value.gas_used > 21_000  # the failed transaction was mined, as on a node
    with pytest.raises(counter.errors.TooBig) as info:
        counter.set(5000)
    assert (info.value.value, info.value.limit) == (5000, 1000)
    assert "TooBig(5000, 1000)" in str(info.value) and "<source>:21:9" in str(info.value)


def test_revert_in_a_view_call(chain, token):
    with reverts() as r:  # pair doubles: 2**255 * 2 overflows; Vyper reverts with no data
        token.pair(2**255)
    assert r.value.data == b"" and r.value.gas_used == 0  # a call, not a transaction
    assert str(r.value) == "reverted: no reason\n  in Token.pair"


def test_artifacts_dict_and_json_file(chain, tmp_path):
    art = compile_vyper(TOKEN_VY, "Token")
    as_dict = {"abi": art.abi, "bytecode": "0x" + art.bytecode.hex(), "contractName": "Tok"}
    t1 = chain.deploy(as_dict, 5)
    assert t1.balanceOf(chain.accounts[0]) == 5 and t1._name == "Tok"
    path = tmp_path / "Token.json"
    path.write_text(json.dumps({"abi": art.abi, "bytecode": {"object": art.bytecode.hex()}}))
    t2 = chain.deploy(path, 6)
    assert t2.balanceOf(chain.accounts[0]) == 6 and t2._name == "Token"
    t3 = chain.at(t2.address, path)
    assert t3.balanceOf(chain.accounts[0]) == 6


def test_vyper_file_and_wrong_arguments(chain, tmp_path):
    (tmp_path / "Token.vy").write_text(TOKEN_VY)
    token = chain.deploy(tmp_path / "Token.vy", 3)
    assert token.balanceOf(chain.accounts[0]) == 3
    with pytest.raises(TypeError, match="constructor takes 1 arguments, got 0"):
        chain.deploy(tmp_path / "Token.vy")
    with pytest.raises(TypeError, match=r"transfer\(address,uint256\)"):
        token.transfer(chain.accounts[1])
    with pytest.raises(FileNotFoundError):
        chain.deploy("missing/Nope.synq")


def test_value_balances_and_impersonation(chain):
    counter = chain.deploy(COUNTER, 0)
    counter.deposit(value=123)
    assert chain.balance(counter) == 123
    stranger = to_checksum_address("0x" + "ab" * 20)
    chain.set_balance(stranger, 10**18)
    assert chain.balance(stranger) == 10**18
    who = chain.impersonate(stranger)
    counter.bump(sender=who)
    assert counter.events.Bumped[0].by == stranger
    before = chain.balance(chain.accounts[2])
    chain.transfer(chain.accounts[2], 5, sender=who)
    assert chain.balance(chain.accounts[2]) == before + 5


def test_time_and_blocks(chain):
    counter = chain.deploy(COUNTER, 0)
    start = chain.block_number
    chain.mine(3)
    assert chain.block_number == start + 3
    t0 = chain.timestamp
    chain.time_travel(86_400)
    assert chain.timestamp == t0 + 86_400  # the latest block already has the new time
    assert counter.stamp() >= t0 + 86_401  # and later blocks continue from it
    assert counter.stamp() == chain.timestamp  # stamp() is a transaction: its own block
    target = chain.timestamp + 1_000
    chain.set_next_timestamp(target)
    assert counter.stamp() == target


def test_anchor_undoes_blocks_state_and_time(chain):
    counter = chain.deploy(COUNTER, 5)
    n, t = chain.block_number, chain.timestamp
    with chain.anchor():
        counter.set(9)
        chain.time_travel(10_000)
    assert counter.count() == 5
    assert (chain.block_number, chain.timestamp) == (n, t)


def test_the_repo_erc20_in_synq(chain):
    token = chain.deploy("contracts/ERC20.synq", "Token", "TKN", 18, 1_000)
    alice, bob = chain.accounts[:2]
    assert (token.name(), token.symbol(), token.decimals()) == ("Token", "TKN", 18)  # `name` is the ABI's
    assert token.transfer(bob, 5 * 10**18) is True
    assert token.events.Transfer == [token.events[0]] and token.events[0].value == 5 * 10**18
    with reverts(panic=0x11):  # checked arithmetic: bob has too little
        token.transfer(alice, 6 * 10**18, sender=bob)
    with reverts("only the minter can mint"):
        token.mint(bob, 1, sender=bob)


def test_synq_errors_surface_rendered(chain):
    import synq

    with pytest.raises(synq.SynqUserError, match=r"<source>:1:\d+: error"):
        chain.deploy("external fn f( {")


def test_synq_compiles_are_cached_on_disk(tmp_path, monkeypatch):
    from aivm_pytest import compile as comp

    monkeypatch.setattr(comp, "_memory", {})
    first = comp.compile_synq(COUNTER, "Counter", "Counter.synq", tmp_path)
    assert len(list(tmp_path.glob("*.json"))) == 1
    monkeypatch.setattr(comp, "_memory", {})
    monkeypatch.setattr(comp, "_synq_outputs", lambda *a: pytest.fail("compiled again"))
    again = comp.compile_synq(COUNTER, "Counter", "Counter.synq", tmp_path)
    assert (again.abi, again.bytecode, again.source_map) == (first.abi, first.bytecode, first.source_map)


ARRAYS_VY = """\
# pragma version 0.4.3
struct Pair:
    who: address
    n: uint256

@external
@view
def shapes(a: DynArray[address, 3]) -> (DynArray[address, 3], Pair, String[42]):
    return a, Pair(who=msg.sender, n=len(a)), "0xabcdefabcdefabcdefabcdefabcdefabcdefabcd"
"""


def test_decoding_follows_the_abi_types(chain):
    c = chain.deploy(compile_vyper(ARRAYS_VY, "Shapes"))
    a, b = chain.accounts[1], chain.accounts[2]
    addrs, pair, text = c.shapes([a, b])
    assert addrs == [a, b]  # arrays as lists, addresses checksummed
    assert pair == (chain.accounts[0], 2)  # structs as tuples
    assert text == "0xabcdefabcdefabcdefabcdefabcdefabcdefabcd"  # a string is left alone


RELAY_VY = """\
# pragma version 0.4.3
interface Counter:
    def bump() -> uint256: nonpayable
    def set(v: uint256): nonpayable

@external
def poke(c: address) -> uint256:
    return extcall Counter(c).bump()

@external
def force(c: address, v: uint256):
    extcall Counter(c).set(v)
"""


def test_calls_across_contracts(chain):
    counter = chain.deploy(COUNTER, 5, name="Counter")
    relay = chain.deploy(compile_vyper(RELAY_VY, "Relay"))
    assert relay.poke(counter) == 6
    # the callee's event, decoded with the callee's ABI, among the caller's last events
    [ev] = relay.events.Bumped
    assert (ev.by, ev.value, ev.address) == (relay.address, 6, counter.address)
    assert chain.events == relay.events
    # a revert deep in the callee names the callee's SynQ line, reached through the caller
    with pytest.raises(Reverted) as info:
        relay.force(counter, 1)
    assert "in Relay.force at <source>:19:5" in str(info.value)
    assert info.value.reason == "only the owner"


def test_gas_keyword_and_out_of_gas(chain):
    counter = chain.deploy(COUNTER, 5)
    with reverts("out of gas") as r:
        counter.bump(gas=23_000)
    assert r.value.gas_used == 23_000  # all of it, as a node charges a failed transaction
    assert counter.count() == 5
