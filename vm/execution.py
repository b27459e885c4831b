"""Scratch execution: calls, estimates, access lists, simulations and block previews
on a throw-away copy of a block's state, optionally with state overrides and a tracer.

Nothing here is kept: the states built here are never persisted as a head,
so the chain's own writes (vm/chain.py) stay the only path to a block.
This module reaches py-evm through the same chain adapter objects
(`chain._chain`, `chain.vm_class`) as vm/chain.py does.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

import rlp
from eth.vm.spoof import SpoofTransaction
from eth_hash.auto import keccak
from eth_utils import ValidationError

from vm import codec
from vm.chain import ExecutionFailed, ExecutionResult, TxRejected, _friendly_validation, _result_from_computation
from vm.chain_calls import least_gas
from vm.errors import Reason
from vm.codec import InvalidValue

ZERO = b"\x00" * 20


# -- state overrides (eth_call / eth_estimateGas 3rd parameter, geth's shape) --
@dataclass
class AccountOverride:
    balance: Optional[int] = None
    nonce: Optional[int] = None
    code: Optional[bytes] = None
    state: Optional[dict[int, int]] = None  # replaces all storage
    state_diff: Optional[dict[int, int]] = None  # changes these slots only


def parse_state_overrides(obj: Any) -> dict[bytes, AccountOverride]:
    if obj is None:
        return {}
    if not isinstance(obj, dict):
        raise InvalidValue("state overrides must be an object keyed by address")
    out = {}
    for addr, fields in obj.items():
        address = codec.parse_address(addr, "state override address")
        if not isinstance(fields, dict):
            raise InvalidValue(f"state override for {addr}: expected an object")
        unknown = set(fields) - {"balance", "nonce", "code", "state", "stateDiff", "movePrecompileToAddress"}
        if unknown:
            raise InvalidValue(f"state override for {addr}: unknown field(s) {', '.join(sorted(unknown))}")
        if fields.get("movePrecompileToAddress") is not None:
            raise InvalidValue("movePrecompileToAddress is not supported by this node")
        if fields.get("state") is not None and fields.get("stateDiff") is not None:
            raise InvalidValue(f"state override for {addr}: both state and stateDiff given")
        o = AccountOverride()
        if fields.get("balance") is not None:
            o.balance = codec.parse_quantity(fields["balance"], "balance")
        if fields.get("nonce") is not None:
            o.nonce = codec.parse_quantity(fields["nonce"], "nonce")
            if o.nonce >= 2**64:
                raise InvalidValue("nonce: must fit in 64 bits")
        if fields.get("code") is not None:
            o.code = codec.parse_data(fields["code"], "code")
        for key, attr in (("state", "state"), ("stateDiff", "state_diff")):
            slots = fields.get(key)
            if slots is None:
                continue
            if not isinstance(slots, dict):
                raise InvalidValue(f"{key}: expected an object of slot -> value")
            setattr(o, attr, {int.from_bytes(codec.parse_hash(k, f"{key} slot"), "big"):
                              int.from_bytes(codec.parse_hash(v, f"{key} value"), "big") for k, v in slots.items()})
        out[address] = o
    return out


def apply_overrides(state: Any, overrides: dict[bytes, AccountOverride]) -> None:
    for address, o in overrides.items():
        if o.balance is not None:
            state.set_balance(address, o.balance)
        if o.nonce is not None:
            state.set_nonce(address, o.nonce)
        if o.code is not None:
            state.set_code(address, o.code)
        if o.state is not None:
            state.delete_storage(address)
            for slot, value in o.state.items():
                state.set_storage(address, slot, value)
        if o.state_diff is not None:
            for slot, value in o.state_diff.items():
                state.set_storage(address, slot, value)


# -- calls --
@dataclass
class CallRequest:
    sender: Optional[bytes] = None
    to: Optional[bytes] = None
    data: bytes = b""
    value: int = 0
    gas: Optional[int] = None
    gas_price: int = 0
    access_list: list = field(default_factory=list)
    nonce: Optional[int] = None

    @classmethod
    def from_fields(cls, f: dict) -> "CallRequest":
        price = f.get("gas_price") or f.get("max_fee_per_gas") or 0
        return cls(f.get("sender"), f.get("to"), f.get("data", b""), f.get("value", 0), f.get("gas"),
                   price, list(f.get("access_list", [])), f.get("nonce"))


@contextmanager
def scratch_state(chain: Any, block: Any = "latest", overrides: Optional[dict] = None) -> Iterator[tuple[Any, Any]]:
    """(vm, state) on top of `block` (a block id or a header) with base fee 0 (as eth_call runs), overrides applied."""
    header = block if hasattr(block, "state_root") else chain.header_at(block)
    vm = chain._chain.get_vm(header)
    with vm.in_costless_state() as state:
        if overrides:
            apply_overrides(state, overrides)
        yield vm, state


def execute(vm: Any, state: Any, req: CallRequest, gas_cap: int, tracer: Any = None) -> Any:
    """Run one call on `state` (nonce and state changes stay in it); returns the computation."""
    sender = req.sender or ZERO
    gas = min(req.gas or gas_cap, gas_cap)
    nonce = state.get_nonce(sender)
    if req.access_list:
        utx = chain_builder(vm).new_unsigned_access_list_transaction(
            chain_id=vm.chain_context.chain_id, nonce=nonce, gas_price=req.gas_price, gas=gas,
            to=req.to or b"", value=req.value, data=req.data, access_list=req.access_list)
    else:
        utx = vm.create_unsigned_transaction(nonce=nonce, gas_price=req.gas_price, gas=gas,
                                             to=req.to or b"", value=req.value, data=req.data)
    previous = state.computation_class
    if tracer is not None:
        state.computation_class = tracer.computation_class(previous)
        tracer.begin(state, sender, req.to, gas)
    try:
        comp = state.costless_execute_transaction(SpoofTransaction(utx, from_=sender))
    except ValidationError as exc:
        raise TxRejected(_friendly_validation(str(exc))) from None
    finally:
        state.computation_class = previous
    if tracer is not None:
        tracer.end(comp, gas - comp.get_gas_remaining())
    return comp


def chain_builder(vm: Any) -> Any:
    return vm.get_transaction_builder()


def call(chain: Any, req: CallRequest, block: Any = "latest", overrides: Optional[dict] = None,
         tracer: Any = None) -> ExecutionResult:
    gas_cap = chain.config.gas_limit
    with scratch_state(chain, block, overrides) as (vm, state):
        comp = execute(vm, state, req, gas_cap, tracer)
    gas = min(req.gas or gas_cap, gas_cap)
    return _result_from_computation(comp, gas - comp.get_gas_remaining())


def estimate_gas(chain: Any, req: CallRequest, block: Any = "pending", overrides: Optional[dict] = None) -> int:
    """Least gas limit with which the call succeeds, with state overrides (`vm.chain_calls.least_gas`)."""
    cap = min(req.gas or chain.config.gas_limit, chain.config.gas_limit)

    def run(gas: int) -> ExecutionResult:
        return call(chain, CallRequest(req.sender, req.to, req.data, req.value, gas, req.gas_price,
                                       req.access_list), block, overrides)

    first = run(cap)
    if not first.success:
        raise ExecutionFailed(first)
    return least_gas(lambda limit: run(limit).success, first.gas_used, chain._intrinsic_gas(req.to, req.data), cap)


def create_access_list(chain: Any, req: CallRequest, block: Any = "pending",
                       overrides: Optional[dict] = None) -> dict:
    """geth's eth_createAccessList: trace the touched addresses and slots until the list is stable."""
    from vm.tracing import AccessListTracer

    precompiles = set(chain.vm_class.get_state_class().computation_class.get_precompiles())
    access_list: list = list(req.access_list)
    for _ in range(4):
        tracer = AccessListTracer()
        trial = CallRequest(req.sender, req.to, req.data, req.value, req.gas, req.gas_price, access_list)
        result = call(chain, trial, block, overrides, tracer)
        created = {c.msg.storage_address for c in tracer.creates}
        exclude = {req.sender or ZERO, req.to} | precompiles | created
        new_list = tracer.access_list(exclude)
        if _same_list(new_list, access_list):
            break
        access_list = new_list
    out = {
        "accessList": [{"address": codec.checksum(a), "storageKeys": [codec.data(s.to_bytes(32, "big")) for s in slots]}
                       for a, slots in access_list],
        "gasUsed": codec.quantity(result.gas_used),
    }
    if not result.success:
        out["error"] = result.error
    return out


def _same_list(a: list, b: list) -> bool:
    return [(x, list(y)) for x, y in a] == [(x, list(y)) for x, y in b]


# -- eth_simulateV1 --
def _validate_sim_call(chain: Any, state: Any, header: Any, req: CallRequest, sender: bytes, gas: int) -> int:
    """geth's checks in eth_simulateV1's validation mode; returns the gas price to charge."""
    nonce = state.get_nonce(sender)
    if req.nonce is not None and req.nonce < nonce:
        raise TxRejected(f"nonce too low: address {sender.hex()}, tx: {req.nonce} state: {nonce}", reason=Reason.NONCE_TOO_LOW)
    if req.nonce is not None and req.nonce > nonce:
        raise TxRejected(f"nonce too high: address {sender.hex()}, tx: {req.nonce} state: {nonce}", reason=Reason.NONCE_TOO_HIGH)
    if req.gas_price < header.base_fee_per_gas:
        raise TxRejected(f"max fee per gas less than block base fee: {req.gas_price} < {header.base_fee_per_gas}",
                         reason=Reason.FEE_BELOW_BASE_FEE)
    intrinsic = chain._intrinsic_gas(req.to, req.data)
    if gas < intrinsic:
        raise TxRejected(f"intrinsic gas too low: need {intrinsic}, transaction gives {gas}", reason=Reason.INTRINSIC_GAS_TOO_LOW)
    cost = gas * req.gas_price + req.value
    if state.get_balance(sender) < cost:
        raise TxRejected("insufficient funds for gas * price + value", reason=Reason.INSUFFICIENT_FUNDS)
    return req.gas_price


def simulate(chain: Any, blocks: list[dict], block: Any = "latest", return_full: bool = False,
             validation: bool = False) -> list[dict]:
    """geth's eth_simulateV1: blocks of calls on top of `block`.

    Without `validation` calls run for free (base fee 0, no balance or nonce checks), as geth does;
    with it, each call pays its gas at its gas price against the block's base fee, and nonces,
    balances and intrinsic gas are checked with geth's error codes (-38010 … -38014).

    Each entry of `blocks` is {"overrides": {addr: AccountOverride}, "block": {number?, time?,
    gasLimit?, feeRecipient?, baseFeePerGas?}, "calls": [CallRequest...]}. The state carries
    from call to call and block to block; every simulated block gets a real header (state,
    transaction and receipt roots of what ran) so its hash chains to the next.
    """
    from vm.trie_root import ordered_trie_root

    parent = chain.header_at(block)
    out = []
    state_root = parent.state_root
    for spec in blocks:
        bo = spec.get("block", {})
        number = bo.get("number", parent.block_number + 1)
        if number <= parent.block_number:
            raise TxRejected(f"block numbers must increase: {number} <= {parent.block_number}", reason=Reason.BLOCK_NUMBER_ORDER)
        timestamp = bo.get("time", parent.timestamp + 12 * (number - parent.block_number))
        if timestamp <= parent.timestamp:
            raise TxRejected(f"block timestamps must increase: {timestamp} <= {parent.timestamp}", reason=Reason.BLOCK_TIMESTAMP_ORDER)
        header = chain.vm_class.create_header_from_parent(
            parent, gas_limit=bo.get("gasLimit", chain.config.gas_limit), timestamp=timestamp,
            coinbase=bo.get("feeRecipient", chain.config.coinbase),
        ).copy(state_root=state_root, block_number=number)
        # without validation geth simulates at base fee 0 unless the block overrides it
        if "baseFeePerGas" in bo or not validation:
            header = header.copy(base_fee_per_gas=bo.get("baseFeePerGas", 0))
        vm = chain._chain.get_vm(header)
        state = vm.state
        apply_overrides(state, spec.get("overrides") or {})
        calls_out, txs, receipts_enc, gas_total = [], [], [], 0
        log_index = 0
        for i, req in enumerate(spec.get("calls", [])):
            sender = req.sender or ZERO
            gas = min(req.gas or header.gas_limit - gas_total, header.gas_limit - gas_total)
            price = _validate_sim_call(chain, state, header, req, sender, gas) if validation else 0
            utx = vm.create_unsigned_transaction(nonce=state.get_nonce(sender), gas_price=price, gas=gas,
                                                 to=req.to or b"", value=req.value, data=req.data)
            try:
                spoof = SpoofTransaction(utx, from_=sender)
                comp = state.apply_transaction(spoof) if validation else state.costless_execute_transaction(spoof)
            except ValidationError as exc:
                raise TxRejected(_friendly_validation(str(exc)), reason=Reason.INSUFFICIENT_FUNDS) from None
            used = gas - comp.get_gas_remaining()
            gas_total += used
            # simulated transactions are unsigned: name each by its block, position, sender and payload
            tx_hash = keccak(number.to_bytes(8, "big") + i.to_bytes(4, "big") + sender + rlp.encode(utx))
            txs.append(tx_hash)
            res = _result_from_computation(comp, used)
            entry: dict = {"returnData": codec.data(res.output), "gasUsed": codec.quantity(used),
                           "status": "0x1" if res.success else "0x0", "logs": []}
            for lg in res.logs:
                entry["logs"].append({"address": codec.checksum(lg.address),
                                      "topics": [codec.data(t) for t in lg.topics], "data": codec.data(lg.data),
                                      "blockNumber": codec.quantity(number), "transactionHash": codec.data(tx_hash),
                                      "transactionIndex": codec.quantity(i), "logIndex": codec.quantity(log_index),
                                      "removed": False})
                log_index += 1
            if not res.success:
                entry["error"] = {"code": 3 if res.output or "reverted" in res.error else -32015,
                                  "message": res.error, "data": codec.data(res.output)}
            calls_out.append(entry)
            receipts_enc.append(tx_hash + used.to_bytes(8, "big"))
        state.persist()
        header = header.copy(state_root=state.state_root, gas_used=gas_total,
                             transaction_root=ordered_trie_root(txs),
                             receipt_root=ordered_trie_root(receipts_enc))
        block_hash = header.hash
        for c in calls_out:
            for lg in c["logs"]:
                lg["blockHash"] = codec.data(block_hash)
        out.append({
            "number": codec.quantity(number), "hash": codec.data(block_hash),
            "parentHash": codec.data(parent.hash), "timestamp": codec.quantity(timestamp),
            "gasLimit": codec.quantity(header.gas_limit), "gasUsed": codec.quantity(gas_total),
            "baseFeePerGas": codec.quantity(header.base_fee_per_gas), "miner": codec.checksum(header.coinbase),
            "stateRoot": codec.data(header.state_root), "transactionsRoot": codec.data(header.transaction_root),
            "receiptsRoot": codec.data(header.receipt_root),
            "transactions": [codec.data(h) for h in txs], "calls": calls_out,
        })
        parent, state_root = header, header.state_root
    return out


# -- the pending block --
def preview_block(chain: Any, entries: list) -> tuple[Any, list, list]:
    """The block the queued (tx, sender) pairs would make now; nothing is written as a head.

    Chain thread. Returns (block, included txs, senders). Transactions run as calls would
    (precompiles are not told a block is being produced), one transaction context each, as
    `BlockBuilder` applies them; those that no longer fit or validate are left out. Trie
    nodes of the preview's state land in the store (content-addressed, harmless), never a
    head or an index record.
    """
    from vm.trie_root import ordered_trie_root

    header = chain._pending_header_template(chain._next_timestamp()).copy(state_root=chain._pending_root)
    vm = chain._chain.get_vm(header)
    included, senders, receipts = [], [], []
    for q in entries:
        if q.tx.gas > header.gas_limit - header.gas_used:
            continue
        spoof = SpoofTransaction(q.tx, sender=q.sender, get_sender=lambda s=q.sender: s)
        try:
            vm.validate_transaction_against_header(header, spoof)
            vm.state.validate_transaction(spoof)
        except ValidationError:
            continue
        vm.state.lock_changes()
        comp = vm.state.apply_transaction(spoof)
        receipt = vm.make_receipt(header, spoof, comp, vm.state)
        header = vm.add_receipt_to_header(header, receipt)
        included.append(q.tx)
        senders.append(q.sender)
        receipts.append(receipt)
    header = header.copy(
        transaction_root=ordered_trie_root([tx.encode() for tx in included]),
        receipt_root=ordered_trie_root([r.encode() for r in receipts]),
    )
    block = vm.get_block().copy(header=header, transactions=included)
    block = vm.finalize_block(block).block
    return block, included, senders
