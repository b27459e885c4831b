"""Where trained/converted artifacts live, and a lock so concurrent validators build them only once.

Artifacts go under ``<cache_dir>/<model_id>/v<version>/``. ``cache_dir`` defaults to
``$AIVM_MODELS_DIR`` or ``~/.cache/aivm/models``; the node passes ``<datadir>/models``.
A directory is published by an atomic rename after it is complete, so a crash never leaves a
half-written model that a later run would trust.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from pathlib import Path


def default_cache_dir() -> Path:
    return Path(os.environ.get("AIVM_MODELS_DIR") or Path.home() / ".cache" / "aivm" / "models")


def model_dir(cache_dir: str | os.PathLike | None, model_id: str, version: str) -> Path:
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return root / model_id / f"v{version}"


@contextlib.contextmanager
def build_lock(directory: Path):
    """Exclusive inter-process lock on ``directory/../.<name>.lock`` while building ``directory``."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    lock_path = directory.parent / f".{directory.name}.lock"
    with open(lock_path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def staging_dir(final: Path):
    """Yield a temp dir next to ``final``; on success it replaces ``final`` atomically."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        yield tmp
        tmp.chmod(0o755)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
