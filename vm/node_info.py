"""What a dev node says about itself (anvil_metadata, hardhat_metadata, anvil_nodeInfo)."""
from __future__ import annotations

import uuid
from typing import Any

from vm.codec import data, quantity

INSTANCE_ID = "0x" + uuid.uuid4().hex * 2  # one per process, as Hardhat's instanceId


def metadata(chain: Any, client_version: str) -> dict:
    """Hardhat's / Anvil's metadata shape; `forkedNetwork` is null on an unforked chain."""
    fork = chain.index.meta("fork")
    forked = None
    if fork:
        remote = getattr(chain, "_remote", None)
        forked = {"chainId": remote.chain_id if remote else chain.config.chain_id,
                  "forkBlockNumber": fork["block"], "forkBlockHash": fork.get("hash")}
    return {
        "clientVersion": client_version,
        "chainId": chain.config.chain_id,
        "instanceId": INSTANCE_ID,
        "latestBlockNumber": chain.head_number,
        "latestBlockHash": data(chain.head.hash),
        "forkedNetwork": forked,
        "snapshots": {},
    }


def node_info(chain: Any, automine: bool) -> dict:
    """anvil_nodeInfo's main fields."""
    fork = chain.index.meta("fork")
    return {
        "currentBlockNumber": chain.head_number,
        "currentBlockTimestamp": chain.head.timestamp,
        "currentBlockHash": data(chain.head.hash),
        "hardFork": "prague",
        "transactionOrder": "fifo",
        "environment": {"baseFee": quantity(chain.next_base_fee()), "chainId": chain.config.chain_id,
                        "gasLimit": quantity(chain.config.gas_limit), "gasPrice": quantity(chain.next_base_fee())},
        "forkConfig": {"forkUrl": fork["url"], "forkBlockNumber": fork["block"]} if fork else {},
        "miningMode": "automine" if automine else "manual or interval",
    }
