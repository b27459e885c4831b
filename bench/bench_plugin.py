"""1,000 ERC20 transfers as a pytest suite: our plugin (aivm_pytest) vs titanoboa, same Vyper token.

Both suites are the same shape: a module-scoped token fixture, and tests that each make
TRANSFERS_PER_TEST transfers to fresh recipients and check the balances. Each side runs
as its own `pytest` process; we report the process wall time (imports included) and
pytest's own session time, and the ratio ours / titanoboa. It also records the gas each
reports for the same transfer repeated: every call being its own transaction is the point.

titanoboa pins eth-abi versions that web3 8 cannot share, so it lives in its own venv,
`bench/.cache/boa-venv`, which this benchmark creates on first use (`pip install titanoboa`).

    .venv/bin/python -m bench.run --only plugin [--quick]
"""
from __future__ import annotations

import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOA_VENV = ROOT / "bench" / ".cache" / "boa-venv"
TRANSFERS_PER_TEST = 20

# Vyper's example ERC20, trimmed to what the workload touches (same storage layout and checks).
TOKEN = """\
# pragma version 0.4.3
event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

event Approval:
    owner: indexed(address)
    spender: indexed(address)
    value: uint256

name: public(String[32])
symbol: public(String[32])
decimals: public(uint8)
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])
totalSupply: public(uint256)
minter: address

@deploy
def __init__(_name: String[32], _symbol: String[32], _decimals: uint8, _supply: uint256):
    init_supply: uint256 = _supply * 10 ** convert(_decimals, uint256)
    self.name = _name
    self.symbol = _symbol
    self.decimals = _decimals
    self.balanceOf[msg.sender] = init_supply
    self.totalSupply = init_supply
    self.minter = msg.sender
    log Transfer(sender=empty(address), receiver=msg.sender, value=init_supply)

@external
def transfer(_to: address, _value: uint256) -> bool:
    self.balanceOf[msg.sender] -= _value
    self.balanceOf[_to] += _value
    log Transfer(sender=msg.sender, receiver=_to, value=_value)
    return True

@external
def transferFrom(_from: address, _to: address, _value: uint256) -> bool:
    self.balanceOf[_from] -= _value
    self.balanceOf[_to] += _value
    self.allowance[_from][msg.sender] -= _value
    log Transfer(sender=_from, receiver=_to, value=_value)
    return True

@external
def approve(_spender: address, _value: uint256) -> bool:
    self.allowance[msg.sender][_spender] = _value
    log Approval(owner=msg.sender, spender=_spender, value=_value)
    return True
"""

OURS = f"""\
import pytest

@pytest.fixture(scope="module")
def token(deploy):
    return deploy("token.vy", "Token", "TKN", 18, 1_000_000)

@pytest.mark.parametrize("i", range({{tests}}))
def test_transfers(token, accounts, i):
    for k in range({TRANSFERS_PER_TEST}):
        to = "0x" + (i * 1000 + k + 1).to_bytes(20, "big").hex()
        token.transfer(to, 10 + k)
    assert token.balanceOf(to) == 10 + k
"""

BOA = f"""\
import boa
import pytest

@pytest.fixture(scope="module")
def token():
    return boa.load("token.vy", "Token", "TKN", 18, 1_000_000)

@pytest.mark.parametrize("i", range({{tests}}))
def test_transfers(token, i):
    for k in range({TRANSFERS_PER_TEST}):
        to = "0x" + (i * 1000 + k + 1).to_bytes(20, "big").hex()
        token.transfer(to, 10 + k)
    assert token.balanceOf(to) == 10 + k
"""


BOA_GAS = """\
import json, boa
t = boa.load("token.vy", "Token", "TKN", 18, 1_000_000)
to = "0x" + "11" * 20
t.transfer(to, 1)  # the recipient exists from now on
out = []
for _ in range(3):
    g0 = boa.env.get_gas_used()
    t.transfer(to, 1)
    out.append(boa.env.get_gas_used() - g0)
boa.env.reset_gas_used()  # also makes storage cold again
t.transfer(to, 1)
out.append(boa.env.get_gas_used())
print(json.dumps(out))
"""


def repeated_transfer_gas(folder: Path, boa_py: Path | None) -> tuple[list[int], int, list[int] | None]:
    """Gas of three repeated transfers to an existing recipient: our receipts, their calldata
    gas, and what titanoboa's gas counter says (three repeats, then one after a reset)."""
    from aivm_pytest.abi import encode, selector
    from aivm_pytest.compile import compile_vyper
    from aivm_pytest.env import Env
    from aivm_pytest.local import LocalBackend

    env = Env(LocalBackend())
    token = env.deploy(compile_vyper(TOKEN, "Token"), "Token", "TKN", 18, 1_000_000)
    to = "0x" + "11" * 20
    token.transfer(to, 1)
    ours = []
    for _ in range(3):
        token.transfer(to, 1)
        ours.append(token.last_gas)
    entry = next(e for e in token.abi if e.get("name") == "transfer")
    data = selector(entry) + encode(entry["inputs"], (to, 1))
    calldata = sum(4 if b == 0 else 16 for b in data)
    boa = None
    if boa_py is not None:
        (folder / "gas.py").write_text(BOA_GAS)
        r = subprocess.run([str(boa_py), "gas.py"], cwd=folder, capture_output=True, text=True, env=boa_environ())
        boa = json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 else None
    return ours, calldata, boa


def boa_environ() -> dict:
    """Our environment minus what belongs to our venv (importing `vm` sets ETH_HASH_BACKEND=pysha3,
    which the boa venv does not have)."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "ETH_HASH_BACKEND")}


def ensure_boa() -> tuple[Path | None, str]:
    """The boa venv's python, installing titanoboa on first use; (None, why) if that fails."""
    py = BOA_VENV / "bin" / "python"
    check = [str(py), "-c", "import boa, pytest"]
    if py.exists() and subprocess.run(check, capture_output=True, env=boa_environ()).returncode == 0:
        return py, _boa_version(py)
    print(f"creating {BOA_VENV} and installing titanoboa (first run only)…", flush=True)
    BOA_VENV.parent.mkdir(parents=True, exist_ok=True)
    steps = [["python3", "-m", "venv", str(BOA_VENV)],
             [str(py), "-m", "pip", "install", "-q", "titanoboa", "vyper==0.4.3", "pytest"]]
    for cmd in steps:
        r = subprocess.run(cmd, capture_output=True, text=True, env=boa_environ())
        if r.returncode != 0:
            tail = (r.stderr or r.stdout).strip().splitlines()[-3:]
            return None, f"`{' '.join(cmd[:4])} …` failed: {' / '.join(tail)}"
    return py, _boa_version(py)


def _boa_version(py: Path) -> str:
    r = subprocess.run([str(py), "-m", "pip", "show", "titanoboa"], capture_output=True, text=True)
    m = re.search(r"^Version: (\S+)", r.stdout, re.M)
    return m.group(1) if m else "?"


# The same conftest on both sides: the CPU time of the pytest session itself (collection and the
# tests, not the imports before it), which a busy machine moves far less than its wall time.
SESSION_CPU = """\
import os, time

_start = []


def pytest_sessionstart(session):
    _start.append(time.process_time())


def pytest_sessionfinish(session, exitstatus):
    with open(os.environ["BENCH_SESSION_CPU"], "w") as f:
        f.write(repr(time.process_time() - _start[0]))
"""


def run_suite(python: str, folder: Path, args: list[str], env: dict) -> tuple[float, float, str, float, float]:
    """(process wall seconds, pytest session seconds, summary line, process CPU seconds, session CPU
    seconds) for one pytest run. CPU seconds (user + system of the child, imports included) move less
    than wall time on a busy machine; session CPU is the session alone (its conftest measures it)."""
    out = folder / ".session-cpu"
    t0 = time.perf_counter()
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                       cwd=folder, env={**env, "BENCH_SESSION_CPU": str(out)}, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
    summary = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else r.stderr.strip()[-300:]
    if r.returncode != 0:
        raise RuntimeError(f"{python} pytest failed in {folder}:\n{r.stdout[-3000:]}\n{r.stderr[-2000:]}")
    m = re.search(r"in ([\d.]+)s", summary)
    return wall, float(m.group(1)) if m else wall, summary, cpu, float(out.read_text())


# Both sides run with the same plugins: their own only. Our venv also has hypothesis, whose pytest
# plugin imports all of hypothesis in every session's terminal summary (≈0.5 s, whatever the suite);
# titanoboa's venv has no hypothesis. The row "with the hypothesis plugin" shows that cost.
SAME_PLUGINS = ["-p", "no:hypothesispytest"]


def _plugin_args() -> list[str]:
    from importlib.metadata import entry_points

    installed = any(ep.name == "aivm" for ep in entry_points(group="pytest11"))
    return [] if installed else ["-p", "aivm_pytest.plugin"]


def _median(xs: list) -> float:
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


def main(quick: bool = False) -> str:
    transfers = 200 if quick else 1000
    tests = transfers // TRANSFERS_PER_TEST
    repeats = 1 if quick else int(os.environ.get("AIVM_BENCH_REPEATS", "5"))
    boa_py, boa_info = ensure_boa()
    with tempfile.TemporaryDirectory(prefix="bench-plugin-") as tmp:
        for side, src in (("aivm_pytest", OURS), ("titanoboa", BOA)):
            d = Path(tmp) / side
            d.mkdir()
            (d / "token.vy").write_text(TOKEN)
            (d / "test_transfers.py").write_text(src.format(tests=tests))
            (d / "pytest.ini").write_text("[pytest]\n")
            (d / "conftest.py").write_text(SESSION_CPU)
        ours_env = {**os.environ, "PYTHONPATH": str(ROOT)}
        sides = {"aivm_pytest": (sys.executable, _plugin_args() + SAME_PLUGINS, ours_env)}
        if boa_py is not None:
            sides["titanoboa"] = (str(boa_py), SAME_PLUGINS, boa_environ())
        baseline = os.environ.get("AIVM_BENCH_BASELINE")  # an older tree: before/after in the same run
        if baseline and (Path(baseline) / "aivm_pytest").is_dir():
            d = Path(tmp) / "baseline"
            d.mkdir()
            for f in ("token.vy", "test_transfers.py", "pytest.ini", "conftest.py"):
                (d / f).write_text((Path(tmp) / "aivm_pytest" / f).read_text())
            sides["baseline"] = (sys.executable, _plugin_args() + SAME_PLUGINS, {**os.environ, "PYTHONPATH": baseline})
        runs: dict[str, list] = {side: [] for side in sides}
        run_suite(sys.executable, Path(tmp) / "aivm_pytest", _plugin_args() + SAME_PLUGINS, ours_env)  # warm caches
        if boa_py is not None:
            run_suite(str(boa_py), Path(tmp) / "titanoboa", SAME_PLUGINS, boa_environ())
        for _ in range(repeats):  # alternate the sides, so a busy moment on the machine hits both
            for side, (python, args, env) in sides.items():
                runs[side].append(run_suite(python, Path(tmp) / side, args, env))
                print(f"{side}: {runs[side][-1][2]}", flush=True)
        rows = {side: min(r, key=lambda x: x[1]) for side, r in runs.items()}
        with_hypothesis = run_suite(sys.executable, Path(tmp) / "aivm_pytest", _plugin_args(), ours_env)
        ours_gas, calldata, boa_gas = repeated_transfer_gas(Path(tmp) / "titanoboa", boa_py)

    lines = [
        "## pytest plugin vs titanoboa: 1,000 ERC20 transfers as a test suite" if not quick else
        f"## pytest plugin vs titanoboa: {transfers} ERC20 transfers as a test suite (quick)",
        "",
        f"{tests} tests × {TRANSFERS_PER_TEST} `transfer` calls to fresh recipients on a module-scoped Vyper "
        "ERC20 (vyper 0.4.3 on both sides), state reverted after every test by each plugin. "
        f"Best of {repeats} alternating run(s) per side (`AIVM_BENCH_REPEATS` sets how many); machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}.",
        "",
        "| runner | process wall (s) | pytest session (s) | ms per transfer (session) | process CPU (s) |",
        "|---|---:|---:|---:|---:|",
    ]
    cpus = {side: min(x[3] for x in r) for side, r in runs.items()}
    labels = {"aivm_pytest": "aivm_pytest (this tree)", "titanoboa": f"titanoboa {boa_info}",
              "baseline": f"aivm_pytest, baseline tree {os.environ.get('AIVM_BENCH_BASELINE')}"}
    for side, (wall, session, _, _, _) in rows.items():
        lines.append(f"| {labels[side]} | {wall:.2f} | {session:.2f} | {1000 * session / transfers:.2f} | "
                     f"{cpus[side]:.2f} |")
    wall, session, _, cpu, _ = with_hypothesis
    lines.append(f"| aivm_pytest, with the environment's hypothesis plugin loaded (once) | {wall:.2f} | "
                 f"{session:.2f} | {1000 * session / transfers:.2f} | {cpu:.2f} |")
    lines.append("")
    lines.append(f"Load average at the end: {' / '.join(f'{x:.2f}' for x in os.getloadavg())} (1/5/15 min). "
                 "Both sides: `-p no:hypothesispytest` (the same plugins: each runner's own); one warm-up run "
                 "each (compile caches) before the timed runs.")
    lines.append("")
    if "titanoboa" in rows:
        ours, boa = rows["aivm_pytest"], rows["titanoboa"]
        scpu = {side: sorted(x[4] for x in r) for side, r in runs.items()}
        lines.append(f"Session CPU time (the conftest's `time.process_time()` from session start to finish, same on "
                     f"both sides; the least load-sensitive figure): aivm_pytest min {scpu['aivm_pytest'][0]:.2f} s / "
                     f"median {_median(scpu['aivm_pytest']):.2f} s, titanoboa min {scpu['titanoboa'][0]:.2f} s / "
                     f"median {_median(scpu['titanoboa']):.2f} s: ratio **{scpu['aivm_pytest'][0] / scpu['titanoboa'][0]:.2f}×** "
                     f"(min), {_median(scpu['aivm_pytest']) / _median(scpu['titanoboa']):.2f}× (median).")
        lines.append("")
        pairs = sorted(o[1] / b[1] for o, b in zip(runs["aivm_pytest"], runs["titanoboa"]))
        lines.append(f"Run by run (each aivm_pytest run over the titanoboa run right after it, so a busy moment "
                     f"hits both): median **{pairs[len(pairs) // 2]:.2f}×**, range {pairs[0]:.2f}–{pairs[-1]:.2f}× "
                     f"over {len(pairs)} pairs; median session time ratio "
                     f"{_median([x[1] for x in runs['aivm_pytest']]) / _median([x[1] for x in runs['titanoboa']]):.2f}×.")
        lines.append("")
        lines.append(f"Ratio aivm_pytest / titanoboa: **{ours[1] / boa[1]:.2f}×** pytest session time (best of "
                     f"{repeats}), {ours[0] / boa[0]:.2f}× process wall time, {cpus['aivm_pytest'] / cpus['titanoboa']:.2f}× "
                     "process CPU time (>1 means we are slower). Session times of every run: "
                     + "; ".join(f"{side} " + ", ".join(f"{x[1]:.2f}" for x in r) for side, r in runs.items()) + ".")
        if "baseline" in rows:
            lines.append("")
            lines.append(f"Baseline tree / titanoboa in the same run: {rows['baseline'][1] / boa[1]:.2f}× session "
                         f"time; this tree / baseline: {ours[1] / rows['baseline'][1]:.2f}×.")
        lines.append("")
        lines.append("Where the difference comes from: every call here is a full transaction applied as the node "
                     "applies it (intrinsic gas, fee and nonce, its own transaction context, refunds, the data-floor "
                     "cost), which is why its gas is what a node charges; signing, receipts and block sealing are "
                     "deferred until something needs them (vm/fastblock.py). titanoboa runs each call as a "
                     "bare message against one open state.")
    else:
        lines.append(f"titanoboa could not be installed, so there is no ratio: {boa_info}")
    lines += ["", "Gas of a `transfer` repeated three times to an existing recipient:", "",
              f"- aivm_pytest (receipt `gasUsed`): {', '.join(f'{g:,}' for g in ours_gas)} "
              f"= 21,000 intrinsic + {calldata} calldata + {ours_gas[0] - 21_000 - calldata:,} execution, every time."]
    if boa_gas:
        lines.append(f"- titanoboa (`boa.env.get_gas_used()` deltas, execution only): "
                     f"{', '.join(f'{g:,}' for g in boa_gas[:3])}; after `boa.env.reset_gas_used()` makes storage "
                     f"cold again: {boa_gas[3]:,}. Slots stay warm from one call to the next.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    from bench.run import quick_flag

    print(main(quick=quick_flag(__doc__)))
