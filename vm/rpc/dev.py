"""Dev-chain controls, under the names Hardhat and Anvil scripts already call."""

from typing import Optional

from vm import dev_controls, state_dump, txpool
from vm.chain import TxRejected
from vm.codec import InvalidValue, parse_quantity, quantity
from vm.rpc.dispatch import method
from vm.rpc.errors import INVALID_PARAMS, SERVER_ERROR, RpcError
from vm.rpc.params import Address, Bool, Data, Hash, Integer, Json, Quantity


def _aliases(*names: str):
    def register(fn):
        for n in names:
            method(n)(fn)
        return fn

    return register


@_aliases("evm_snapshot", "anvil_snapshot")
async def evm_snapshot(node) -> str:
    return quantity(await node.run(node.chain.snapshot))


@_aliases("evm_revert", "anvil_revert")
async def evm_revert(node, snapshot_id: Quantity) -> bool:
    if node._queue:
        raise RpcError(SERVER_ERROR, "cannot revert while transactions are queued for mining")
    return await node.run(node.chain.revert, snapshot_id)


@_aliases("evm_mine", "anvil_mine_detailed")
async def evm_mine(node, timestamp: Json = None) -> str:
    ts = None
    if isinstance(timestamp, dict):  # ethers / hardhat style {timestamp, blocks}
        timestamp = timestamp.get("timestamp")
    if timestamp is not None:
        try:
            ts = parse_quantity(timestamp, "timestamp")
        except InvalidValue as exc:
            raise RpcError(INVALID_PARAMS, f"evm_mine param 1: {exc}") from None
    try:
        await node.mine_block(ts)
    except TxRejected as exc:
        raise RpcError(SERVER_ERROR, str(exc)) from None
    return "0x0"


@_aliases("hardhat_mine", "anvil_mine")
async def hardhat_mine(node, blocks: Quantity = 1, interval: Quantity = 1) -> None:
    """Mine `blocks` blocks, each `interval` seconds after the previous one (the first at the usual time)."""
    if blocks > 10_000:
        raise RpcError(INVALID_PARAMS, "mine at most 10000 blocks per call")
    if interval < 1:
        raise RpcError(INVALID_PARAMS, "the interval between mined blocks must be at least 1 second")
    for i in range(blocks):
        ts = None
        if i > 0 and interval != 1:
            ts = node.chain.head.timestamp + interval
        try:
            await node.mine_block(ts)
        except TxRejected as exc:
            raise RpcError(SERVER_ERROR, str(exc)) from None
    return None


@method("evm_setBlockGasLimit")
async def evm_set_block_gas_limit(node, gas_limit: Quantity) -> bool:
    try:
        await node.run(dev_controls.set_block_gas_limit, node.chain, gas_limit)
    except InvalidValue as exc:
        raise RpcError(INVALID_PARAMS, f"evm_setBlockGasLimit param 1: {exc}") from None
    return True


@method("anvil_setBlockTimestampInterval")
async def anvil_set_block_timestamp_interval(node, seconds: Integer) -> None:
    try:
        await node.run(dev_controls.set_timestamp_interval, node.chain, seconds)
    except InvalidValue as exc:
        raise RpcError(INVALID_PARAMS, f"anvil_setBlockTimestampInterval param 1: {exc}") from None
    return None


@method("anvil_removeBlockTimestampInterval")
async def anvil_remove_block_timestamp_interval(node) -> bool:
    had = await node.run(dev_controls.timestamp_interval, node.chain)
    await node.run(dev_controls.set_timestamp_interval, node.chain, None)
    return had is not None


@_aliases("anvil_dropTransaction", "hardhat_dropTransaction")
async def anvil_drop_transaction(node, tx_hash: Hash) -> Optional[str]:
    """Anvil answers the hash when it dropped the transaction, null when it was not pending."""
    dropped = await node.drop_transaction(tx_hash)
    return "0x" + tx_hash.hex() if dropped else None


@method("anvil_dropAllTransactions")
async def anvil_drop_all_transactions(node) -> None:
    for q in txpool.queued(node):
        await node.drop_transaction(q.tx.hash)
    return None


@method("anvil_removePoolTransactions")
async def anvil_remove_pool_transactions(node, address: Address) -> None:
    for q in txpool.queued(node):
        if q.sender == address:
            await node.drop_transaction(q.tx.hash)
    return None


@_aliases("evm_increaseTime", "anvil_increaseTime")
async def evm_increase_time(node, seconds: Integer) -> str:
    return quantity(await node.run(node.chain.increase_time, seconds))


@_aliases("evm_setNextBlockTimestamp", "anvil_setNextBlockTimestamp")
async def evm_set_next_block_timestamp(node, timestamp: Integer) -> None:
    try:
        await node.run(node.chain.set_next_timestamp, timestamp)
    except TxRejected as exc:
        raise RpcError(SERVER_ERROR, str(exc)) from None
    return None


@_aliases("evm_setAutomine", "anvil_setAutomine")
async def evm_set_automine(node, on: Bool) -> bool:
    node.automine = on
    if on and node._queue:
        await node.mine_block()
    return True


@_aliases("hardhat_setBalance", "anvil_setBalance")
async def set_balance(node, address: Address, wei: Quantity) -> bool:
    await node.run(node.chain.set_balance, address, wei)
    return True


@_aliases("hardhat_setCode", "anvil_setCode")
async def set_code(node, address: Address, code: Data) -> bool:
    await node.run(node.chain.set_code, address, code)
    return True


@_aliases("hardhat_setNonce", "anvil_setNonce")
async def set_nonce(node, address: Address, nonce: Quantity) -> bool:
    await node.run(node.chain.set_nonce, address, nonce)
    return True


@_aliases("hardhat_setStorageAt", "anvil_setStorageAt")
async def set_storage_at(node, address: Address, slot: Quantity, value: Data) -> bool:
    if len(value) != 32:
        raise RpcError(INVALID_PARAMS, "storage value must be exactly 32 bytes")
    await node.run(node.chain.set_storage, address, slot, int.from_bytes(value, "big"))
    return True


@_aliases("hardhat_impersonateAccount", "anvil_impersonateAccount")
async def impersonate(node, address: Address) -> bool:
    node.chain.impersonate(address, True)
    return True


@_aliases("hardhat_stopImpersonatingAccount", "anvil_stopImpersonatingAccount")
async def stop_impersonating(node, address: Address) -> bool:
    node.chain.impersonate(address, False)
    return True


@_aliases("anvil_dumpState", "hardhat_dumpState")
async def anvil_dump_state(node) -> str:
    try:
        return state_dump.encode(await node.run(state_dump.dump, node.chain))
    except TxRejected as exc:
        raise RpcError(SERVER_ERROR, str(exc)) from None


@_aliases("anvil_loadState", "hardhat_loadState")
async def anvil_load_state(node, state: Json) -> bool:
    try:
        await node.run(lambda: state_dump.load(node.chain, state_dump.decode(state)))
    except InvalidValue as exc:
        raise RpcError(INVALID_PARAMS, f"anvil_loadState param 1: {exc}") from None
    return True


def _parse_reset(options) -> tuple[bool, object]:
    """(given, ForkSpec or None) from hardhat_reset / anvil_reset's optional {forking: {...}}."""
    from vm.codec import parse_quantity
    from vm.forking import ForkSpec

    if options is None or options == {}:
        return False, None
    if not isinstance(options, dict) or set(options) - {"forking"}:
        raise InvalidValue("expected {forking: {jsonRpcUrl, blockNumber}}")
    forking = options.get("forking")
    if forking is None:
        return True, None
    if not isinstance(forking, dict) or not isinstance(forking.get("jsonRpcUrl"), str):
        raise InvalidValue("forking.jsonRpcUrl must be a URL string")
    url = forking["jsonRpcUrl"]
    if not url.startswith(("http://", "https://")):
        raise InvalidValue("forking.jsonRpcUrl must be an http(s) URL")
    number = forking.get("blockNumber")
    if number is not None:
        number = number if isinstance(number, int) and not isinstance(number, bool) and number >= 0 \
            else parse_quantity(number, "forking.blockNumber")
    return True, ForkSpec(url, number)


@_aliases("anvil_reset", "hardhat_reset")
async def anvil_reset(node, options: Json = None) -> bool:
    """A fresh chain: re-forked as asked, the same fork when nothing is given, or unforked with forking: null."""
    from vm import forking

    try:
        given, spec = _parse_reset(options)
    except InvalidValue as exc:
        raise RpcError(INVALID_PARAMS, f"anvil_reset param 1: {exc}") from None
    if not given:
        info = forking.fork_info(node.chain)
        spec = forking.ForkSpec(info["url"], info["block"]) if info else None
    try:
        await forking.reset(node, spec)
    except TxRejected as exc:
        raise RpcError(SERVER_ERROR, str(exc)) from None
    return True


@_aliases("anvil_metadata", "hardhat_metadata")
async def anvil_metadata(node) -> dict:
    from vm import node_info
    from vm.rpc.eth import CLIENT_VERSION

    return await node.run(node_info.metadata, node.chain, CLIENT_VERSION)


@method("anvil_nodeInfo")
async def anvil_node_info(node) -> dict:
    from vm import node_info

    return await node.run(node_info.node_info, node.chain, node.automine)
