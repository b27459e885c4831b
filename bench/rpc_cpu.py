"""Node CPU per JSON-RPC request, by method: what the HTTP layer and the dispatch cost.

Wall-clock rates on a shared 2-core machine are noisy; the CPU time the node's
process spends per request (all threads, from /proc/PID/stat) is much less so,
and it is what bounds the rate once the client has a core of its own.

    .venv/bin/python -m bench.rpc_cpu [--n 2000] [--targets aivm,anvil] [--py-spy DIR]

For each target (our node and the peers, each started fresh as bench/bench_rpc.py
does) it deploys the bench ERC20 (bench/rpc_load.py's setup) and then times:
eth_chainId, eth_blockNumber, eth_getTransactionCount, eth_call balanceOf and
eth_getTransactionReceipt one at a time and 16 concurrent, a batch of 10
eth_calls, and transfers one in flight and from 10 concurrent senders (each a
send plus its receipt). `--py-spy DIR` records collapsed stacks (py-spy's raw format) of our node per
workload (needs py-spy; its sampling costs some CPU itself).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import time

from bench import rpc_load
from bridge import peers

TICK = os.sysconf("SC_CLK_TCK")


def thread_cpu(pid: int) -> dict:
    """{thread name: CPU seconds} of process `pid` (threads of one name summed)."""
    out: dict = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                text = f.read()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text.rsplit(")", 1)[1].split()
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / TICK
    return out


def proc_cpu(pid: int) -> float:
    """Seconds of CPU (user + system, all threads) of process `pid`."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


async def _timed(pid: int, n: int, fn, concurrency: int = 1, spy: tuple | None = None) -> dict:
    proc = None
    if spy:
        out, name = spy
        proc = subprocess.Popen(["py-spy", "record", "--pid", str(pid), "--rate", "250", "--gil", "--nonblocking", "--format", "raw",
                                 "-o", os.path.join(out, f"{name}.txt")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await asyncio.sleep(1.0)
    it = iter(range(n))

    async def worker():
        for i in it:
            await fn(i)

    c0, w0, p0 = proc_cpu(pid), time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    c1, w1, p1 = proc_cpu(pid), time.perf_counter(), time.process_time()
    if proc is not None:
        proc.send_signal(2)
        proc.wait(timeout=30)
    return {"node_us": 1e6 * (c1 - c0) / n, "per_s": n / (w1 - w0), "client_us": 1e6 * (p1 - p0) / n}


async def measure(url: str, pid: int, n: int, spy_dir: str | None = None) -> dict:
    cfg = rpc_load.LoadConfig.quick()
    rows: dict = {}
    async with rpc_load.Rpc(url, pool=16) as rpc:
        st = await rpc_load.setup(rpc, cfg)
        owner = st.signers[0].account.address
        call = [{"to": st.token, "data": rpc_load.balance_of_data(owner)}, "latest"]
        warm = rpc_load.presign_transfers(st, 3)
        hashes = [await rpc.call("eth_sendRawTransaction", [r]) for b in warm for r in b]
        await rpc_load.wait_receipts(rpc, hashes, 4, 20.0, nudge_after=1.0)
        h0 = hashes[-1]

        def spy(name):
            return (spy_dir, name) if spy_dir else None

        simple = [("eth_chainId", []), ("eth_blockNumber", []), ("eth_getTransactionCount", [owner, "latest"]),
                  ("eth_call", call), ("eth_getTransactionReceipt", [h0])]
        for method, params in simple:
            async def one(_i, method=method, params=params):
                await rpc.call(method, params)
            for _ in range(min(200, n)):
                await one(0)
            rows[f"{method}, sequential"] = await _timed(pid, n, one, 1, spy(f"{method}-seq"))
            rows[f"{method}, 16 concurrent"] = await _timed(pid, n, one, 16, spy(f"{method}-c16"))

        batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_call", "params": call} for i in range(10)]
        session = rpc._session

        async def batched(_i):
            async with session.post(url, json=batch) as resp:
                await resp.read()
        rows["batch of 10 eth_call (per batch)"] = await _timed(pid, max(1, n // 5), batched, 1, spy("batch10"))

        # transfers: one in flight (send, receipt until present), then 10 senders
        txs = max(50, n // 4)
        single = rpc_load.presign_transfers(st, txs // len(st.signers) + 1)
        flat = [r for b in single for r in b]
        # re-order: per sender in nonce order, senders interleaved would need gaps; go sender by sender
        polls = [0]

        async def one_tx(i):
            h = await rpc.call("eth_sendRawTransaction", [flat[i]])
            while await rpc.call("eth_getTransactionReceipt", [h]) is None:
                polls[0] += 1
                await asyncio.sleep(0.001)
        rows["transfer one in flight (send + receipt)"] = await _timed(pid, len(flat), one_tx, 1, spy("tx-single"))
        rows["transfer one in flight (send + receipt)"]["extra_polls"] = polls[0] / len(flat)
        polls[0] = 0

        per = max(10, n // 20)
        batches = rpc_load.presign_transfers(st, per)
        cursors = [iter(b) for b in batches]

        async def sender(k):
            for raw in cursors[k]:
                h = await rpc.call("eth_sendRawTransaction", [raw])
                while await rpc.call("eth_getTransactionReceipt", [h]) is None:
                    polls[0] += 1
                    await asyncio.sleep(0.001)

        proc = None
        if spy_dir:
            proc = subprocess.Popen(["py-spy", "record", "--pid", str(pid), "--rate", "250", "--gil", "--nonblocking", "--format", "raw",
                                     "-o", os.path.join(spy_dir, "tx-10senders.txt")],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            await asyncio.sleep(1.0)
        t0 = thread_cpu(pid)
        c0, w0, p0 = proc_cpu(pid), time.perf_counter(), time.process_time()
        await asyncio.gather(*(sender(k) for k in range(len(batches))))
        c1, w1, p1 = proc_cpu(pid), time.perf_counter(), time.process_time()
        t1 = thread_cpu(pid)
        if proc is not None:
            proc.send_signal(2)
            proc.wait(timeout=30)
        total = per * len(batches)
        rows["transfer, 10 senders (send + receipt)"] = {
            "node_us": 1e6 * (c1 - c0) / total, "per_s": total / (w1 - w0), "client_us": 1e6 * (p1 - p0) / total,
            "extra_polls": polls[0] / total,
            "threads": {k: 1e6 * (v - t0.get(k, 0.0)) / total for k, v in t1.items() if v - t0.get(k, 0.0) > 0}}
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="requests per workload")
    ap.add_argument("--targets", default="aivm")
    ap.add_argument("--url", default=None, help="measure a node already running here (with --pid)")
    ap.add_argument("--pid", type=int, default=None)
    ap.add_argument("--py-spy", dest="spy", default=None, help="directory for py-spy collapsed stacks (our node)")
    args = ap.parse_args(argv)
    targets = args.targets.split(",")
    if any(t in peers.PEERS for t in targets):
        peers.install()
    if args.spy:
        os.makedirs(args.spy, exist_ok=True)
        if not shutil.which("py-spy"):
            raise SystemExit("py-spy is not on PATH")
    results = {}
    load0 = os.getloadavg()
    if args.url:
        targets = ["node"]
        results["node"] = asyncio.run(measure(args.url, args.pid, args.n, args.spy))
    for name in targets if not args.url else []:
        with peers.running(name) as node:
            results[name] = asyncio.run(measure(node.url, node.pid, args.n,
                                                args.spy if name == "aivm" else None))
    load1 = os.getloadavg()
    print(f"load average {load0[0]:.2f} -> {load1[0]:.2f}")
    head = "| workload | " + " | ".join(f"{t} node µs/req | {t} req/s" for t in targets) + " |"
    print(head)
    print("|---|" + "---:|---:|" * len(targets))
    for key in results[targets[0]]:
        cells = []
        for t in targets:
            r = results[t].get(key)
            cells += [f"{r['node_us']:,.0f}", f"{r['per_s']:,.0f}"] if r else ["", ""]
        print(f"| {key} | " + " | ".join(cells) + " |")
    for t in targets:
        for key, r in results[t].items():
            if "extra_polls" in r:
                print(f"{t}: {key}: {r['extra_polls']:.2f} receipt polls a transaction that found none")
            if "threads" in r:
                print(f"{t}: {key}: µs a transaction by thread: "
                      + ", ".join(f"{k} {v:,.0f}" for k, v in sorted(r["threads"].items(), key=lambda kv: -kv[1])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
