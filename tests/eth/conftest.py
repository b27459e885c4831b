import pytest

from tests.contracts import deploy_token


@pytest.fixture(scope="module")
def token(w3):
    return deploy_token(w3)


def rpc_error(node, method, *params):
    """The JSON-RPC error object of a call that must fail."""
    resp = node.rpc(method, *params)
    assert "error" in resp, (method, resp)
    return resp["error"]


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    """A real node process shared by a module, the AI layer off (these tests are about Ethereum conformance)."""
    from tests.nodeproc import start_node

    work = tmp_path_factory.mktemp("node")
    config = work / "no-ai.toml"
    config.write_text("[aivm]\nenabled = false\n")
    n = start_node(work, "--config", str(config))
    yield n
    n.stop()
