"""`Chain`'s dev-mode edits: balance, code, nonce, storage and time set by hand (Hardhat/Anvil style)."""
from __future__ import annotations

import time

from vm.chain_records import TxRejected


class ChainDevEdits:
    """State edits on the latest view (a pending root), and the clock of the next blocks."""

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
