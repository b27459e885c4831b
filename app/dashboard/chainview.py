"""What the Chain view shows, read from the node's index and state.

Each function takes the `Chain`, only reads (index, state, calls), and returns
JSON-ready dicts; the RPC layer runs them on a reader thread (`node.read`)
and shapes nothing itself. Transactions
to contracts deployed through synergy_deployAIVMContract are decoded with
the ABI recorded then; a failed transaction's revert reason is recovered by
re-running it as a call on its parent block's state.
"""
from __future__ import annotations

import re
from typing import Any, Optional

from app.dashboard import decode
from vm.addresses import parse_any_address, to_syn
from vm.codec import checksum

MAX_LIST = 200  # rows one request may ask for
TX_SCAN_BLOCKS = 500  # blocks looked at, at most, to fill the latest-transactions list (a sparse chain shows fewer)

_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


def _int(v: Any) -> int:
    return int(v, 16) if isinstance(v, str) else int(v or 0)


def contract_record(chain: Any, address: Optional[str]) -> Optional[dict]:
    if not address:
        return None
    return chain.index.meta(f"contracts/{address.lower()}")


def block_summary(rec: dict) -> dict:
    return {"number": _int(rec["number"]), "hash": rec["hash"], "timestamp": _int(rec["timestamp"]),
            "transactions": len(rec["transactions"]), "gas_used": _int(rec["gasUsed"]),
            "gas_limit": _int(rec["gasLimit"]), "base_fee": str(_int(rec.get("baseFeePerGas"))),
            "miner": rec.get("miner")}


def tx_summary(chain: Any, rec: dict) -> dict:
    tx, receipt = rec["tx"], rec["receipt"]
    to = tx.get("to")
    method = None
    data = bytes.fromhex((tx.get("input") or "0x")[2:])
    contract = contract_record(chain, to)
    if contract is not None:
        call = decode.decode_call(contract["abi"], data)
        method = call.get("name") or call.get("function") if call else None
    if method is None and to and len(data) >= 4:
        method = "0x" + data[:4].hex()
    if not to:
        method = "create"
    return {"hash": tx["hash"], "block": _int(tx["blockNumber"]), "from": tx["from"], "to": to,
            "value": str(_int(tx["value"])), "status": _int(receipt["status"]), "method": method,
            "contract_created": receipt.get("contractAddress"), "gas_used": _int(receipt["gasUsed"])}


def latest(chain: Any, blocks: int = 20, transactions: int = 20) -> dict:
    blocks, transactions = max(1, min(blocks, MAX_LIST)), max(0, min(transactions, MAX_LIST))
    head = chain.head_number
    out_blocks, out_txs = [], []
    n = head
    while n >= 0 and (len(out_blocks) < blocks or len(out_txs) < transactions) and head - n < TX_SCAN_BLOCKS:
        rec = chain.index.block(n)
        if rec is None:
            break
        if len(out_blocks) < blocks:
            out_blocks.append(block_summary(rec))
        for h in reversed(rec["transactions"]):
            if len(out_txs) >= transactions:
                break
            tx = chain.index.transaction(bytes.fromhex(h[2:]))
            if tx is not None:
                out_txs.append(tx_summary(chain, tx))
        n -= 1
    return {"head": head, "chain_id": chain.config.chain_id, "blocks": out_blocks, "transactions": out_txs}


def block(chain: Any, number: int) -> Optional[dict]:
    rec = chain.index.block(number) if 0 <= number <= chain.head_number else None
    if rec is None:
        return None
    txs = [chain.index.transaction(bytes.fromhex(h[2:])) for h in rec["transactions"]]
    return {**block_summary(rec), "parent_hash": rec["parentHash"], "state_root": rec["stateRoot"],
            "transactions_list": [tx_summary(chain, t) for t in txs if t is not None]}


def _revert(chain: Any, tx: dict) -> dict:
    """Re-run a failed transaction as a call on its parent's state: the revert data it produced."""
    number = _int(tx["blockNumber"])
    try:
        result = chain.call(
            sender=bytes.fromhex(tx["from"][2:]), to=bytes.fromhex(tx["to"][2:]) if tx.get("to") else None,
            data=bytes.fromhex((tx.get("input") or "0x")[2:]), value=_int(tx["value"]), gas=_int(tx["gas"]),
            block=max(0, number - 1))
    except Exception as exc:  # state pruned, or the call itself is refused
        return {"reason": f"could not replay the transaction: {exc}", "replayed": False}
    if result.success:
        return {"reason": "reverted in its block, but succeeds on its parent's state "
                          "(it depended on an earlier transaction of the same block)", "replayed": True}
    contract = contract_record(chain, tx.get("to"))
    out = decode.decode_error(contract["abi"] if contract else [], result.output)
    out["error_text"] = result.error
    if not out.get("reason"):
        out["reason"] = result.error or "reverted without a reason"
    out["replayed"] = True
    return out


def transaction(chain: Any, tx_hash: bytes) -> Optional[dict]:
    rec = chain.index.transaction(tx_hash)
    if rec is None:
        return None
    tx, receipt = rec["tx"], rec["receipt"]
    to = tx.get("to")
    data = bytes.fromhex((tx.get("input") or "0x")[2:])
    contract = contract_record(chain, to or receipt.get("contractAddress"))
    call = None
    if to and contract is not None:
        call = decode.decode_call(contract["abi"], data)
    elif not to and contract is not None:
        call = decode.decode_constructor(contract["abi"])
    events = []
    for log in receipt["logs"]:
        source = contract_record(chain, log["address"])
        decoded = decode.decode_log(source["abi"], log) if source else None
        events.append({"address": log["address"], "log_index": _int(log["logIndex"]), "decoded": decoded,
                       "topics": log["topics"], "data": log["data"]})
    out = {
        **tx_summary(chain, rec),
        "nonce": _int(tx["nonce"]), "gas": _int(tx["gas"]), "input": tx.get("input") or "0x",
        "input_size": len(data), "effective_gas_price": str(_int(receipt["effectiveGasPrice"])),
        "contract_kind": contract["kind"] if contract else None,
        "decoded_call": call, "events": events, "revert": None,
    }
    if out["status"] == 0:
        out["revert"] = _revert(chain, tx)
    return out


def address(chain: Any, addr: bytes) -> dict:
    hex_addr = checksum(addr)
    code = chain.code(addr)
    rec = contract_record(chain, hex_addr)
    out = {"address": hex_addr, "syn": to_syn(addr), "balance": str(chain.balance(addr)),
           "nonce": chain.nonce(addr), "code_size": len(code), "contract": None}
    if rec is not None:
        out["contract"] = {"kind": rec["kind"], "block": rec.get("block"),
                           "transaction_hash": rec.get("transaction_hash"),
                           "functions": [decode._signature(e) for e in rec["abi"] if e.get("type") == "function"],
                           "events": [decode._signature(e) for e in rec["abi"] if e.get("type") == "event"]}
    return out


def contracts(chain: Any) -> dict:
    by_kind: dict[str, list] = {}
    for key, rec in chain.index.meta_items("contracts/"):
        addr = key.split("/", 1)[1]
        by_kind.setdefault(rec["kind"], []).append({
            "address": checksum(bytes.fromhex(addr[2:])), "block": rec.get("block"),
            "transaction_hash": rec.get("transaction_hash"),
            "functions": sum(1 for e in rec["abi"] if e.get("type") == "function")})
    for rows in by_kind.values():
        rows.sort(key=lambda r: -(r["block"] or 0))
    return {"by_kind": by_kind, "counts": {k: len(v) for k, v in by_kind.items()}}


def search(chain: Any, query: str) -> dict:
    """What a search box string names: a block, a transaction, an address or a computation."""
    q = query.strip()
    number = q[1:] if q.startswith("#") else q
    if number.isdigit():
        n = int(number)
        if n <= chain.head_number:
            return {"kind": "block", "number": n}
        return {"kind": "none", "message": f"block #{n} is not mined yet (head is #{chain.head_number})"}
    if _HASH.match(q):
        h = bytes.fromhex(q[2:])
        if chain.index.transaction(h) is not None:
            return {"kind": "transaction", "hash": q.lower()}
        n = chain.index.block_number(h)
        if n is not None:
            return {"kind": "block", "number": n}
        return {"kind": "none", "message": "no transaction or block has this hash"}
    if _ADDRESS.match(q) or q.startswith("sYn"):
        try:
            addr = parse_any_address(q)
        except ValueError as exc:
            return {"kind": "none", "message": f"not an address: {exc}"}
        return {"kind": "address", "address": checksum(addr)}
    if q.startswith("ai_comp_"):
        return {"kind": "computation", "id": q}
    return {"kind": "none", "message": "search by block number, transaction or block hash, address (0x… or sYn…) "
                                       "or computation id"}
