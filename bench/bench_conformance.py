"""Conformance features against Anvil, same workload, same run: tracing, proofs, access lists,
simulation, state overrides, and forking (cold and warm reads on a fork of an Anvil chain).

    .venv/bin/python -m bench.run --only conformance
"""
from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bridge import peers

REPS = 30
DEV0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
DEV1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def _aivm(*args: str):
    """Our node with the AI layer off (the figures are about the chain's RPC)."""
    from tests.nodeproc import start_node

    work = Path(tempfile.mkdtemp(prefix="aivm-bench-conf-"))
    cfg = work / "no-ai.toml"
    cfg.write_text("[aivm]\nenabled = false\n")
    return start_node(work, "--config", str(cfg), *args)


def _anvil_fork(url: str):
    port = peers.free_port()
    argv = [str(peers.anvil_binary()), "--host", "127.0.0.1", "--port", str(port), "--fork-url", url]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    node = peers.Node("anvil-fork", f"http://127.0.0.1:{port}", proc)
    peers.wait_ready(node, 60)
    return node


def _median_ms(fn, reps: int) -> float:
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return statistics.median(out)


def _setup(url: str):
    from web3 import Web3

    from tests.contracts import compiled

    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 60}))
    art = compiled()
    C = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    r = w3.eth.wait_for_transaction_receipt(C.constructor(10**24).transact({"from": DEV0}))
    token = w3.eth.contract(address=r.contractAddress, abi=art["abi"])
    h = None
    for i in range(10):
        h = token.functions.transfer(DEV1, i + 1).transact({"from": DEV0})
    w3.eth.wait_for_transaction_receipt(h)
    return w3, token, "0x" + bytes(h).hex()


def _workload(url: str, reps: int) -> dict[str, float]:
    w3, token, tx = _setup(url)
    call = peers.rpc
    transfer = {"from": DEV0, "to": token.address, "data": token.functions.transfer(DEV1, 1)._encode_transaction_data()}
    target = "0x" + "42" * 20
    return {
        "debug_traceTransaction, struct logger": _median_ms(lambda: call(url, "debug_traceTransaction", [tx, {}], 60), reps),
        "debug_traceTransaction, callTracer": _median_ms(
            lambda: call(url, "debug_traceTransaction", [tx, {"tracer": "callTracer"}], 60), reps),
        "debug_traceTransaction, prestateTracer": _median_ms(
            lambda: call(url, "debug_traceTransaction", [tx, {"tracer": "prestateTracer"}], 60), reps),
        "eth_getProof (account + 2 slots)": _median_ms(
            lambda: call(url, "eth_getProof", [token.address, ["0x" + "00" * 32, "0x" + "00" * 31 + "01"], "latest"], 60), reps),
        "eth_createAccessList (ERC20 transfer)": _median_ms(
            lambda: call(url, "eth_createAccessList", [transfer, "latest"], 60), reps),
        "eth_simulateV1 (1 block, 2 calls)": _median_ms(
            lambda: call(url, "eth_simulateV1", [{"blockStateCalls": [{"calls": [transfer, transfer]}]}, "latest"], 60), reps),
        "eth_call with a code override": _median_ms(
            lambda: call(url, "eth_call", [{"to": target}, "latest", {target: {"code": "0x602a60005260206000f3"}}], 60), reps),
    }


def _fork_reads(fork_url: str, token_address: str, reps: int) -> dict[str, float]:
    from eth_abi import encode
    from eth_hash.auto import keccak

    data = "0x" + (keccak(b"balanceOf(address)")[:4] + encode(["address"], [DEV1])).hex()
    t0 = time.perf_counter()
    peers.rpc(fork_url, "eth_call", [{"to": token_address, "data": data}, "latest"], 60)
    cold = (time.perf_counter() - t0) * 1000
    warm = _median_ms(lambda: peers.rpc(fork_url, "eth_call", [{"to": token_address, "data": data}, "latest"], 60), reps)
    return {"fork: first balanceOf (fetches the remote state)": cold, "fork: balanceOf, warm": warm}


def run(quick: bool) -> str:
    reps = 5 if quick else REPS
    if peers.anvil_binary() is None:
        peers.install(only=("anvil",))
    load_before = os.getloadavg()
    ours = _aivm()
    anvil = peers.start("anvil", timeout=60)
    started = [ours, anvil]
    try:
        rows_ours = _workload(ours.url, reps)
        rows_anvil = _workload(anvil.url, reps)
        # forks of one Anvil chain: ours and Anvil's own
        from web3 import Web3

        token = _setup(anvil.url)[1].address
        fork_ours = _aivm("--fork-url", anvil.url)
        started.append(fork_ours)
        fork_anvil = _anvil_fork(anvil.url)
        started.append(fork_anvil)
        rows_ours.update(_fork_reads(fork_ours.url, token, reps))
        rows_anvil.update(_fork_reads(fork_anvil.url, token, reps))
        del Web3
    finally:
        for n in started:
            if isinstance(n, peers.Node):
                peers.stop(n)
            else:
                n.stop()
    load_after = os.getloadavg()
    lines = [
        "## Conformance features: tracing, proofs, access lists, simulation, forking (vs Anvil)",
        "",
        f"- Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average (1/5/15 min) "
        f"{'/'.join(f'{x:.2f}' for x in load_before)} before, {'/'.join(f'{x:.2f}' for x in load_after)} after "
        "(a shared machine: read the ratios, not the milliseconds).",
        f"- Median of {reps} sequential requests (Python urllib client, same machine); the traced transaction is an "
        "ERC20 transfer (Vyper 0.4.3). Forks: each node forks the same Anvil chain; the first read fetches the "
        "token's account, code and slot from it. Ratio AIVM ÷ Anvil: below 1 means AIVM is faster (✓).",
        "",
        "| request | AIVM ms | Anvil ms | AIVM ÷ Anvil |",
        "|---|---:|---:|---:|",
    ]
    for key, ours_ms in rows_ours.items():
        theirs = rows_anvil[key]
        r = ours_ms / theirs if theirs else float("inf")
        lines.append(f"| {key} | {ours_ms:.1f} | {theirs:.1f} | {r:.2f}×{' ✓' if r < 1 else ''} |")
    return "\n".join(lines) + "\n"


def main(quick: "bool | None" = None) -> "str | None":
    return run(bool(quick))
