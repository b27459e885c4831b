"""Shared fixtures: one models data dir per code version, reused across test sessions.

Training and conversion take ~10 s and ~30-80 s; the artifacts are cached under
``$AIVM_TEST_MODELS_DIR`` or ``~/.cache/aivm-test/models-<hash of the code that builds them>``,
so a rerun with unchanged code starts warm and a change to that code rebuilds.
"""
import hashlib
import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # until the editable install is refreshed to include `ai`
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"


def pytest_configure(config):
    # One torch thread in the test process: on a shared 2-core box, oversubscribed OpenMP threads
    # make forwards 10x slower. Commitments do not depend on it (test_determinism checks 1 vs 2).
    import torch

    torch.set_num_threads(1)

BUILD_SOURCES = ("catalog.py", "digits.py", "smollm2.py", "manifest.py", "cache.py")


def _cache_key() -> str:
    digest = hashlib.sha256()
    for name in BUILD_SOURCES:
        digest.update((ROOT / "models" / name).read_bytes())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def models_dir() -> Path:
    if os.environ.get("AIVM_TEST_MODELS_DIR"):
        return Path(os.environ["AIVM_TEST_MODELS_DIR"])
    base = Path.home() / ".cache" / "aivm-test"
    path = base / f"models-{_cache_key()}"
    if base.is_dir():  # artifacts of older code are ~1.2 GB each: keep only the current ones
        for old in base.glob("models-*"):
            if old != path:
                shutil.rmtree(old, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def digits_dir(models_dir) -> Path:
    from models import ensure_digits

    return ensure_digits(models_dir)


@pytest.fixture(scope="session")
def stages_dir(models_dir) -> Path:
    from models import ensure_smollm2_stages

    return ensure_smollm2_stages(models_dir)


@pytest.fixture(scope="session")
def runners(models_dir, stages_dir):
    """distributed_ai_model's three stage runners (stateless: each caller keeps its own KV caches)."""
    from models import load_model

    return [load_model("distributed_ai_model", models_dir, stage=i) for i in range(3)]


@pytest.fixture(scope="session")
def codec(models_dir, stages_dir):
    from models import prompt_codec

    return prompt_codec(models_dir)


@pytest.fixture(scope="session")
def greedy_transcript(runners, codec):
    """`greedy_transcript(prompt, tokens)`: (prompt ids, `propose`'s transcript), every stage local."""
    from models.decoding import Limits, StageProposer, propose

    def make(prompt: bytes, tokens: int):
        ids = codec.encode(prompt)
        return ids, propose(StageProposer(runners), ids, Limits(tokens, tuple(codec.stop_ids)))

    return make
