"""The node's own validator processes (`aivm start --validators N`).

Each gets a keystore under `<data dir>/validators/` (created once, its
password in a 0600 file beside it), an account funded on the dev chain for its
stake, and a process of its own that stops with the node.
"""
from __future__ import annotations

import ctypes
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ai import protocol
from pqc import bundle, keystore
from pqc.keys import KeySet

PR_SET_PDEATHSIG = 1

STAKE_ETH = 10
# scrypt cost of these keystores: their password is 144 random bits in a 0600 file beside them, so stretching
# it adds no strength, only start-up time (≈0.7 s a validator at the default, paid by node and validator)
LOCAL_SCRYPT_N = 2**12
PASSWORD_BYTES = 24


@dataclass
class LocalValidator:
    index: int
    keystore_path: Path
    password_path: Path
    address: bytes
    process: Optional[subprocess.Popen] = None


def prepare(directory: Path, count: int) -> list[LocalValidator]:
    """Keystores for `count` validators (reused across restarts)."""
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(count):
        ks_path, pw_path = directory / f"validator-{i}.json", directory / f"validator-{i}.password"
        if not ks_path.exists():
            password = secrets.token_urlsafe(PASSWORD_BYTES)
            fd = os.open(pw_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(password + "\n")
            keys = KeySet.generate(protocol.LEVEL, with_kem=False)
            keystore.save(keystore.create(keys, password, scrypt_n=LOCAL_SCRYPT_N), ks_path)
        store = keystore.load(ks_path)
        out.append(LocalValidator(i, ks_path, pw_path, protocol.validator_address(store.signing_keys)))
    return out


def registration(v: LocalValidator, chain_id: int, stake_wei: int) -> tuple[bytes, bytes]:
    """(public keys, proof of possession) for registering `v`: the node registers its own validators
    before it starts them, so joining never needs the chain thread while a block waits for AI."""
    keys = keystore.load(v.keystore_path).unlock(v.password_path.read_text().strip())
    signing = keys.signing_keys()
    message = protocol.registration_message(chain_id, v.address, signing.key_hash, stake_wei)
    return signing.encode(), bundle.sign(keys, message).encode()


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the node process dies, however it dies (Linux)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # elsewhere the validator's own watchdog (--parent-pid) notices


def start(validators: list[LocalValidator], rpc_url: str, log_dir: Path, holds: "str | dict[int, str] | None" = None,
          behaviours: Optional[dict[int, str]] = None, extra_args: tuple[str, ...] = ()) -> None:
    """`holds`: one --holds value for all, or one per validator index."""
    log_dir.mkdir(parents=True, exist_ok=True)
    for v in validators:
        cmd = [sys.executable, "-m", "app.cli", "validator", "--rpc", rpc_url, "--keystore", str(v.keystore_path),
               "--password-file", str(v.password_path), "--stake", str(STAKE_ETH)]
        mine = holds.get(v.index) if isinstance(holds, dict) else holds
        if mine:
            cmd += ["--holds", mine]
        cmd += list(extra_args)
        cmd += ["--parent-pid", str(os.getpid())]
        if behaviours and v.index in behaviours:
            cmd += ["--behaviour", behaviours[v.index]]
        log = open(log_dir / f"validator-{v.index}.log", "ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
        v.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                     preexec_fn=_die_with_parent)
        log.close()


def stop(validators: list[LocalValidator], timeout: float = 2.0) -> None:
    """SIGTERM all at once, then SIGKILL whatever is still alive after `timeout` seconds (a hung validator)."""
    for v in validators:
        if v.process and v.process.poll() is None:
            v.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for v in validators:
        if v.process:
            try:
                v.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                v.process.kill()
                v.process.wait()
