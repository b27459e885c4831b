"""One node with three SmolLM2 validators (≈1.1 GB each) for all chat tests of this package."""
import pytest

from tests.distributed.cluster import start_cluster


@pytest.fixture(scope="package")
def chat_cluster(tmp_path_factory):
    c = start_cluster(tmp_path_factory.mktemp("chat"), 3, holds="distributed_ai_model", task_timeout=60)
    yield c
    c.stop()
