"""Local validators forked from one warm process: torch and the model code imported once, not once each.

A validator process spends ≈5 s of CPU importing torch and transformers' Llama code before it loads a
shard; `aivm start` with 5 local validators on a 2-core machine paid that 5 times at every start (and the
test suite at every cluster). The launcher is a single-threaded process that imports that code once and
then forks each validator from itself, so a validator starts at the point where it reads its keystore.
Each child is still a process of its own: its own session (for the scheduler's autogroups), its own log,
`python -m app.cli validator …` run exactly as the command line would run it, and it dies with the
launcher (parent-death signal and `--parent-pid`), which dies with the process that started it.

The caller gets a `ForkedProcess`, which answers the `subprocess.Popen` calls local validators need
(`pid`, `poll`, `wait`, `send_signal`, `terminate`, `kill`, `returncode`); exit statuses come from the
launcher, which reaps its children, over its stdout. `AIVM_VALIDATOR_FORK=0`, a launcher that cannot
start, or one that finds a thread running after its imports (a fork would copy a lock someone holds)
turns this off: validators are then started with `subprocess.Popen` as before.

Lock order: `Launcher._lock` (spawning, one at a time) → `Launcher._cond` (exit statuses); neither is
held while waiting on anything but the launcher's own answer, which has a timeout.
"""
from __future__ import annotations

import atexit
import ctypes
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Optional

PR_SET_PDEATHSIG = 1
ENABLED = os.environ.get("AIVM_VALIDATOR_FORK", "1") != "0" and sys.platform == "linux"
# what every validator imports before its first task; each is optional (a missing one is imported by the child)
PRELOAD = ("torch", "models.pipeline", "models.registry", "transformers.models.llama.modeling_llama",
           "transformers.masking_utils", "ai.validator.client", "app.cli")
# read once at import by the code the launcher preloads: a validator asked to run with other values is
# started with Popen instead (`Launcher.forks_with`)
IMPORT_TIME_ENV = ("AIVM_", "OMP_", "MKL_", "TORCH", "PYTORCH", "HF_", "TRANSFORMERS", "PYTHON", "LD_")
START_TIMEOUT = 120.0  # seconds for the launcher's imports on a loaded machine
SPAWN_TIMEOUT = 10.0  # seconds for one fork's answer


def _parent_death_signal(sig: int) -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, sig)
    except (OSError, AttributeError):
        pass


class ForkedProcess:
    """A validator forked by the launcher: the part of `subprocess.Popen` local validators use."""

    def __init__(self, launcher: "Launcher", pid: int) -> None:
        self._launcher, self.pid = launcher, pid
        self.returncode: Optional[int] = None

    def poll(self) -> Optional[int]:
        if self.returncode is None:
            self.returncode = self._launcher.exit_status(self.pid)
        return self.returncode

    def wait(self, timeout: Optional[float] = None) -> int:
        code = self._launcher.wait_exit(self.pid, timeout)
        if code is None:
            raise subprocess.TimeoutExpired(f"validator pid {self.pid}", timeout)
        self.returncode = code
        return code

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:  # never signal a pid the launcher has reaped (it may be reused)
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class Launcher:
    """The caller's side: one launcher process, its answers read by a daemon thread."""

    def __init__(self, preload: tuple[str, ...] = PRELOAD) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}  # read by torch at import
        self.env = env
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ai.validator.launcher", "--serve", ",".join(preload)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=None, env=env, start_new_session=True,
            preexec_fn=lambda: _parent_death_signal(signal.SIGTERM))
        self._lock = threading.Lock()
        self._cond = threading.Condition()
        self._exits: dict[int, int] = {}
        self._answers: list[str] = []  # "PID n", "ERROR text" lines, in order
        self._ready: Optional[bool] = None
        self._gone = False
        threading.Thread(target=self._read, name="validator-launcher", daemon=True).start()

    def _read(self) -> None:
        for raw in self.process.stdout:
            kind, _, rest = raw.decode(errors="replace").strip().partition(" ")
            with self._cond:
                if kind == "EXIT":
                    pid, code = rest.split()
                    self._exits[int(pid)] = int(code)
                elif kind in ("READY", "NOFORK"):
                    self._ready = kind == "READY"
                elif kind in ("PID", "ERROR"):
                    self._answers.append(f"{kind} {rest}")
                self._cond.notify_all()
        with self._cond:
            self._gone, self._ready = True, bool(self._ready)
            self._cond.notify_all()

    def ready(self, timeout: float = START_TIMEOUT) -> bool:
        """Whether the launcher imported its modules and may fork (False: start validators another way)."""
        with self._cond:
            self._cond.wait_for(lambda: self._ready is not None or self._gone, timeout)
            return bool(self._ready) and not self._gone

    def forks_with(self, env: dict) -> bool:
        """Whether a process wanting `env` can be forked: the variables read at import are the launcher's."""
        def imported(e: dict) -> dict:
            return {k: v for k, v in e.items() if k.startswith(IMPORT_TIME_ENV)}

        return imported(env) == imported(self.env)

    def spawn(self, argv: list[str], log_path: Path, env: dict, cwd: str) -> ForkedProcess:
        """Fork `python -m <argv…>` (argv[0] "-m", argv[1] the module) writing to `log_path`."""
        request = json.dumps({"argv": argv, "log": str(log_path), "env": env, "cwd": cwd}) + "\n"
        with self._lock:
            with self._cond:
                n = len(self._answers)
            try:
                self.process.stdin.write(request.encode())
                self.process.stdin.flush()
            except OSError as exc:
                raise RuntimeError(f"the validator launcher exited ({exc})") from None
            with self._cond:
                if not self._cond.wait_for(lambda: len(self._answers) > n or self._gone, SPAWN_TIMEOUT):
                    raise RuntimeError("the validator launcher did not answer a spawn in time")
                if len(self._answers) <= n:
                    raise RuntimeError("the validator launcher exited")
                kind, _, rest = self._answers[n].partition(" ")
        if kind != "PID":
            raise RuntimeError(f"the validator launcher could not start a validator: {rest}")
        return ForkedProcess(self, int(rest))

    def exit_status(self, pid: int) -> Optional[int]:
        with self._cond:
            if pid in self._exits:
                return self._exits[pid]
            if self._gone and not _alive(pid):  # the launcher died: its orphans are reaped by init
                return -signal.SIGTERM
            return None

    def wait_exit(self, pid: int, timeout: Optional[float]) -> Optional[int]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            code = self.exit_status(pid)
            if code is not None:
                return code
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            with self._cond:
                self._cond.wait(0.2 if left is None else min(left, 0.2))

    def close(self) -> None:
        """Stop the launcher (its children get SIGTERM from it); one still importing is just killed."""
        if self._ready is None and self.process.poll() is None:
            self.process.kill()
        if self.process.poll() is None:
            try:
                self.process.stdin.close()
            except OSError:
                pass
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie nobody reaped yet counts as gone
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


_shared: Optional[Launcher] = None
_shared_lock = threading.Lock()


def prewarm() -> None:
    """Start this process's launcher now, without waiting: its imports overlap whatever comes next."""
    global _shared
    if not ENABLED:
        return
    with _shared_lock:
        if _shared is None or _shared.process.poll() is not None and _shared._ready is not False:
            try:
                _shared = Launcher()
            except OSError:
                return
            atexit.register(_shared.close)


def shared() -> Optional[Launcher]:
    """This process's launcher, started at first use (None when forking is off or cannot work here)."""
    if not ENABLED:
        return None
    prewarm()
    with _shared_lock:
        launcher = _shared
    if launcher is None or not launcher.ready():
        if launcher is not None:
            launcher._ready = False  # said it cannot fork, or died: not tried again in this process
        return None
    return launcher


# ---------------------------------------------------------------- the launcher process itself

def _threads() -> int:
    return len(os.listdir("/proc/self/task"))


def _child(request: dict, close: list[int]) -> None:
    """In the forked child: become the validator process the command line would have started."""
    code = 1
    try:
        os.setsid()
        _parent_death_signal(signal.SIGTERM)
        for sig in (signal.SIGTERM, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C is KeyboardInterrupt, as in any python
        signal.set_wakeup_fd(-1)
        for fd in close:  # the launcher's own (its stdin and stdout are replaced below)
            os.close(fd)
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.close(null)
        sys.stdin = open(0, closefd=False)
        sys.stdout = open(1, "w", buffering=1, closefd=False)
        sys.stderr = open(2, "w", buffering=1, closefd=False)
        argv = request["argv"]
        assert argv[0] == "-m", argv
        import setproctitle  # before the environment changes: it needs the process's own to move

        setproctitle.setproctitle(" ".join([sys.executable, *argv]))  # `ps` shows the validator's command
        os.chdir(request["cwd"])
        sys.path[0] = os.getcwd()  # what `python -m` puts first when started there
        os.environ.clear()
        os.environ.update(request["env"])
        import random

        random.seed()  # a fresh process seeds from the OS; a fork would share the launcher's state
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()
        sys.argv = [argv[1], *argv[2:]]
        sys.modules.pop(argv[1], None)  # run as __main__ afresh (what it imports stays imported)
        import runpy

        try:
            runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if not isinstance(exc.code, (int, type(None))):
                print(exc.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - the child must never return into the launcher's loop
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        try:
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def serve(preload: list[str]) -> None:
    """The launcher's loop: read spawn requests on stdin, report PIDs and exit statuses on stdout."""
    _parent_death_signal(signal.SIGTERM)
    out = sys.stdout.buffer
    for name in preload:
        try:
            __import__(name)
        except Exception:  # noqa: BLE001 - the child imports it again and reports the error itself
            pass
    if _threads() != 1:
        out.write(b"NOFORK\n")
        out.flush()
        return
    stop = False

    def on_term(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    os.set_blocking(wake_r, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    sel = selectors.DefaultSelector()
    stdin = sys.stdin.buffer.raw
    sel.register(stdin, selectors.EVENT_READ)
    sel.register(wake_r, selectors.EVENT_READ)
    children: set[int] = set()
    pending = b""
    out.write(b"READY\n")
    out.flush()

    def reap() -> None:
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            children.discard(pid)
            code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            out.write(b"EXIT %d %d\n" % (pid, code))
        out.flush()

    eof = False
    while not (stop or eof):
        for key, _ in sel.select(1.0):
            if key.fileobj == wake_r:
                try:
                    while os.read(wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
                continue
            data = os.read(stdin.fileno(), 65536)
            if not data:
                eof = True
                break
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                try:
                    request = json.loads(line)
                except ValueError as exc:
                    out.write(b"ERROR bad request: %s\n" % str(exc).encode())
                    continue
                pid = os.fork()
                if pid == 0:
                    sel.close()
                    _child(request, [wake_r, wake_w])
                children.add(pid)
                out.write(b"PID %d\n" % pid)
            out.flush()
        reap()
    # the caller is gone or asked us to stop: so are its validators
    for pid in list(children):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 2.0
    while children and time.monotonic() < deadline:
        reap()
        time.sleep(0.05)
    for pid in list(children):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    reap()


if __name__ == "__main__" and sys.argv[1:2] == ["--serve"]:
    serve([name for name in sys.argv[2].split(",") if name])
