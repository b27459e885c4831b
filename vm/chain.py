"""The one adapter between AIVM and py-evm.

A `Chain` builds blocks itself (no eth-tester, no MiningChain re-validation):
it applies a batch of signed transactions on the pending header, seals the
block, and writes py-evm's data and the node's RPC records in one atomic batch.
Blocks are built on one thread (the node's chain thread). State reads (calls,
balances, code, storage) may come from any thread: they run on that thread's
own warm read-only py-evm state over the committed head (`vm.reader`), so they
never wait for the chain thread, even while it sits inside a long block.
"""
from __future__ import annotations

import dataclasses
import functools
import itertools
from contextlib import contextmanager
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional, Sequence, Union

from eth._utils.address import generate_contract_address
from eth.abc import SignedTransactionAPI
from eth.chains.base import Chain as PyEvmChain
from eth.constants import GENESIS_PARENT_HASH
from eth.exceptions import CanonicalHeadNotFound, HeaderNotFound
from eth.vm.spoof import SpoofTransaction
from coincurve import PublicKey
from eth_hash.auto import keccak
from eth_keys import keys
from eth_utils import ValidationError

import precompiles
from vm.fork import vm_with_services
from vm.trie_root import ordered_trie_root
from vm import trie_cache

trie_cache.install()
from vm.reader import HeadReader
from vm.store.atomic import AtomicStore, CommittedView
from vm.store.index import ChainIndex
from vm import defaults
from vm.errors import NodeError, Reason
from vm.store.kv import KV, LevelKV, MemoryKV

DEV_MNEMONIC = "test test test test test test test test test test test junk"
ETHER = 10**18
BlockId = Union[str, int, bytes]


class TxRejected(NodeError):
    """A transaction the chain refuses before execution (nonce, funds, fees, size)."""

    def __init__(self, message: str, reason: Reason = Reason.REFUSED) -> None:
        super().__init__(reason, message)


class UnknownBlock(NodeError, LookupError):
    """A block tag, number or hash that names no block of this chain."""

    def __init__(self, message: str) -> None:
        super().__init__(Reason.NOT_FOUND, message)


@dataclass(frozen=True)
class DevAccount:
    address: bytes
    key: keys.PrivateKey


@dataclass
class ChainConfig:
    chain_id: int = 31337
    gas_limit: int = defaults.BLOCK_GAS_LIMIT
    initial_base_fee: int = 1_000_000_000
    accounts: int = 10
    balance_eth: int = 10_000
    mnemonic: str = DEV_MNEMONIC
    coinbase: bytes = b"\x00" * 20
    genesis_timestamp: Optional[int] = None
    extra_genesis: dict = field(default_factory=dict)  # address -> {balance, nonce, code, storage}
    fork: Any = None  # vm.forking.ForkSpec: run on a lazily fetched copy of a remote chain
    fork_chain_id_from_remote: bool = True


@dataclass
class Log:
    address: bytes
    topics: list[bytes]
    data: bytes


@dataclass
class ExecutionResult:
    """What a call or a mined transaction did."""

    success: bool
    output: bytes
    gas_used: int
    logs: list[Log] = field(default_factory=list)
    error: str = ""
    tx_hash: Optional[bytes] = None
    block_number: Optional[int] = None
    contract_address: Optional[bytes] = None
    receipt: Optional[dict] = None
    computation: Any = field(default=None, repr=False)

    @property
    def revert_data(self) -> bytes:
        return b"" if self.success else self.output


@dataclass
class MinedBlock:
    number: int
    record: dict
    results: list[ExecutionResult]  # one per included transaction, in order
    rejected: list[tuple[Any, str]]  # (tx, reason) dropped at execution time
    deferred: list[Any]  # did not fit in the block gas limit


def derive_dev_accounts(mnemonic: str, count: int) -> list[DevAccount]:
    """HD derivation is ~30 ms an account (PBKDF2): done once per process, not per chain."""
    return list(_derive_dev_accounts(mnemonic, count))


@functools.lru_cache(maxsize=8)
def _derive_dev_accounts(mnemonic: str, count: int) -> tuple[DevAccount, ...]:
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    out = []
    for i in range(count):
        acct = Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{i}")
        key = keys.PrivateKey(bytes(acct.key))
        out.append(DevAccount(key.public_key.to_canonical_address(), key))
    return tuple(out)


class Chain:
    """An AIVM chain over a KV store (LevelDB on disk or memory)."""

    def __init__(self, kv: KV, config: Optional[ChainConfig] = None, services: Any = None) -> None:
        self.config = config or ChainConfig()
        self.store = AtomicStore(kv)
        self.index = ChainIndex(self.store)
        self._committed = CommittedView(kv)
        from vm import forking  # (imports this module)

        self._remote = forking.prepare(self.config, self.index) if self.config.fork else None
        self.vm_class = vm_with_services(services)
        if self._remote is not None:  # state reads fall back to the forked chain
            self.vm_class = forking.forked_vm(self.vm_class, forking.Fetcher(self._remote, kv))
        self.services = services
        self._chain_class = PyEvmChain.configure(
            __name__="AIVMChain",
            vm_configuration=((0, self.vm_class),),
            chain_id=self.config.chain_id,
        )
        self.accounts = derive_dev_accounts(self.config.mnemonic, self.config.accounts)
        self._keys = {a.address: a.key for a in self.accounts}
        self._impersonated: set[bytes] = set()
        try:
            head = self._chain_class(self.store).get_canonical_head()
        except CanonicalHeadNotFound:
            head = forking.create_genesis(self, self._remote) if self._remote else self._create_genesis()
        self._chain = self._chain_class(self.store)
        self._check_index(head)
        self._head = head
        self._pending_root = bytes.fromhex(self.index.meta("pending_root", head.state_root.hex()))
        self.reader = HeadReader(self._chain_class, self._committed)
        self._read_chaindb = self._chain_class(self._committed).chaindb
        self._publish_view()
        self._snapshots: dict[int, dict] = {}
        self._snapshot_ids = itertools.count(1)

    # -- construction --
    @classmethod
    def ephemeral(cls, config: Optional[ChainConfig] = None, services: Any = None) -> "Chain":
        return cls(MemoryKV(), config, services)

    @classmethod
    def open(cls, path: str, config: Optional[ChainConfig] = None, services: Any = None) -> "Chain":
        return cls(LevelKV(path), config, services)

    def close(self) -> None:
        self.store.close()

    def _create_genesis(self):
        cfg = self.config
        state = {
            a.address: {"balance": cfg.balance_eth * ETHER, "nonce": 0, "code": b"", "storage": {}}
            for a in self.accounts
        }
        state.update(precompiles.genesis_accounts())
        state.update(cfg.extra_genesis)
        params = {
            "difficulty": 0,
            "gas_limit": cfg.gas_limit,
            "timestamp": cfg.genesis_timestamp or int(time.time()),
            "base_fee_per_gas": cfg.initial_base_fee,
            "coinbase": cfg.coinbase,
            "nonce": b"\x00" * 8,
            "mix_hash": b"\x00" * 32,
            "extra_data": b"AIVM",
        }
        with self.store.transaction():
            chain = self._chain_class.from_genesis(self.store, params, state)
            genesis = chain.get_canonical_block_by_number(0)
            self.index.add_block(genesis, [], [])
            self.index.set_meta("chain_id", cfg.chain_id)
        return genesis.header

    def _check_index(self, head) -> None:
        stored_id = self.index.meta("chain_id")
        if stored_id is not None and stored_id != self.config.chain_id:
            raise RuntimeError(
                f"the data dir holds chain id {stored_id}, but chain id {self.config.chain_id} "
                "was asked for: use another data dir or the same chain id"
            )
        indexed = self.index.latest_number()
        if indexed != head.block_number:
            raise RuntimeError(
                f"data dir is inconsistent: chain head #{head.block_number}, "
                f"index head #{indexed}"
            )

    # -- heads and headers --
    @property
    def head(self):
        return self._head

    @property
    def head_number(self) -> int:
        return self._head.block_number

    def header_at(self, block: BlockId = "latest"):
        """The header whose post-state a read at `block` sees."""
        if block in ("latest", "pending", "safe", "finalized"):
            return self._latest_view()
        if block == "earliest":
            block = 0
        if isinstance(block, bytes):
            n = self.index.block_number(block)
            if n is None:
                raise UnknownBlock(f"unknown block hash 0x{block.hex()}")
            block = n
        if not isinstance(block, int):
            raise UnknownBlock(f"invalid block id {block!r}")
        if block > self.head_number:
            raise UnknownBlock(f"block #{block} is not mined yet (head is #{self.head_number})")
        if block == self.head_number:
            return self._latest_view()
        try:
            return self._read_chaindb.get_canonical_block_header_by_number(block)
        except HeaderNotFound:
            raise UnknownBlock(f"unknown block #{block}") from None

    def _latest_view(self):
        """The head, with dev-mode state edits (set balance/code/storage) applied."""
        return self._view

    def _publish_view(self) -> None:
        """Chain thread, after a commit: the one header every reader of "latest" sees."""
        head, root = self._head, self._pending_root
        self._view = head if root == head.state_root else head.copy(state_root=root)

    def state_at(self, block: BlockId = "latest"):
        """A read-only state at `block`, this thread's own (warm across calls until the head moves)."""
        return self.reader.state_for(self.header_at(block)).state

    # -- reads (any thread: each has its own read-only account database per state root) --
    def _accounts_at(self, block: BlockId):
        return self.reader.accounts_for(self.header_at(block).state_root)

    def balance(self, address: bytes, block: BlockId = "latest") -> int:
        return self._accounts_at(block).get_balance(address)

    def nonce(self, address: bytes, block: BlockId = "latest") -> int:
        return self._accounts_at(block).get_nonce(address)

    def code(self, address: bytes, block: BlockId = "latest") -> bytes:
        return self._accounts_at(block).get_code(address)

    def storage(self, address: bytes, slot: int, block: BlockId = "latest") -> int:
        return self._accounts_at(block).get_storage(address, slot)

    def call(
        self,
        sender: Optional[bytes] = None,
        to: Optional[bytes] = None,
        data: bytes = b"",
        value: int = 0,
        gas: Optional[int] = None,
        gas_price: int = 0,
        block: BlockId = "latest",
    ) -> ExecutionResult:
        """Execute without a transaction: nothing is kept (eth_call)."""
        header = self.header_at(block)
        view = self.reader.state_for(header)
        sender = sender or b"\x00" * 20
        gas = min(gas or self.config.gas_limit, self.config.gas_limit)
        try:
            comp = view.execute(sender, to, data, value, gas, gas_price)
        except ValidationError as exc:
            raise TxRejected(_friendly_validation(str(exc))) from None
        result = _result_from_computation(comp, gas - comp.get_gas_remaining())
        if header is self._view:
            kept = dataclasses.replace(result, computation=None)
            self.reader.calls.put((header.hash, header.state_root), (sender, to, data, value, gas, gas_price),
                                  kept, comp)
        return result

    def cached_call(self, sender: Optional[bytes] = None, to: Optional[bytes] = None, data: bytes = b"",
                    value: int = 0, gas: Optional[int] = None, gas_price: int = 0,
                    block: BlockId = "latest") -> Optional[ExecutionResult]:
        """Any thread, no execution: the result of the same call on the latest view, if one was kept
        (`vm.reader.CallCache`); None otherwise. Its `computation` is None."""
        if block not in ("latest", "pending", "safe", "finalized"):
            return None
        header = self._view
        return self.reader.calls.get(
            (header.hash, header.state_root),
            (sender or b"\x00" * 20, to, data, value, min(gas or self.config.gas_limit, self.config.gas_limit),
             gas_price))

    def estimate_gas(
        self,
        sender: Optional[bytes] = None,
        to: Optional[bytes] = None,
        data: bytes = b"",
        value: int = 0,
        gas: Optional[int] = None,
        block: BlockId = "pending",
    ) -> int:
        """The least gas limit with which the call succeeds (binary search, geth-style)."""
        cap = min(gas or self.config.gas_limit, self.config.gas_limit)
        first = self.call(sender, to, data, value, cap, block=block)
        if not first.success:
            raise ExecutionFailed(first)
        intrinsic = self._intrinsic_gas(to, data)
        lo = max(first.gas_used, intrinsic) - 1
        hi = cap
        # most calls succeed with gas_used + refund headroom; try a tight guess first
        guess = min(hi, max(lo + 1, (first.gas_used * 64) // 63 + 2300))
        if self.call(sender, to, data, value, guess, block=block).success:
            hi = guess
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self.call(sender, to, data, value, mid, block=block).success:
                hi = mid
            else:
                lo = mid
        return hi

    def _intrinsic_gas(self, to: Optional[bytes], data: bytes) -> int:
        zeros = data.count(0)
        cost = 21000 + 4 * zeros + 16 * (len(data) - zeros)
        if not to:
            cost += 32000 + 2 * ((len(data) + 31) // 32)
        return cost

    # -- transactions --
    @property
    def transaction_builder(self):
        return self.vm_class.get_transaction_builder()

    def decode_raw(self, raw: bytes) -> SignedTransactionAPI:
        try:
            tx = self.transaction_builder.decode(raw)
        except Exception as exc:
            raise TxRejected(f"invalid raw transaction: {exc}", reason=Reason.INVALID_INPUT) from None
        return tx

    def sender_of(self, tx: SignedTransactionAPI) -> bytes:
        """The signer, from one public-key recovery (py-evm's check + `.sender` do three EC ops;
        a key recovered from the signature verifies it by construction)."""
        try:
            r, s, v = tx.r, tx.s, tx.y_parity
            if not (0 < r < _SECP256K1_N and 0 < s < _SECP256K1_N and v in (0, 1)):
                raise ValueError("signature values out of range")
            signature = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v])
            digest = keccak(tx.get_message_for_signing())
            public = PublicKey.from_signature_and_message(signature, digest, hasher=None)
            return keccak(public.format(compressed=False)[1:])[12:]
        except Exception:
            raise TxRejected("invalid transaction signature", reason=Reason.INVALID_INPUT) from None

    def check(self, tx: SignedTransactionAPI, sender: bytes, expected_nonce: Optional[int] = None) -> None:
        """Refuse what can never be mined; `expected_nonce` counts the sender's queued txs."""
        chain_id = getattr(tx, "chain_id", None)
        if chain_id is None and getattr(tx, "v", 27) >= 35:
            chain_id = (tx.v - 35) // 2
        if chain_id is not None and chain_id != self.config.chain_id:
            raise TxRejected(f"invalid chain id {chain_id}: this chain is {self.config.chain_id}")
        state = self._accounts_at("latest")
        nonce = state.get_nonce(sender) if expected_nonce is None else expected_nonce
        if tx.nonce < nonce:
            raise TxRejected(f"nonce too low: account has nonce {nonce}, transaction has {tx.nonce}")
        if tx.nonce > nonce:
            raise TxRejected(f"nonce too high: account has nonce {nonce}, transaction has {tx.nonce}")
        intrinsic = self._intrinsic_gas(tx.to, tx.data)
        if tx.gas < intrinsic:
            raise TxRejected(f"intrinsic gas too low: need {intrinsic}, transaction gives {tx.gas}")
        if tx.gas > self.config.gas_limit:
            raise TxRejected(f"exceeds block gas limit: {tx.gas} > {self.config.gas_limit}")
        base_fee = self.next_base_fee()
        max_fee = getattr(tx, "max_fee_per_gas", None)
        if max_fee is None:
            max_fee = tx.gas_price
        elif tx.max_priority_fee_per_gas > max_fee:
            raise TxRejected("max priority fee per gas higher than max fee per gas")
        if max_fee < base_fee:
            raise TxRejected(
                f"max fee per gas less than block base fee: {max_fee} < {base_fee}"
            )
        cost = tx.gas * max_fee + tx.value
        balance = state.get_balance(sender)
        if balance < cost:
            raise TxRejected(
                f"insufficient funds for gas * price + value: balance {balance}, cost {cost}"
            )

    def next_base_fee(self) -> int:
        """The next block's base fee (computed once per head: every check asks for it)."""
        key = (self._head.hash, self.config.gas_limit)
        cached = getattr(self, "_base_fee", None)
        if cached is None or cached[0] != key:
            cached = self._base_fee = (key, self._pending_header_template().base_fee_per_gas)
        return cached[1]

    def sign(
        self,
        sender: bytes,
        to: Optional[bytes] = None,
        data: bytes = b"",
        value: int = 0,
        gas: Optional[int] = None,
        nonce: Optional[int] = None,
        gas_price: Optional[int] = None,
        max_fee_per_gas: Optional[int] = None,
        max_priority_fee_per_gas: Optional[int] = None,
        access_list: Sequence = (),
    ) -> tuple[SignedTransactionAPI, bytes]:
        """Sign for an unlocked dev account (or fake-sign for an impersonated one)."""
        key = self._keys.get(sender)
        if key is None and sender not in self._impersonated:
            raise TxRejected(f"account 0x{sender.hex()} is not unlocked on this node", reason=Reason.REFUSED)
        if nonce is None:
            nonce = self.nonce(sender)
        if gas is None:
            gas = self.estimate_gas(sender, to, data, value)
        builder = self.transaction_builder
        legacy = gas_price is not None and not access_list
        if legacy:
            utx = builder.create_unsigned_transaction(
                nonce=nonce, gas_price=gas_price, gas=gas, to=to or b"", value=value, data=data)
        elif gas_price is not None:
            utx = builder.new_unsigned_access_list_transaction(
                chain_id=self.config.chain_id, nonce=nonce, gas_price=gas_price, gas=gas,
                to=to or b"", value=value, data=data, access_list=list(access_list))
        else:
            tip = 1_000_000_000 if max_priority_fee_per_gas is None else max_priority_fee_per_gas
            cap = max_fee_per_gas if max_fee_per_gas is not None else 2 * self.next_base_fee() + tip
            utx = builder.new_unsigned_dynamic_fee_transaction(
                chain_id=self.config.chain_id, nonce=nonce, max_priority_fee_per_gas=min(tip, cap),
                max_fee_per_gas=cap, gas=gas, to=to or b"", value=value, data=data,
                access_list=list(access_list))
        # an impersonated sender gets a throwaway signature; the sender is overridden when mined
        signer = key or _IMPERSONATION_KEY
        if legacy:  # EIP-155: the chain id goes into v
            return utx.as_signed_transaction(signer, chain_id=self.config.chain_id), sender
        return utx.as_signed_transaction(signer), sender

    def impersonate(self, address: bytes, on: bool = True) -> None:
        (self._impersonated.add if on else self._impersonated.discard)(address)

    def transact(
        self, sender: Optional[bytes] = None, to: Optional[bytes] = None, data: bytes = b"",
        value: int = 0, gas: Optional[int] = None, **fees: Any,
    ) -> ExecutionResult:
        """Sign, check and mine one transaction in its own block (tests, tools)."""
        sender = sender or self.accounts[0].address
        tx, sender = self.sign(sender, to, data, value, gas, **fees)
        self.check(tx, sender)
        return self.mine([(tx, sender)]).results[0]

    def send_raw(self, raw: bytes) -> ExecutionResult:
        tx = self.decode_raw(raw)
        sender = self.sender_of(tx)
        self.check(tx, sender)
        return self.mine([(tx, sender)]).results[0]

    # -- block production --
    def _next_timestamp(self) -> int:
        forced = self.index.meta("next_timestamp")
        if forced is not None:
            return max(forced, self._head.timestamp + 1)
        interval = self.index.meta("timestamp_interval")  # anvil_setBlockTimestampInterval
        if interval is not None:
            return self._head.timestamp + interval
        offset = self.index.meta("time_offset", 0)
        return max(int(time.time()) + offset, self._head.timestamp + 1)

    def _pending_header_template(self, timestamp: Optional[int] = None):
        return self.vm_class.create_header_from_parent(
            self._head,
            gas_limit=self.config.gas_limit,
            timestamp=timestamp or self._head.timestamp + 1,
            coinbase=self.config.coinbase,
        )

    def mine(self, txs: Iterable[tuple[SignedTransactionAPI, bytes]] = (), timestamp: Optional[int] = None) -> MinedBlock:
        """Apply (tx, sender) pairs in order into one new block and persist it atomically."""
        builder = self.open_block(timestamp)
        for tx, sender in txs:
            builder.add(tx, sender)
        return self.seal_block(builder)

    def open_block(self, timestamp: Optional[int] = None) -> "BlockBuilder":
        """Start the next block on the head (chain thread); `seal_block` finishes it."""
        ts = timestamp if timestamp is not None else self._next_timestamp()
        if ts <= self._head.timestamp:
            raise TxRejected(
                f"block timestamp {ts} must be after the previous block's {self._head.timestamp}"
            )
        header = self._pending_header_template(ts).copy(state_root=self._pending_root)
        edited = self._pending_root != self._head.state_root  # dev edits: replays (tracing) start there
        self.index.set_meta(f"block_pre_root/{header.block_number}", self._pending_root.hex() if edited else None)
        return BlockBuilder(self, header)

    @contextmanager
    def _producing(self, number: int):
        """Tell precompiles (through services) that this execution is a block, not a call."""
        if self.services is not None:
            self.services.producing_block = number
        try:
            yield
        finally:
            if self.services is not None:
                self.services.producing_block = None

    def seal_block(self, builder: "BlockBuilder") -> MinedBlock:
        """Finalise the block and write it, with its records, in one atomic batch."""
        if builder.sealed:
            raise RuntimeError("this block is already sealed")
        if builder.header.parent_hash != self._head.hash:
            raise RuntimeError("the head moved while this block was being built")
        builder.sealed = True
        vm, header, included, receipts = builder.vm, builder.header, builder.included, builder.receipts
        tx_records: dict = {}
        with self.store.transaction():
            header = header.copy(
                transaction_root=ordered_trie_root([tx.encode() for tx in included]),
                receipt_root=ordered_trie_root([r.encode() for r in receipts]),
            )
            block = vm.get_block().copy(header=header, transactions=included)
            block = vm.finalize_block(block).block
            self._chain.chaindb.persist_block(block)
            record = self.index.add_block(block, receipts, builder.senders, tx_records)
            self.index.set_meta("pending_root", None)
            self.index.set_meta("next_timestamp", None)
        self._head = block.header
        self._pending_root = block.header.state_root
        self._publish_view()
        for tx, r in zip(included, builder.results):
            rec = tx_records[tx.hash]
            r.block_number = block.number
            r.receipt = rec["receipt"]
        return MinedBlock(block.number, record, builder.results, builder.rejected, builder.deferred)

    # -- dev controls --
    def _edit_state(self, edit) -> None:
        vm = self._chain.get_vm(self._latest_view())
        state = vm.state
        edit(state)
        state.persist()
        with self.store.transaction():
            self.index.set_meta("pending_root", state.state_root.hex())
        self._pending_root = state.state_root
        self._publish_view()

    def set_balance(self, address: bytes, wei: int) -> None:
        self._edit_state(lambda s: s.set_balance(address, wei))

    def set_code(self, address: bytes, code: bytes) -> None:
        self._edit_state(lambda s: s.set_code(address, code))

    def set_nonce(self, address: bytes, nonce: int) -> None:
        self._edit_state(lambda s: s.set_nonce(address, nonce))

    def set_storage(self, address: bytes, slot: int, value: int) -> None:
        self._edit_state(lambda s: s.set_storage(address, slot, value))

    def increase_time(self, seconds: int) -> int:
        offset = self.index.meta("time_offset", 0) + seconds
        with self.store.transaction():
            self.index.set_meta("time_offset", offset)
        return offset

    def set_next_timestamp(self, timestamp: int) -> None:
        if timestamp <= self._head.timestamp:
            raise TxRejected(
                f"timestamp {timestamp} is not after the latest block's {self._head.timestamp}"
            )
        with self.store.transaction():
            self.index.set_meta("next_timestamp", timestamp)
            # later blocks continue from the new time, as Hardhat and Anvil do
            self.index.set_meta("time_offset", timestamp - int(time.time()))

    def snapshot(self) -> int:
        sid = next(self._snapshot_ids)
        self._snapshots[sid] = {
            "number": self.head_number,
            "pending_root": self._pending_root,
            "time_offset": self.index.meta("time_offset", 0),
            "next_timestamp": self.index.meta("next_timestamp"),
        }
        return sid

    def revert(self, snapshot_id: int) -> bool:
        """Back to a snapshot; it and every later snapshot are used up."""
        snap = self._snapshots.get(snapshot_id)
        if snap is None:
            return False
        for sid in [s for s in self._snapshots if s >= snapshot_id]:
            del self._snapshots[sid]
        target = self._chain.get_canonical_block_header_by_number(snap["number"])
        with self.store.transaction():
            self.index.truncate_after(snap["number"])
            self._chain.chaindb._set_as_canonical_chain_head(self.store, target, GENESIS_PARENT_HASH)
            self.index.set_meta("time_offset", snap["time_offset"])
            self.index.set_meta("next_timestamp", snap["next_timestamp"])
            pending = snap["pending_root"]
            self.index.set_meta("pending_root", None if pending == target.state_root else pending.hex())
        self._chain = self._chain_class(self.store)
        self._head = target
        self._pending_root = snap["pending_root"]
        self._publish_view()
        return True


class BlockBuilder:
    """One block being built on the head: transactions applied one at a time, each in its
    own transaction context (warm/cold slots and refunds per transaction, as py-evm's
    `VM.apply_transaction` does), then sealed once by `Chain.seal_block`.

    Chain thread only. `Chain.mine` is open + add + seal; the pytest plugin keeps a
    builder open across its transactions and seals when something needs a block.
    """

    def __init__(self, chain: "Chain", header: Any) -> None:
        self.chain = chain
        self.vm = chain._chain.get_vm(header)
        self.header = header
        self.included: list = []
        self.senders: list[bytes] = []
        self.receipts: list = []
        self.results: list[ExecutionResult] = []
        self.rejected: list[tuple[Any, str]] = []
        self.deferred: list[Any] = []
        self.sealed = False

    @property
    def number(self) -> int:
        return self.header.block_number

    @property
    def gas_left(self) -> int:
        return self.header.gas_limit - self.header.gas_used

    def add(self, tx: SignedTransactionAPI, sender: bytes) -> Optional[ExecutionResult]:
        """Apply one transaction; None if it was deferred (no room) or rejected (see the lists)."""
        if tx.gas > self.gas_left:
            self.deferred.append((tx, sender))
            return None
        return self.apply(tx, sender)

    def apply(self, tx: SignedTransactionAPI, sender: bytes,
              keep: Optional[Callable[[Any], bool]] = None) -> Optional[ExecutionResult]:
        """py-evm's `VM.apply_transaction`, step by step so that `keep(computation)` may
        refuse the outcome: then the transaction is undone and None returned."""
        vm, header = self.vm, self.header
        spoof = SpoofTransaction(tx, sender=sender, get_sender=lambda s=sender: s)
        try:  # validate first, so a refused transaction leaves no trace
            vm.validate_transaction_against_header(header, spoof)
            vm.state.validate_transaction(spoof)
        except ValidationError as exc:
            self.rejected.append((tx, _friendly_validation(str(exc))))
            return None
        state = vm.state
        state.lock_changes()  # the previous transaction's changes are final from here on
        snapshot = state.snapshot() if keep is not None else None
        with self.chain._producing(header.block_number):
            comp = state.apply_transaction(spoof)
        if keep is not None and not keep(comp):
            state.revert(snapshot)
            return None
        receipt = vm.make_receipt(header, spoof, comp, state)
        vm.validate_receipt(receipt)
        before = header.gas_used
        self.header = vm.add_receipt_to_header(header, receipt)
        result = _result_from_computation(comp, self.header.gas_used - before)
        result.tx_hash = tx.hash
        result.block_number = header.block_number
        if not tx.to:
            result.contract_address = generate_contract_address(sender, tx.nonce)
        self.included.append(tx)
        self.senders.append(sender)
        self.receipts.append(receipt)
        self.results.append(result)
        return result


class ExecutionFailed(Exception):
    """A call that reverted or failed; carries the result for the revert data."""

    def __init__(self, result: ExecutionResult) -> None:
        super().__init__(result.error)
        self.result = result


_IMPERSONATION_KEY = keys.PrivateKey(b"\x11" * 32)
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def _friendly_validation(msg: str) -> str:
    low = msg.lower()
    if "balance" in low:
        return "insufficient funds for gas * price + value"
    if "nonce" in low:
        return f"invalid nonce: {msg}"
    return msg


def _result_from_computation(comp: Any, gas_used: int) -> ExecutionResult:
    logs = [
        Log(address, [t.to_bytes(32, "big") for t in topics], data)
        for address, topics, data in comp.get_log_entries()
    ] if comp.is_success else []
    if comp.is_success:
        return ExecutionResult(True, comp.output, gas_used, logs, computation=comp)
    err = comp.error
    output = comp.output if not err.erases_return_data else b""
    return ExecutionResult(False, output, gas_used, [], error=_error_text(err, output), computation=comp)


def _error_text(err: Exception, output: bytes) -> str:
    from eth.exceptions import Revert

    if isinstance(err, Revert):
        reason = decode_revert_reason(output)
        return "execution reverted" + (f": {reason}" if reason else "")
    name = type(err).__name__
    words = {"OutOfGas": "out of gas", "InvalidInstruction": "invalid opcode",
             "InvalidJumpDestination": "invalid jump destination",
             "StackUnderflow": "stack underflow", "StackDepthLimit": "max call depth exceeded",
             "WriteProtection": "write protection", "InsufficientFunds": "insufficient funds for transfer"}
    return words.get(name, f"{name}: {err}" if str(err) else name)


def decode_revert_reason(output: bytes) -> str:
    """Error(string) and Panic(uint256) as text; '' for custom errors or none."""
    from eth_abi import decode

    try:
        if output[:4] == bytes.fromhex("08c379a0"):
            return decode(["string"], output[4:])[0]
        if output[:4] == bytes.fromhex("4e487b71"):
            return f"panic code 0x{decode(['uint256'], output[4:])[0]:02x}"
    except Exception:
        return ""
    return ""
