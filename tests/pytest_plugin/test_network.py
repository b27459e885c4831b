"""`--network URL`: the same sample suites against a real `aivm start` node over JSON-RPC."""
import pytest

from tests.nodeproc import start_node
from tests.pytest_plugin.conftest import run_suite
from tests.pytest_plugin.test_suite import GAS, HYPOTHESIS, ISOLATION, SAMPLE

pytest_plugins = ["pytester"]


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("node")
    config = workdir / "aivm-config.toml"
    config.write_text("[aivm]\nenabled = false\n")  # no models to prepare: this node only runs the EVM
    n = start_node(workdir, "--config", str(config))
    yield n
    n.stop()


def gas_report(result: pytest.RunResult) -> str:
    out = result.stdout.str()
    start = out.index("aivm gas report")
    end = out.find("short test summary", start)
    return out[start:end if end >= 0 else None]


def test_same_outcomes_and_gas_as_in_process(suite, node):
    suite.makepyfile(test_sample=SAMPLE, test_isolation=ISOLATION, test_gas=GAS)
    remote = run_suite(suite, "--network", node.url, "--gas-report")
    remote.assert_outcomes(passed=8, failed=3)
    remote.stdout.fnmatch_lines(["*Reverted: reverted: 'only the owner'", "*in Counter.set"])
    local = run_suite(suite, "--gas-report")
    local.assert_outcomes(passed=8, failed=3)
    # every transaction's receipt gas is the same in process and on the node
    assert gas_report(remote) == gas_report(local)
    assert "set " in gas_report(remote) and "bump" in gas_report(remote)


def test_hypothesis_isolation_over_rpc(suite, node):
    suite.makepyfile(test_hyp=HYPOTHESIS)
    run_suite(suite, "--network", node.url).assert_outcomes(passed=2)
    # everything the examples did was reverted on the node itself
    assert node.rpc("eth_getTransactionCount", "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "latest")["result"] == "0x0"
