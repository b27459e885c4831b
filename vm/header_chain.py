"""A block that extends the canonical head, written without py-evm's general path.

`ChainDB.persist_block` handles any header chain (forks, gaps, checkpoints,
re-canonicalisation) inside its own write batch, which reads every key back
through a diff layer, checks the parent twice and reads the head's score after
writing the child's. The node's blocks almost always extend the head it holds:
then the writes are known (header, score, header-chain gaps, number -> hash,
canonical head, transaction lookups, chain gaps), and they go straight into the
node's open atomic batch (`AtomicStore.transaction`), in py-evm's order and
through py-evm's own gap functions. Anything else (uncles, withdrawals, a
difficulty, a parent that is not the stored canonical head) takes py-evm's path.
tests/test_header_chain.py compares every stored key with py-evm's path.
"""
from __future__ import annotations

import os

import rlp
import rlp.codec
from eth.constants import EMPTY_UNCLE_HASH, GENESIS_PARENT_HASH
from eth.db.schema import SchemaV1

ENABLED = os.environ.get("AIVM_FAST_HEADERS", "1") != "0"

_HEAD_KEY = SchemaV1.make_canonical_head_hash_lookup_key()
_HEADER_GAPS_KEY = SchemaV1.make_header_chain_gaps_lookup_key()
_CHAIN_GAPS_KEY = SchemaV1.make_chain_gaps_lookup_key()


def gaps_rlp(tip_child: int) -> bytes:
    """`rlp.encode(((), tip_child), sedes=eth.rlp.sedes.chain_gaps)`: no gaps, the next number
    expected `tip_child` (a uint32 is 32 bytes there, big-endian)."""
    return rlp.codec.encode_raw([[], tip_child.to_bytes(32, "big")])


def _tail_write(db, key: bytes, number: int) -> bool:
    """py-evm's gap update (`fill_gap`) for the usual case — no gaps, and `number` is the
    next one expected (a TailWrite: ((), number) -> ((), number + 1)); False, writing
    nothing, for anything else, which py-evm's own functions then handle."""
    if not 0 < number < 2**256 - 1 or db.get(key) != gaps_rlp(number):
        return False
    db.set(key, gaps_rlp(number + 1))
    return True


def persist_block(chaindb, db, block) -> None:
    """`chaindb.persist_block(block)`, direct when `block` extends the stored head.
    `db` is the store `chaindb` writes to, inside an open transaction."""
    header = block.header
    if not (ENABLED and not block.uncles and not getattr(block, "withdrawals", None)
            and header.difficulty == 0 and header.uncles_hash == EMPTY_UNCLE_HASH
            and db.get(_HEAD_KEY) == header.parent_hash):
        chaindb.persist_block(block)
        return
    cls = type(chaindb)
    parent_score = rlp.decode(db[SchemaV1.make_block_hash_to_score_lookup_key(header.parent_hash)],
                              sedes=rlp.sedes.big_endian_int)
    db.set(header.hash, rlp.encode(header))
    cls._set_hash_scores_to_db(db, header, parent_score)  # post-merge: + the block number
    if not _tail_write(db, _HEADER_GAPS_KEY, header.block_number):  # (a TailWrite changes no more)
        gap_info = cls._update_header_chain_gaps(db, header, cls._get_header_chain_gaps(db))
        cls._handle_gap_change(db, gap_info, header, GENESIS_PARENT_HASH)
    # the new score exceeds the head's (its parent's) by the block number: it becomes the head
    cls._add_block_number_to_hash_lookup(db, header)
    db.set(_HEAD_KEY, header.hash)
    number = header.block_number.to_bytes((header.block_number.bit_length() + 7) // 8, "big")
    for index, tx in enumerate(block.transactions):
        # py-evm's _add_transaction_to_canonical_chain: rlp(BlockDataKey(number, index)), written
        # as the two minimal big-endian integers it encodes to
        db.set(SchemaV1.make_transaction_hash_to_block_lookup_key(tx.hash),
               rlp.codec.encode_raw([number, index.to_bytes((index.bit_length() + 7) // 8, "big")]))
    if not _tail_write(db, _CHAIN_GAPS_KEY, block.number):
        cls._update_chain_gaps(db, block)
