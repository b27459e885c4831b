"""The RPC layer's own cost: requests through the dispatcher and the node API, in process (no HTTP).

    .venv/bin/python -m bench.bench_dispatch [--quick]
    AIVM_BENCH_BASELINE=/path/to/older/tree .venv/bin/python -m bench.bench_dispatch

Each tree runs the same probe in its own process (an in-memory node, an ERC20
with 60 transfers): per method, the best of several rounds of wall time and of
process CPU time per request. With a baseline tree the two alternate, so both
see the same machine load, and the table gives new ÷ before (below 1 is
faster). CPU time is the steadier figure on a loaded machine.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TITLE = "Dispatch and node API: per-request cost in process"

PROBE = r'''
import asyncio, json, sys, time
from eth_abi import encode
from eth_utils import keccak
from tests.contracts import compiled
from vm.node import Node, NodeOptions
from app.rpc import dispatch
from app.rpc import server  # noqa: F401  (registers every method)

ROUNDS, REPS = int(sys.argv[1]), int(sys.argv[2])
SEL_T, SEL_B = keccak(b"transfer(address,uint256)")[:4], keccak(b"balanceOf(address)")[:4]


async def main():
    node = Node(NodeOptions())
    await node.start()
    a0 = node.chain.accounts[0].address
    a0x = "0x" + a0.hex()
    art = compiled()
    d = await node.run(node.chain.transact, a0, None, bytes.fromhex(art["bytecode"][2:]) + encode(["uint256"], [10**24]))
    token = "0x" + d.contract_address.hex()

    async def rpc(m, *p):
        r = await dispatch.handle_one(node, {"jsonrpc": "2.0", "id": 1, "method": m, "params": list(p)})
        assert "error" not in r, r

    def transfer(i):
        return {"from": a0x, "to": token, "gas": "0x20000",
                "data": "0x" + (SEL_T + encode(["address", "uint256"], [bytes([i % 250 + 1]) * 20, 5])).hex()}

    for i in range(60):
        await rpc("eth_sendTransaction", transfer(i))
    call = {"from": a0x, "to": token, "data": "0x" + (SEL_B + encode(["address"], [a0])).hex()}
    cases = {
        "eth_blockNumber": ("eth_blockNumber",),
        "eth_getBalance": ("eth_getBalance", a0x, "latest"),
        "eth_call (balanceOf)": ("eth_call", call, "latest"),
        "eth_getBlockByNumber": ("eth_getBlockByNumber", "latest", False),
        "eth_feeHistory (16 blocks, 2 percentiles)": ("eth_feeHistory", "0x10", "latest", [25, 75]),
        "eth_getLogs (all)": ("eth_getLogs", {"fromBlock": "0x0"}),
        "eth_sendTransaction (automine)": None,
    }
    out, n = {}, 0
    for name, args in cases.items():
        wall = cpu = 1e9
        reps = REPS if args is not None else max(10, REPS // 4)
        for _ in range(ROUNDS):
            t, c = time.perf_counter(), time.process_time()
            for _ in range(reps):
                if args is None:
                    n += 1
                    await rpc("eth_sendTransaction", transfer(n))
                else:
                    await rpc(*args)
            wall = min(wall, (time.perf_counter() - t) / reps)
            cpu = min(cpu, (time.process_time() - c) / reps)
        out[name] = {"wall_us": wall * 1e6, "cpu_us": cpu * 1e6}
    await node.stop()
    print("RESULT " + json.dumps(out))

asyncio.run(main())
'''


def _probe(tree: Path, rounds: int, reps: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(PROBE)
    try:
        env = {**os.environ, "PYTHONPATH": str(tree)}
        proc = subprocess.run([sys.executable, f.name, str(rounds), str(reps)], cwd=tree, env=env,
                              capture_output=True, text=True, timeout=900)
    finally:
        os.unlink(f.name)
    line = next((l for l in proc.stdout.splitlines() if l.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"probe failed in {tree}: {proc.stderr[-2000:]}")
    return json.loads(line[len("RESULT "):])


def _best(runs: list[dict]) -> dict:
    return {k: {m: min(r[k][m] for r in runs) for m in ("wall_us", "cpu_us")} for k in runs[0]}


def main(quick: bool = False) -> str:
    rounds, reps, alternations = (3, 100, 2) if quick else (5, 200, 3)
    base = os.environ.get("AIVM_BENCH_BASELINE")
    trees = [("working tree", REPO)] + ([("before", Path(base))] if base else [])
    load_before = os.getloadavg()
    runs: dict[str, list] = {name: [] for name, _ in trees}
    for i in range(alternations):
        for name, tree in (trees if i % 2 == 0 else trees[::-1]):
            print(f"  {name}: round {i + 1}/{alternations}", flush=True)
            runs[name].append(_probe(tree, rounds, reps))
    load_after = os.getloadavg()
    best = {name: _best(r) for name, r in runs.items()}
    head = "| method | µs wall | µs CPU |" + (" µs wall before | µs CPU before | CPU ÷ before |" if base else "")
    rule = "|---|---:|---:|" + ("---:|---:|---:|" if base else "")
    rows = []
    for k, v in best["working tree"].items():
        row = f"| {k} | {v['wall_us']:,.1f} | {v['cpu_us']:,.1f} |"
        if base:
            b = best["before"][k]
            row += f" {b['wall_us']:,.1f} | {b['cpu_us']:,.1f} | {v['cpu_us'] / b['cpu_us']:.2f}× |"
        rows.append(row)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    la = lambda t: "/".join(f"{x:.2f}" for x in t)  # noqa: E731
    return "\n".join([
        f"## {TITLE}", "",
        f"- Run {when}{' (`--quick`)' if quick else ''}; load average {la(load_before)} before, {la(load_after)} after; "
        f"best of {rounds} rounds × {reps} requests per method, {alternations} alternating runs per tree"
        + (f"; before = `{base}`" if base else "") + ".", "",
        head, rule, *rows, "",
    ])


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=TITLE)
    ap.add_argument("--quick", action="store_true")
    print(main(quick=ap.parse_args().quick))
