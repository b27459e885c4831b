"""`Chain`'s heads, headers and state reads: what a read at a block tag sees (any thread)."""
from __future__ import annotations

from eth.exceptions import HeaderNotFound

from vm.chain_records import BlockId, UnknownBlock


class ChainReads:
    """Heads, the published latest view, and balance/nonce/code/storage at a block."""

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
