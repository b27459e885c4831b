"""RPC benchmark: our node against Anvil and Hardhat 3, in one run.

Each target is started fresh on a free 127.0.0.1 port, loaded by
bench/rpc_load.py, and stopped before the next one starts, so every node has
the machine to itself (the load generator runs on the same machine).

    .venv/bin/python -m bench.run --only rpc [--quick]
    .venv/bin/python -m bench.bench_rpc [--quick] [--targets aivm,anvil]

``BENCH_RPC_TARGETS=anvil,hardhat`` limits the targets when run from
bench.run. Ratios are ours ÷ peer: above 1 is better for rates, below 1 is
better for latency and memory.
"""

from __future__ import annotations

import asyncio
import os
import platform
import sys
import time
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from bench import host, rpc_load
from bridge import peers

TITLE = "RPC: ERC20 tx/s, eth_call/s, eth_getLogs, memory"
OURS = "aivm"
LABELS = {"aivm": "AIVM", "anvil": "Anvil", "hardhat": "Hardhat", "baseline": "AIVM before"}


@dataclass
class Metric:
    label: str
    get: callable          # LoadResult -> float | None
    fmt: str = "{:,.0f}"
    higher_is_better: bool = True


def _logs(name: str):
    return lambda r: r.getlogs.get(name, {}).get("ms")


def _per_block(r) -> float | None:
    return r.tx_ok / r.tx_blocks if r.tx_blocks else None


METRICS = [
    Metric("tx/s, 10 concurrent senders (ERC20 transfer, receipts awaited)", lambda r: r.tx_per_s),
    Metric("tx/s, one in flight (1 sender: send, then its receipt)", lambda r: r.single_tx_per_s),
    Metric("one-in-flight send→receipt p50, ms", lambda r: r.single_latency_ms, "{:,.2f}", False),
    Metric("txs accepted/s (sends only)", lambda r: r.tx_send_per_s),
    Metric("txs per block", _per_block, "{:,.1f}"),
    Metric("eth_call/s (balanceOf), 16 concurrent", lambda r: r.calls_per_s),
    Metric("eth_call p50 latency at 16 concurrent, ms", lambda r: r.call_p50_ms, "{:,.1f}", False),
    Metric("eth_call/s, one at a time", lambda r: r.seq_calls_per_s),
    Metric("eth_call p50 latency one at a time, ms", lambda r: r.seq_call_p50_ms, "{:,.2f}", False),
    Metric("eth_getLogs all logs, ms", _logs("all"), "{:,.1f}", False),
    Metric("eth_getLogs topic filter, ms", _logs("topic"), "{:,.1f}", False),
    Metric("eth_getLogs last 100 blocks, ms", _logs("narrow"), "{:,.1f}", False),
    Metric("RSS idle, MB", lambda r: r.rss_mb.get("idle"), "{:,.0f}", False),
    Metric("RSS at end, MB", lambda r: r.rss_mb.get("end"), "{:,.0f}", False),
    Metric("peak RSS, MB", lambda r: r.peak_rss_mb, "{:,.0f}", False),
]


def machine() -> dict:
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(open("/proc/meminfo").readline().split()[1])
        mem = f"{kb / 1024**2:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return {"cpu": model or platform.processor(), "cores": os.cpu_count(), "mem": mem,
            "python": platform.python_version()}


def measure(targets: list[str], quick: bool, console: Console) -> tuple[dict, dict, dict]:
    """Run the load on each target; return (results, versions, skipped reasons)."""
    cfg = rpc_load.LoadConfig.quick() if quick else rpc_load.LoadConfig()
    results, versions, skipped = {}, {}, {}
    loads = {}
    if any(t in peers.PEERS for t in targets):
        skipped.update({k: f"not installed: {v}" for k, v in
                        peers.install(log=console.print).items() if k in targets})
    for name in targets:
        if name in skipped:
            console.print(f"[yellow]{LABELS[name]}: skipped: {skipped[name]}")
            continue
        console.print(f"[bold]{LABELS[name]}[/]: starting")
        loads[name] = os.getloadavg()[0]
        try:
            with peers.running(name) as node:
                versions[name] = node.version
                console.print(f"  {node.url} pid {node.pid} ({node.version})")
                results[name] = asyncio.run(rpc_load.run_load(node.url, node.pid, cfg,
                                                              log=console.print))
                results[name].load_at_start = loads[name]
        except peers.PeerUnavailable as exc:
            skipped[name] = str(exc)
            console.print(f"[yellow]{LABELS[name]}: skipped: {exc}")
        except Exception as exc:  # one broken target must not sink the others
            skipped[name] = f"failed during the run: {type(exc).__name__}: {exc}"
            console.print(f"[red]{LABELS[name]}: {skipped[name]}")
    return results, versions, skipped


def _fmt(metric: Metric, value) -> str:
    return "—" if value is None else metric.fmt.format(value)


def _log_counts(r) -> str:
    counts = (r.getlogs.get(k, {}).get("count") for k in ("all", "topic", "narrow"))
    return " / ".join("—" if c is None else f"{c:,}" for c in counts)


def rows(results: dict, inproc: dict) -> tuple[list[str], list[list[str]]]:
    names = list(results)
    peers_run = [n for n in names if n != OURS]  # "baseline" (AIVM before) gets a ratio column too
    ratio_cols = [p for p in peers_run if OURS in results]
    header = ["metric"] + [LABELS[n] for n in names] + \
             [f"{LABELS[OURS]} ÷ {LABELS[p]}" for p in ratio_cols]
    out = []
    for m in METRICS:
        values = {n: m.get(results[n]) for n in names}
        row = [m.label] + [_fmt(m, values[n]) for n in names]
        for p in ratio_cols:
            ours, theirs = values.get(OURS), values.get(p)
            if ours and theirs:
                better = ours > theirs if m.higher_is_better else ours < theirs
                row.append(f"{ours / theirs:.2f}×{' ✓' if better else ''}")
            else:
                row.append("—")
        out.append(row)
    if OURS in results:
        pad = [""] * len(ratio_cols)
        ours_tx = results[OURS].tx_per_s
        for key in ("single", "batched"):
            ip = inproc.get(key, {})
            if "tx_per_s" in ip:
                how = ("1 tx per block, send_raw" if ip["per_block"] == 1
                       else f"{ip['per_block']} txs per block, mine")
                out.append([f"in-process tx/s ({how})"] +
                           [f"{ip['tx_per_s']:,.0f}" if n == OURS else "" for n in names] + pad)
        ex = inproc.get("exec", {})
        if "tx_per_s" in ex:
            # the floor under any RPC layer, against each peer's whole HTTP path
            out.append(["in-process tx/s, execution alone (BlockBuilder.add into an open block: "
                        "no recovery, sealing, storage or HTTP); ratio against the peer's HTTP tx/s"] +
                       [f"{ex['tx_per_s']:,.0f}" if n == OURS else "" for n in names] +
                       [f"{ex['tx_per_s'] / results[p].tx_per_s:.2f}×" if results[p].tx_per_s else "—"
                        for p in ratio_cols])
        ref = inproc.get("batched") or inproc.get("single") or {}
        if "tx_per_s" in ref and ours_tx:
            out.append([f"server overhead (in-process at {ref['per_block']}/block ÷ HTTP tx/s)"] +
                       [f"{ref['tx_per_s'] / ours_tx:.2f}×" if n == OURS else "" for n in names]
                       + pad)
    extras = [
        ("logs in the node", lambda r: f"{r.logs_total:,}"),
        ("logs returned (all / topic / narrow)", _log_counts),
        ("timed txs ok / sent", lambda r: f"{r.tx_ok:,} / {r.tx_sent:,}"),
        ("mining stalls unstuck with evm_mine", lambda r: f"{r.tx_nudges:,}"),
        ("load average (1 min) when started", lambda r: f"{r.load_at_start:.2f}"),
        ("client CPU share (tx / call phase)",
         lambda r: " / ".join(f"{r.client_cpu.get(k, 0):.0%}" for k in ("tx", "call"))),
    ]
    for label, get in extras:
        out.append([label] + [get(results[n]) for n in names] + [""] * len(ratio_cols))
    return header, out


def markdown(header, body, meta: list[str], notes: list[str]) -> str:
    lines = [f"## {TITLE}", ""] + meta + [""]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
    for row in body:
        lines.append("| " + " | ".join(c.replace("|", "/") for c in row) + " |")
    if notes:
        lines += ["", "Notes:", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def main(quick: bool = False, targets: list[str] | None = None) -> str:
    console = Console() if sys.stdout.isatty() else Console(width=150)
    env_targets = os.environ.get("BENCH_RPC_TARGETS")
    targets = targets or (env_targets.split(",") if env_targets else list(peers.TARGETS))
    targets = [t.strip() for t in targets if t.strip()]
    unknown = [t for t in targets if t not in peers.TARGETS]
    if unknown:
        raise SystemExit(f"unknown target(s) {unknown}; known: {', '.join(peers.TARGETS)}")
    cfg = rpc_load.LoadConfig.quick() if quick else rpc_load.LoadConfig()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_before, probe_before = host.load(), host.probe_ns()
    results, versions, skipped = measure(targets, quick, console)
    load_after, probe_after = host.load(), host.probe_ns()

    inproc: dict = {}
    if OURS in targets:
        console.print("[bold]AIVM in-process[/]: the same transfers through vm.chain.Chain")
        n = 500 if quick else 2_000
        inproc["single"] = rpc_load.inprocess_tx_rate(n, cfg.senders, per_block=1)
        ours = results.get(OURS)
        fill = round(ours.tx_ok / ours.tx_blocks) if ours and ours.tx_blocks else cfg.senders
        if fill > 1 and "skipped" not in inproc["single"]:
            inproc["batched"] = rpc_load.inprocess_tx_rate(n, cfg.senders, per_block=fill)
        inproc["exec"] = rpc_load.inprocess_tx_rate(n, cfg.senders, per_block=0)
        for ip in inproc.values():
            if "skipped" in ip:
                console.print(f"[yellow]  skipped: {ip['skipped']}")
            else:
                how = f"{ip['per_block']}/block" if ip["per_block"] else "execution alone"
                console.print(f"  {how}: {ip['tx_per_s']:,.0f} tx/s")

    header, body = rows(results, inproc)
    m = machine()
    meta = [
        f"- Run {started}{' (`--quick`)' if quick else ''}: {m['cpu']}, {m['cores']} cores, "
        f"{m['mem']}; load average (1/5/15 min) {load_before} before, {load_after} after; host "
        f"probe {probe_before:.0f} ns before, {probe_after:.0f} ns after (bench/host.py: a fixed "
        "Python loop, lower is faster).",
        "- Versions: " + (", ".join(f"{LABELS[n]} {v}" for n, v in versions.items()) or "none"),
        f"- Client (bench/rpc_load.py, Python {m['python']}, same machine): aiohttp + orjson, "
        f"{cfg.pool} keep-alive connections; {cfg.senders} concurrent senders (one dev account "
        f"each, one tx in flight per sender), {cfg.txs:,} pre-signed EIP-1559 ERC20 transfers "
        f"(Vyper 0.4.3 ERC20), clock stops when every receipt is fetched; {cfg.calls:,} "
        f"balanceOf eth_calls at concurrency {cfg.call_concurrency}, then {cfg.seq_calls:,} one at a "
        f"time; one-in-flight: {cfg.single_txs:,} transfers from one sender, each sent after the "
        f"previous one's receipt was fetched; eth_getLogs median of "
        f"{cfg.log_reps} runs per query. Ratios are {LABELS[OURS]} ÷ peer: above 1 is better "
        "for rates, below 1 is better for latency and memory; ✓ marks where AIVM is ahead.",
    ]
    notes = [f"{LABELS[n]} skipped: {why}" for n, why in skipped.items()]
    for name, res in results.items():
        notes += [f"{LABELS[name]}: {n}" for n in res.notes]
    for ip in inproc.values():
        if "skipped" in ip:
            notes.append(f"in-process comparison skipped: {ip['skipped']}")
        else:
            how = f"{ip['per_block']} per block" if ip["per_block"] else "execution alone"
            notes.append(f"in-process, {how}: {ip['txs']:,} transfers in "
                         f"{ip['seconds']:.2f} s = {ip['tx_per_s']:,.0f} tx/s"
                         + (f", {ip['failed']} failed" if ip.get("failed") else ""))
    if OURS not in results and any("tx_per_s" in ip for ip in inproc.values()):
        notes.append("the HTTP run of AIVM did not complete, so there is no overhead ratio")

    table = Table(title=TITLE, caption=f"load {load_before} → {load_after}, "
                  f"{m['cores']} cores; ratios: {LABELS[OURS]} ÷ peer")
    for i, col in enumerate(header):
        table.add_column(col, justify="left" if i == 0 else "right")
    for row in body:
        table.add_row(*row)
    console.print(table)
    for n in notes:
        console.print(f"[yellow]note:[/] {n}")
    return markdown(header, body, meta, notes)


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=TITLE)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--targets", help=f"comma-separated subset of {','.join(peers.TARGETS)}")
    args = ap.parse_args()
    peers.exit_on_sigterm()
    print(main(args.quick, args.targets.split(",") if args.targets else None))
    sys.exit(0)
