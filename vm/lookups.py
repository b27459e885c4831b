"""Lookups that need more than the RPC index: raw transactions, the pending block, reads at `pending`."""
from __future__ import annotations

from typing import Any, Optional

from vm import txpool
from vm.chain import UnknownBlock
from vm.store.index import ChainIndex, effective_gas_price


def raw_by_position(chain: Any, number: int, index: int) -> Optional[bytes]:
    """The signed envelope of a mined transaction (typed ones as type byte + payload)."""
    rec = chain.index.block(number) if number <= chain.head_number else None
    if rec is None or index >= len(rec["transactions"]):
        return None
    tx = chain.index.transaction(bytes.fromhex(rec["transactions"][index][2:]))
    return mined_raw(tx)


def mined_raw(record: dict) -> bytes:
    raw = record.get("raw")
    if raw is None:
        raise UnknownBlock("this transaction was mined by an older node that did not keep raw transactions")
    return bytes.fromhex(raw[2:])


def raw_by_hash(node: Any, tx_hash: bytes) -> Optional[bytes]:
    rec = node.chain.index.transaction(tx_hash)
    if rec is None:
        q = txpool.find(node, tx_hash)
        return None if q is None else q.tx.encode()
    return mined_raw(rec)


def resolve_block(chain: Any, ref: Any) -> int:
    """A block tag, number or hash -> its number; UnknownBlock when none is mined (tags: `pending` reads as the head)."""
    if ref in ("latest", "pending", "safe", "finalized"):
        return chain.head_number
    if ref == "earliest":
        return 0
    if isinstance(ref, bytes):
        n = chain.index.block_number(ref)
        if n is None:
            raise UnknownBlock(f"unknown block hash 0x{ref.hex()}")
        return n
    if ref > chain.head_number:
        raise UnknownBlock(f"block #{ref} is not mined yet (head is #{chain.head_number})")
    return ref


def block_number_of(chain: Any, ref: Any) -> Optional[int]:
    """Like resolve_block, but None for a block that is not mined (`pending` included)."""
    if ref == "pending":
        return None
    try:
        return resolve_block(chain, ref)
    except UnknownBlock:
        return None


def pending_block(node: Any, full: bool) -> dict:
    """geth's `pending` block: the queued transactions applied on top of the head, not mined.

    As geth does, hash, nonce and miner are null; the number is head + 1.
    """
    from vm.execution import preview_block

    entries = txpool.queued(node)
    block, included, senders = preview_block(node.chain, entries)
    hashes = ["0x" + tx.hash.hex() for tx in included]
    rec = ChainIndex._block_fields(block, hashes)
    rec.update(hash=None, nonce=None, miner=None)
    if full:
        base_fee = block.header.base_fee_per_gas
        txs = []
        for i, (tx, sender) in enumerate(zip(included, senders)):
            t = ChainIndex._tx_fields(tx, sender, effective_gas_price(tx, base_fee))
            t.update(blockHash=None, blockNumber=rec["number"], transactionIndex=hex(i))
            txs.append(t)
        rec["transactions"] = txs
    return rec


def require_block(chain: Any, ref: Any) -> int:
    n = block_number_of(chain, ref)
    if n is None:
        raise UnknownBlock(f"unknown block {ref!r}")
    return n


def pending_header(node: Any) -> Optional[Any]:
    """Chain thread: the header of the pending block when transactions are queued, else None (= latest)."""
    from vm.execution import preview_block

    entries = txpool.queued(node)
    if not entries:
        return None
    block, _, _ = preview_block(node.chain, entries)
    return block.header


def at_block(node: Any, block: Any) -> Any:
    """Chain thread: `block`, with the `pending` tag turned into the pending block's header when the pool holds transactions."""
    if block == "pending":
        header = pending_header(node)
        if header is not None:
            return header
    return block


def read_state(node: Any, what: str, block: Any, *args: Any) -> Any:
    """Chain thread: balance / code / storage / nonce at `block`, `pending` included."""
    target = at_block(node, block)
    if not hasattr(target, "state_root"):
        return getattr(node.chain, what)(*args, target)
    state = node.chain._chain.get_vm(target).state
    return {"balance": state.get_balance, "code": state.get_code, "storage": state.get_storage,
            "nonce": state.get_nonce}[what](*args)
