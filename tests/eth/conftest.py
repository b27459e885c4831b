import pytest

from tests.contracts import compiled


@pytest.fixture(scope="module")
def token(w3):
    art = compiled()
    a = w3.eth.accounts
    C = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    r = w3.eth.wait_for_transaction_receipt(C.constructor(10**24).transact({"from": a[0]}))
    assert r.status == 1
    return w3.eth.contract(address=r.contractAddress, abi=art["abi"])


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
