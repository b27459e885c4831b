"""The eth_, net_ and web3_ methods that web3.py, ethers.js and viem use.

Translation only: parse params, call the node API (vm/api.py), shape the result.
Refusals raised below are mapped to JSON-RPC codes by app/rpc/errors.py.
"""
from typing import Any, Optional

from eth_hash.auto import keccak

from vm import execution, fees
from vm.codec import InvalidValue, checksum, data, parse_data, quantity
from vm.errors import invalid
from app.rpc.dispatch import method
from app.rpc.params import Address, Block, Bool, Data, Hash, Json, Object, Quantity, tx_fields


def _call_fields(obj: dict) -> dict:
    try:
        return tx_fields(obj)
    except InvalidValue as exc:
        raise invalid(f"transaction object: {exc}") from None


def _overrides(name: str, obj: Any) -> Optional[dict]:
    try:
        return execution.parse_state_overrides(obj)
    except InvalidValue as exc:
        raise invalid(f"{name} param 3 (state overrides): {exc}") from None


def _hex(value: Optional[bytes]) -> Optional[str]:
    return None if value is None else data(value)


def _count(value: Optional[int]) -> Optional[str]:
    return None if value is None else quantity(value)


# -- identity --
@method("web3_clientVersion")
async def web3_client_version(api) -> str:
    return api.client_version


@method("web3_sha3")
async def web3_sha3(api, payload: Data) -> str:
    return data(keccak(payload))


@method("net_version")
async def net_version(api) -> str:
    return str(api.chain_id())


@method("net_listening")
async def net_listening(api) -> bool:
    return True


@method("net_peerCount")
async def net_peer_count(api) -> str:
    return "0x0"


@method("eth_chainId")
async def eth_chain_id(api) -> str:
    return quantity(api.chain_id())


@method("eth_protocolVersion")
async def eth_protocol_version(api) -> str:
    return "0x44"


@method("eth_syncing")
async def eth_syncing(api) -> bool:
    return False


@method("eth_mining")
async def eth_mining(api) -> bool:
    return api.mining()


@method("eth_hashrate")
async def eth_hashrate(api) -> str:
    return "0x0"


@method("eth_coinbase")
async def eth_coinbase(api) -> str:
    return checksum(api.coinbase())


@method("eth_accounts")
async def eth_accounts(api) -> list:
    return [checksum(a) for a in api.accounts()]


# -- fees --
@method("eth_blockNumber")
async def eth_block_number(api) -> str:
    return quantity(api.head_number())


@method("eth_gasPrice")
async def eth_gas_price(api) -> str:
    return quantity(api.gas_price())


@method("eth_maxPriorityFeePerGas")
async def eth_max_priority_fee(api) -> str:
    return quantity(api.max_priority_fee())


@method("eth_blobBaseFee")
async def eth_blob_base_fee(api) -> str:
    return quantity(api.blob_base_fee())


@method("eth_feeHistory")
async def eth_fee_history(api, block_count: Quantity, newest: Block, percentiles: Json = None) -> dict:
    try:
        checked = fees.check_percentiles(percentiles)
    except InvalidValue as exc:
        raise invalid(f"eth_feeHistory param 3: {exc}") from None
    return await api.fee_history(block_count, newest, checked)


# -- state reads --
@method("eth_getBalance")
async def eth_get_balance(api, address: Address, block: Block = "latest") -> str:
    return quantity(await api.balance(address, block))


@method("eth_getTransactionCount")
async def eth_get_transaction_count(api, address: Address, block: Block = "latest") -> str:
    return quantity(await api.nonce(address, block))


@method("eth_getCode")
async def eth_get_code(api, address: Address, block: Block = "latest") -> str:
    return data(await api.code(address, block))


@method("eth_getStorageAt")
async def eth_get_storage_at(api, address: Address, slot: Quantity, block: Block = "latest") -> str:
    return data((await api.storage(address, slot, block)).to_bytes(32, "big"))


@method("eth_call")
async def eth_call(api, tx: Object, block: Block = "latest", overrides: Json = None) -> str:
    f = _call_fields(tx)
    return data(await api.call(f, block, _overrides("eth_call", overrides) if overrides else None))


@method("eth_estimateGas")
async def eth_estimate_gas(api, tx: Object, block: Block = "pending", overrides: Json = None) -> str:
    f = _call_fields(tx)
    return quantity(await api.estimate_gas(f, block, _overrides("eth_estimateGas", overrides) if overrides else None))


@method("eth_createAccessList")
async def eth_create_access_list(api, tx: Object, block: Block = "pending", overrides: Json = None) -> dict:
    f = _call_fields(tx)
    return await api.create_access_list(f, block, _overrides("eth_createAccessList", overrides))


@method("eth_simulateV1")
async def eth_simulate_v1(api, payload: Object, block: Block = "latest") -> list:
    try:
        blocks, full = _parse_simulation(payload)
    except InvalidValue as exc:
        raise invalid(f"eth_simulateV1 param 1: {exc}") from None
    validation = payload.get("validation", False)
    if not isinstance(validation, bool):
        raise invalid("eth_simulateV1 param 1: validation must be true or false")
    return await api.simulate(blocks, block, full, validation)


def _parse_simulation(payload: dict) -> tuple[list, bool]:
    from vm import codec

    unknown = set(payload) - {"blockStateCalls", "validation", "traceTransfers", "returnFullTransactions"}
    if unknown:
        raise InvalidValue(f"unknown field(s) {', '.join(sorted(unknown))}")
    specs = payload.get("blockStateCalls")
    if not isinstance(specs, list) or not specs:
        raise InvalidValue("blockStateCalls must be a non-empty list")
    if len(specs) > 256:
        raise InvalidValue("at most 256 blocks can be simulated")
    blocks = []
    for i, spec in enumerate(specs):
        if not isinstance(spec, dict):
            raise InvalidValue(f"blockStateCalls[{i}] must be an object")
        bo_raw = spec.get("blockOverrides") or {}
        if not isinstance(bo_raw, dict):
            raise InvalidValue(f"blockStateCalls[{i}].blockOverrides must be an object")
        bo = {}
        for key in ("number", "time", "gasLimit", "baseFeePerGas"):
            if bo_raw.get(key) is not None:
                bo[key] = codec.parse_quantity(bo_raw[key], key)
        if bo_raw.get("feeRecipient") is not None:
            bo["feeRecipient"] = codec.parse_address(bo_raw["feeRecipient"], "feeRecipient")
        calls = spec.get("calls") or []
        if not isinstance(calls, list):
            raise InvalidValue(f"blockStateCalls[{i}].calls must be a list")
        reqs = []
        for j, c in enumerate(calls):
            if not isinstance(c, dict):
                raise InvalidValue(f"blockStateCalls[{i}].calls[{j}] must be an object")
            reqs.append(execution.CallRequest.from_fields(tx_fields(c)))
        blocks.append({"block": bo, "calls": reqs,
                       "overrides": execution.parse_state_overrides(spec.get("stateOverrides"))})
    return blocks, bool(payload.get("returnFullTransactions", False))


@method("eth_getProof")
async def eth_get_proof(api, address: Address, slots: Json, block: Block = "latest") -> dict:
    from vm import codec

    if not isinstance(slots, list):
        raise invalid("eth_getProof param 2 (storageKeys): expected a list of storage keys")
    try:
        keys = [codec.parse_quantity(k, "storage key") for k in slots]
    except InvalidValue as exc:
        raise invalid(f"eth_getProof param 2 (storageKeys): {exc}") from None
    if any(k >= 2**256 for k in keys):
        raise invalid("eth_getProof param 2 (storageKeys): a key is wider than 32 bytes")
    return await api.proof(address, keys, block)


# -- sending --
@method("eth_sendRawTransaction")
async def eth_send_raw_transaction(api, raw: Data) -> str:
    if not raw:
        raise invalid("eth_sendRawTransaction param 1: empty transaction")
    return data(await api.send_raw(raw))


@method("eth_sendTransaction")
async def eth_send_transaction(api, tx: Object) -> str:
    f = _call_fields(tx)
    if "sender" not in f:
        raise invalid("eth_sendTransaction: the transaction needs a from address")
    return data(await api.send_transaction(f))


@method("eth_sign")
async def eth_sign(api, address: Address, message: Data) -> str:
    return data(await api.sign_message(address, message))


@method("personal_sign")
async def personal_sign(api, message: Json, address: Address) -> str:
    if not isinstance(message, str):
        raise invalid("personal_sign param 1 (message): expected a 0x-hex string or text")
    try:
        payload = parse_data(message, "message")
    except InvalidValue:  # MetaMask and ethers also send plain text
        payload = message.encode("utf-8")
    return data(await api.sign_message(address, payload))


@method("eth_signTypedData_v4")
async def eth_sign_typed_data_v4(api, address: Address, typed: Json) -> str:
    return data(await api.sign_typed_data(address, typed))


@method("eth_signTypedData")
async def eth_sign_typed_data(api, address: Address, typed: Json) -> str:
    return data(await api.sign_typed_data(address, typed))


@method("eth_signTransaction")
async def eth_sign_transaction(api, tx: Object) -> dict:
    f = _call_fields(tx)
    if "sender" not in f:
        raise invalid("eth_signTransaction: the transaction needs a from address")
    return await api.sign_transaction(f)


# -- blocks and transactions --
@method("eth_getBlockByNumber")
async def eth_get_block_by_number(api, ref: Block, full: Bool = False) -> Optional[dict]:
    return await api.block(ref, full)


@method("eth_getBlockByHash")
async def eth_get_block_by_hash(api, block_hash: Hash, full: Bool = False) -> Optional[dict]:
    return await api.block(block_hash, full)


@method("eth_getBlockTransactionCountByNumber")
async def eth_get_block_tx_count_by_number(api, ref: Block) -> Optional[str]:
    return _count(await api.block_transaction_count(ref))


@method("eth_getBlockTransactionCountByHash")
async def eth_get_block_tx_count_by_hash(api, block_hash: Hash) -> Optional[str]:
    return _count(await api.block_transaction_count(block_hash))


@method("eth_getUncleCountByBlockNumber")
async def eth_get_uncle_count_by_number(api, ref: Block) -> str:
    return "0x0"


@method("eth_getUncleCountByBlockHash")
async def eth_get_uncle_count_by_hash(api, block_hash: Hash) -> str:
    return "0x0"


@method("eth_getTransactionByHash")
async def eth_get_transaction_by_hash(api, tx_hash: Hash) -> Optional[dict]:
    return await api.transaction(tx_hash)


@method("eth_getRawTransactionByHash")
async def eth_get_raw_transaction_by_hash(api, tx_hash: Hash) -> Optional[str]:
    return _hex(await api.raw_transaction(tx_hash))


@method("eth_getRawTransactionByBlockNumberAndIndex")
async def eth_get_raw_tx_by_number_and_index(api, ref: Block, index: Quantity) -> Optional[str]:
    return _hex(await api.raw_transaction_at(ref, index))


@method("eth_getRawTransactionByBlockHashAndIndex")
async def eth_get_raw_tx_by_hash_and_index(api, block_hash: Hash, index: Quantity) -> Optional[str]:
    return _hex(await api.raw_transaction_at(block_hash, index))


@method("eth_getTransactionByBlockNumberAndIndex")
async def eth_get_tx_by_number_and_index(api, ref: Block, index: Quantity) -> Optional[dict]:
    return await api.transaction_at(ref, index)


@method("eth_getTransactionByBlockHashAndIndex")
async def eth_get_tx_by_hash_and_index(api, block_hash: Hash, index: Quantity) -> Optional[dict]:
    return await api.transaction_at(block_hash, index)


@method("eth_getTransactionReceipt")
async def eth_get_transaction_receipt(api, tx_hash: Hash) -> Optional[dict]:
    return await api.receipt(tx_hash)


@method("eth_getBlockReceipts")
async def eth_get_block_receipts(api, ref: Block) -> Optional[list]:
    return await api.block_receipts(ref)


# -- logs --
def parse_log_filter(obj: dict) -> dict:
    """eth_getLogs / eth_newFilter criteria -> index query arguments."""
    from vm import codec

    unknown = set(obj) - {"fromBlock", "toBlock", "address", "topics", "blockHash"}
    if unknown:
        raise InvalidValue(f"unknown filter field(s): {', '.join(sorted(unknown))}")
    addresses = obj.get("address")
    if addresses is None:
        addrs = None
    elif isinstance(addresses, str):
        addrs = [codec.parse_address(addresses)]
    elif isinstance(addresses, list):
        addrs = [codec.parse_address(a) for a in addresses] or None
    else:
        raise InvalidValue("address must be an address or a list of addresses")
    topics = obj.get("topics")
    parsed_topics = []
    if topics is not None:
        if not isinstance(topics, list) or len(topics) > 4:
            raise InvalidValue("topics must be a list of at most 4 entries")
        for t in topics:
            if t is None:
                parsed_topics.append(None)
            elif isinstance(t, str):
                parsed_topics.append([codec.parse_hash(t, "topic")])
            elif isinstance(t, list):
                parsed_topics.append([codec.parse_hash(x, "topic") for x in t] or None)
            else:
                raise InvalidValue("each topic must be a hash, a list of hashes, or null")
    from app.rpc.params import Block as BlockParam

    if obj.get("blockHash") is not None:
        if obj.get("fromBlock") is not None or obj.get("toBlock") is not None:
            raise InvalidValue("blockHash cannot be combined with fromBlock/toBlock")
        bh = codec.parse_hash(obj["blockHash"], "blockHash")
        return {"block_hash": bh, "addresses": addrs, "topics": parsed_topics}
    return {
        "from": BlockParam.parse(obj["fromBlock"]) if obj.get("fromBlock") is not None else "latest",
        "to": BlockParam.parse(obj["toBlock"]) if obj.get("toBlock") is not None else "latest",
        "addresses": addrs,
        "topics": parsed_topics,
    }


@method("eth_getLogs")
async def eth_get_logs(api, criteria: Object) -> list:
    try:
        crit = parse_log_filter(criteria)
    except InvalidValue as exc:
        raise invalid(f"eth_getLogs param 1 (filter): {exc}") from None
    return await api.logs(crit, raw=True)  # the stored logs go out as they are stored
