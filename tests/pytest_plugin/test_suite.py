"""Run sample test suites through the plugin with pytester and check what pytest reports."""
import re

from tests.pytest_plugin.conftest import run_suite

pytest_plugins = ["pytester"]

SAMPLE = '''
import pytest
from aivm_pytest import reverts

@pytest.fixture(scope="module")
def counter(deploy):
    return deploy("Counter.synq", 5)

def test_bump(counter, accounts):
    assert counter.bump() == 6
    assert counter.count() == 6
    [ev] = counter.events.Bumped
    assert (ev.by, ev.value) == (accounts[0], 6)

def test_reverts(counter, accounts):
    with reverts("only the owner"):
        counter.set(3, sender=accounts[1])
    with reverts(counter.errors.TooBig):
        counter.set(2000)
    with reverts(counter.errors.TooBig(2000, 1000)):
        counter.set(2000)
    counter.set(0)
    with reverts(panic=0x11):
        counter.down()

def test_not_owner(counter, accounts):
    counter.set(3, sender=accounts[1])

def test_wrong_reason(counter, accounts):
    with reverts("something else"):
        counter.set(3, sender=accounts[1])

def test_no_revert(counter):
    with reverts("only the owner"):
        counter.set(3)
'''


def test_counts_and_revert_messages(suite):
    suite.makepyfile(test_sample=SAMPLE)
    result = run_suite(suite)
    result.assert_outcomes(passed=2, failed=3)
    out = result.stdout.str()
    # the revert names the reason, the function and the SynQ line it came from
    result.stdout.fnmatch_lines([
        "*Reverted: reverted: 'only the owner'",
        "*in Counter.set at *Counter.synq:19:5",
        '*require(msg.sender == owner, "only the owner");',
    ])
    assert "reverted, but expected 'something else', got 'only the owner'" in out
    assert "did not revert (expected 'only the owner')" in out
    assert "aivm gas report" not in out  # only with --gas-report


ISOLATION = '''
import pytest

@pytest.fixture(scope="module")
def counter(deploy):
    return deploy("Counter.synq", 5)

@pytest.fixture
def bumped(counter):
    counter.bump()
    return counter

def test_a_changes_state(counter, chain, accounts):
    counter.set(77)
    chain.set_balance(accounts[3], 1)
    assert counter.count() == 77

def test_b_sees_nothing_of_a(counter, chain, accounts):
    assert counter.count() == 5
    assert chain.balance(accounts[3]) == 10_000 * 10**18

def test_c_function_fixture(bumped):
    assert bumped.count() == 6

def test_d_after_function_fixture(counter):
    assert counter.count() == 5

def test_e_anchor(counter, chain):
    with chain.anchor():
        counter.set(9)
        assert counter.count() == 9
    assert counter.count() == 5
'''

ISOLATION_OTHER_MODULE = '''
def test_module_fixture_gone(chain, deploy):
    # the first module's counter was deployed at the first address; it is reverted away
    fresh = deploy("Counter.synq", 1)
    assert fresh.count() == 1
    assert chain.nonce(chain.accounts[0]) == 1
'''


HYPOTHESIS = '''
from hypothesis import given, settings, strategies as st

@settings(max_examples=25, deadline=None)
@given(v=st.integers(0, 1000))
def test_each_example_starts_clean(deploy, chain, v):
    counter = deploy("Counter.synq", 5)
    # an example never sees the deployments or changes of the one before it
    assert chain.nonce(chain.accounts[0]) == 1
    assert counter.count() == 5
    counter.set(v)
    assert counter.count() == v

def test_after_hypothesis(chain):
    assert chain.nonce(chain.accounts[0]) == 0
'''


def test_isolation_between_tests_and_hypothesis_examples(suite):
    suite.makepyfile(test_1=ISOLATION, test_2=ISOLATION_OTHER_MODULE, test_3=HYPOTHESIS)
    result = run_suite(suite, "-v")
    result.assert_outcomes(passed=8)


GAS = '''
def test_gas(deploy):
    counter = deploy("Counter.synq", 5)
    for _ in range(3):
        counter.bump()
    counter.set(40)
    print("GAS", counter.last_gas)
'''


def test_gas_report(suite):
    suite.makepyfile(test_gas=GAS)
    result = run_suite(suite, "--gas-report", "-s")
    result.assert_outcomes(passed=1)
    out = result.stdout.str()
    assert "aivm gas report" in out and "Counter gas" in out
    set_gas = int(re.search(r"GAS (\d+)", out).group(1))
    rows = {m.group(1): m.groups()[1:] for m in re.finditer(
        r"│ (\(deploy\)|bump|set)\s*│\s*(\d+) │\s*([\d,]+) │\s*([\d,]+) │\s*([\d,]+) │", out)}
    assert rows["bump"][0] == "3" and rows["set"][0] == "1" and rows["(deploy)"][0] == "1"
    # every bump is its own transaction: 5->6, 6->7, 7->8 cost the same, so min == median == max
    assert len(set(rows["bump"][1:])) == 1
    assert rows["set"][1] == f"{set_gas:,}"
