"""The pytest plugin (entry point `pytest11: aivm = aivm_pytest.plugin`).

Fixtures: `chain` (an `Env`), `accounts`, `deploy`, `validators`.
Isolation, as in titanoboa: state is snapshotted before every fixture's setup and
every test, and reverted after its teardown / the test; each hypothesis example
runs inside its own snapshot too. So no test (and no example) sees another's state,
while a module-scoped fixture's contract stays deployed for the module's tests.
Options: `--network URL` (run against a node over JSON-RPC), `--gas-report`.
"""
from __future__ import annotations

import functools
import gc
from pathlib import Path
from typing import Any, Optional

import pytest

from aivm_pytest.env import Env
from aivm_pytest.local import LocalBackend  # the default backend: loaded with the plugin, not in the first test
from aivm_pytest.validators import Validators, cluster_class
from vm.defaults import AI_DEFAULT_NEW_TOKENS

ENV = pytest.StashKey[Env]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("aivm", "AIVM contract testing")
    group.addoption("--network", metavar="URL", default=None,
                    help="run the tests against a running AIVM node's JSON-RPC instead of an in-process chain")
    group.addoption("--gas-report", action="store_true", default=False,
                    help="print min/median/max gas per contract and function at the end of the session")
    parser.addini("aivm_validators", "number of local validators for the `validators` fixture", default="5")
    parser.addini("aivm_models", "models the local validators load (space separated; none: the cluster's default)",
                  type="args", default=[])
    parser.addini("aivm_max_tokens", "default length of a text model's answer from the local validators, in tokens "
                  "(a node's [node] ai_max_new_tokens)", default=str(AI_DEFAULT_NEW_TOKENS))


def make_env(config: pytest.Config) -> Env:
    """The session's Env: in-process by default, a node over RPC with --network."""
    cache = getattr(config, "cache", None)
    cache_dir = Path(cache.mkdir("aivm-synq")) if cache is not None else None
    search = (config.invocation_params.dir, config.rootpath)
    url = config.getoption("network")
    if url:
        from aivm_pytest.network import RpcBackend

        try:
            backend: Any = RpcBackend(url)
        except Exception as exc:
            raise RuntimeError(f"--network {url}: no AIVM node answers there ({type(exc).__name__}: {exc})") from None
    else:
        backend = LocalBackend()
    env = Env(backend, cache_dir, search)
    # Everything alive now (the imported VM stack, the chain and its genesis) lives for the whole
    # session: take it out of the collector's view, or each full collection walks it again (one
    # full pass cost ≈0.18 s, a third of a 1,000-transfer suite). Objects are still freed when unused.
    gc.freeze()
    return env


def current_env(config: pytest.Config) -> Optional[Env]:
    return config.stash.get(ENV, None)


# -- fixtures
@pytest.fixture(scope="session")
def chain(pytestconfig: pytest.Config) -> Env:
    """The chain: deploy, time, balances, impersonation, `anchor()`; reverted after each test."""
    env = current_env(pytestconfig)
    if env is None:
        env = pytestconfig.stash[ENV] = make_env(pytestconfig)
    return env


@pytest.fixture(scope="session")
def accounts(chain: Env) -> list:
    """The funded dev accounts (checksum strings; `accounts[0]` is the default sender)."""
    return chain.accounts


@pytest.fixture(scope="session")
def deploy(chain: Env):
    """`deploy(path_or_source_or_artifact, *args, sender=, value=, gas=, name=)` -> contract."""
    return chain.deploy


@pytest.fixture(scope="session")
def _aivm_cluster(chain: Env, pytestconfig: pytest.Config):
    if chain.raw is None:
        pytest.skip("validators fixture: with --network, the node's own validators answer ai.infer")
    LocalCluster = cluster_class()
    n = int(pytestconfig.getini("aivm_validators"))
    cluster = LocalCluster(chain.raw, n=n, models=list(pytestconfig.getini("aivm_models")),
                           max_tokens=int(pytestconfig.getini("aivm_max_tokens")))
    yield cluster, n
    cluster.stop()


@pytest.fixture
def validators(_aivm_cluster) -> Validators:
    """Local validators answering ai.infer; faults injected by a test are healed after it."""
    cluster, n = _aivm_cluster
    v = Validators(cluster, n)
    yield v
    v.heal()


# -- isolation
@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef, request: pytest.FixtureRequest):
    env = current_env(request.config)
    if env is not None:
        sid = env.snapshot()
        # registered before the fixture runs, so it runs after the fixture's own teardown
        fixturedef.addfinalizer(lambda: env.revert(sid))
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item):
    env = current_env(item.config)
    if env is None:
        yield
        return
    handle = getattr(getattr(item, "obj", None), "hypothesis", None)
    inner = getattr(handle, "inner_test", None)
    if inner is not None:  # hypothesis: one snapshot per example
        handle.inner_test = _anchored(env, inner)
    try:
        with env.anchor():
            yield
    finally:
        if inner is not None:
            handle.inner_test = inner


def _anchored(env: Env, test: Any) -> Any:
    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> Any:
        with env.anchor():
            return test(*args, **kwargs)
    return run


# -- gas report
def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if not config.getoption("gas_report"):
        return
    env = current_env(config)
    terminalreporter.section("aivm gas report")
    if env is None or not env.gas:
        terminalreporter.write_line("no transactions")
        return
    terminalreporter.write(env.gas.render(width=max(80, terminalreporter._tw.fullwidth)))
