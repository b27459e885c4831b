"""The pending pool's rules, over the node's queue of admitted transactions.

The node keeps admitted, not yet mined transactions in its queue (loop
thread; read as a copy through `Node.queued()`, changed through
`Node.unqueue()`) and their reservations on the chain thread. This module is
what clients see of that queue: lookup by hash, replacement of a pending
transaction by one with the same sender and nonce and a high enough fee
(geth's rule: both the fee cap and the tip must rise by at least
`PRICE_BUMP` percent, else "replacement transaction underpriced"), dropping,
and the txpool_content / txpool_status views.
"""
from __future__ import annotations

from typing import Any, Iterable, Optional

from vm.chain import TxRejected
from vm.codec import checksum
from vm.signing import transaction_json

PRICE_BUMP = 10  # percent, geth's --txpool.pricebump default


def fee_caps(tx: Any) -> tuple[int, int]:
    """(fee cap, tip) of any transaction type; a legacy gas price is both."""
    cap = getattr(tx, "max_fee_per_gas", None)
    if cap is None:
        return tx.gas_price, tx.gas_price
    return cap, tx.max_priority_fee_per_gas


def check_replacement(old: Any, new: Any) -> None:
    """Refuse a replacement whose fee cap or tip does not rise by PRICE_BUMP percent."""
    old_cap, old_tip = fee_caps(old)
    new_cap, new_tip = fee_caps(new)
    cap_needed = old_cap * (100 + PRICE_BUMP) // 100
    tip_needed = old_tip * (100 + PRICE_BUMP) // 100
    if new_cap <= old_cap or new_tip <= old_tip or new_cap < cap_needed or new_tip < tip_needed:
        raise TxRejected("replacement transaction underpriced")


def queued(node: Any) -> list:
    """A stable copy of the queue (the loop thread may swap the list while we read it)."""
    return node.queued()


def find(node: Any, tx_hash: bytes) -> Optional[Any]:
    for q in queued(node):
        if q.tx.hash == tx_hash:
            return q
    return None


def same_nonce(node: Any, sender: bytes, nonce: int) -> Optional[Any]:
    for q in queued(node):
        if q.sender == sender and q.tx.nonce == nonce:
            return q
    return None


def admit_replacement(node: Any, tx: Any, sender: bytes) -> Optional[Any]:
    """Chain thread: the queued entry `tx` replaces, after checking the bump and the state; else None."""
    old = same_nonce(node, sender, tx.nonce)
    if old is None:
        return None
    check_replacement(old.tx, tx)
    node.chain.check(tx, sender, expected_nonce=tx.nonce)
    return old


def swap_in(node: Any, old: Any) -> None:
    """Loop thread: take the replaced entry out of the queue; its waiter learns why."""
    if not node.unqueue(old):
        return  # already taken into a block being sealed: the replacement will fail on its nonce
    if old.future is not None and not old.future.done():
        old.future.set_exception(TxRejected("replaced by a transaction with a higher fee"))


def drop(node: Any, tx_hash: bytes) -> Optional[Any]:
    """Loop thread: remove a pending transaction; returns its entry (None if not pending)."""
    q = find(node, tx_hash)
    if q is None:
        return None
    if not node.unqueue(q):
        return None
    if q.future is not None and not q.future.done():
        q.future.set_exception(TxRejected("transaction dropped from the pool"))
    return q


def pending_json(q: Any) -> dict:
    """A pending transaction as eth_getTransactionByHash returns it: no block yet."""
    out = transaction_json(q.tx, q.sender)
    out.update(blockHash=None, blockNumber=None, transactionIndex=None)
    return out


def content(entries: Iterable[Any], pending_nonce) -> dict:
    """txpool_content: {pending|queued: {sender: {nonce: tx}}} (geth's shape).

    Everything admitted here has a contiguous nonce, so it is all `pending`;
    entries whose nonce is above the sender's executable nonce are `queued`.
    """
    out: dict = {"pending": {}, "queued": {}}
    for q in entries:
        bucket = "pending" if q.tx.nonce < pending_nonce(q.sender) else "queued"
        out[bucket].setdefault(checksum(q.sender), {})[str(q.tx.nonce)] = pending_json(q)
    return out


def content_from(view: dict, sender: bytes) -> dict:
    """txpool_contentFrom: one sender's part of a txpool_content view."""
    key = checksum(sender)
    return {part: view[part].get(key, {}) for part in ("pending", "queued")}


def status(view: dict) -> dict:
    count = lambda part: sum(len(v) for v in view[part].values())  # noqa: E731
    return {"pending": hex(count("pending")), "queued": hex(count("queued"))}


def inspect(view: dict) -> dict:
    """txpool_inspect: one summary line per transaction, as geth writes it."""
    out: dict = {"pending": {}, "queued": {}}
    for part in ("pending", "queued"):
        for sender, txs in view[part].items():
            for nonce, t in txs.items():
                to = t["to"] or "contract creation"
                line = f"{to}: {int(t['value'], 16)} wei + {int(t['gas'], 16)} gas × {int(t['gasPrice'], 16)} wei"
                out[part].setdefault(sender, {})[nonce] = line
    return out


BLOB_REFUSAL = ("transaction type not supported: blob transactions (type 3, EIP-4844) need a consensus "
                "layer that keeps blob sidecars, which this dev chain does not run; send type 0, 1, 2 or 4")


def refuse_unsupported_raw(raw: bytes) -> None:
    """Refuse a blob transaction before decoding (its network form carries the blobs)."""
    if raw[:1] == b"\x03":
        raise TxRejected(BLOB_REFUSAL)


def refuse_unsupported(tx: Any) -> None:
    if getattr(tx, "type_id", None) == 3:
        raise TxRejected(BLOB_REFUSAL)
