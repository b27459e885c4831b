"""SynQ vs Vyper 0.4.3 on the same ERC20 (bench/contracts/ERC20.synq and ERC20.vy).

    .venv/bin/python -m bench.bench_synq [--quick]

Measures runtime bytecode size, deploy gas, the gas of transfer (to a new and to an
existing holder), approve, transferFrom and balanceOf, each as its own full
transaction on a fresh in-process AIVM chain, and the compile time (median of warm
runs, in-process for both compilers). Ratios are SynQ / Vyper: below 1 is better.
`main(quick)` returns the markdown section bench/run.py writes into RESULTS.md.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import eth_abi
from eth_utils import keccak

HERE = Path(__file__).resolve().parent
SYNQ_SRC = HERE / "contracts" / "ERC20.synq"
VYPER_SRC = HERE / "contracts" / "ERC20.vy"
CTOR = (["string", "string", "uint8", "uint256"], ["Bench", "BNC", 18, 10**24])


def compile_synq(src: str) -> bytes:
    import synq

    return synq.compile_source(src, str(SYNQ_SRC)).bytecode


def compile_vyper(src: str) -> bytes:
    from vyper.compiler import compile_code

    return bytes.fromhex(compile_code(src, output_formats=["bytecode"])["bytecode"][2:])


def time_compile(fn, src: str, runs: int) -> float:
    fn(src)  # warm up (imports, caches)
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn(src)
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def measure(initcode: bytes) -> dict[str, int]:
    from vm.chain import Chain

    chain = Chain.ephemeral()
    a0, a1, a2 = (a.address for a in chain.accounts[:3])
    r = chain.transact(sender=a0, to=None, data=initcode + eth_abi.encode(*CTOR), gas=10_000_000)
    assert r.success, r.output
    token = r.contract_address

    def tx(sig: str, types: list[str], args: list, sender: bytes = a0) -> int:
        res = chain.transact(sender=sender, to=token, data=keccak(text=sig)[:4] + eth_abi.encode(types, args),
                             gas=1_000_000)
        assert res.success, (sig, res.output)
        return res.gas_used

    out = {"runtime bytes": len(chain.code(token)), "deploy gas": r.gas_used}
    out["transfer (new holder) gas"] = tx("transfer(address,uint256)", ["address", "uint256"], [a1, 100])
    out["transfer (existing holder) gas"] = tx("transfer(address,uint256)", ["address", "uint256"], [a1, 100])
    out["approve gas"] = tx("approve(address,uint256)", ["address", "uint256"], [a1, 10**20])
    out["transferFrom gas"] = tx("transferFrom(address,address,uint256)", ["address", "address", "uint256"],
                                 [a0, a2, 100], sender=a1)
    out["balanceOf gas (as a tx)"] = tx("balanceOf(address)", ["address"], [a0])
    return out


def run(quick: bool) -> tuple[dict, dict, float, float]:
    synq_src, vyper_src = SYNQ_SRC.read_text(), VYPER_SRC.read_text()
    runs = 5 if quick else 20
    t_synq = time_compile(compile_synq, synq_src, runs)
    t_vyper = time_compile(compile_vyper, vyper_src, runs)
    s = measure(compile_synq(synq_src))
    v = measure(compile_vyper(vyper_src))
    return s, v, t_synq, t_vyper


def main(quick: bool = False) -> str:
    s, v, t_synq, t_vyper = run(quick)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## SynQ vs Vyper 0.4.3: the same ERC20",
        "",
        f"- Run {when}: {platform.processor() or platform.machine()}, Python {platform.python_version()}; "
        f"contracts bench/contracts/ERC20.synq and ERC20.vy; each call a full transaction on a fresh "
        f"in-process AIVM chain (Prague rules). Ratios are SynQ ÷ Vyper (below 1 is better); "
        f"✓ marks within 10% of Vyper.",
        "",
        "| metric | SynQ | Vyper | SynQ ÷ Vyper |",
        "|---|---:|---:|---:|",
    ]
    for key in s:
        ratio = s[key] / v[key]
        mark = " ✓" if ratio <= 1.10 else ""
        lines.append(f"| {key} | {s[key]:,} | {v[key]:,} | {ratio:.3f}{mark} |")
    lines.append(f"| compile time, ms (median, warm, in-process) | {t_synq * 1000:.1f} | {t_vyper * 1000:.1f} "
                 f"| {t_synq / t_vyper:.3f}{' ✓' if t_synq <= t_vyper * 1.1 else ''} |")
    text = "\n".join(lines) + "\n"
    print(text)
    return text


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    main(ap.parse_args().quick)
