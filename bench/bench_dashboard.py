"""Dashboard page load and live-update latency, with 10,000 blocks and 100 validators in the store.

    .venv/bin/python -m bench.run --only dashboard       (or: python -m bench.bench_dashboard)

Fills a node on disk (LevelDB): 1,000 blocks carrying a transfer each, the
rest mined empty, and 100 validators registered, attested (digits_cnn) and
heart-beaten through the real RPC with real PQC signatures. Then headless
chromium (the tests' Playwright driver) measures, against that node and
against an empty node in the same run (the peer: the ratio says what the
store's size costs):
- page load: navigation start -> the latest-blocks table drawn (Chain view),
  and switching to the AI view -> every validator row drawn;
- update latency: `evm_mine` sent -> the new block's row in the DOM (newHeads
  over the WebSocket), median and p95 over 30 blocks;
- the dashboard_* reads behind them, median ms over 20 calls.
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import requests

from tests.dashboard.browser import Browser
from tests.nodeproc import NodeProcess, start_node

DEV0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
DEV1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def _rpc(node: NodeProcess, method: str, *params, timeout: float = 300):
    reply = node.rpc(method, *params, timeout=timeout)
    if "error" in reply:
        raise RuntimeError(f"{method}: {reply['error']['message']}")
    return reply["result"]


def _batch(node: NodeProcess, calls: list[tuple[str, list]]) -> list:
    body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
    replies = requests.post(node.url, json=body, timeout=600).json()
    errors = [r["error"]["message"] for r in replies if "error" in r]
    if errors:
        raise RuntimeError(f"batch: {errors[:3]}")
    return [r["result"] for r in sorted(replies, key=lambda r: r["id"])]


def _wait_ai(node: NodeProcess, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while "error" in node.rpc("synergy_listAIModels") and time.monotonic() < deadline:
        time.sleep(0.5)


def fill_blocks(node: NodeProcess, blocks: int, with_tx: int) -> None:
    """Empty blocks first, then `with_tx` blocks of one transfer each on top (recent activity)."""
    left = blocks - with_tx - int(_rpc(node, "eth_blockNumber"), 16)
    while left > 0:
        step = min(left, 10_000)
        _rpc(node, "hardhat_mine", hex(step), timeout=1200)
        left -= step
    for start in range(0, with_tx, 100):  # automine: one block per transfer
        n = min(100, with_tx - start)
        _batch(node, [("eth_sendTransaction", [{"from": DEV0, "to": DEV1, "value": hex(1 + start + i)}]) for i in range(n)])


def register_validators(node: NodeProcess, count: int) -> None:
    """`count` validators join as `aivm validator` would: register, attest digits_cnn, one heartbeat."""
    from ai import protocol
    from models import get_manifest
    from ai.scheduler.validators import MIN_STAKE
    from pqc import bundle
    from pqc.keys import KeySet
    from vm.addresses import to_syn

    chain_id = int(_rpc(node, "eth_chainId"), 16)
    sha = get_manifest("digits_cnn").stage_shard(0).sha256
    stake = 10 * MIN_STAKE
    for i in range(count):
        keys = KeySet.generate(protocol.LEVEL, with_kem=False)
        signing = keys.signing_keys()
        address = protocol.validator_address(signing)
        sign = lambda msg: "0x" + bundle.sign(keys, msg).encode().hex()  # noqa: E731
        _rpc(node, "hardhat_setBalance", "0x" + address.hex(), hex(stake + 10**18))
        _rpc(node, "synergy_registerValidator", "0x" + signing.encode().hex(), stake,
             sign(protocol.registration_message(chain_id, address, signing.key_hash, stake)))
        att = {"software_version": "bench", "shards": [{"model_id": "digits_cnn", "stage": 0, "sha256": sha}],
               "cores": 2, "memory_mb": 4096, "timestamp": int(time.time())}
        _rpc(node, "synergy_attestValidator", to_syn(address), att,
             sign(protocol.attestation_message(chain_id, address, att)))
        ts = int(time.time())
        _rpc(node, "synergy_validatorHeartbeat", to_syn(address), ts,
             sign(protocol.heartbeat_message(chain_id, address, ts)))


def _median_ms(fn, n: int = 20) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def measure(node: NodeProcess, workdir: Path, validators: int, updates: int) -> dict:
    out: dict = {}
    out["rpc_latest_ms"] = _median_ms(lambda: _rpc(node, "dashboard_latest", 20, 20))
    out["rpc_validators_ms"] = _median_ms(lambda: _rpc(node, "dashboard_validators"))
    out["rpc_overview_ms"] = _median_ms(lambda: _rpc(node, "dashboard_overview"))
    b = Browser(workdir / "browser")
    try:
        loads, ai_loads = [], []
        for _ in range(3):
            b.goto(node.url + "/dashboard/#/chain")
            loads.append(b.wait_for("() => document.querySelectorAll('#blocks tbody tr').length > 0 && performance.now()",
                                    timeout=60))
            b.wait_for("() => window.__dash.ready", timeout=30)
            ai_loads.append(b.wait_for(
                "(n) => new Promise((resolve) => { const t0 = performance.now(); location.hash = '#/ai';"
                " const check = () => document.querySelector('#validators') && document.querySelectorAll('#validators tbody tr').length >= n"
                " ? resolve(performance.now() - t0) : setTimeout(check, 5); check(); })", validators, timeout=60))
        out["load_chain_ms"] = statistics.median(loads)
        out["load_ai_ms"] = statistics.median(ai_loads)
        b.goto(node.url + "/dashboard/#/chain")
        b.wait_for("() => window.__dash.ready && document.querySelector('#blocks tbody tr')", timeout=60)
        lat = []
        for _ in range(updates):
            head = int(_rpc(node, "eth_blockNumber"), 16)
            sent = time.time() * 1000
            _rpc(node, "evm_mine")
            shown = b.wait_for(f"() => document.querySelector(\"#blocks tbody tr[data-number='{head + 1}']\") && window.__dash.rendered[{head + 1}]",
                               timeout=30)
            lat.append(shown - sent)
            time.sleep(0.05)
        lat.sort()
        out["update_p50_ms"] = statistics.median(lat)
        out["update_p95_ms"] = lat[min(len(lat) - 1, int(0.95 * len(lat)))]
        b.eval("() => { location.hash = '#/ai'; }")
        b.wait_for("(n) => document.querySelectorAll('#validators tbody tr').length >= n", validators, timeout=60)
        b.screenshot(workdir / "ai-view.png")
    finally:
        b.close()
    return out


def _load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def main(quick: bool = False) -> str:
    blocks, with_tx, validators, updates = (2_000, 200, 20, 10) if quick else (10_000, 1_000, 100, 30)
    work = Path(tempfile.mkdtemp(prefix="aivm-bench-dashboard-"))
    load_before = _load()
    started = datetime.now(timezone.utc)
    results = {}
    for name, size in (("empty", None), ("filled", (blocks, with_tx, validators))):
        wd = work / name
        wd.mkdir()
        node = start_node(wd, data_dir=wd / "chain")
        try:
            _wait_ai(node)
            fill_s = 0.0
            results[name] = {}
            if size:
                t = time.perf_counter()
                fill_blocks(node, size[0], size[1])
                register_validators(node, size[2])
                fill_s = time.perf_counter() - t
                print(f"filled {size[0]} blocks and {size[2]} validators in {fill_s:.0f} s", flush=True)
            head = int(_rpc(node, "eth_blockNumber"), 16)
            results[name] = measure(node, wd, size[2] if size else 0, updates)
            results[name]["head"] = head
            results[name]["validators"] = len(_rpc(node, "dashboard_validators")["validators"])
            results[name]["fill_s"] = fill_s
            print(name, results[name], flush=True)
        finally:
            node.stop()
    e, f = results["empty"], results["filled"]
    rows = [("page load, Chain view (navigation -> blocks drawn), ms", "load_chain_ms"),
            ("switch to AI view -> every validator row drawn, ms", "load_ai_ms"),
            ("update latency p50 (evm_mine sent -> row in DOM), ms", "update_p50_ms"),
            ("update latency p95, ms", "update_p95_ms"),
            ("dashboard_latest (20 blocks, 20 txs), ms", "rpc_latest_ms"),
            ("dashboard_validators, ms", "rpc_validators_ms"),
            ("dashboard_overview, ms", "rpc_overview_ms")]
    lines = [
        "## Dashboard: page load and live-update latency",
        "",
        f"- Run {started:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores; load average (1/5/15 min) {load_before} before, "
        f"{_load()} after (other engineers' work shares the machine).",
        f"- Filled node: {f['head']:,} blocks ({with_tx:,} with a transfer, the rest empty) on LevelDB and "
        f"{f['validators']} validators registered, attested and heart-beaten over RPC with real PQC signatures "
        f"(fill took {f['fill_s']:.0f} s). Peer: an empty node (head #{e['head']}, {e['validators']} validators) "
        "measured the same way in the same run. Headless Debian chromium via playwright-core; "
        f"update latency over {updates} blocks; RPC figures are medians of 20 calls.",
        "",
        "| metric | filled | empty | filled ÷ empty |",
        "|---|---:|---:|---:|",
    ]
    for label, key in rows:
        ratio = f[key] / e[key] if e[key] else float("nan")
        lines.append(f"| {label} | {f[key]:.1f} | {e[key]:.1f} | {ratio:.2f}× |")
    lines.append("")
    lines.append("The AI view of the empty node draws no validator rows, so its switch time is the view's own cost.")
    return "\n".join(lines)


if __name__ == "__main__":
    print(main())
