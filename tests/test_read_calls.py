"""eth_call and eth_estimateGas on the head's warm read state (vm/reader.py) answer as py-evm does.

`ReadState.execute` runs a call through the blocks' lean interpreter loop and executor steps and
builds its free transaction without py-evm's copies of it; `vm.execution.call` (the path of calls
with state overrides) runs py-evm's own `in_costless_state` and `costless_execute_transaction`
with py-evm's own executor and interpreter loop. Every call here goes through both on the same
head: success, output, gas, error text and logs must be equal, and a call py-evm rejects is
rejected with the same words.
"""
import pytest
from eth_abi import encode
from eth_utils import keccak

from tests.contracts import compiled
from tests.test_lean_execution import NESTED_TEMPLATE, PROBES, SEL_TRANSFER, _address
from vm import execution, reader
from vm.chain import Chain
from vm.chain_records import TxRejected
from vm.lean_exec import InlineBudget, NotInline
from vm.reader import service_precompiles

SEL_BALANCE_OF = keccak(b"balanceOf(address)")[:4]
EXTRA = {
    "gasprice": bytes.fromhex("3a5f5260205ff3"),  # return GASPRICE
    "origin": bytes.fromhex("325f5260205ff3"),  # return ORIGIN
    "selfbalance": bytes.fromhex("475f5260205ff3"),  # return SELFBALANCE (the call's value arrives)
    "basefee": bytes.fromhex("485f5260205ff3"),  # return BASEFEE (0 in a call)
}
# init code that deploys one STOP byte: PUSH1 1 PUSH1 12 PUSH0 CODECOPY PUSH1 1 PUSH0 RETURN STOP
INIT = bytes.fromhex("6001600c5f3960015ff300")
# no calldata: SSTORE(0, 1), TSTORE(0, 7), then JUMPDEST PUSH1 12 JUMP for ever; calldata: return SLOAD(0) + TLOAD(0)
WRITE_THEN_LOOP = bytes.fromhex("3660105760015f5560075f5d5b600c565b5f545f5c015f5260205ff3")


def _outcome(fn):
    try:
        r = fn()
    except TxRejected as exc:
        return ("rejected", str(exc))
    return (r.success, r.output, r.gas_used, r.error, [(g.address, tuple(g.topics), g.data) for g in r.logs])


def _probe_calls(chain: Chain) -> dict:
    """The probes, an ERC20 and the edge cases, deployed on `chain`: {label: chain.call's arguments}."""
    a = [acct.address for acct in chain.accounts]
    for name, code in {**PROBES, **EXTRA}.items():
        chain.set_code(_address(name), code)
    chain.set_code(_address("nested"), bytes.fromhex(NESTED_TEMPLATE.format(addr=_address("store").hex())))
    art = compiled()
    deployed = chain.transact(a[0], None, bytes.fromhex(art["bytecode"][2:]) + encode(["uint256"], [10**24]),
                              0, 3_000_000)
    token = deployed.contract_address
    chain.transact(a[0], token, SEL_TRANSFER + encode(["address", "uint256"], [a[1], 5]), 0, 100_000)
    poor = keccak(b"poor")[:20]  # no balance at all

    calls = {name: (a[2], _address(name), b"", 0, None, 0) for name in list(PROBES) + list(EXTRA) + ["nested"]}
    calls.update({
        "out of gas": (a[2], _address("loop"), b"", 0, 50_000, 0),  # at the caller's limit
        "gas price": (a[2], _address("gasprice"), b"", 0, None, 7 * 10**9),  # GASPRICE is the caller's price
        "value": (a[3], _address("selfbalance"), b"", 10**18, None, 0),  # value sent with the call
        "no sender": (None, _address("origin"), b"", 0, None, 0),  # the zero address
        "too poor": (poor, _address("selfbalance"), b"", 1, None, 0),  # value the sender lacks: rejected
        "no code gas": (a[2], _address("store"), b"", 0, 21_000, 0),  # only the intrinsic gas: out of gas
        "too little gas": (a[2], _address("store"), b"", 0, 20_000, 0),  # below the intrinsic gas: rejected
        "create": (a[4], None, INIT, 0, None, 0),  # the runtime code is the output
        "balanceOf": (a[0], token, SEL_BALANCE_OF + encode(["address"], [a[1]]), 0, None, 0),
        "transfer": (a[1], token, SEL_TRANSFER + encode(["address", "uint256"], [a[2], 3]), 0, None, 0),
        "transfer reverts": (a[1], token, SEL_TRANSFER + encode(["address", "uint256"], [a[2], 10**30]), 0, None, 0),
    })
    return calls


@pytest.mark.filterwarnings("ignore:SELFDESTRUCT opcode present:DeprecationWarning")
def test_calls_on_the_read_state_equal_py_evms_costless_execution():
    chain = Chain.ephemeral()
    a = [acct.address for acct in chain.accounts]
    calls = _probe_calls(chain)
    for label, (sender, to, data, value, gas, price) in calls.items():
        mine = _outcome(lambda: chain.call(sender, to, data, value, gas, price))
        req = execution.CallRequest(sender, to, data, value, gas, price)
        assert mine == _outcome(lambda: execution.call(chain, req, "latest")), label
        calls[label] = mine
    # the workload reaches what it is meant to
    assert calls["too poor"] == ("rejected", "insufficient funds for gas * price + value")
    assert calls["too little gas"][0] == "rejected"
    assert calls["no code gas"][:4] == calls["out of gas"][:2] + (21_000, "out of gas")
    assert calls["out of gas"][2:4] == (50_000, "out of gas")
    assert calls["transfer reverts"][3] == "execution reverted: insufficient balance"
    assert calls["create"][:2] == (True, b"\x00")
    assert int.from_bytes(calls["gas price"][1], "big") == 7 * 10**9 and calls["basefee"][1] == bytes(32)
    assert int.from_bytes(calls["value"][1], "big") == 10**18
    assert calls["no sender"][1] == bytes(32) and calls["origin"][1] == bytes(12) + a[2]
    assert calls["balanceOf"][1] == encode(["uint256"], [5]) and calls["transfer"][4]  # the Transfer log
    # and the read state ran them the lean way
    view = chain.reader.state_for(chain.head)
    assert view.state.computation_class.__name__.startswith("Lean")
    assert view.state.transaction_executor_class.__name__.startswith("Lean")
    assert isinstance(view, reader.ReadState)


def test_gas_estimates_on_the_read_state_equal_py_evms():
    """Both estimate paths give the least limit that succeeds: one less fails. Where the call needs exactly the gas
    it used, that is found with the second execution; a sub-call that gets 63/64 of what is left needs more, and
    the search finds it."""
    chain = Chain.ephemeral()
    a = [acct.address for acct in chain.accounts]
    art = compiled()
    token = chain.transact(a[0], None, bytes.fromhex(art["bytecode"][2:]) + encode(["uint256"], [10**24]),
                           0, 3_000_000).contract_address
    chain.set_code(_address("store"), PROBES["store"])
    # CALL(GAS, store, 0, 0, 0, 0, 0); revert unless it succeeded: the child's SSTORE needs its share of the gas
    # (PUSH0 x5, PUSH20 store, GAS, CALL, ISZERO, PUSH1 0x21, JUMPI, STOP, JUMPDEST at 0x21, PUSH0 PUSH0 REVERT)
    forwarder = "5f5f5f5f5f73" + _address("store").hex() + "5af115602157005b5f5ffd"
    chain.set_code(_address("forwarder"), bytes.fromhex(forwarder))
    runs = []
    real = chain.call

    def counted(*args, **kwargs):
        runs.append(args)
        return real(*args, **kwargs)

    chain.call = counted
    estimates = []
    for to, data in [(token, SEL_TRANSFER + encode(["address", "uint256"], [a[1], 5])),
                     (a[1], b""), (None, INIT), (_address("forwarder"), b"")]:
        runs.clear()
        mine = chain.estimate_gas(a[0], to, data)
        used = len(runs)
        theirs = execution.estimate_gas(chain, execution.CallRequest(a[0], to, data), "latest")
        assert mine == theirs >= 21_000
        assert real(a[0], to, data, 0, mine).success
        if mine > 21_000:  # (below 21,000 a call is rejected outright)
            assert not real(a[0], to, data, 0, mine - 1).success
        estimates.append((mine, used, real(a[0], to, data).gas_used))
    for estimate, used, gas_used in estimates[:3]:  # exactly what they used, found at the second execution
        assert estimate == gas_used and used == 2
    estimate, used, gas_used = estimates[3]
    assert estimate > gas_used and used > 2  # the forwarder needs headroom for its child's 63/64
    assert estimates[1][0] == 21_000 and estimates[2][0] > 53_000


class _RunsOutAtCheck(InlineBudget):
    """A budget whose time is up at its n-th check: the same stop on any machine, however fast."""

    __slots__ = ("left", "checks")

    def __init__(self, left: int) -> None:
        super().__init__(60, service_precompiles())
        self.left, self.checks = left, 0

    def check(self) -> None:
        self.checks += 1
        if self.checks > self.left:
            raise NotInline("over its time")
        super().check()


@pytest.mark.filterwarnings("ignore:SELFDESTRUCT opcode present:DeprecationWarning")
def test_a_call_under_a_budget_answers_as_without_one_or_stops_leaving_no_trace():
    """The event loop's calls (vm/api.py `_call_here`) run under an `InlineBudget`: within it they answer exactly as
    the reader threads do; past it they stop at a jump, and the state (storage, transient storage, warm slots) is
    as before; they never start a service precompile (AI, consensus, bridges), not even from a sub-call."""
    chain = Chain.ephemeral()
    a = [acct.address for acct in chain.accounts]
    for label, args in _probe_calls(chain).items():
        budget = InlineBudget(60, service_precompiles())
        assert _outcome(lambda: chain.call(*args, budget=budget)) == _outcome(lambda: chain.call(*args)), label

    looper = _address("write then loop")
    chain.set_code(looper, WRITE_THEN_LOOP)
    before = _outcome(lambda: chain.call(a[0], looper, b"\x01"))
    assert before[:2] == (True, bytes(32))
    budget = _RunsOutAtCheck(3)
    with pytest.raises(NotInline):
        chain.call(a[0], looper, b"", 0, 10_000_000, budget=budget)
    assert budget.checks == 4  # the frame's start, then every JUMP_CHECK jumps: stopped inside the loop
    assert _outcome(lambda: chain.call(a[0], looper, b"\x01")) == before  # no write kept, same cold-slot gas
    assert _outcome(lambda: chain.call(a[0], looper, b"", 0, 100_000))[:4] == (False, b"", 100_000, "out of gas")

    service = sorted(service_precompiles())
    # CALL(GAS, <the first service precompile>, 0, 0, 0, 0, 0); return what it left on the stack
    caller = _address("calls a service precompile")
    chain.set_code(caller, bytes.fromhex("5f5f5f5f5f73" + service[0].hex() + "5af15f5260205ff3"))
    for to in service + [caller]:
        budget = InlineBudget(60, service_precompiles())
        with pytest.raises(NotInline, match="service precompile"):
            chain.call(a[0], to, b"", budget=budget)
        chain.call(a[0], to, b"")  # without a budget (a reader thread) it runs


def test_a_budget_is_refused_where_py_evms_own_loop_would_run(monkeypatch):
    """A read state whose computation class is not the lean one (a py-evm it was not copied from) never runs a
    budgeted call: py-evm's loop would neither check the time nor keep a service precompile off the event loop."""
    monkeypatch.setattr(reader, "lean_computation_class", lambda base: base)
    chain = Chain.ephemeral()
    a = [acct.address for acct in chain.accounts]
    with pytest.raises(NotInline, match="own loop"):
        chain.call(a[0], a[1], b"", budget=InlineBudget(60, service_precompiles()))
    assert chain.call(a[0], a[1], b"").success
