"""JSON-RPC load generator: ERC20 tx/s, eth_call/s, eth_getLogs latency, memory.

Works against any Ethereum JSON-RPC URL that has the standard dev accounts
(``test test ... junk``) funded. The client is deliberately thin so that it
is not what gets measured:

* aiohttp with one keep-alive connection pool (``pool`` connections, default
  16) and orjson for encoding/decoding; no web3.py in any timed loop;
* every transaction is signed locally with eth-account *before* timing starts
  (nonces managed here, fees fixed from the latest base fee);
* tx/s: ``senders`` concurrent tasks (default 10, one per dev account), each
  sending its own pre-signed ERC20 ``transfer`` transactions in nonce order
  with eth_sendRawTransaction, one in flight per sender (Hardhat's automine
  refuses nonce gaps, and order over separate connections is not
  guaranteed); the clock stops when every receipt has been fetched with
  eth_getTransactionReceipt (``pool`` concurrent pollers);
* one in flight: one sender sends a transfer, polls its receipt until it is
  there, then sends the next (``single_txs``): what a script or a test suite
  using web3.py/ethers with automine does;
* eth_call/s: ``call_concurrency`` workers (default 16) issuing ``balanceOf``
  eth_calls at "latest" as fast as answers come back, and the same one at a
  time (``seq_calls``);
* eth_getLogs: the tx phase emits the Transfer logs (10,000 in a full run);
  three queries are then timed sequentially (median of ``log_reps``): every
  log of the token over the full range, a topic-filtered query
  (Transfer from one sender) and a narrow range (last 100 blocks);
* memory: VmRSS (summed over the node's process tree) and VmHWM from
  /proc/PID/status, when the node's PID is known.

``inprocess_tx_rate()`` runs the same pre-signed transfers through our chain
in-process (``vm.chain.Chain``), no HTTP, to express the server's overhead.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import aiohttp
import orjson
import rlp
from eth_account import Account
from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector, keccak, to_checksum_address

MNEMONIC = "test test test test test test test test test test test junk"
CONTRACT = Path(__file__).resolve().parent / "contracts" / "ERC20.vy"
TRANSFER_TOPIC = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
SEL_TRANSFER = function_signature_to_4byte_selector("transfer(address,uint256)")
SEL_BALANCE_OF = function_signature_to_4byte_selector("balanceOf(address)")
GWEI = 10**9
TRANSFER_GAS = 100_000
DEPLOY_GAS = 3_000_000
SUPPLY = 10**9 * 10**18


@dataclass
class LoadConfig:
    txs: int = 10_000            # ERC20 transfers in the timed tx phase
    senders: int = 10            # concurrent senders (dev accounts)
    pool: int = 16               # keep-alive HTTP connections
    calls: int = 10_000          # eth_calls in the timed call phase
    call_concurrency: int = 16
    single_txs: int = 1_000      # one sender, one tx in flight: send, then its receipt
    seq_calls: int = 2_000       # eth_calls one at a time
    log_reps: int = 5
    warmup_per_sender: int = 5
    tx_budget_s: float = 300.0   # the tx phase stops sending after this
    call_budget_s: float = 60.0  # the call phase stops after this
    receipt_timeout_s: float = 20.0  # give up after this long without a new receipt
    receipt_max_wait_s: float = 120.0  # ... and after this long in any case
    nudge_after_s: float = 1.0       # evm_mine after this long without a new receipt

    @classmethod
    def quick(cls) -> "LoadConfig":
        return cls(txs=1_000, calls=2_000, log_reps=3, tx_budget_s=90.0, call_budget_s=30.0,
                   single_txs=200, seq_calls=500)


@dataclass
class LoadResult:
    url: str
    tx_per_s: float = 0.0
    tx_sent: int = 0
    tx_ok: int = 0
    tx_failed: int = 0
    tx_rejected: int = 0
    tx_send_per_s: float = 0.0     # acceptance rate, before receipts
    tx_seconds: float = 0.0
    tx_blocks: int = 0             # distinct blocks the timed txs landed in
    tx_truncated: bool = False     # stopped by tx_budget_s
    tx_nudges: int = 0             # evm_mine calls needed to unstick mining
    single_tx_per_s: float = 0.0   # one sender: send, then fetch the receipt, then the next
    single_latency_ms: float = 0.0  # median send-to-receipt time in that workload
    calls: int = 0
    calls_per_s: float = 0.0
    seq_calls_per_s: float = 0.0
    seq_call_p50_ms: float = 0.0
    call_p50_ms: float = 0.0
    call_p99_ms: float = 0.0
    logs_total: int = 0
    getlogs: dict = field(default_factory=dict)  # name -> {"ms": median, "count": n}
    client_cpu: dict = field(default_factory=dict)  # phase -> client CPU s / wall s
    rss_mb: dict = field(default_factory=dict)   # when -> MB
    peak_rss_mb: float | None = None
    notes: list = field(default_factory=list)
    load_at_start: float | None = None           # 1-min load average, set by the caller


class RpcError(Exception):
    def __init__(self, method: str, error: dict):
        self.code = error.get("code")
        self.data = error.get("data")
        super().__init__(f"{method}: [{self.code}] {error.get('message')}")


class Rpc:
    """A minimal JSON-RPC client: one aiohttp session, keep-alive pool, orjson."""

    HEADERS = {"Content-Type": "application/json"}

    def __init__(self, url: str, pool: int = 16):
        self.url = url
        self.retries = 0
        self._ids = itertools.count(1)
        self._session = aiohttp.ClientSession(
            # Node's HTTP server (Hardhat) closes idle keep-alive sockets after
            # 5 s; drop ours first so a request never lands on a closed one.
            connector=aiohttp.TCPConnector(limit=pool, keepalive_timeout=2.0),
            timeout=aiohttp.ClientTimeout(total=120),
            json_serialize=lambda o: orjson.dumps(o).decode(),
            skip_auto_headers=("User-Agent",),
        )

    async def close(self) -> None:
        await self._session.close()

    async def __aenter__(self) -> "Rpc":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def call(self, method: str, params: list):
        body = orjson.dumps({"jsonrpc": "2.0", "id": next(self._ids),
                             "method": method, "params": params})
        for attempt in (0, 1):
            try:
                async with self._session.post(self.url, data=body,
                                              headers=self.HEADERS) as resp:
                    payload = orjson.loads(await resp.read())
                break
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
                if attempt:  # the server dropped a kept-alive socket: retry once
                    raise
                self.retries += 1
        if "error" in payload:
            raise RpcError(method, payload["error"])
        return payload["result"]


# ------------------------------------------------------------------ helpers
@lru_cache(maxsize=1)
def dev_accounts(n: int = 10) -> tuple:
    Account.enable_unaudited_hdwallet_features()
    return tuple(Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}")
                 for i in range(n))


@lru_cache(maxsize=1)
def compile_erc20() -> tuple[list, bytes]:
    """(abi, deploy bytecode) of bench/contracts/ERC20.vy, compiled with vyper."""
    import vyper

    out = vyper.compile_code(CONTRACT.read_text(), output_formats=["abi", "bytecode"])
    return out["abi"], bytes.fromhex(out["bytecode"].removeprefix("0x"))


def deploy_data(name: str = "Bench Token", symbol: str = "BENCH",
                decimals: int = 18, supply: int = SUPPLY) -> bytes:
    """The ERC20's deploy bytecode with its constructor arguments (string, string, uint8, uint256)."""
    _, bytecode = compile_erc20()
    return bytecode + abi_encode(["string", "string", "uint8", "uint256"], [name, symbol, decimals, supply])


def transfer_data(to: str, amount: int) -> bytes:
    return SEL_TRANSFER + abi_encode(["address", "uint256"], [to, amount])


def balance_of_data(owner: str) -> str:
    return "0x" + (SEL_BALANCE_OF + abi_encode(["address"], [owner])).hex()


def address_topic(address: str) -> str:
    """An address as an indexed event topic."""
    return "0x" + abi_encode(["address"], [address]).hex()


def contract_address(sender: str, nonce: int) -> str:
    raw = keccak(rlp.encode([bytes.fromhex(sender[2:]), nonce]))[12:]
    return to_checksum_address(raw)


def recipients(n: int = 64) -> list[str]:
    """Fixed, deterministic recipient addresses (no keys needed)."""
    return [to_checksum_address(keccak(text=f"aivm-bench-{i}")[12:]) for i in range(n)]


class Signer:
    """Signs transactions for one account with locally managed nonces."""

    def __init__(self, account, chain_id: int, nonce: int, fees: dict):
        self.account, self.chain_id, self.nonce, self.fees = account, chain_id, nonce, fees

    def sign(self, to: str | None, data: bytes, gas: int, value: int = 0) -> str:
        tx = {"chainId": self.chain_id, "nonce": self.nonce, "gas": gas,
              "value": value, "data": data, **self.fees}
        if to is not None:
            tx["to"] = to
        self.nonce += 1
        return "0x" + self.account.sign_transaction(tx).raw_transaction.hex()


def fees_from_block(block: dict | None, gas_price: int | None = None) -> dict:
    base = block.get("baseFeePerGas") if block else None
    if base is None:  # pre-London chain: legacy transactions
        return {"gasPrice": max(gas_price or 0, GWEI) * 2}
    base = int(base, 16)
    return {"type": 2, "maxFeePerGas": 4 * base + 2 * GWEI, "maxPriorityFeePerGas": GWEI}


def read_memory(pid: int | None) -> tuple[float | None, float | None]:
    """(RSS of pid and its descendants, peak RSS of pid) in MB, from /proc."""
    if not pid:
        return None, None

    def status(p: int) -> dict:
        try:
            text = Path(f"/proc/{p}/status").read_text()
        except OSError:
            return {}
        fields = (line.split(":", 1) for line in text.splitlines() if ":" in line)
        return {k: v.split()[0] for k, v in fields if v.split()}

    def children(p: int) -> list[int]:
        kids = []
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            try:
                kids += [int(c) for c in task.read_text().split()]
            except OSError:
                pass
        return kids

    main = status(pid)
    if "VmRSS" not in main:
        return None, None
    total, stack, seen = 0, [pid], set()
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        total += int(status(p).get("VmRSS", 0))
        stack += children(p)
    peak = int(main.get("VmHWM", 0)) / 1024 or None
    return total / 1024, peak


# ------------------------------------------------------------------- phases
@dataclass
class ReceiptWait:
    receipts: list
    nudges: int = 0  # evm_mine calls needed to get stuck transactions mined
    last_at: float = 0.0  # time.perf_counter() when the last receipt arrived


async def wait_receipts(rpc: Rpc, hashes: list[str], workers: int, idle_timeout: float,
                        nudge_after: float | None = None,
                        max_wait: float | None = None) -> ReceiptWait:
    """Fetch every receipt, polling the ones not mined yet.

    Gives up (leaving None) once no new receipt has arrived for
    `idle_timeout` seconds, so a slow but progressing node is waited for,
    and in any case after `max_wait` seconds.
    With `nudge_after`, a stall that long gets an ``evm_mine``: Anvil's
    automine can leave ready transactions in its pool when they arrive
    concurrently (foundry-rs/foundry#10122); every nudge is counted.
    """
    wait = ReceiptWait([None] * len(hashes))
    todo = iter(range(len(hashes)))
    last_progress = last_nudge = started = time.monotonic()
    give_up_at = started + (max_wait or float("inf"))
    pending = len(hashes)

    async def worker():
        nonlocal last_progress, pending
        for i in todo:
            while True:
                receipt = await rpc.call("eth_getTransactionReceipt", [hashes[i]])
                if receipt is not None:
                    wait.receipts[i] = receipt
                    last_progress = time.monotonic()
                    wait.last_at = time.perf_counter()
                    pending -= 1
                    break
                now = time.monotonic()
                if now - last_progress > idle_timeout or now > give_up_at:
                    break
                await asyncio.sleep(0.01)

    async def nudger():
        nonlocal last_nudge
        while pending and nudge_after:
            await asyncio.sleep(nudge_after / 4)
            now = time.monotonic()
            if pending and now - max(last_progress, last_nudge) > nudge_after:
                try:
                    await rpc.call("evm_mine", [])
                except RpcError:
                    return
                wait.nudges += 1
                last_nudge = now

    workers_done = asyncio.gather(*(worker() for _ in range(workers)))
    nudging = asyncio.ensure_future(nudger())
    try:
        await workers_done
    finally:
        nudging.cancel()
    return wait


async def send_and_confirm(rpc: Rpc, raws: list[str], workers: int) -> list[dict]:
    """Untimed helper: send in order, then wait for every receipt; all must succeed."""
    hashes = [await rpc.call("eth_sendRawTransaction", [raw]) for raw in raws]
    receipts = (await wait_receipts(rpc, hashes, workers, 60.0, nudge_after=1.0)).receipts
    for h, r in zip(hashes, receipts):
        if r is None or int(r["status"], 16) != 1:
            raise RuntimeError(f"setup transaction {h} failed: {r}")
    return receipts


@dataclass
class Setup:
    chain_id: int
    token: str
    signers: list
    fees: dict
    deploy_block: int


async def setup(rpc: Rpc, cfg: LoadConfig) -> Setup:
    chain_id = int(await rpc.call("eth_chainId", []), 16)
    block = await rpc.call("eth_getBlockByNumber", ["latest", False])
    gas_price = int(await rpc.call("eth_gasPrice", []), 16)
    fees = fees_from_block(block, gas_price)
    accounts = dev_accounts()[: cfg.senders]
    nonces = await asyncio.gather(*(rpc.call("eth_getTransactionCount", [a.address, "pending"])
                                    for a in accounts))
    signers = [Signer(a, chain_id, int(n, 16), fees) for a, n in zip(accounts, nonces)]
    deployer = signers[0]
    token = contract_address(deployer.account.address, deployer.nonce)
    [receipt] = await send_and_confirm(rpc, [deployer.sign(None, deploy_data(), DEPLOY_GAS)], 1)
    if receipt.get("contractAddress") and receipt["contractAddress"].lower() != token.lower():
        token = to_checksum_address(receipt["contractAddress"])
    share = SUPPLY // (2 * len(signers))
    raws = [deployer.sign(token, transfer_data(s.account.address, share), TRANSFER_GAS)
            for s in signers[1:]]
    await send_and_confirm(rpc, raws, cfg.pool)
    return Setup(chain_id, token, signers, fees, int(receipt["blockNumber"], 16))


def presign_transfers(st: Setup, per_sender: int) -> list[list[str]]:
    dests = recipients()
    return [[s.sign(st.token, transfer_data(dests[(i * 7 + j) % len(dests)], 1), TRANSFER_GAS)
             for j in range(per_sender)] for i, s in enumerate(st.signers)]


async def tx_phase(rpc: Rpc, st: Setup, cfg: LoadConfig, res: LoadResult) -> None:
    per_sender = max(1, cfg.txs // len(st.signers))
    warm = presign_transfers(st, cfg.warmup_per_sender)
    await send_and_confirm(rpc, [raw for batch in warm for raw in batch], cfg.pool)
    batches = presign_transfers(st, per_sender)
    hashes: list[str] = []
    rejected: list[str] = []
    cpu0, t0 = time.process_time(), time.perf_counter()
    stop_at = t0 + cfg.tx_budget_s

    async def sender(raws: list[str]):
        for raw in raws:
            if time.perf_counter() > stop_at:
                res.tx_truncated = True
                return
            try:
                hashes.append(await rpc.call("eth_sendRawTransaction", [raw]))
            except RpcError as exc:
                if rpc.retries and "already" in str(exc).lower():  # our retry resent it
                    hashes.append("0x" + keccak(bytes.fromhex(raw[2:])).hex())
                else:
                    rejected.append(str(exc))

    await asyncio.gather(*(sender(b) for b in batches))
    t_sent = time.perf_counter()
    wait = await wait_receipts(rpc, hashes, cfg.pool, cfg.receipt_timeout_s,
                               nudge_after=cfg.nudge_after_s, max_wait=cfg.receipt_max_wait_s)
    receipts = wait.receipts
    res.tx_nudges = wait.nudges
    # the clock stops at the last receipt, not at the give-up on missing ones
    t_done = time.perf_counter() if all(receipts) else max(wait.last_at, t_sent)
    res.client_cpu["tx"] = (time.process_time() - cpu0) / (t_done - t0)
    ok = [r for r in receipts if r is not None and int(r["status"], 16) == 1]
    res.tx_sent = len(hashes) + len(rejected)
    res.tx_ok = len(ok)
    res.tx_failed = len(hashes) - len(ok)
    res.tx_rejected = len(rejected)
    res.tx_seconds = t_done - t0
    res.tx_per_s = len(ok) / res.tx_seconds
    res.tx_send_per_s = len(hashes) / max(t_sent - t0, 1e-9)
    res.tx_blocks = len({r["blockNumber"] for r in ok})
    if rejected:
        res.notes.append(f"{len(rejected)} transactions rejected, first: {rejected[0]}")
    missing = sum(1 for r in receipts if r is None)
    if missing:
        res.notes.append(f"{missing} accepted transactions never got a receipt "
                         f"(gave up after {cfg.receipt_timeout_s:.0f} s without a new one; "
                         "tx/s counts up to the last receipt)")
    if res.tx_failed - missing:
        res.notes.append(f"{res.tx_failed - missing} transactions reverted")
    if res.tx_nudges:
        res.notes.append(f"mining stalled with transactions pending: {res.tx_nudges} evm_mine "
                         f"calls after {cfg.nudge_after_s:.0f} s without a new receipt "
                         "(the stalls count in the timed window)")
    if res.tx_truncated:
        res.notes.append(f"tx phase stopped sending after {cfg.tx_budget_s:.0f} s")


async def single_phase(rpc: Rpc, st: Setup, cfg: LoadConfig, res: LoadResult) -> None:
    """One sender, one transaction in flight: send, poll for its receipt, then the next."""
    signer = st.signers[0]
    dests = recipients()
    raws = [signer.sign(st.token, transfer_data(dests[i % len(dests)], 1), TRANSFER_GAS)
            for i in range(cfg.single_txs)]
    latencies, failed = [], 0
    t0 = time.perf_counter()
    stop_at = t0 + cfg.tx_budget_s
    for raw in raws:
        if time.perf_counter() > stop_at:
            res.notes.append(f"one-in-flight phase stopped after {cfg.tx_budget_s:.0f} s")
            break
        t = time.perf_counter()
        h = await rpc.call("eth_sendRawTransaction", [raw])
        receipt, polls, nudged = None, 0, t
        while receipt is None:
            receipt = await rpc.call("eth_getTransactionReceipt", [h])
            if receipt is None:
                polls += 1
                now = time.perf_counter()
                if now - t > cfg.receipt_max_wait_s:
                    raise RuntimeError(f"one-in-flight phase: no receipt for {h}")
                if now - nudged > cfg.nudge_after_s:  # Anvil's automine can stall (see wait_receipts)
                    await rpc.call("evm_mine", [])
                    res.tx_nudges += 1
                    nudged = now
                await asyncio.sleep(0 if polls < 3 else 0.002)
        latencies.append(time.perf_counter() - t)
        if int(receipt["status"], 16) != 1:
            failed += 1
    elapsed = time.perf_counter() - t0
    res.single_tx_per_s = (len(latencies) - failed) / elapsed
    latencies.sort()
    res.single_latency_ms = 1e3 * latencies[len(latencies) // 2] if latencies else 0.0
    res.logs_total += len(latencies) - failed
    if failed:
        res.notes.append(f"one-in-flight phase: {failed} transactions reverted")


async def seq_call_phase(rpc: Rpc, st: Setup, cfg: LoadConfig, res: LoadResult) -> None:
    """balanceOf eth_calls one at a time: a script reading state in a loop."""
    owners = [s.account.address for s in st.signers] + recipients()
    latencies = []
    t0 = time.perf_counter()
    for i in range(cfg.seq_calls):
        t = time.perf_counter()
        if t - t0 > cfg.call_budget_s:
            break
        await rpc.call("eth_call", [{"to": st.token, "data": balance_of_data(owners[i % len(owners)])},
                                    "latest"])
        latencies.append(time.perf_counter() - t)
    elapsed = time.perf_counter() - t0
    res.seq_calls_per_s = len(latencies) / elapsed
    latencies.sort()
    res.seq_call_p50_ms = 1e3 * latencies[len(latencies) // 2]


async def call_phase(rpc: Rpc, st: Setup, cfg: LoadConfig, res: LoadResult) -> None:
    owners = [s.account.address for s in st.signers] + recipients()
    payloads = [[{"to": st.token, "data": balance_of_data(owners[i % len(owners)])}, "latest"]
                for i in range(cfg.calls)]
    await rpc.call("eth_call", payloads[0])  # warm-up
    todo = iter(payloads)
    latencies: list[float] = []
    bad: list[str] = []

    async def worker():
        for params in todo:
            t = time.perf_counter()
            if t > stop_at:
                return
            out = await rpc.call("eth_call", params)
            latencies.append(time.perf_counter() - t)
            if len(out) != 66:
                bad.append(out)

    cpu0, t0 = time.process_time(), time.perf_counter()
    stop_at = t0 + cfg.call_budget_s
    await asyncio.gather(*(worker() for _ in range(cfg.call_concurrency)))
    elapsed = time.perf_counter() - t0
    res.client_cpu["call"] = (time.process_time() - cpu0) / elapsed
    res.calls = len(latencies)
    res.calls_per_s = res.calls / elapsed
    if res.calls < cfg.calls:
        res.notes.append(f"call phase stopped after {cfg.call_budget_s:.0f} s "
                         f"({res.calls:,} of {cfg.calls:,} calls)")
    latencies.sort()
    res.call_p50_ms = 1e3 * latencies[len(latencies) // 2]
    res.call_p99_ms = 1e3 * latencies[int(len(latencies) * 0.99) - 1]
    if bad:
        res.notes.append(f"{len(bad)} eth_call results were not one 32-byte word: {bad[0]!r}")


async def logs_phase(rpc: Rpc, st: Setup, cfg: LoadConfig, res: LoadResult) -> None:
    head = int(await rpc.call("eth_blockNumber", []), 16)
    sender = st.signers[min(3, len(st.signers) - 1)].account.address
    expected_all = res.logs_total
    queries = {
        "all": ({"address": st.token, "fromBlock": "0x0", "toBlock": "latest"}, expected_all),
        "topic": ({"address": st.token, "fromBlock": "0x0", "toBlock": "latest",
                   "topics": [TRANSFER_TOPIC, address_topic(sender)]}, None),
        "narrow": ({"address": st.token, "fromBlock": hex(max(0, head - 99)),
                    "toBlock": hex(head)}, None),
    }
    for name, (flt, expected) in queries.items():
        times, count = [], 0
        for _ in range(cfg.log_reps):
            t = time.perf_counter()
            logs = await rpc.call("eth_getLogs", [flt])
            times.append(time.perf_counter() - t)
            count = len(logs)
        res.getlogs[name] = {"ms": 1e3 * statistics.median(times), "count": count}
        if expected is not None and count != expected:
            res.notes.append(f"eth_getLogs {name}: {count} logs, expected {expected}")


async def run_load(url: str, pid: int | None = None, cfg: LoadConfig | None = None,
                   log=print) -> LoadResult:
    """Run every phase against `url`; `pid` is the node's process for memory."""
    cfg = cfg or LoadConfig()
    res = LoadResult(url)
    compile_erc20()
    res.rss_mb["idle"], _ = read_memory(pid)
    async with Rpc(url, cfg.pool) as rpc:
        log(f"  setup: deploy ERC20, fund {cfg.senders} senders")
        st = await setup(rpc, cfg)
        log(f"  tx/s: {cfg.txs} transfers from {cfg.senders} senders")
        await tx_phase(rpc, st, cfg, res)
        res.rss_mb["after tx"], _ = read_memory(pid)
        # mint + funding + warm-up + timed transfers, all Transfer logs of the token
        res.logs_total = (1 + (len(st.signers) - 1) + cfg.warmup_per_sender * len(st.signers)
                          + res.tx_ok)
        log(f"  tx/s, one in flight: {cfg.single_txs} transfers from one sender")
        await single_phase(rpc, st, cfg, res)
        log(f"  eth_call/s: {cfg.calls} balanceOf calls, concurrency {cfg.call_concurrency}")
        await call_phase(rpc, st, cfg, res)
        log(f"  eth_call/s: {cfg.seq_calls} balanceOf calls, one at a time")
        await seq_call_phase(rpc, st, cfg, res)
        log(f"  eth_getLogs over {res.logs_total} logs")
        await logs_phase(rpc, st, cfg, res)
        if rpc.retries:
            res.notes.append(f"{rpc.retries} requests resent after the server closed "
                             "a kept-alive connection")
    res.rss_mb["end"], res.peak_rss_mb = read_memory(pid)
    return res


# ------------------------------------------------------------- in-process
def _field(obj, *names):
    for name in names:
        if isinstance(obj, dict) and name in obj:
            return obj[name]
        if hasattr(obj, name):
            return getattr(obj, name)
    return None


def _inprocess_setup(Chain, senders: int):
    """A fresh in-memory chain with the token deployed, senders funded, warm."""
    chain = Chain.ephemeral()
    chain_id = int(_field(chain, "chain_id") or _field(_field(chain, "config"), "chain_id")
                   or 31337)
    accounts = list(_field(chain, "accounts") or [])[:senders] or list(dev_accounts()[:senders])
    keys = [Account.from_key(_field(a, "key", "private_key")) for a in accounts]
    fees = {"type": 2, "maxFeePerGas": 100 * GWEI, "maxPriorityFeePerGas": GWEI}
    signers = [Signer(k, chain_id, 0, fees) for k in keys]

    def send(raw_hex: str):
        result = chain.send_raw(bytes.fromhex(raw_hex[2:]))
        if _field(result, "success") is False:
            raise RuntimeError(f"setup transaction failed: {_field(result, 'error')}")
        return result

    deployer = signers[0]
    token = contract_address(deployer.account.address, deployer.nonce)
    addr = _field(send(deployer.sign(None, deploy_data(), DEPLOY_GAS)),
                  "contract_address", "contractAddress")
    if addr:
        token = to_checksum_address(addr)
    share = SUPPLY // (2 * len(signers))
    for s in signers[1:]:
        send(deployer.sign(token, transfer_data(s.account.address, share), TRANSFER_GAS))
    st = Setup(chain_id, token, signers, fees, 0)
    for batch in zip(*presign_transfers(st, 2)):  # warm-up
        for raw in batch:
            send(raw)
    return chain, st


def inprocess_tx_rate(txs: int = 2_000, senders: int = 10, per_block: int = 1) -> dict:
    """The same pre-signed ERC20 transfers through ``vm.chain.Chain``, no HTTP.

    ``per_block == 1``: one ``chain.send_raw(raw)`` per transaction (one block
    each, like a lone automined transaction). ``per_block > 1``: decode,
    recover and check each raw transaction as the node does, then
    ``chain.mine(pairs)`` ``per_block`` at a time, the node's batching when
    transactions arrive faster than blocks are sealed. ``per_block == 0``: the
    execution alone, the floor under any RPC layer: senders recovered
    beforehand (untimed), then only the node's own ``BlockBuilder.add``
    of every transaction into one open block is timed (no sealing, no state
    root, no storage, no HTTP). Returns {"tx_per_s", "txs", "seconds",
    "per_block"} or {"skipped": reason}.
    """
    try:
        from vm.chain import Chain
    except ImportError as exc:
        return {"skipped": f"vm.chain is not importable yet ({exc})"}
    try:
        chain, st = _inprocess_setup(Chain, senders)
        batches = presign_transfers(st, max(1, txs // len(st.signers)))
        # interleave senders: consecutive transactions come from different accounts
        raws = [bytes.fromhex(r[2:]) for batch in zip(*batches) for r in batch]
        failed = 0
        if per_block == 0:
            pairs = [(tx, chain.sender_of(tx)) for tx in map(chain.decode_raw, raws)]
            builder, elapsed = chain.open_block(), 0.0
            for tx, sender in pairs:
                if tx.gas > builder.gas_left:  # a full block: seal it untimed, go on in the next
                    chain.seal_block(builder)
                    builder = chain.open_block()
                t0 = time.perf_counter()
                r = builder.add(tx, sender)
                elapsed += time.perf_counter() - t0
                if r is None or not r.success:
                    failed += 1
            chain.seal_block(builder)
            return _rate(len(raws), failed, elapsed, 0)
        t0 = time.perf_counter()
        if per_block <= 1:
            for raw in raws:
                if _field(chain.send_raw(raw), "success") is False:
                    failed += 1
        else:
            nonces: dict[bytes, int] = {}
            for i in range(0, len(raws), per_block):
                pairs = []
                for raw in raws[i:i + per_block]:
                    tx = chain.decode_raw(raw)
                    sender = chain.sender_of(tx)
                    chain.check(tx, sender, expected_nonce=nonces.get(sender))
                    nonces[sender] = tx.nonce + 1
                    pairs.append((tx, sender))
                mined = chain.mine(pairs)
                failed += len(pairs) - sum(1 for r in mined.results if r.success)
                nonces.clear()
        elapsed = time.perf_counter() - t0
    except Exception as exc:  # the chain API is still moving: report, don't crash
        return {"skipped": f"in-process run failed: {type(exc).__name__}: {exc}"}
    return _rate(len(raws), failed, elapsed, max(1, per_block))


def _rate(txs: int, failed: int, elapsed: float, per_block: int) -> dict:
    out = {"tx_per_s": (txs - failed) / elapsed, "txs": txs, "seconds": elapsed,
           "per_block": per_block}
    if failed:
        out["failed"] = failed
    return out


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url")
    ap.add_argument("--pid", type=int)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    result = asyncio.run(run_load(args.url, args.pid,
                                  LoadConfig.quick() if args.quick else LoadConfig()))
    print(orjson.dumps(result.__dict__, option=orjson.OPT_INDENT_2).decode())
