"""Start-up of the main job: `aivm start --validators 5` until the AI layer is ready, forked vs started validators.

The node's local validators are forked from one launcher that imported torch once
(ai/validator/launcher.py); `AIVM_VALIDATOR_FORK=0` starts each with its own
interpreter as before. Each run starts a fresh in-memory node with 5 local
validators and times, from the command's start:

- the RPC answering (the "Listening on" line);
- the AI layer ready with every local validator registered and eligible
  (`synergy_getAIVMStats`: `ai_ready` and `eligible_validators`);
- a first digits computation answered through the quorum;

and the RSS of the node and all its descendants (launcher, validators) at that point.
Runs alternate between the two ways so the machine's load falls on both alike.

    .venv/bin/python -m bench.run --only startup
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_idle import rss_mb
from bench.bench_rpc import machine
from bridge import peers

VALIDATORS = 5
IMAGE = bytes(i % 17 for i in range(64))  # an 8x8 image, pixels 0..16 (the guide's digits input)


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
    return out


def one_start(fork: bool) -> dict:
    port = peers.free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "AIVM_VALIDATOR_FORK": "1" if fork else "0", "PYTHONUNBUFFERED": "1"}
    with tempfile.TemporaryDirectory(prefix="aivm-bench-startup-") as work:
        log = open(Path(work) / "node.log", "wb")
        t0 = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", "start", "--port", str(port), "--ephemeral",
                                 "--validators", str(VALIDATORS)], stdout=log, stderr=subprocess.STDOUT, env=env,
                                cwd=Path(__file__).resolve().parent.parent)
        out: dict = {}
        try:
            deadline = t0 + 600
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise RuntimeError(f"node exited: {(Path(work) / 'node.log').read_text()[-2000:]}")
                try:
                    stats = peers.rpc(url, "synergy_getAIVMStats", [], timeout=5)
                except Exception:  # noqa: BLE001 - not listening yet
                    time.sleep(0.05)
                    continue
                out.setdefault("listening_s", time.monotonic() - t0)
                if stats.get("ai_ready") and int(stats.get("eligible_validators", 0)) >= VALIDATORS:
                    out["ready_s"] = time.monotonic() - t0
                    break
                time.sleep(0.05)
            else:
                raise RuntimeError("the AI layer was not ready in 600 s")
            reply = peers.rpc(url, "synergy_initiateDistributedAI", ["digits_cnn", IMAGE.hex(), None, 60], timeout=90)
            assert reply.get("status") == "Completed", reply
            out["first_answer_s"] = time.monotonic() - t0
            out["rss_mb"] = sum(rss_mb(p) for p in _descendants(proc.pid))
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
    return out


def main(quick: bool = False) -> str:
    peers.exit_on_sigterm()
    load = os.getloadavg()
    reps = 1 if quick else 3
    runs: dict[bool, list[dict]] = {True: [], False: []}
    for _ in range(reps):
        for fork in (True, False):
            runs[fork].append(one_start(fork))

    def med(fork: bool, key: str) -> float:
        return statistics.median(r[key] for r in runs[fork])

    m = machine()
    lines = [f"## Start-up: `aivm start --validators {VALIDATORS}` (in memory), forked vs separately started validators",
             "", f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {m['cpu']}, {m['cores']} cores, {m['mem']}; "
             f"{reps} start(s) each way, alternating; medians. Load average at start {load[0]:.2f} / {load[1]:.2f} / "
             f"{load[2]:.2f} (1/5/15 min).", "",
             "| measure | forked (launcher) | started (`AIVM_VALIDATOR_FORK=0`) | forked ÷ started |",
             "|---|---:|---:|---:|"]
    for key, label, fmt in (("listening_s", "RPC answering, s", "{:.1f}"),
                            ("ready_s", f"AI ready, {VALIDATORS} validators eligible, s", "{:.1f}"),
                            ("first_answer_s", "first digits answer through the quorum, s", "{:.1f}"),
                            ("rss_mb", "RSS of node + launcher + validators, MB", "{:,.0f}")):
        a, b = med(True, key), med(False, key)
        lines.append(f"| {label} | {fmt.format(a)} | {fmt.format(b)} | {a / b:.2f}× |")
    lines += ["", "Each run: " + "; ".join(
        f"{'forked' if fork else 'started'} ready at " + ", ".join(f"{r['ready_s']:.1f}" for r in runs[fork]) + " s"
        for fork in (True, False))]
    text = "\n".join(lines) + "\n"
    print(text, flush=True)
    return text


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
