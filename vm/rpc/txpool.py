"""txpool_*: geth's views of the pending pool (vm/txpool.py holds the rules)."""
from vm import txpool
from vm.codec import checksum
from vm.rpc.dispatch import method
from vm.rpc.params import Address


async def _view(node) -> dict:
    entries = txpool.queued(node)
    return await node.run(txpool.content, entries, node.pending_nonce)


@method("txpool_content")
async def txpool_content(node) -> dict:
    return await _view(node)


@method("txpool_contentFrom")
async def txpool_content_from(node, address: Address) -> dict:
    view = await _view(node)
    key = checksum(address)
    return {part: view[part].get(key, {}) for part in ("pending", "queued")}


@method("txpool_status")
async def txpool_status(node) -> dict:
    return txpool.status(await _view(node))


@method("txpool_inspect")
async def txpool_inspect(node) -> dict:
    return txpool.inspect(await _view(node))
