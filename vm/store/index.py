"""The node's read side: blocks, transactions, receipts and logs as RPC records.

Each mined block is written here once, in the same atomic batch as py-evm's
own writes, in the shape JSON-RPC returns; reads are one key lookup, and log
queries walk per-address / per-topic block indexes instead of re-reading
receipts (the eth-tester trap).
"""
from __future__ import annotations

from typing import Any, Generator, Iterable, Optional, Sequence

import orjson
import rlp
from eth._utils.address import generate_contract_address

from vm.codec import checksum, data, quantity
from vm.store.atomic import AtomicStore

P_BLOCK = b"aivm/blk/"  # number -> block record (tx hashes only)
P_BLOCK_HASH = b"aivm/bh/"  # hash -> number
P_TX = b"aivm/tx/"  # hash -> {"tx": ..., "receipt": ...}
P_LOGS = b"aivm/lg/"  # number -> [log, ...] (only blocks that have logs)
P_LOG_ADDR = b"aivm/la/"  # address + number -> b""
P_LOG_TOPIC = b"aivm/lt/"  # topic + number -> b""
P_LOG_SRC = b"aivm/ls/"  # number -> log count (4 bytes) + the distinct addresses that logged (20 bytes each)
P_LOG_KEYS = b"aivm/lk/"  # number -> [[address, [topic, ...], start, end], ...]: each log's match keys and its slice of P_LOGS
P_FEES = b"aivm/fee/"  # number -> [[priority fee, gas used], ...] sorted
P_META = b"aivm/meta/"

ZERO_ADDRESS = b"\x00" * 20
DENSE_SAMPLE = 8  # blocks a filter part is asked about before it is taken to name them all (`_candidate_blocks`)
LOG_STEP = 16  # blocks a log query reads between two points where it may be moved to another thread


def run_steps(steps: Generator[Any, None, Any]) -> Any:
    """Run a generator of steps (`ChainIndex.log_steps`, `vm.logs.log_query_steps`) to its end: its value."""
    try:
        while True:
            next(steps)
    except StopIteration as done:
        return done.value


def _num(n: int) -> bytes:
    return n.to_bytes(8, "big")


def _dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


def effective_gas_price(tx: Any, base_fee: int) -> int:
    if hasattr(tx, "max_fee_per_gas"):
        return min(tx.max_fee_per_gas, base_fee + tx.max_priority_fee_per_gas)
    return tx.gas_price


def tx_type(tx: Any) -> int:
    return getattr(tx, "type_id", None) or 0


class ChainIndex:
    def __init__(self, db: AtomicStore) -> None:
        self.db = db

    # -- meta (node records: head, contracts, counters) --
    def meta(self, name: str, default: Any = None) -> Any:
        raw = self.db.get(P_META + name.encode())
        return default if raw is None else orjson.loads(raw)

    def set_meta(self, name: str, value: Any) -> None:
        self.db.put(P_META + name.encode(), None if value is None else _dumps(value))

    def meta_items(self, prefix: str) -> Iterable[tuple[str, Any]]:
        p = P_META + prefix.encode()
        for k, v in self.db.items(p):
            yield k[len(P_META):].decode(), orjson.loads(v)

    # -- writes --
    def add_block(self, block: Any, receipts: Sequence[Any], senders: Sequence[bytes],
                  tx_records: Optional[dict] = None) -> dict:
        """Write a block's records; `tx_records` (if given) collects hash -> tx record."""
        header = block.header
        number = header.block_number
        block_hash = header.hash
        base_fee = header.base_fee_per_gas
        tx_hashes = []
        fees = []
        logs_out: list[dict] = []
        log_index = 0
        prev_cumulative = 0
        common = {"blockHash": data(block_hash), "blockNumber": quantity(number)}
        for i, (tx, receipt, sender) in enumerate(zip(block.transactions, receipts, senders)):
            h = tx.hash
            hash_hex, index_hex = data(h), quantity(i)  # each used several times below
            sender_hex, to_hex = checksum(sender), checksum(tx.to) if tx.to else None
            tx_hashes.append(hash_hex)
            gas_used = receipt.gas_used - prev_cumulative
            prev_cumulative = receipt.gas_used
            price = effective_gas_price(tx, base_fee)
            fees.append([price - base_fee, gas_used])
            contract = None
            if not tx.to:
                contract = checksum(generate_contract_address(sender, tx.nonce))
            tx_logs = []
            for log in receipt.logs:
                entry = {
                    "address": checksum(log.address),
                    "topics": [data(t.to_bytes(32, "big")) for t in log.topics],
                    "data": data(log.data),
                    **common,
                    "transactionHash": hash_hex,
                    "transactionIndex": index_hex,
                    "logIndex": quantity(log_index),
                    "removed": False,
                }
                log_index += 1
                tx_logs.append(entry)
            logs_out.extend(tx_logs)
            fields = self._tx_fields(tx, sender, price, hash_hex, sender_hex, to_hex)
            fields.update(common)
            fields["transactionIndex"] = index_hex
            record = {
                "raw": data(tx.encode()),  # the signed envelope (eth_getRawTransaction*, trace replays)
                "tx": fields,
                "receipt": {
                    "transactionHash": hash_hex,
                    "transactionIndex": index_hex,
                    **common,
                    "from": sender_hex,
                    "to": to_hex,
                    "cumulativeGasUsed": quantity(receipt.gas_used),
                    "gasUsed": quantity(gas_used),
                    "effectiveGasPrice": quantity(price),
                    "contractAddress": contract,
                    "logs": tx_logs,
                    "logsBloom": data(receipt.bloom.to_bytes(256, "big")),
                    "type": quantity(tx_type(tx)),
                    "status": quantity(1 if receipt.state_root == b"\x01" else 0),
                },
            }
            self.db.put(P_TX + h, _dumps(record))
            if tx_records is not None:
                tx_records[h] = record
        record = self._block_fields(block, tx_hashes)
        self.db.put(P_BLOCK + _num(number), _dumps(_slim_block(record)))
        self.db.put(P_BLOCK_HASH + block_hash, _num(number))
        if fees:
            fees.sort()
            self.db.put(P_FEES + _num(number), _dumps(fees))
        if logs_out:
            stored, keys = _encode_logs(logs_out)
            self.db.put(P_LOGS + _num(number), stored)
            self.db.put(P_LOG_KEYS + _num(number), _dumps(keys))
            sources = sorted({bytes.fromhex(l["address"][2:]) for l in logs_out})
            self.db.put(P_LOG_SRC + _num(number), len(logs_out).to_bytes(4, "big") + b"".join(sources))
            for addr in sources:
                self.db.put(P_LOG_ADDR + addr + _num(number), b"")
            for topic in {t for l in logs_out for t in l["topics"]}:
                self.db.put(P_LOG_TOPIC + bytes.fromhex(topic[2:]) + _num(number), b"")
        return record

    def truncate_after(self, number: int) -> None:
        """Forget blocks above `number` (evm_revert)."""
        for key, raw in list(self.db.items(P_BLOCK, _num(number + 1))):
            rec = orjson.loads(raw)
            n = int(rec["number"], 16)
            for h in rec["transactions"]:
                self.db.put(P_TX + bytes.fromhex(h[2:]), None)
            self.db.put(P_BLOCK_HASH + bytes.fromhex(rec["hash"][2:]), None)
            logs_raw = self.db.get(P_LOGS + _num(n))
            if logs_raw:
                for l in orjson.loads(logs_raw):
                    self.db.put(P_LOG_ADDR + bytes.fromhex(l["address"][2:]) + _num(n), None)
                    for t in l["topics"]:
                        self.db.put(P_LOG_TOPIC + bytes.fromhex(t[2:]) + _num(n), None)
                self.db.put(P_LOGS + _num(n), None)
                self.db.put(P_LOG_SRC + _num(n), None)
                self.db.put(P_LOG_KEYS + _num(n), None)
            self.db.put(P_FEES + _num(n), None)
            self.db.put(P_META + f"block_pre_root/{n}".encode(), None)
            self.db.put(key, None)

    def forget_stale_pre_roots(self, head_number: int) -> None:
        """Remove `block_pre_root/N` records above the head (a data dir reverted before
        `truncate_after` removed them): blocks are sealed without looking for one."""
        stale = [name for name, _ in self.meta_items("block_pre_root/")
                 if int(name.rsplit("/", 1)[1]) > head_number]
        if stale:
            with self.db.transaction():
                for name in stale:
                    self.set_meta(name, None)

    # -- reads --
    def block(self, number: int) -> Optional[dict]:
        raw = self.db.get(P_BLOCK + _num(number))
        return None if raw is None else _full_block(orjson.loads(raw))

    def block_number(self, block_hash: bytes) -> Optional[int]:
        raw = self.db.get(P_BLOCK_HASH + block_hash)
        return None if raw is None else int.from_bytes(raw, "big")

    def latest_number(self) -> Optional[int]:
        for key, _ in self.db.items(P_BLOCK, reverse=True):
            return int.from_bytes(key[len(P_BLOCK):], "big")
        return None

    def transaction(self, tx_hash: bytes) -> Optional[dict]:
        raw = self.db.get(P_TX + tx_hash)
        return None if raw is None else orjson.loads(raw)

    def fees(self, number: int) -> list[list[int]]:
        raw = self.db.get(P_FEES + _num(number))
        return [] if raw is None else orjson.loads(raw)

    def logs(
        self,
        from_block: int,
        to_block: int,
        addresses: Optional[Sequence[bytes]] = None,
        topics: Optional[Sequence[Optional[Sequence[bytes]]]] = None,
        limit: int = 0,
        raw: bool = False,
    ) -> list:
        """Logs in [from_block, to_block] matching the filter (eth_getLogs semantics).

        `raw`: the list holds `orjson.Fragment`s of the stored JSON (a block whose every log
        matches as one; otherwise one a log), not dicts: no decode, no re-encode, the RPC
        layer writes them as they are — only for callers that hand the list straight to orjson.
        """
        return run_steps(self.log_steps(from_block, to_block, addresses, topics, limit, raw))

    def log_steps(self, from_block: int, to_block: int, addresses: Optional[Sequence[bytes]] = None,
                  topics: Optional[Sequence[Optional[Sequence[bytes]]]] = None, limit: int = 0,
                  raw: bool = False) -> Generator[None, None, list]:
        """`logs` as a generator that yields after each index scan and every `LOG_STEP` blocks read:
        the points where a caller may stop and go on later, on another thread (vm/api.py starts small
        queries on the event loop and moves one that runs past its budget to a reader thread)."""
        if to_block < from_block:
            return []
        blocks = yield from self._candidate_blocks(from_block, to_block, addresses, topics)
        want_addr = {checksum(a) for a in addresses} if addresses else None
        want_topics = [
            None if t is None else {data(x) for x in t} for t in (topics or [])
        ]
        whole_blocks = raw and not any(want_topics)  # only addresses filter: whole blocks may match
        need = len(want_topics)  # a log with fewer topics than the filter's positions never matches
        checks = [(position, want) for position, want in enumerate(want_topics) if want is not None]
        want_bytes = set(addresses) if addresses else None
        out: list = []
        count = 0
        for i, n in enumerate(blocks):
            if i and not i % LOG_STEP:
                yield
            key = _num(n)
            if whole_blocks:
                src = self.db.get(P_LOG_SRC + key)
                if src is not None and (want_bytes is None or all(
                        src[i:i + 20] in want_bytes for i in range(4, len(src), 20))):
                    count += int.from_bytes(src[:4], "big")
                    if limit and count > limit:
                        raise OverflowError(limit)
                    out.append(orjson.Fragment(self.db.get(P_LOGS + key)[1:-1]))  # the array's items, in ours
                    continue
            stored = None
            keys = self.db.get(P_LOG_KEYS + key)
            if keys is not None:
                entries = orjson.loads(keys)
            else:  # a block indexed before match keys were stored
                stored = self.db.get(P_LOGS + key)
                if stored is None:
                    continue
                stored, entries = _encode_logs(orjson.loads(stored))
            for address, log_topics, start, end in entries:  # (the match inlined: it runs for every log)
                if want_addr is not None and address not in want_addr or len(log_topics) < need:
                    continue
                for position, want in checks:
                    if log_topics[position] not in want:
                        break
                else:
                    if stored is None:
                        stored = self.db.get(P_LOGS + key)
                    piece = stored[start:end]
                    out.append(orjson.Fragment(piece) if raw else orjson.loads(piece))
                    count += 1
                    if limit and count > limit:
                        raise OverflowError(limit)
        return out

    def _candidate_blocks(self, lo, hi, addresses, topics) -> Generator[None, None, list[int]]:
        """The blocks in [lo, hi] that can hold a match: those every constrained part of the filter names in its
        index (the addresses; each constrained topic position, any of its topics). Scanning an index costs a key
        a block; reading a block's logs costs a decode of all of them, so a block that the filter's rarest part
        rules out is never read ("Transfer from one sender" read every block of the token before: the first
        constrained part alone, the token's address, named them all).

        The parts go rarest first by kind (an indexed argument, topics 1-3, names few blocks; an event signature
        more; a contract every block it logged in). Once the blocks left are few against the range, the next
        part is asked about each of them (a lookup a block) instead of being scanned over the whole range, and a
        part that names each of the first `DENSE_SAMPLE` blocks asked about is not asked about the rest ("Transfer
        from one sender" of a token: the sender names a few blocks; the token's address and the Transfer signature
        name every block, each would be a lookup a block that rules nothing out)."""
        parts = [(P_LOG_TOPIC, position) for position in (topics or [])[1:] if position]
        if topics and topics[0]:
            parts.append((P_LOG_TOPIC, topics[0]))
        if addresses:
            parts.append((P_LOG_ADDR, addresses))
        if not parts:
            return [
                int.from_bytes(k[len(P_LOGS):], "big")
                for k, _ in self.db.items(P_LOGS, _num(lo), _num(hi + 1))
            ]
        found: Optional[set[int]] = None
        get = self.db.get
        for prefix, keys in parts:
            if found is not None and 2 * len(found) * len(keys) <= hi - lo + 1:
                def named(n: int) -> bool:  # (used at once, in this iteration)
                    return any(get(prefix + key + _num(n)) is not None for key in keys)

                ordered = sorted(found)  # (the oldest blocks are the sample)
                if not all(named(n) for n in ordered[:DENSE_SAMPLE]):  # it rules blocks out: ask about every block
                    found = {n for n in ordered if named(n)}
                # else it names every block sampled (a token's address, the Transfer signature): the blocks'
                # reads check it per log anyway, so asking about each block would only cost a lookup each
                yield
            else:
                blocks: set[int] = set()
                for key in keys:  # (a step a key: a filter may list many alternatives)
                    p = prefix + key
                    for k, _ in self.db.items(p, _num(lo), _num(hi + 1)):
                        blocks.add(int.from_bytes(k[len(p):], "big"))
                    yield
                found = blocks if found is None else found & blocks
            if not found:
                return []
        return sorted(found)

    # -- shapes --
    @staticmethod
    def _tx_fields(tx: Any, sender: bytes, price: int, hash_hex: Optional[str] = None,
                   sender_hex: Optional[str] = None, to_hex: Any = False) -> dict:
        t = tx_type(tx)
        out = {
            "hash": hash_hex or data(tx.hash),
            "type": quantity(t),
            "nonce": quantity(tx.nonce),
            "from": sender_hex or checksum(sender),
            "to": to_hex if to_hex is not False else (checksum(tx.to) if tx.to else None),
            "value": quantity(tx.value),
            "gas": quantity(tx.gas),
            "input": data(tx.data),
            "gasPrice": quantity(price),
            "r": quantity(tx.r),
            "s": quantity(tx.s),
        }
        if t == 0:
            out["v"] = quantity(tx.v)
            if tx.v >= 35:
                out["chainId"] = quantity((tx.v - 35) // 2)
        else:
            out["v"] = quantity(tx.y_parity)
            out["yParity"] = quantity(tx.y_parity)
            out["chainId"] = quantity(tx.chain_id)
            out["accessList"] = [
                {"address": checksum(a), "storageKeys": [data(k.to_bytes(32, "big")) for k in keys]}
                for a, keys in tx.access_list
            ]
        if hasattr(tx, "max_fee_per_gas"):
            out["maxFeePerGas"] = quantity(tx.max_fee_per_gas)
            out["maxPriorityFeePerGas"] = quantity(tx.max_priority_fee_per_gas)
        return out

    @staticmethod
    def _block_fields(block: Any, tx_hashes: list[str]) -> dict:
        h = block.header
        out = {
            "number": quantity(h.block_number),
            "hash": data(h.hash),
            "parentHash": data(h.parent_hash),
            "nonce": data(h.nonce),
            "sha3Uncles": data(h.uncles_hash),
            "logsBloom": data(h.bloom.to_bytes(256, "big")),
            "transactionsRoot": data(h.transaction_root),
            "stateRoot": data(h.state_root),
            "receiptsRoot": data(h.receipt_root),
            "miner": checksum(h.coinbase),
            "difficulty": quantity(h.difficulty),
            "totalDifficulty": quantity(0),
            "extraData": data(h.extra_data),
            "size": quantity(_block_size(block)),
            "gasLimit": quantity(h.gas_limit),
            "gasUsed": quantity(h.gas_used),
            "timestamp": quantity(h.timestamp),
            "transactions": tx_hashes,
            "uncles": [],
            "mixHash": data(h.mix_hash),
            "baseFeePerGas": quantity(h.base_fee_per_gas),
            "withdrawals": [],
            "withdrawalsRoot": data(h.withdrawals_root),
            "blobGasUsed": quantity(h.blob_gas_used),
            "excessBlobGas": quantity(h.excess_blob_gas),
            "parentBeaconBlockRoot": data(h.parent_beacon_block_root),
        }
        requests_hash = getattr(h, "requests_hash", None)
        if requests_hash is not None:
            out["requestsHash"] = data(requests_hash)
        return out


_ZERO32 = "0x" + "00" * 32
_BLANK_ROOT = "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"  # the empty trie
# A block record's fields in the order RPC returns them, with the value most blocks have where
# one value is usual (_NEEDED: none). The stored record leaves out each field that has its
# usual value: an empty block's record was 1.7 KB of mostly these (512 zeros of bloom), and
# every byte a block writes is merged through LevelDB's levels again and again as the chain
# grows. `block()` puts them back; a record stored whole (older data dirs) reads the same.
_NEEDED = object()
_BLOCK_FIELDS = {
    "number": _NEEDED, "hash": _NEEDED, "parentHash": _NEEDED, "nonce": "0x0000000000000000",
    "sha3Uncles": "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347",
    "logsBloom": "0x" + "00" * 256, "transactionsRoot": _BLANK_ROOT, "stateRoot": _NEEDED,
    "receiptsRoot": _BLANK_ROOT, "miner": "0x" + "00" * 20, "difficulty": "0x0", "totalDifficulty": "0x0",
    "extraData": "0x", "size": _NEEDED, "gasLimit": _NEEDED, "gasUsed": "0x0", "timestamp": _NEEDED,
    "transactions": _NEEDED, "uncles": (), "mixHash": _ZERO32, "baseFeePerGas": _NEEDED,
    "withdrawals": (), "withdrawalsRoot": _BLANK_ROOT, "blobGasUsed": "0x0", "excessBlobGas": "0x0",
    "parentBeaconBlockRoot": _BLANK_ROOT,
}
_LISTS = {"uncles", "withdrawals"}


def _slim_block(record: dict) -> dict:
    """The record to store: fields with their usual value left out (`_BLOCK_FIELDS`)."""
    out = {}
    for k, v in record.items():
        usual = _BLOCK_FIELDS.get(k, _NEEDED)
        if usual is _NEEDED or (v != [] if k in _LISTS else v != usual):
            out[k] = v
    return out


def _full_block(stored: dict) -> dict:
    """A stored record with its usual values back, in RPC's field order (then any others)."""
    out = {}
    get = stored.get
    for k, usual in _BLOCK_FIELDS.items():
        v = get(k, _NEEDED)
        if v is _NEEDED:
            if usual is _NEEDED:
                continue  # (not in this record at all)
            v = [] if k in _LISTS else usual
        out[k] = v
    if len(out) != len(stored):
        for k, v in stored.items():
            if k not in out:
                out[k] = v
    return out


def _block_size(block: Any) -> int:
    """RLP size of [header, txs, uncles, withdrawals] (typed txs count as their envelope)."""
    header = len(rlp.encode(block.header))
    txs = sum(len(rlp.encode(tx.encode())) if tx_type(tx) else len(tx.encode()) for tx in block.transactions)
    body = txs
    return header + _list_overhead(body) + body + 2 * _list_overhead(0)


def _encode_logs(logs: list[dict]) -> tuple[bytes, list[list]]:
    """A block's logs as one JSON array (P_LOGS) and each log's match keys (P_LOG_KEYS): [address, topics, start,
    end] of its slice of the array. A query matches on the keys (a small decode) and answers with the slices, so no
    log is decoded into a dict or encoded again (a block of 7 transfers: 7.1 -> 3.3 µs to match; the answer's
    encoding becomes a copy)."""
    parts = [_dumps(log) for log in logs]
    keys, start = [], 1
    for log, part in zip(logs, parts):
        end = start + len(part)
        keys.append([log["address"], log["topics"], start, end])
        start = end + 1
    return b"[" + b",".join(parts) + b"]", keys


def _list_overhead(payload: int) -> int:
    return 1 if payload < 56 else 1 + (payload.bit_length() + 7) // 8
