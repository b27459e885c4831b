"""`Chain`'s snapshots: back to an earlier head, its pending edits and clock (evm_snapshot / evm_revert)."""
from __future__ import annotations

from eth.constants import GENESIS_PARENT_HASH


class ChainSnapshots:
    """Snapshot ids over head number, pending root and clock; revert truncates the chain."""

    # -- snapshots --
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
