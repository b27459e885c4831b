"""txpool_*: geth's views of the pending pool (vm/txpool.py holds the rules, the node API reads them)."""
from app.rpc.dispatch import method
from app.rpc.params import Address


@method("txpool_content")
async def txpool_content(api) -> dict:
    return await api.pool_content()


@method("txpool_contentFrom")
async def txpool_content_from(api, address: Address) -> dict:
    return await api.pool_content_from(address)


@method("txpool_status")
async def txpool_status(api) -> dict:
    return await api.pool_status()


@method("txpool_inspect")
async def txpool_inspect(api) -> dict:
    return await api.pool_inspect()
