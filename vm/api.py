"""The node API: the one object every JSON-RPC handler receives (as anvil's `EthApi` over its backend).

Handlers in app/rpc/ parse params, call one method here, and shape the result;
the logic lives in the node, the chain and the small vm/ modules this calls
(fees, logs, lookups, execution, signing, txpool, tracing, dev_controls, ...).
Methods run their work where it belongs: state reads on a reader thread
(`Node.read`) or, short ones of the latest view, on the event loop itself (a
hop costs more than they do), work that builds its own py-evm state on the
chain thread (`Node.run`). They raise domain errors (`vm.errors.NodeError` and
the chain's `TxRejected` / `UnknownBlock` / `ExecutionFailed`);
`app/rpc/errors.py` maps them to JSON-RPC codes in one place.

What the application attaches to the node after start-up (the AI service, the
bridge hub, the config, the dashboard's sources) is read through the typed
properties below; their storage is declared in `Node.__init__`.
"""
from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional

from vm import dev_controls, execution, fees, forking, lookups, node_info, proofs, signing, state_dump, tracing, txpool
from vm.chain import ExecutionFailed, ExecutionResult, TxRejected, UnknownBlock
from vm.codec import checksum, data
from vm.errors import NodeError, Reason, invalid, refused, unavailable
from vm.filter_hub import FilterHub
from vm.lean_exec import InlineBudget, NotInline
from vm.logs import log_query_steps
from vm.reader import service_precompiles
from vm.store.index import run_steps
from vm.version import CLIENT_VERSION

if TYPE_CHECKING:
    from vm.chain import Chain
    from vm.node import Node


class ContractKind(str, enum.Enum):
    """The kinds synergy_deployAIVMContract records (the wire values)."""

    STANDARD = "standard"
    AI = "ai"
    PQC = "pqc"
    BRIDGE = "bridge"


CONTRACT_KINDS = tuple(k.value for k in ContractKind)


@dataclass(frozen=True)
class Deployment:
    """A contract deployed through the node and recorded with its ABI and kind."""

    address: bytes
    tx_hash: bytes
    kind: ContractKind
    gas_used: int
    block_number: int


_LATEST = ("latest", "pending", "safe", "finalized")  # tags that read the latest view
INLINE_LOG_RANGE = 1024  # blocks: a log query over at most this many starts on the event loop (NodeApi.logs)
INLINE_LOG_BUDGET = 0.003  # seconds it may run there before the rest moves to a reader thread
INLINE_CALL_BUDGET = 0.002  # seconds an eth_call (or estimate) may run there before it runs again on a reader thread
INLINE_FULL_TXS = 128  # a block's transactions read on the event loop for eth_getBlockBy*(full) (NodeApi.block)


def _loop_budget() -> InlineBudget:
    """What one eth_call or estimate may spend on the event loop (`NodeApi._call_here`)."""
    return InlineBudget(INLINE_CALL_BUDGET, service_precompiles())


class NodeApi:
    """Typed methods over one node: identity, fees, state, calls, sending, signing, blocks,
    transactions, receipts, logs, filters, the pool, dev controls, contract records, stats."""

    def __init__(self, node: "Node") -> None:
        self.node = node
        self.filters = FilterHub(node)  # filters and subscriptions, fed by the node's listeners

    @staticmethod
    def of(target: Any) -> "NodeApi":
        """The API of a node (or the API itself): what the dispatcher hands to handlers."""
        return target if isinstance(target, NodeApi) else target.api

    # -- the node's parts and attachments (typed reads; Node.__init__ declares them) --
    @property
    def chain(self) -> "Chain":
        return self.node.chain  # anvil_reset swaps the chain: never cache it

    @property
    def config(self) -> Any:
        """vm.config.Config of `aivm start` (None for in-process nodes)."""
        return self.node.config

    @property
    def ai(self) -> Any:
        """The AI service (ai.service.AIService) once running, else None."""
        return self.node.ai

    @property
    def ai_status(self) -> Optional[str]:
        """Why the AI service is not there yet (None when it runs or is disabled)."""
        return self.node.ai_status

    @property
    def bridge(self) -> Any:
        """The bridge hub (bridge.hub.BridgeHub) when the bridge is enabled, else None."""
        return self.node.bridge

    @property
    def dashboard_bridge_source(self) -> Any:
        return self.node.dashboard_bridge_source

    @property
    def dashboard_monitor(self) -> Any:
        return self.node.dashboard_monitor

    @dashboard_monitor.setter
    def dashboard_monitor(self, monitor: Any) -> None:
        self.node.dashboard_monitor = monitor

    @property
    def automine(self) -> bool:
        return self.node.automine

    @property
    def options(self) -> Any:
        return self.node.options

    @property
    def ai_starter(self) -> Any:
        """vm.ai_start.AIStarter when the AI layer waits for first use, else None."""
        return self.node.ai_starter

    def uptime_percent(self) -> float:
        return self.node.uptime_percent()

    async def settled(self) -> None:
        """Wait (bounded) for the seal of a block whose sends were already answered (Node.settled)."""
        await self.node.settled()

    async def chain_view(self, view: Callable[..., Any], *args: Any) -> Any:
        """view(chain, *args) on a reader thread: a read-only view of the committed chain for the
        application's own pages (the dashboard's explorer, app/dashboard/chainview.py)."""
        return await self.node.read(lambda: view(self.chain, *args))

    def ai_service(self) -> Any:
        """The AI service, or UNAVAILABLE saying why not."""
        service = self.node.ai
        if service is None:
            status = self.node.ai_status
            if status:
                raise unavailable(f"distributed AI is not ready: {status}")
            raise unavailable("distributed AI is disabled on this node ([aivm] enabled = false)")
        return service

    # -- identity --
    client_version = CLIENT_VERSION

    def chain_id(self) -> int:
        return self.chain.config.chain_id

    def coinbase(self) -> bytes:
        return self.chain.config.coinbase

    def accounts(self) -> list[bytes]:
        return [a.address for a in self.chain.accounts]

    def mining(self) -> bool:
        return self.node.automine or self.node.options.block_time > 0

    def head_number(self) -> int:
        return self.chain.head_number

    # -- fees --
    def gas_price(self) -> int:
        return fees.gas_price(self.chain)

    def max_priority_fee(self) -> int:
        return fees.DEFAULT_TIP

    def blob_base_fee(self) -> int:
        return fees.BLOB_BASE_FEE

    async def fee_history(self, count: int, newest: Any, percentiles: Optional[list]) -> dict:
        return await self.node.read(fees.fee_history, self.chain, count, newest, percentiles)

    # -- state --
    def _here(self, block: Any) -> bool:
        """Whether a plain account read at `block` runs on the calling (event-loop) thread: the latest
        view of a chain that is not forked. Such a read is a few dict/trie lookups in this thread's
        own account DB (`vm.reader`, ≈1 µs warm, ≈0.1 ms on a new head) — less than the hop to a
        reader thread it replaces (≈60 µs CPU); a forked chain's may fetch over the network."""
        return block in _LATEST and not self.chain.config.fork

    async def _state(self, what: str, block: Any, *args: Any) -> Any:
        if block == "pending":  # on top of the queued transactions: the chain thread builds that state
            return await self.node.run(lookups.read_state, self.node, what, block, *args)
        if self._here(block):
            await self.node.settled()
            return getattr(self.chain, what)(*args, block)
        return await self.node.read(getattr(self.chain, what), *args, block)

    async def balance(self, address: bytes, block: Any = "latest") -> int:
        return await self._state("balance", block, address)

    async def nonce(self, address: bytes, block: Any = "latest") -> int:
        if block == "pending":
            if self._here(block):
                await self.node.settled()
                return self.node.read_pending_nonce(address)
            return await self.node.read(self.node.read_pending_nonce, address)
        if self._here(block):
            await self.node.settled()
            return self.chain.nonce(address, block)
        return await self.node.read(self.chain.nonce, address, block)

    async def code(self, address: bytes, block: Any = "latest") -> bytes:
        return await self._state("code", block, address)

    async def storage(self, address: bytes, slot: int, block: Any = "latest") -> int:
        return await self._state("storage", block, address, slot)

    async def proof(self, address: bytes, keys: list[int], block: Any = "latest") -> dict:
        return await self.node.read(proofs.get_proof, self.chain, address, keys, block)

    # -- calls and estimates --
    def _scratch(self, block: Any, overrides: Optional[dict]) -> bool:
        """Whether a call needs its own state on the chain thread (overrides, or `pending` with a queue)."""
        return bool(overrides) or (block == "pending" and self.node.has_queued())

    async def call(self, fields: dict, block: Any = "latest", overrides: Optional[dict] = None) -> bytes:
        """eth_call's output; a revert is REVERTED with the revert data."""
        if self._scratch(block, overrides):
            req = execution.CallRequest.from_fields(fields)
            result = await self.node.run(
                lambda: execution.call(self.chain, req, lookups.at_block(self.node, block), overrides))
        else:
            f = fields
            args = (f.get("sender"), f.get("to"), f.get("data", b""), f.get("value", 0), f.get("gas"),
                    f.get("gas_price") or 0, block)
            result = self.chain.cached_call(*args)  # the same call on the same head: no thread hop
            if result is None and self._here(block):
                result = self._call_here(args)
            if result is None:
                result = await self.node.read(self.chain.call, *args)
        if not result.success:
            raise ExecutionFailed(result)
        return result.output

    def _call_here(self, args: tuple) -> Optional[ExecutionResult]:
        """An eth_call of the latest view run on the event loop, or None when it moves to a reader
        thread: at a service precompile (it may wait for validators, which need this loop) or once
        it has run INLINE_CALL_BUDGET (the loop is held that long at most, plus one frame's
        straight-line code; the call then runs again, whole, there). Most calls take ≈0.2 ms: less
        than the hop to a reader thread, which also shares the GIL with this loop."""
        try:
            return self.chain.call(*args, budget=_loop_budget())
        except NotInline:
            return None

    async def estimate_gas(self, fields: dict, block: Any = "pending", overrides: Optional[dict] = None) -> int:
        if self._scratch(block, overrides):
            req = execution.CallRequest.from_fields(fields)
            return await self.node.run(
                lambda: execution.estimate_gas(self.chain, req, lookups.at_block(self.node, block), overrides))
        f = fields
        args = (f.get("sender"), f.get("to"), f.get("data", b""), f.get("value", 0), f.get("gas"), block)
        if self._here(block):  # its executions (2 for most calls) under one budget, as `_call_here`
            try:
                return self.chain.estimate_gas(*args, budget=_loop_budget())
            except NotInline:
                pass
        return await self.node.read(self.chain.estimate_gas, *args)

    async def create_access_list(self, fields: dict, block: Any = "pending", overrides: Optional[dict] = None) -> dict:
        req = execution.CallRequest.from_fields(fields)
        return await self.node.run(
            lambda: execution.create_access_list(self.chain, req, lookups.at_block(self.node, block), overrides))

    async def simulate(self, blocks: list, block: Any, full: bool, validation: bool) -> list:
        return await self.node.run(execution.simulate, self.chain, blocks, block, full, validation)

    # -- sending and signing --
    async def send_raw(self, raw: bytes) -> bytes:
        """Queue a signed transaction; its hash (with automine: once it has run and is in the
        write-ahead log, before its block is sealed: `settled` makes later requests see the block)."""
        tx_hash, _ = await self.node.send_raw(raw, early=True)
        return tx_hash

    async def send_transaction(self, fields: dict) -> bytes:
        """Sign with a dev account (or an impersonated one) and queue; its hash (answered as send_raw)."""
        tx_hash, _ = await self.node.send_unsigned(fields, early=True)
        return tx_hash

    async def sign_message(self, address: bytes, message: bytes) -> bytes:
        return await self.node.read(signing.sign_message, self.chain, address, message)

    async def sign_typed_data(self, address: bytes, typed: Any) -> bytes:
        return await self.node.read(signing.sign_typed_data, self.chain, address, typed)

    async def sign_transaction(self, fields: dict) -> dict:
        """{raw, tx} of a transaction signed by a dev account, not sent."""
        await self.node.read(signing.dev_key, self.chain, fields["sender"])

        def sign():
            f = dict(fields)
            sender = f.pop("sender")
            if f.get("nonce") is None:
                f["nonce"] = self.node.read_pending_nonce(sender)
            signed, _ = self.chain.sign(sender, **f)
            return signed, sender

        signed, sender = await self.node.read(sign)
        return {"raw": data(signed.encode()), "tx": signing.transaction_json(signed, sender)}

    # -- blocks --
    async def block(self, ref: Any, full: bool = False) -> Optional[dict]:
        """A block's JSON record by tag, number or hash (None when there is none); `pending` is previewed.

        Not forked, the record is one committed key, read on the event loop (a reader-thread hop costs more:
        ≈0.15 ms of CPU, tests/test_loop_reads.py); its transactions too when there are at most
        INLINE_FULL_TXS of them, else they are read on a reader thread. A forked chain's early blocks are the
        remote's (a network call): on a reader thread."""
        if ref == "pending":
            return await self.node.run(lookups.pending_block, self.node, full)
        if self.chain.config.fork:
            return await self.node.read(self._block_record, ref, full)
        rec = await self._mined_block(ref)
        if rec is None or not full:
            return rec
        if len(rec["transactions"]) <= INLINE_FULL_TXS:
            return self._with_transactions(rec)
        return await self.node.read(self._with_transactions, rec)

    async def _mined_block(self, ref: Any) -> Optional[dict]:
        """A mined block's record (`pending` reads as the head here, as these methods always did)."""
        if self.chain.config.fork:
            return await self.node.read(self._block_record, ref, False)
        await self.node.settled()
        return self._block_record(ref, False)

    def _with_transactions(self, rec: dict) -> dict:
        """A block record with its transactions' records in place of their hashes (eth_getBlockBy*'s `full`)."""
        index = self.chain.index
        rec["transactions"] = [index.transaction(bytes.fromhex(h[2:]))["tx"] for h in rec["transactions"]]
        return rec

    def _block_record(self, ref: Any, full: bool) -> Optional[dict]:
        chain = self.chain
        try:
            n = lookups.resolve_block(chain, ref)
        except UnknownBlock:
            if isinstance(ref, bytes):  # a block from before the fork, if forked
                return forking.remote_lookup(chain, "eth_getBlockByHash", ref)
            return None
        remote = forking.remote_block(chain, n, full)  # up to the fork block: the forked chain's own
        if remote is not None:
            return remote
        rec = chain.index.block(n)
        return self._with_transactions(rec) if rec is not None and full else rec

    async def block_transaction_count(self, ref: Any) -> Optional[int]:
        rec = await self._mined_block(ref)
        return None if rec is None else len(rec["transactions"])

    async def block_receipts(self, ref: Any) -> Optional[list]:
        rec = await self._mined_block(ref)
        if rec is None:
            return None
        return await self.node.read(
            lambda: [self._mined(bytes.fromhex(h[2:]), "receipt") for h in rec["transactions"]])

    # -- transactions and receipts --
    def _mined(self, tx_hash: bytes, part: str) -> Optional[dict]:
        """A mined transaction's `tx` or `receipt`, from the fork's remote when mined before it."""
        rec = self.chain.index.transaction(tx_hash)
        if rec is not None:
            return rec[part]
        method_name = "eth_getTransactionByHash" if part == "tx" else "eth_getTransactionReceipt"
        return forking.remote_lookup(self.chain, method_name, tx_hash)

    async def transaction(self, tx_hash: bytes) -> Optional[dict]:
        """A transaction's JSON: mined, queued (block fields null), or from the forked chain."""
        rec = self.chain.index.transaction(tx_hash)  # one committed key: no thread needed
        if rec is not None:
            return rec["tx"]
        q = txpool.find(self.node, tx_hash)
        if q is not None:
            return txpool.pending_json(q)
        if forking.remote_of(self.chain) is None:  # not forked: nothing to ask (no reader-thread hop)
            return None
        return await self.node.read(forking.remote_lookup, self.chain, "eth_getTransactionByHash", tx_hash)

    async def transaction_at(self, ref: Any, index: int) -> Optional[dict]:
        rec = await self._mined_block(ref)
        if rec is None or index >= len(rec["transactions"]):
            return None
        entry = rec["transactions"][index]
        if isinstance(entry, dict):
            return entry
        return await self.node.read(self._mined, bytes.fromhex(entry[2:]), "tx")

    async def raw_transaction(self, tx_hash: bytes) -> Optional[bytes]:
        return await self.node.read(lookups.raw_by_hash, self.node, tx_hash)

    async def raw_transaction_at(self, ref: Any, index: int) -> Optional[bytes]:
        def read():
            n = lookups.block_number_of(self.chain, ref)
            return None if n is None else lookups.raw_by_position(self.chain, n, index)

        return await self.node.read(read)

    async def receipt(self, tx_hash: bytes) -> Optional[dict]:
        rec = self.chain.index.transaction(tx_hash)  # one committed key: no thread needed
        if rec is not None:
            return rec["receipt"]
        if forking.remote_of(self.chain) is None:  # not forked: nothing to ask (no reader-thread hop)
            return None
        return await self.node.read(forking.remote_lookup, self.chain, "eth_getTransactionReceipt", tx_hash)

    # -- logs --
    async def logs(self, criteria: dict, raw: bool = False) -> list:
        """`raw`: the list may hold orjson Fragments (slices of the stored logs), for a direct RPC answer.

        A query over at most INLINE_LOG_RANGE blocks starts on the event loop and finishes there if it takes
        less than INLINE_LOG_BUDGET (most do: the last blocks, a topic of a few hundred); one that runs longer
        goes on from where it is on a reader thread (`ChainIndex.log_steps`), so the loop is held at most the
        budget and a few blocks' reads. The hop to a reader thread costs ≈0.15 ms of CPU and as much latency
        on a 2-core machine: more than a small query. A forked chain's queries (the remote's logs before the
        fork are a network call) and long ranges run on a reader thread from the start."""
        steps = log_query_steps(self.chain, criteria, None, None, raw)
        if not self.chain.config.fork:
            await self.node.settled()
            try:
                if next(steps) <= INLINE_LOG_RANGE:
                    deadline = time.perf_counter() + INLINE_LOG_BUDGET
                    while time.perf_counter() < deadline:
                        next(steps)
            except StopIteration as done:
                return done.value
        return await self.node.read(run_steps, steps)

    # -- tracing --
    async def trace_transaction(self, tx_hash: bytes, tracer: Any, options: Any) -> Any:
        exists = await self.node.run(self.chain.index.transaction, tx_hash)
        if exists is None:  # mined on the forked chain before the fork? its node traces it
            remote = await self.node.read(forking.remote_trace, self.chain, tx_hash, options)
            if remote is not None:
                return remote
            raise NodeError(Reason.NOT_FOUND, f"transaction 0x{tx_hash.hex()} not found")
        return await self.node.run(tracing.trace_transaction, self.chain, tx_hash, tracer)

    async def trace_call(self, fields: dict, block: Any, overrides: Optional[dict], tracer: Any) -> Any:
        req = execution.CallRequest.from_fields(fields)

        def run():
            execution.call(self.chain, req, block, overrides, tracer)
            return tracer.result()

        return await self.node.run(run)

    async def trace_block(self, ref: Any, make_tracer: Callable[[], Any]) -> list:
        def run():
            number = lookups.require_block(self.chain, ref)
            results = tracing.trace_block(self.chain, number, make=make_tracer)
            rec = self.chain.index.block(number)
            return [{"txHash": h, "result": results[i]} for i, h in enumerate(rec["transactions"])]

        return await self.node.run(run)

    # -- the pool --
    async def pool_content(self) -> dict:
        """txpool_content: {pending|queued: {sender: {nonce: tx}}}."""
        return await self.node.run(txpool.content, self.node.queued(), self.node.pending_nonce)

    async def pool_content_from(self, sender: bytes) -> dict:
        """txpool_contentFrom: the pool view of one sender."""
        return txpool.content_from(await self.pool_content(), sender)

    async def pool_status(self) -> dict:
        """txpool_status: how many transactions are pending and queued."""
        return txpool.status(await self.pool_content())

    async def pool_inspect(self) -> dict:
        """txpool_inspect: one summary line per pooled transaction."""
        return txpool.inspect(await self.pool_content())

    async def drop_transaction(self, tx_hash: bytes) -> bool:
        return await self.node.drop_transaction(tx_hash)

    async def drop_transactions(self, sender: Optional[bytes] = None) -> None:
        """Drop every queued transaction (of `sender` when given)."""
        for q in self.node.queued():
            if sender is None or q.sender == sender:
                await self.node.drop_transaction(q.tx.hash)

    # -- dev controls --
    async def snapshot(self) -> int:
        return await self.node.run(self.chain.snapshot)

    async def revert(self, snapshot_id: int) -> bool:
        if self.node.has_queued():
            raise refused("cannot revert while transactions are queued for mining")
        return await self.node.run(self.chain.revert, snapshot_id)

    async def mine(self, timestamp: Optional[int] = None) -> None:
        await self.node.mine_block(timestamp)

    async def mine_blocks(self, blocks: int, interval: int = 1) -> None:
        """`blocks` blocks, each `interval` seconds after the previous one (the first at the usual time)."""
        if blocks > dev_controls.MAX_MINE_BLOCKS:
            raise invalid(f"mine at most {dev_controls.MAX_MINE_BLOCKS} blocks per call")
        if interval < 1:
            raise invalid("the interval between mined blocks must be at least 1 second")
        for i in range(blocks):
            ts = None
            if i > 0 and interval != 1:
                ts = self.chain.head.timestamp + interval
            await self.node.mine_block(ts)

    async def set_automine(self, on: bool) -> None:
        self.node.automine = on
        if on and self.node.has_queued():
            await self.node.mine_block()

    async def set_block_gas_limit(self, gas_limit: int) -> None:
        await self.node.run(dev_controls.set_block_gas_limit, self.chain, gas_limit)

    async def set_timestamp_interval(self, seconds: Optional[int]) -> bool:
        """Set (or with None remove) the fixed gap between block timestamps; whether one was set before."""
        had = await self.node.run(dev_controls.timestamp_interval, self.chain)
        await self.node.run(dev_controls.set_timestamp_interval, self.chain, seconds)
        return had is not None

    async def increase_time(self, seconds: int) -> int:
        return await self.node.run(self.chain.increase_time, seconds)

    async def set_next_timestamp(self, timestamp: int) -> None:
        await self.node.run(self.chain.set_next_timestamp, timestamp)

    async def set_balance(self, address: bytes, wei: int) -> None:
        await self.node.run(self.chain.set_balance, address, wei)

    async def set_code(self, address: bytes, code: bytes) -> None:
        await self.node.run(self.chain.set_code, address, code)

    async def set_nonce(self, address: bytes, nonce: int) -> None:
        await self.node.run(self.chain.set_nonce, address, nonce)

    async def set_storage(self, address: bytes, slot: int, value: int) -> None:
        await self.node.run(self.chain.set_storage, address, slot, value)

    def impersonate(self, address: bytes, on: bool) -> None:
        self.chain.impersonate(address, on)

    async def dump_state(self) -> str:
        return state_dump.encode(await self.node.run(state_dump.dump, self.chain))

    async def load_state(self, encoded: Any) -> None:
        await self.node.run(lambda: state_dump.load(self.chain, state_dump.decode(encoded)))

    def fork(self) -> Optional[forking.ForkSpec]:
        """The fork this chain follows (None when not forked)."""
        info = forking.fork_info(self.chain)
        return forking.ForkSpec(info["url"], info["block"]) if info else None

    async def reset(self, spec: Optional[forking.ForkSpec]) -> None:
        await forking.reset(self.node, spec)

    async def metadata(self) -> dict:
        return await self.node.run(node_info.metadata, self.chain, CLIENT_VERSION)

    async def node_info(self) -> dict:
        return await self.node.run(node_info.node_info, self.chain, self.node.automine)

    # -- contract records (synergy_deployAIVMContract) --
    async def deploy_contract(self, code: bytes, kind: ContractKind, abi: list) -> Deployment:
        """Deploy `code` from the first dev account (automine only) and record its kind and ABI."""
        deployer = self.chain.accounts[0].address
        try:
            tx_hash, result = await self.node.send_unsigned({"sender": deployer, "data": code, "gas": None})
        except ExecutionFailed as exc:
            raise refused(f"contract creation failed: {exc.result.error}", exc.result.output) from None
        except TxRejected as exc:
            raise refused(f"contract creation rejected: {exc}") from None
        if result is None:  # interval mining: the record is written when the block lands
            raise refused("synergy_deployAIVMContract needs automine (the node mines on an interval)")
        if not result.success:
            raise refused(f"contract creation failed: {result.error}", result.output)
        deployment = Deployment(result.contract_address, tx_hash, ContractKind(kind), result.gas_used,
                                result.block_number)
        await self.node.run(self._record_contract, deployment, abi)
        return deployment

    def _record_contract(self, d: Deployment, abi: list) -> None:
        """Chain thread: the contract's record and the per-kind count, in one batch."""
        index = self.chain.index
        with self.chain.store.transaction():
            index.set_meta(_contract_key(d.address),
                           {"kind": d.kind.value, "abi": abi, "transaction_hash": data(d.tx_hash),
                            "block": d.block_number})
            counts = index.meta("contract_counts", {})
            counts[d.kind.value] = counts.get(d.kind.value, 0) + 1
            index.set_meta("contract_counts", counts)

    async def contract(self, address: bytes) -> Optional[dict]:
        """The record of a contract deployed through synergy_deployAIVMContract (None if there is none)."""
        return await self.node.run(self.chain.index.meta, _contract_key(address))

    # -- stats --
    def supported_features(self) -> list[str]:
        """Only what this node can do now: AI features once the AI layer runs, PQC precompiles always."""
        features = ["pqc_signatures", "quorum_certificates"]
        if self.node.ai is not None:
            features += ["distributed_ai", "consensus_computation", "ai_enhanced"]
        bridge = self.node.bridge
        if bridge is not None and bridge.lanes:  # the bridge is on and at least one lane is configured
            features.append("cross_chain")
        return features

    def aivm_stats(self) -> dict:
        """synergy_getAIVMStats (store reads and AI counters: any thread)."""
        counts = self.chain.index.meta("contract_counts", {})
        ai_stats = self.node.ai_stats
        ai = ai_stats() if ai_stats else {}
        total = ai.get("distributed_computations", 0)
        completed = ai.get("completed_computations", 0)
        return {
            "total_contracts": sum(counts.values()),
            "contracts_by_kind": {k: counts.get(k, 0) for k in CONTRACT_KINDS},
            "distributed_computations": total,
            "completed_computations": completed,
            "active_validators": ai.get("active_validators", 0),
            "total_ai_rewards_distributed": ai.get("total_ai_rewards_distributed", 0),
            "supported_features": self.supported_features(),
            "ai_ready": ai.get("ai_ready", False),
            "ai_status": ai.get("ai_status") or self.node.ai_status or "disabled",
            "eligible_validators": ai.get("eligible_validators", 0),
            "network_uptime": f"{self.node.uptime_percent():.1f}%",
            "consensus_success_rate": round(completed / total, 4) if total else 0.0,
        }


def _contract_key(address: bytes) -> str:
    return f"contracts/{checksum(address).lower()}"
