"""`aivm start` flags for forking and state files (--fork-url, --load-state, --dump-state, --state)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Optional

from rich.console import Console

console = Console(stderr=True)


@dataclass
class StartExtras:
    fork_url: Optional[str] = None
    fork_block_number: Optional[int] = None
    chain_id_given: bool = False
    load_state: Optional[str] = None
    dump_state: Optional[str] = None

    @classmethod
    def from_flags(cls, fork_url, fork_block_number, chain_id, load_state, dump_state, state_file) -> "StartExtras":
        import click

        if fork_block_number is not None and not fork_url:
            raise click.UsageError("--fork-block-number needs --fork-url")
        if state_file:
            load_state = load_state or (state_file if os.path.exists(state_file) else None)
            dump_state = dump_state or state_file
        if load_state and not os.path.exists(load_state):
            raise click.BadParameter(f"{load_state}: file not found", param_hint="--load-state")
        return cls(fork_url, fork_block_number, chain_id is not None, load_state, dump_state)

    def configure(self, chain_config: Any) -> None:
        if self.fork_url:
            from vm.forking import ForkSpec

            chain_config.fork = ForkSpec(self.fork_url, self.fork_block_number)
            chain_config.fork_chain_id_from_remote = not self.chain_id_given

    async def after_start(self, node: Any) -> None:
        if self.fork_url:
            console.print(f"forked {self.fork_url} at block {node.chain.head_number}", highlight=False)
        if self.load_state:
            from vm import state_dump

            from vm.codec import InvalidValue

            try:
                state = state_dump.read_file(self.load_state)
                await node.run(state_dump.load, node.chain, state)
            except InvalidValue as exc:
                await node.stop()
                raise RuntimeError(f"--load-state: {exc}") from None
            console.print(f"loaded state from {self.load_state}", highlight=False)

    async def before_stop(self, node: Any) -> None:
        if self.dump_state:
            from vm import state_dump

            from vm.chain import TxRejected

            try:
                await node.run(state_dump.write_file, node.chain, self.dump_state)
            except (TxRejected, OSError) as exc:  # shutdown goes on; the reason is said once
                console.print(f"state NOT written to {self.dump_state}: {exc}", highlight=False)
                return
            console.print(f"state written to {self.dump_state}", highlight=False)
