import pytest

from tests.synq.harness import Env


@pytest.fixture(scope="session")
def env_session():
    return Env()


@pytest.fixture
def env(env_session):
    """The shared chain, reverted after each test so no state leaks."""
    with env_session.anchor():
        yield env_session
