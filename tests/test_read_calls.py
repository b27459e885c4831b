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

SEL_BALANCE_OF = keccak(b"balanceOf(address)")[:4]
EXTRA = {
    "gasprice": bytes.fromhex("3a5f5260205ff3"),  # return GASPRICE
    "origin": bytes.fromhex("325f5260205ff3"),  # return ORIGIN
    "selfbalance": bytes.fromhex("475f5260205ff3"),  # return SELFBALANCE (the call's value arrives)
    "basefee": bytes.fromhex("485f5260205ff3"),  # return BASEFEE (0 in a call)
}
# init code that deploys one STOP byte: PUSH1 1 PUSH1 12 PUSH0 CODECOPY PUSH1 1 PUSH0 RETURN STOP
INIT = bytes.fromhex("6001600c5f3960015ff300")


def _outcome(fn):
    try:
        r = fn()
    except TxRejected as exc:
        return ("rejected", str(exc))
    return (r.success, r.output, r.gas_used, r.error, [(g.address, tuple(g.topics), g.data) for g in r.logs])


@pytest.mark.filterwarnings("ignore:SELFDESTRUCT opcode present:DeprecationWarning")
def test_calls_on_the_read_state_equal_py_evms_costless_execution():
    chain = Chain.ephemeral()
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
