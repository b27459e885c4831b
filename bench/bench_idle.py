"""Idle memory of `aivm start --validators 0`, with peers idle beside it in the same run.

The node starts its AI layer (scheduler, manifests, torch) on first use (vm/ai_start.py),
so an idle node holds the chain and the RPC server only. Measured from /proc/<pid>/status
(VmRSS) a few seconds after the node answers, for:

- aivm idle (working tree), and whether torch's libraries are mapped;
- the same node after its first AI request (`synergy_listAIModels` starts the layer);
- `AIVM_BENCH_BASELINE=<older tree>` (optional): the older tree idle, for before/after;
- Anvil and Hardhat idle, when `python -m bridge.peers install` has installed them.

    .venv/bin/python -m bench.run --only idle
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from bridge import peers

SETTLE = 5.0  # seconds after the node answers, so start-up allocations have happened


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def torch_mapped(pid: int) -> bool:
    maps = Path(f"/proc/{pid}/maps").read_text()
    return "libtorch" in maps or "/torch/" in maps


def _idle(name: str) -> tuple[float, bool, "peers.Node"]:
    node = peers.start(name, timeout=180)
    time.sleep(SETTLE)
    return rss_mb(node.pid), torch_mapped(node.pid), node


def main(quick: bool = False) -> str:
    peers.exit_on_sigterm()
    rows: list[tuple[str, str, str]] = []
    load = os.getloadavg()
    ours = after = None
    node = peers.start("aivm", timeout=180)
    try:
        time.sleep(SETTLE)
        ours, torch_idle = rss_mb(node.pid), torch_mapped(node.pid)
        rows.append(("aivm `--validators 0`, idle (working tree)", f"{ours:,.0f}",
                     "torch mapped" if torch_idle else "torch not imported"))
        t0 = time.monotonic()
        reply = peers.rpc(node.url, "synergy_listAIModels", [], timeout=300)
        started = time.monotonic() - t0
        time.sleep(SETTLE)
        after = rss_mb(node.pid)
        rows.append(("aivm, after its first AI request (AI layer started)", f"{after:,.0f}",
                     f"layer up in {started:.1f} s; {len(reply)} models; "
                     f"torch {'mapped' if torch_mapped(node.pid) else 'not mapped'}"))
    finally:
        peers.stop(node)
    for name, label in (("baseline", f"aivm idle, baseline tree {os.environ.get('AIVM_BENCH_BASELINE')}"),
                        ("anvil", "Anvil idle"), ("hardhat", "Hardhat 3 idle")):
        try:
            mb, torch_on, peer = _idle(name)
        except peers.PeerUnavailable as exc:
            rows.append((label if name != "baseline" else "aivm idle, baseline tree", "—", str(exc)))
            continue
        try:
            note = peer.version + ("; torch mapped" if name == "baseline" and torch_on else "")
            ratio = f"; aivm idle / this = {ours / mb:.2f}×" if ours and mb else ""
            rows.append((label, f"{mb:,.0f}", note + ratio))
        finally:
            peers.stop(peer)
    lines = ["## Idle RSS of `aivm start --validators 0`", "",
             f"VmRSS {SETTLE:g} s after each process answers, one run; load average at start "
             f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1/5/15 min). Target: ≤ 120 MB.", "",
             "| process | RSS (MB) | notes |", "|---|---:|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(main())
