"""The validator launcher (ai/validator/launcher.py): forked processes behave like the ones Popen started.

Local validators are forked from one process that imported torch once. What the node and the tests rely
on must hold for them as for a started process: exit statuses (codes and signals), `wait` with a
timeout, signals, their own session, log, working directory, environment, command line in `ps`, fresh
random state, and that they die with the launcher, which dies with its caller.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ai.validator import launcher as launcher_mod
from ai.validator import local

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def launcher():
    lx = launcher_mod.Launcher(preload=("json",))  # light: these tests are about processes, not torch
    assert lx.ready(30)
    yield lx
    lx.close()


def _spawn(lx, tmp_path, *args, name="probe"):
    log = tmp_path / f"{name}.log"
    proc = lx.spawn(["-m", "tests.launcher_probe", *args], log, {**os.environ, "PROBE_ENV": "seen"}, str(ROOT))
    return proc, log


def _report(log: Path, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text() if log.exists() else ""
        if text.strip():
            return json.loads(text.splitlines()[0])
        time.sleep(0.05)
    raise AssertionError(f"{log} stayed empty")


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_exit_codes_logs_session_environment_and_command_line(launcher, tmp_path):
    a, log_a = _spawn(launcher, tmp_path, "exit", "3", name="a")
    b, log_b = _spawn(launcher, tmp_path, "exit", "0", name="b")
    assert a.wait(10) == 3 and a.poll() == 3 and a.returncode == 3
    assert b.wait(10) == 0
    ra, rb = _report(log_a), _report(log_b)
    assert ra["pid"] == a.pid and ra["sid"] == a.pid  # its own session, like start_new_session=True
    assert ra["argv"][1:] == ["exit", "3"] and ra["cwd"] == str(ROOT) and ra["probe_env"] == "seen"
    assert ra["stdin"] == ""  # /dev/null, not the launcher's request pipe
    assert ra["random"] != rb["random"]  # each fork reseeds, as a fresh interpreter would


def test_signals_wait_timeout_and_command_line(launcher, tmp_path):
    proc, log = _spawn(launcher, tmp_path, "sleep", "60", "0")
    _report(log)
    cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().replace(b"\0", b" ")
    assert b"-m tests.launcher_probe sleep 60 0" in cmdline  # `ps` shows the command, not the launcher
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(0.3)
    assert proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(10) == -signal.SIGKILL
    proc.kill()  # a reaped child is never signalled again (its pid may be someone else's now)


def test_children_die_with_the_launcher_and_a_closed_launcher_stops_them(tmp_path):
    lx = launcher_mod.Launcher(preload=("json",))
    assert lx.ready(30)
    first, log = _spawn(lx, tmp_path, "sleep", "60", "0", name="first")
    pid = _report(log)["pid"]
    lx.process.send_signal(signal.SIGKILL)  # nothing tidy: the parent-death signal ends the child
    deadline = time.monotonic() + 10
    while not _gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(pid), "a validator outlived its launcher"
    assert first.wait(10) is not None  # and its handle says so without its exit status

    lx = launcher_mod.Launcher(preload=("json",))
    assert lx.ready(30)
    second, log = _spawn(lx, tmp_path, "sleep", "60", "0", name="second")
    _report(log)
    lx.close()  # the caller closes the pipe (or exits): SIGTERM to every child
    assert second.wait(10) == -signal.SIGTERM


def test_a_caller_killed_with_9_takes_launcher_and_children_along(tmp_path):
    script = tmp_path / "caller.py"
    script.write_text(
        "import os, sys, time\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from ai.validator import launcher\n"
        "lx = launcher.Launcher(preload=('json',))\n"
        "assert lx.ready(30)\n"
        f"p = lx.spawn(['-m', 'tests.launcher_probe', 'sleep', '60', '0'], {str(tmp_path / 'c.log')!r}, dict(os.environ), {str(ROOT)!r})\n"
        "print(lx.process.pid, p.pid, flush=True)\n"
        "time.sleep(60)\n")
    caller = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, cwd=ROOT)
    launcher_pid, child_pid = map(int, caller.stdout.readline().split())
    _report(tmp_path / "c.log")
    caller.kill()
    caller.wait(10)
    deadline = time.monotonic() + 10
    while not (_gone(launcher_pid) and _gone(child_pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(launcher_pid) and _gone(child_pid)


def test_bad_requests_are_refused_and_the_launcher_keeps_serving(launcher, tmp_path):
    launcher.process.stdin.write(b"not json\n")
    launcher.process.stdin.flush()
    deadline = time.monotonic() + 10
    while not launcher._answers and time.monotonic() < deadline:
        time.sleep(0.02)
    assert launcher._answers[-1].startswith("ERROR bad request")
    proc, _ = _spawn(launcher, tmp_path, "exit", "5")
    assert proc.wait(10) == 5


def test_forking_off_starts_validators_with_popen(tmp_path, monkeypatch):
    monkeypatch.setattr(launcher_mod, "ENABLED", False)
    assert launcher_mod.shared() is None
    v = local.LocalValidator(0, tmp_path / "missing.json", tmp_path / "missing.password", b"\0" * 20)
    local.start([v], "http://127.0.0.1:9", tmp_path / "logs", holds="digits_cnn")
    try:
        assert isinstance(v.process, subprocess.Popen)
        assert v.process.wait(60) != 0  # its keystore does not exist: click says so and it exits
    finally:
        local.stop([v])
    assert "missing.json" in (tmp_path / "logs" / "validator-0.log").read_text()


def test_a_validator_wanting_other_import_time_settings_is_not_forked(launcher):
    assert launcher.forks_with(dict(launcher.env))
    assert launcher.forks_with({**launcher.env, "PROBE_ENV": "anything"})  # read at run time: fine
    assert not launcher.forks_with({**launcher.env, "AIVM_WIRE_BINARY": "0"})  # read at import by the client
    assert not launcher.forks_with({**launcher.env, "OMP_NUM_THREADS": "2"})  # read by torch at import
