"""The `validators` fixture and its fault helpers, against real in-process validators.

They sit on `aivm_pytest.cluster.LocalCluster(chain, n=, models=)`: the real scheduler, real
models and ML-DSA keys, with crash/make_slow/make_liar/heal/stop.
"""
import pytest

from tests.pytest_plugin.conftest import run_suite

pytest_plugins = ["pytester"]

ORACLE = """\
// Asks the validator quorum which digit (0-9) an 8x8 image shows, and remembers the answer.
event Classified(requester: indexed address, digit: uint8);

public storage lastDigit: uint8;
public storage classified: uint256;

external fn classify(pixels: bytes) -> uint8 {
    require(len(pixels) == 64, "an image is 64 bytes");
    let answer: bytes = ai.infer("digits_cnn", pixels);
    let digit: uint8 = uint8(bytes1(answer));
    require(digit < 10, "the model answered something that is not a digit");
    lastDigit = digit;
    classified += 1;
    emit Classified(msg.sender, digit);
    return digit;
}
"""

@pytest.fixture
def oracle_suite(pytester):
    pytester.makefile(".synq", DigitOracle=ORACLE)
    return pytester


WITH_CLUSTER = '''
import pytest
from sklearn.datasets import load_digits
from aivm_pytest import reverts

DIGITS = load_digits()
IMAGE = bytes(int(p) for p in DIGITS.data[0])  # a 0
EXPECTED = int(DIGITS.target[0])

@pytest.fixture(scope="module")
def oracle(deploy):
    return deploy("DigitOracle.synq")

def test_honest_quorum(oracle, validators):
    assert oracle.classify(IMAGE) == EXPECTED
    assert oracle.events.Classified[0].digit == EXPECTED

def test_one_crashed_validator_is_tolerated(oracle, validators):
    validators.crash(0)
    assert oracle.classify(IMAGE) == EXPECTED

def test_a_liar_is_outvoted(oracle, validators):
    validators.make_liar(1)
    assert oracle.classify(IMAGE) == EXPECTED

def test_no_quorum_reverts(oracle, validators):
    with validators.faults(crash=[0, 1, 2]):
        with reverts() as r:
            oracle.classify(IMAGE)
    assert r.value.reason.startswith("Distributed AI computation failed")
    assert validators.faulty == set()  # healed when the block ended

def test_faults_do_not_leak_between_tests(oracle, validators):
    assert validators.faulty == set()
    assert oracle.classify(IMAGE) == EXPECTED

def test_slow_validators_miss_the_deadline(oracle, validators):
    validators.make_slow(0, 1, 2, seconds=600)
    with reverts() as r:
        oracle.classify(IMAGE)
    assert r.value.reason.startswith("Distributed AI computation failed")
'''


def test_fault_injection_against_real_validators(oracle_suite):
    oracle_suite.makepyfile(test_oracle=WITH_CLUSTER)
    oracle_suite.makeini("[pytest]\naivm_validators = 5\naivm_models = digits_cnn\n")
    result = run_suite(oracle_suite, "-v")
    result.assert_outcomes(passed=6)
