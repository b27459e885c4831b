import pytest

from tests.nodeproc import start_node


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """A real node process (in memory) shared by a test module."""
    n = start_node(tmp_path_factory.mktemp("node"))
    yield n
    n.stop()


@pytest.fixture(scope="module")
def w3(node):
    from web3 import Web3

    return Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
