"""Dev-chain controls, under the names Hardhat and Anvil scripts already call.

Translation only: the controls are the node API's (vm/api.py); refusals are mapped by app/rpc/errors.py.
"""

from typing import Optional

from vm.codec import InvalidValue, parse_quantity, quantity
from vm.errors import NodeError, invalid
from app.rpc.dispatch import method
from app.rpc.params import Address, Bool, Data, Hash, Integer, Json, Quantity


def _aliases(*names: str):
    def register(fn):
        for n in names:
            method(n)(fn)
        return fn

    return register


def _param(name: str, exc: InvalidValue) -> NodeError:
    return invalid(f"{name} param 1: {exc}")


@_aliases("evm_snapshot", "anvil_snapshot")
async def evm_snapshot(api) -> str:
    return quantity(await api.snapshot())


@_aliases("evm_revert", "anvil_revert")
async def evm_revert(api, snapshot_id: Quantity) -> bool:
    return await api.revert(snapshot_id)


@_aliases("evm_mine", "anvil_mine_detailed")
async def evm_mine(api, timestamp: Json = None) -> str:
    ts = None
    if isinstance(timestamp, dict):  # ethers / hardhat style {timestamp, blocks}
        timestamp = timestamp.get("timestamp")
    if timestamp is not None:
        try:
            ts = parse_quantity(timestamp, "timestamp")
        except InvalidValue as exc:
            raise _param("evm_mine", exc) from None
    await api.mine(ts)
    return "0x0"


@_aliases("hardhat_mine", "anvil_mine")
async def hardhat_mine(api, blocks: Quantity = 1, interval: Quantity = 1) -> None:
    """Mine `blocks` blocks, each `interval` seconds after the previous one (the first at the usual time)."""
    await api.mine_blocks(blocks, interval)
    return None


@method("evm_setBlockGasLimit")
async def evm_set_block_gas_limit(api, gas_limit: Quantity) -> bool:
    try:
        await api.set_block_gas_limit(gas_limit)
    except InvalidValue as exc:
        raise _param("evm_setBlockGasLimit", exc) from None
    return True


@method("anvil_setBlockTimestampInterval")
async def anvil_set_block_timestamp_interval(api, seconds: Integer) -> None:
    try:
        await api.set_timestamp_interval(seconds)
    except InvalidValue as exc:
        raise _param("anvil_setBlockTimestampInterval", exc) from None
    return None


@method("anvil_removeBlockTimestampInterval")
async def anvil_remove_block_timestamp_interval(api) -> bool:
    return await api.set_timestamp_interval(None)


@_aliases("anvil_dropTransaction", "hardhat_dropTransaction")
async def anvil_drop_transaction(api, tx_hash: Hash) -> Optional[str]:
    """Anvil answers the hash when it dropped the transaction, null when it was not pending."""
    dropped = await api.drop_transaction(tx_hash)
    return "0x" + tx_hash.hex() if dropped else None


@method("anvil_dropAllTransactions")
async def anvil_drop_all_transactions(api) -> None:
    await api.drop_transactions()
    return None


@method("anvil_removePoolTransactions")
async def anvil_remove_pool_transactions(api, address: Address) -> None:
    await api.drop_transactions(address)
    return None


@_aliases("evm_increaseTime", "anvil_increaseTime")
async def evm_increase_time(api, seconds: Integer) -> str:
    return quantity(await api.increase_time(seconds))


@_aliases("evm_setNextBlockTimestamp", "anvil_setNextBlockTimestamp")
async def evm_set_next_block_timestamp(api, timestamp: Integer) -> None:
    await api.set_next_timestamp(timestamp)
    return None


@_aliases("evm_setAutomine", "anvil_setAutomine")
async def evm_set_automine(api, on: Bool) -> bool:
    await api.set_automine(on)
    return True


@_aliases("hardhat_setBalance", "anvil_setBalance")
async def set_balance(api, address: Address, wei: Quantity) -> bool:
    await api.set_balance(address, wei)
    return True


@_aliases("hardhat_setCode", "anvil_setCode")
async def set_code(api, address: Address, code: Data) -> bool:
    await api.set_code(address, code)
    return True


@_aliases("hardhat_setNonce", "anvil_setNonce")
async def set_nonce(api, address: Address, nonce: Quantity) -> bool:
    await api.set_nonce(address, nonce)
    return True


@_aliases("hardhat_setStorageAt", "anvil_setStorageAt")
async def set_storage_at(api, address: Address, slot: Quantity, value: Data) -> bool:
    if len(value) != 32:
        raise invalid("storage value must be exactly 32 bytes")
    await api.set_storage(address, slot, int.from_bytes(value, "big"))
    return True


@_aliases("hardhat_impersonateAccount", "anvil_impersonateAccount")
async def impersonate(api, address: Address) -> bool:
    api.impersonate(address, True)
    return True


@_aliases("hardhat_stopImpersonatingAccount", "anvil_stopImpersonatingAccount")
async def stop_impersonating(api, address: Address) -> bool:
    api.impersonate(address, False)
    return True


@_aliases("anvil_dumpState", "hardhat_dumpState")
async def anvil_dump_state(api) -> str:
    return await api.dump_state()


@_aliases("anvil_loadState", "hardhat_loadState")
async def anvil_load_state(api, state: Json) -> bool:
    try:
        await api.load_state(state)
    except InvalidValue as exc:
        raise _param("anvil_loadState", exc) from None
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
async def anvil_reset(api, options: Json = None) -> bool:
    """A fresh chain: re-forked as asked, the same fork when nothing is given, or unforked with forking: null."""
    try:
        given, spec = _parse_reset(options)
    except InvalidValue as exc:
        raise _param("anvil_reset", exc) from None
    await api.reset(spec if given else api.fork())
    return True


@_aliases("anvil_metadata", "hardhat_metadata")
async def anvil_metadata(api) -> dict:
    return await api.metadata()


@method("anvil_nodeInfo")
async def anvil_node_info(api) -> dict:
    return await api.node_info()
