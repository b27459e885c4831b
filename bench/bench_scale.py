"""How cost grows with the chain: tx/s and eth_call latency at chain heights 1k, 10k and
100k blocks, and with 10k accounts in state. A flat line is the goal.

In-process (``vm.chain.Chain`` over LevelDB in a temp dir, as a node with a data dir
runs), so the curve shows the chain, not the HTTP layer. Heights are reached with
empty blocks; at each height the same pre-signed ERC20 transfers (one block each,
like automine with one sender) and ``balanceOf`` calls are timed. Times are CPU
seconds of this process (the machine is shared: wall time would measure the
neighbours) with wall time beside them.

    .venv/bin/python -m bench.run --only scale [--quick]
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time

TXS = 300
CALLS = 500


def _setup(chain):
    from bench import rpc_load

    accounts = chain.accounts[:2]
    fees = {"type": 2, "maxFeePerGas": 1000 * rpc_load.GWEI, "maxPriorityFeePerGas": rpc_load.GWEI}
    from eth_account import Account

    signer = rpc_load.Signer(Account.from_key(accounts[0].key.to_bytes()), chain.config.chain_id,
                             chain.nonce(accounts[0].address), fees)
    r = chain.send_raw(bytes.fromhex(signer.sign(None, rpc_load.deploy_data(), rpc_load.DEPLOY_GAS)[2:]))
    assert r.success, r.error
    from eth_utils import to_checksum_address

    return signer, to_checksum_address(r.contract_address)


def _measure(chain, signer, token: str, txs: int, calls: int) -> dict:
    from bench import rpc_load

    dests = rpc_load.recipients()
    raws = [bytes.fromhex(signer.sign(token, rpc_load.transfer_data(dests[i % len(dests)], 1),
                                      rpc_load.TRANSFER_GAS)[2:]) for i in range(txs)]
    c0, w0 = time.process_time(), time.perf_counter()
    for raw in raws:
        assert chain.send_raw(raw).success
    tx_cpu, tx_wall = time.process_time() - c0, time.perf_counter() - w0
    tok = bytes.fromhex(token[2:])
    data = bytes.fromhex(rpc_load.balance_of_data(signer.account.address)[2:])
    lat = []
    for _ in range(calls):
        c = time.process_time()
        chain.call(None, tok, data)
        lat.append(time.process_time() - c)
    return {"tx_per_s_cpu": txs / tx_cpu, "tx_per_s_wall": txs / tx_wall,
            "call_ms_cpu": 1e3 * statistics.median(lat)}


def run(quick: bool = False, log=print) -> dict:
    from vm.chain import Chain, ChainConfig

    heights = [1_000, 10_000] if quick else [1_000, 10_000, 100_000]
    txs, calls = (100, 200) if quick else (TXS, CALLS)
    out: dict = {"heights": {}, "accounts": {}}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        chain = Chain.open(os.path.join(tmp, "heights"))
        try:
            signer, token = _setup(chain)
            for h in heights:
                c0, w0 = time.process_time(), time.perf_counter()
                n = 0
                while chain.head_number < h:
                    chain.mine([])
                    n += 1
                mine_cpu = time.process_time() - c0
                log(f"  height {chain.head_number:,}: mined {n:,} empty blocks in "
                    f"{time.perf_counter() - w0:.0f} s wall")
                m = _measure(chain, signer, token, txs, calls)
                m["empty_blocks_per_s_cpu"] = n / mine_cpu if mine_cpu else None
                out["heights"][h] = m
                log(f"    {m['tx_per_s_cpu']:,.0f} tx/s (CPU), eth_call {m['call_ms_cpu']:.2f} ms (CPU)")
        finally:
            chain.close()
        for n_accounts in ([0, 10_000]):
            extra = {(b"\x5a" * 12 + i.to_bytes(8, "big")): {"balance": 10**18, "nonce": 0, "code": b"",
                                                            "storage": {}} for i in range(n_accounts)}
            chain = Chain.open(os.path.join(tmp, f"accounts-{n_accounts}"), ChainConfig(extra_genesis=extra))
            try:
                signer, token = _setup(chain)
                m = _measure(chain, signer, token, txs, calls)
                out["accounts"][n_accounts] = m
                log(f"  {n_accounts:,} extra accounts: {m['tx_per_s_cpu']:,.0f} tx/s (CPU), "
                    f"eth_call {m['call_ms_cpu']:.2f} ms (CPU)")
            finally:
                chain.close()
    return out


def main(quick: bool = False) -> str:
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_before = "/".join(f"{x:.2f}" for x in os.getloadavg())
    res = run(quick)
    load_after = "/".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        "## How cost grows: chain height and accounts in state",
        "",
        f"- Run {started}{' (`--quick`)' if quick else ''}: {os.cpu_count()} cores; load average "
        f"(1/5/15 min) {load_before} before, {load_after} after.",
        "- In-process `vm.chain.Chain` over LevelDB (a temp data dir); ERC20 transfers one block each, "
        "then `balanceOf` eth_calls on the head; CPU time of the benchmark process (wall time beside it).",
        "",
        "| chain | tx/s (CPU) | tx/s (wall) | eth_call median, ms (CPU) | empty blocks/s (CPU) |",
        "|---|---:|---:|---:|---:|",
    ]
    base = None
    for h, m in res["heights"].items():
        base = base or m
        lines.append(f"| height {h:,} | {m['tx_per_s_cpu']:,.0f} | {m['tx_per_s_wall']:,.0f} | "
                     f"{m['call_ms_cpu']:.2f} | {m['empty_blocks_per_s_cpu']:,.0f} |")
    for n, m in res["accounts"].items():
        lines.append(f"| fresh chain, {n:,} extra accounts | {m['tx_per_s_cpu']:,.0f} | "
                     f"{m['tx_per_s_wall']:,.0f} | {m['call_ms_cpu']:.2f} | |")
    hs = list(res["heights"].values())
    if len(hs) > 1:
        lines += ["", f"tx/s at the highest height ÷ at the lowest: **{hs[-1]['tx_per_s_cpu'] / hs[0]['tx_per_s_cpu']:.2f}×**; "
                  f"eth_call latency: **{hs[-1]['call_ms_cpu'] / hs[0]['call_ms_cpu']:.2f}×**."]
    acc = res["accounts"]
    if 0 in acc and 10_000 in acc:
        lines.append(f"With 10k accounts ÷ without: tx/s **{acc[10_000]['tx_per_s_cpu'] / acc[0]['tx_per_s_cpu']:.2f}×**, "
                     f"eth_call latency **{acc[10_000]['call_ms_cpu'] / acc[0]['call_ms_cpu']:.2f}×**.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    print(main("--quick" in sys.argv))
