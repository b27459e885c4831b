import os
from pathlib import Path

import pytest

# One models cache for the test process, the nodes and the validators it starts (they inherit the
# environment): SmolLM2's conversion runs once per machine, not once per test directory.
os.environ.setdefault("AIVM_MODELS_DIR", str(Path.home() / ".cache" / "aivm" / "models"))
os.environ.setdefault("AIVM_TEST_MODELS_DIR", os.environ["AIVM_MODELS_DIR"])
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

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
