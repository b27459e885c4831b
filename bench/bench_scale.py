"""How cost grows with the chain: tx/s and eth_call latency at chain heights 1k, 10k and
100k blocks, and with 10k accounts in state. A flat line is the goal.

In-process (``vm.chain.Chain`` over LevelDB in a temp dir, as a node with a data dir
runs), so the curve shows the chain, not the HTTP layer. Heights are reached with
empty blocks; at each height the same pre-signed ERC20 transfers (one block each,
like automine with one sender) and ``balanceOf`` calls are timed, in rounds that
take turns among the chains (one chain per height, all open at once). Times are CPU
seconds of this process (the machine is shared: wall time would measure the
neighbours) with wall time beside them.

LevelDB compacts on its own threads, in this process: their CPU counts (it is
what a block's writes cost later), and is also shown apart ("LevelDB threads").
Before each timed phase the bench waits until those threads are idle, so a
phase is not charged with compacting what building the height wrote (that shows
in the empty-blocks column, which times the last 90 % of each build); transfers are timed
in 5 rounds and the median round counts (one LevelDB flush, or a neighbour's
burst, lands in one round). After them, each height chain mines 500 more empty
blocks in interleaved rounds too (so that column is measured between h and
h + 500), and the compaction those bytes cost later is added from the rate
measured while the height was built (LevelDB threads' CPU a byte written).

    .venv/bin/python -m bench.run --only scale [--quick]
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time

TXS = 300
CALLS = 500
ROUNDS = 5
EMPTIES = 500  # empty blocks a height chain mines in the interleaved rounds, after its transfers


def _other_threads_cpu() -> float:
    """CPU seconds of this process's threads other than the calling one (LevelDB's)."""
    me = str(__import__("threading").get_native_id())
    total = 0
    for tid in os.listdir("/proc/self/task"):
        if tid == me:
            continue
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / os.sysconf("SC_CLK_TCK")


def _open(path: str, config=None):
    """A chain over LevelDB that counts the bytes its batches write."""
    from vm.chain import Chain
    from vm.store.kv import LevelKV

    class CountingLevelKV(LevelKV):
        written = 0

        def write_batch(self, changes):
            self.written += sum(len(k) + len(v or b"") for k, v in changes.items())
            super().write_batch(changes)

    return Chain(CountingLevelKV(path), config)


def _settle(limit: float = 60.0) -> None:
    """Wait until LevelDB's threads stop using CPU (its flushes and compactions are done)."""
    end = time.monotonic() + limit
    last = _other_threads_cpu()
    while time.monotonic() < end:
        time.sleep(0.3)
        now = _other_threads_cpu()
        if now - last < 0.005:
            return
        last = now


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


class _Case:
    """One chain under test: its pre-signed transfers, and the rounds measured on it."""

    def __init__(self, chain, txs: int, seed: int = 0) -> None:
        from bench import rpc_load

        self.chain = chain
        self.signer, self.token = _setup(chain)
        # each chain its own recipients: the chains' states differ, so no chain reads another's
        # warm trie entries (the trie caches are process-wide, keyed by root)
        dests = rpc_load.recipients(64 * (seed + 1))[64 * seed:]
        self.raws = [bytes.fromhex(self.signer.sign(self.token, rpc_load.transfer_data(dests[i % len(dests)], 1),
                                                    rpc_load.TRANSFER_GAS)[2:]) for i in range(txs)]
        self.rounds: list = []  # (process CPU, wall, this thread's CPU, LevelDB threads' CPU) a transfer
        self.lat: list = []
        self.compaction_per_byte = 0.0  # LevelDB threads' CPU a byte written, while the height was built
        self.bytes_per_tx = 0.0
        self.empty_rounds: list = []  # (process CPU, LevelDB threads' CPU) an empty block
        self.bytes_per_empty = 0.0

    def transfers(self, start: int, stop: int) -> None:
        batch = self.raws[start:stop]
        kv = self.chain.store.kv
        written = kv.written
        c0, w0, t0, b0 = time.process_time(), time.perf_counter(), time.thread_time(), _other_threads_cpu()
        for raw in batch:
            assert self.chain.send_raw(raw).success
        n = len(batch)
        self.bytes_per_tx = (kv.written - written) / n
        self.rounds.append(((time.process_time() - c0) / n, (time.perf_counter() - w0) / n,
                            (time.thread_time() - t0) / n, (_other_threads_cpu() - b0) / n))

    def empties(self, n: int) -> None:
        kv = self.chain.store.kv
        written = kv.written
        c0, b0 = time.process_time(), _other_threads_cpu()
        for _ in range(n):
            self.chain.mine([])
        self.empty_rounds.append(((time.process_time() - c0) / n, (_other_threads_cpu() - b0) / n))
        self.bytes_per_empty = (kv.written - written) / n

    def calls(self, n: int) -> None:
        from bench import rpc_load

        tok = bytes.fromhex(self.token[2:])
        data = bytes.fromhex(rpc_load.balance_of_data(self.signer.account.address)[2:])
        for _ in range(n):
            c = time.process_time()
            self.chain.call(None, tok, data)
            self.lat.append(time.process_time() - c)

    def result(self) -> dict:
        rounds = sorted(self.rounds)
        tx_cpu, tx_wall, tx_chain, tx_bg = rounds[len(rounds) // 2]
        amortized = self.compaction_per_byte * self.bytes_per_tx  # what compacting a transfer's bytes costs later
        return {"tx_per_s_cpu": 1 / tx_cpu, "tx_per_s_wall": 1 / tx_wall, "tx_ms_chain_thread": 1e3 * tx_chain,
                "tx_ms_leveldb_threads": 1e3 * tx_bg, "tx_kb_written": self.bytes_per_tx / 1e3,
                "tx_ms_compaction_amortized": 1e3 * amortized, "tx_per_s_with_compaction": 1 / (tx_cpu + amortized),
                "call_ms_cpu": 1e3 * statistics.median(self.lat), **self._empty_result()}

    def _empty_result(self) -> dict:
        if not self.empty_rounds:
            return {}
        cpu, _ = sorted(self.empty_rounds)[len(self.empty_rounds) // 2]
        amortized = self.compaction_per_byte * self.bytes_per_empty
        return {"empty_per_s_rounds": 1 / cpu, "empty_per_s_with_compaction": 1 / (cpu + amortized),
                "empty_kb_written": self.bytes_per_empty / 1e3}


def _measure_interleaved(cases: list, txs: int, calls: int, empties: int = 0) -> list[dict]:
    """Transfers, calls (and then empty blocks) in rounds that take turns among the chains (a
    change of load on the shared machine hits every chain alike); each chain's median round counts."""
    _settle()
    per = max(1, txs // ROUNDS)
    for start in range(0, txs, per):
        for case in cases:
            case.transfers(start, start + per)
    for _ in range(ROUNDS):
        for case in cases:
            case.calls(max(1, calls // ROUNDS))
    if empties:
        for _ in range(ROUNDS):
            for case in cases:
                case.empties(max(1, empties // ROUNDS))
    return [case.result() for case in cases]


def run(quick: bool = False, log=print) -> dict:
    """One chain per height (each timed over its last 90 % of empty blocks, so the figure includes
    what LevelDB compacts as the chain grows), then the transfers and calls interleaved."""
    from vm.chain import ChainConfig

    heights = [1_000, 10_000] if quick else [1_000, 10_000, 100_000]
    txs, calls = (100, 200) if quick else (TXS, CALLS)
    out: dict = {"heights": {}, "accounts": {}}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        chains = []
        try:
            cases, empty = [], {}
            for h in heights:
                chain = _open(os.path.join(tmp, f"height-{h}"))
                chains.append(chain)
                cases.append(_Case(chain, txs, seed=len(cases)))
                while chain.head_number < h // 10:
                    chain.mine([])
                _settle()
                c0, w0, b0, written = time.process_time(), time.perf_counter(), _other_threads_cpu(), chain.store.kv.written
                n = 0
                while chain.head_number < h:
                    chain.mine([])
                    n += 1
                _settle()  # (what the build wrote is compacted: that is part of its cost)
                empty[h] = n / (time.process_time() - c0)
                cases[-1].compaction_per_byte = (_other_threads_cpu() - b0) / (chain.store.kv.written - written)
                log(f"  height {chain.head_number:,}: mined {n:,} empty blocks in "
                    f"{time.perf_counter() - w0:.0f} s wall, {empty[h]:,.0f} a second (CPU)")
            for h, m in zip(heights, _measure_interleaved(cases, txs, calls, EMPTIES)):
                m["empty_blocks_per_s_cpu"] = empty[h]
                out["heights"][h] = m
                log(f"  height {h:,}: {m['tx_per_s_cpu']:,.0f} tx/s (CPU; ms a tx: {_split(m)} chain/LevelDB "
                    f"threads), eth_call {m['call_ms_cpu']:.2f} ms (CPU)")
            cases = []
            for n_accounts in ([0, 10_000]):
                extra = {(b"\x5a" * 12 + i.to_bytes(8, "big")): {"balance": 10**18, "nonce": 0, "code": b"",
                                                                "storage": {}} for i in range(n_accounts)}
                chain = _open(os.path.join(tmp, f"accounts-{n_accounts}"), ChainConfig(extra_genesis=extra))
                chains.append(chain)
                cases.append(_Case(chain, txs))
            for n_accounts, m in zip([0, 10_000], _measure_interleaved(cases, txs, calls)):
                out["accounts"][n_accounts] = m
                log(f"  {n_accounts:,} extra accounts: {m['tx_per_s_cpu']:,.0f} tx/s (CPU; ms a tx: {_split(m)}), "
                    f"eth_call {m['call_ms_cpu']:.2f} ms (CPU)")
        finally:
            for chain in chains:
                chain.close()
    return out


def _amortized(m: dict) -> str:
    return f"{m['tx_ms_compaction_amortized']:.2f} / {m['tx_per_s_with_compaction']:,.0f}"


def _split(m: dict) -> str:
    return f"{m['tx_ms_chain_thread']:.2f} / {m['tx_ms_leveldb_threads']:.2f}"


def main(quick: bool = False) -> str:
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load_before = "/".join(f"{x:.2f}" for x in os.getloadavg())
    res = run(quick)
    load_after = "/".join(f"{x:.2f}" for x in os.getloadavg())
    return report(res, started, load_before, load_after, quick)


def report(res: dict, started: str, load_before: str, load_after: str, quick: bool = False) -> str:
    """The RESULTS.md section for one run's figures (`run`'s dict; keys may be ints or strings)."""
    res = {part: {int(k): v for k, v in res[part].items()} for part in ("heights", "accounts")}
    lines = [
        "## How cost grows: chain height and accounts in state",
        "",
        f"- Run {started}{' (`--quick`)' if quick else ''}: {os.cpu_count()} cores; load average "
        f"(1/5/15 min) {load_before} before, {load_after} after.",
        "- In-process `vm.chain.Chain` over LevelDB (a temp data dir); ERC20 transfers one block each, "
        "then `balanceOf` eth_calls on the head; CPU time of the benchmark process (wall time beside it).",
        "",
        "| chain | tx/s (CPU) | tx/s (wall) | ms a tx: chain thread / LevelDB threads | KB written a tx "
        "| + its compaction, amortized: ms / tx/s | eth_call median, ms (CPU) | empty blocks/s (CPU), building "
        "the height | empty blocks/s, rounds / + compaction amortized |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    base = None
    for h, m in res["heights"].items():
        base = base or m
        lines.append(f"| height {h:,} | {m['tx_per_s_cpu']:,.0f} | {m['tx_per_s_wall']:,.0f} | {_split(m)} | "
                     f"{m['tx_kb_written']:.1f} | {_amortized(m)} | {m['call_ms_cpu']:.2f} | "
                     f"{m['empty_blocks_per_s_cpu']:,.0f} | {m['empty_per_s_rounds']:,.0f} / "
                     f"{m['empty_per_s_with_compaction']:,.0f} |")
    for n, m in res["accounts"].items():
        lines.append(f"| fresh chain, {n:,} extra accounts | {m['tx_per_s_cpu']:,.0f} | "
                     f"{m['tx_per_s_wall']:,.0f} | {_split(m)} | {m['tx_kb_written']:.1f} | | "
                     f"{m['call_ms_cpu']:.2f} | | |")
    hs = list(res["heights"].values())
    if len(hs) > 1:
        lines += ["", f"tx/s at the highest height ÷ at the lowest: **{hs[-1]['tx_per_s_cpu'] / hs[0]['tx_per_s_cpu']:.2f}×**; "
                  f"with its compaction amortized: **{hs[-1]['tx_per_s_with_compaction'] / hs[0]['tx_per_s_with_compaction']:.2f}×**; "
                  f"empty blocks/s building: **{hs[-1]['empty_blocks_per_s_cpu'] / hs[0]['empty_blocks_per_s_cpu']:.2f}×**, "
                  f"in rounds: **{hs[-1]['empty_per_s_rounds'] / hs[0]['empty_per_s_rounds']:.2f}×**, "
                  f"with compaction amortized: **{hs[-1]['empty_per_s_with_compaction'] / hs[0]['empty_per_s_with_compaction']:.2f}×**; "
                  f"eth_call latency: **{hs[-1]['call_ms_cpu'] / hs[0]['call_ms_cpu']:.2f}×**."]
    acc = res["accounts"]
    if 0 in acc and 10_000 in acc:
        lines.append(f"With 10k accounts ÷ without: tx/s **{acc[10_000]['tx_per_s_cpu'] / acc[0]['tx_per_s_cpu']:.2f}×**, "
                     f"eth_call latency **{acc[10_000]['call_ms_cpu'] / acc[0]['call_ms_cpu']:.2f}×**.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    from bench.run import quick_flag

    print(main(quick_flag(__doc__)))
