"""txpool_*: geth's views of the pending pool (vm/txpool.py holds the rules, the node API reads them)."""
from vm import txpool
from vm.codec import checksum
from app.rpc.dispatch import method
from app.rpc.params import Address


@method("txpool_content")
async def txpool_content(api) -> dict:
    return await api.pool_content()


@method("txpool_contentFrom")
async def txpool_content_from(api, address: Address) -> dict:
    view = await api.pool_content()
    key = checksum(address)
    return {part: view[part].get(key, {}) for part in ("pending", "queued")}


@method("txpool_status")
async def txpool_status(api) -> dict:
    return txpool.status(await api.pool_content())


@method("txpool_inspect")
async def txpool_inspect(api) -> dict:
    return txpool.inspect(await api.pool_content())
