"""The eth_, net_ and web3_ methods that web3.py, ethers.js and viem use."""
from typing import Any, Optional

from eth_hash.auto import keccak

from vm import execution, forking, lookups, proofs, signing, txpool
from vm.chain import ExecutionFailed, TxRejected, UnknownBlock
from vm.codec import InvalidValue, checksum, data, parse_data, quantity
from vm.rpc.dispatch import method
from vm.rpc.errors import (
    EXECUTION_REVERTED,
    INVALID_PARAMS,
    LIMIT_EXCEEDED,
    RESOURCE_NOT_FOUND,
    SERVER_ERROR,
    RpcError,
)
from vm.rpc.params import Address, Block, Bool, Data, Hash, Json, Object, Quantity, tx_fields

CLIENT_VERSION = "AIVM/v0.1.0/python"
MAX_LOG_RESULTS = 20_000
MAX_FEE_HISTORY = 1024
DEFAULT_TIP = 1_000_000_000


async def _chain_errors_mapped(work) -> Any:
    """Await chain work, turning the chain's errors into JSON-RPC errors (the one place for both paths)."""
    try:
        return await work
    except UnknownBlock as exc:
        raise RpcError(RESOURCE_NOT_FOUND, str(exc)) from None
    except TxRejected as exc:
        raise RpcError(exc.code, str(exc)) from None
    except ExecutionFailed as exc:
        raise revert_error(exc.result) from None
    except InvalidValue as exc:
        raise RpcError(INVALID_PARAMS, str(exc)) from None


async def chain_read(node: Any, fn, *args, **kwargs) -> Any:
    """Run a chain read on a reader thread (never behind the chain thread)."""
    return await _chain_errors_mapped(node.read(fn, *args, **kwargs))


async def chain_job(node: Any, fn, *args, **kwargs) -> Any:
    """Like chain_read, but on the chain thread: for work that builds its own py-evm state on the
    chain's writable store (scratch executions with overrides, simulations, the pending block,
    trace replays)."""
    return await _chain_errors_mapped(node.run(fn, *args, **kwargs))


def revert_error(result: Any) -> RpcError:
    return RpcError(EXECUTION_REVERTED, result.error or "execution reverted", data(result.output))


# -- identity --
@method("web3_clientVersion")
async def web3_client_version(node) -> str:
    return CLIENT_VERSION


@method("web3_sha3")
async def web3_sha3(node, payload: Data) -> str:
    return data(keccak(payload))


@method("net_version")
async def net_version(node) -> str:
    return str(node.chain.config.chain_id)


@method("net_listening")
async def net_listening(node) -> bool:
    return True


@method("net_peerCount")
async def net_peer_count(node) -> str:
    return "0x0"


@method("eth_chainId")
async def eth_chain_id(node) -> str:
    return quantity(node.chain.config.chain_id)


@method("eth_protocolVersion")
async def eth_protocol_version(node) -> str:
    return "0x44"


@method("eth_syncing")
async def eth_syncing(node) -> bool:
    return False


@method("eth_mining")
async def eth_mining(node) -> bool:
    return node.automine or node.options.block_time > 0


@method("eth_hashrate")
async def eth_hashrate(node) -> str:
    return "0x0"


@method("eth_coinbase")
async def eth_coinbase(node) -> str:
    return checksum(node.chain.config.coinbase)


@method("eth_accounts")
async def eth_accounts(node) -> list:
    return [checksum(a.address) for a in node.chain.accounts]


# -- fees --
@method("eth_blockNumber")
async def eth_block_number(node) -> str:
    return quantity(node.chain.head_number)


@method("eth_gasPrice")
async def eth_gas_price(node) -> str:
    return quantity(node.chain.next_base_fee() + DEFAULT_TIP)


@method("eth_maxPriorityFeePerGas")
async def eth_max_priority_fee(node) -> str:
    return quantity(DEFAULT_TIP)


@method("eth_blobBaseFee")
async def eth_blob_base_fee(node) -> str:
    return "0x1"


@method("eth_feeHistory")
async def eth_fee_history(node, block_count: Quantity, newest: Block, percentiles: Json = None) -> dict:
    if percentiles is not None:
        if not isinstance(percentiles, list) or not all(
            isinstance(p, (int, float)) and not isinstance(p, bool) and 0 <= p <= 100 for p in percentiles
        ):
            raise RpcError(INVALID_PARAMS, "eth_feeHistory param 3: reward percentiles must be numbers from 0 to 100")
        if any(b < a for a, b in zip(percentiles, percentiles[1:])):
            raise RpcError(INVALID_PARAMS, "eth_feeHistory param 3: reward percentiles must be ascending")
    return await chain_read(node, _fee_history, node.chain, block_count, newest, percentiles)


def _fee_history(chain, count: int, newest: Any, percentiles: Optional[list]) -> dict:
    newest_n = _block_number(chain, newest)
    count = max(0, min(count, MAX_FEE_HISTORY, newest_n + 1))
    oldest = newest_n - count + 1
    base_fees, ratios, rewards = [], [], []
    for n in range(oldest, newest_n + 1):
        rec = chain.index.block(n)
        gas_used, gas_limit = int(rec["gasUsed"], 16), int(rec["gasLimit"], 16)
        base_fees.append(rec["baseFeePerGas"])
        ratios.append(gas_used / gas_limit if gas_limit else 0.0)
        if percentiles is not None:
            rewards.append([quantity(v) for v in _percentile_rewards(chain.index.fees(n), gas_used, percentiles)])
    # the base fee of the block after `newest`
    if count:
        if newest_n == chain.head_number:
            base_fees.append(quantity(chain.next_base_fee()))
        else:
            base_fees.append(chain.index.block(newest_n + 1)["baseFeePerGas"])
    out = {
        "oldestBlock": quantity(oldest if count else newest_n),
        "baseFeePerGas": base_fees,
        "gasUsedRatio": ratios,
        "baseFeePerBlobGas": ["0x1"] * len(base_fees),
        "blobGasUsedRatio": [0.0] * len(ratios),
    }
    if percentiles is not None:
        out["reward"] = rewards
    return out


def _percentile_rewards(fees: list, gas_used: int, percentiles: list) -> list[int]:
    """Effective priority fees at gas-weighted percentiles (geth's definition)."""
    if not fees:
        return [0] * len(percentiles)
    out = []
    i, cumulative = 0, fees[0][1]
    for p in percentiles:
        threshold = gas_used * p / 100
        while cumulative < threshold and i < len(fees) - 1:
            i += 1
            cumulative += fees[i][1]
        out.append(fees[i][0])
    return out


# -- state reads --
def _block_number(chain, ref: Any) -> int:
    if ref in ("latest", "pending", "safe", "finalized"):
        return chain.head_number
    if ref == "earliest":
        return 0
    if isinstance(ref, bytes):
        n = chain.index.block_number(ref)
        if n is None:
            raise UnknownBlock(f"unknown block hash 0x{ref.hex()}")
        return n
    if ref > chain.head_number:
        raise UnknownBlock(f"block #{ref} is not mined yet (head is #{chain.head_number})")
    return ref


@method("eth_getBalance")
async def eth_get_balance(node, address: Address, block: Block = "latest") -> str:
    if block == "pending":
        return quantity(await chain_job(node, lookups.read_state, node, "balance", block, address))
    return quantity(await chain_read(node, node.chain.balance, address, block))


@method("eth_getTransactionCount")
async def eth_get_transaction_count(node, address: Address, block: Block = "latest") -> str:
    if block == "pending":
        return quantity(await chain_read(node, node.read_pending_nonce, address))
    return quantity(await chain_read(node, node.chain.nonce, address, block))


@method("eth_getCode")
async def eth_get_code(node, address: Address, block: Block = "latest") -> str:
    if block == "pending":
        return data(await chain_job(node, lookups.read_state, node, "code", block, address))
    return data(await chain_read(node, node.chain.code, address, block))


@method("eth_getStorageAt")
async def eth_get_storage_at(node, address: Address, slot: Quantity, block: Block = "latest") -> str:
    if block == "pending":
        value = await chain_job(node, lookups.read_state, node, "storage", block, address, slot)
        return data(value.to_bytes(32, "big"))
    value = await chain_read(node, node.chain.storage, address, slot, block)
    return data(value.to_bytes(32, "big"))


def _call_fields(obj: dict) -> dict:
    try:
        f = tx_fields(obj)
    except InvalidValue as exc:
        raise RpcError(INVALID_PARAMS, f"transaction object: {exc}") from None
    return f


def _overrides(name: str, obj: Any) -> dict:
    try:
        return execution.parse_state_overrides(obj)
    except InvalidValue as exc:
        raise RpcError(INVALID_PARAMS, f"{name} param 3 (state overrides): {exc}") from None


@method("eth_call")
async def eth_call(node, tx: Object, block: Block = "latest", overrides: Json = None) -> str:
    f = _call_fields(tx)
    if overrides or (block == "pending" and node._queue):  # pending: on top of the queued transactions
        req = execution.CallRequest.from_fields(f)
        parsed = _overrides("eth_call", overrides)

        def run():
            return execution.call(node.chain, req, lookups.at_block(node, block), parsed)

        result = await chain_job(node, run)
    else:
        args = (f.get("sender"), f.get("to"), f.get("data", b""), f.get("value", 0), f.get("gas"),
                f.get("gas_price") or 0, block)
        result = node.chain.cached_call(*args)  # the same call on the same head: no thread hop
        if result is None:
            result = await chain_read(node, node.chain.call, *args)
    if not result.success:
        raise revert_error(result)
    return data(result.output)


@method("eth_estimateGas")
async def eth_estimate_gas(node, tx: Object, block: Block = "pending", overrides: Json = None) -> str:
    f = _call_fields(tx)
    if overrides or (block == "pending" and node._queue):  # pending: on top of the queued transactions
        req = execution.CallRequest.from_fields(f)
        parsed = _overrides("eth_estimateGas", overrides)

        def run():
            return execution.estimate_gas(node.chain, req, lookups.at_block(node, block), parsed)

        return quantity(await chain_job(node, run))
    gas = await chain_read(
        node, node.chain.estimate_gas, f.get("sender"), f.get("to"), f.get("data", b""),
        f.get("value", 0), f.get("gas"), block,
    )
    return quantity(gas)


@method("eth_createAccessList")
async def eth_create_access_list(node, tx: Object, block: Block = "pending", overrides: Json = None) -> dict:
    req = execution.CallRequest.from_fields(_call_fields(tx))
    parsed = _overrides("eth_createAccessList", overrides)

    def run():
        return execution.create_access_list(node.chain, req, lookups.at_block(node, block), parsed)

    return await chain_job(node, run)


@method("eth_simulateV1")
async def eth_simulate_v1(node, payload: Object, block: Block = "latest") -> list:
    try:
        blocks, full = _parse_simulation(payload)
    except InvalidValue as exc:
        raise RpcError(INVALID_PARAMS, f"eth_simulateV1 param 1: {exc}") from None
    validation = payload.get("validation", False)
    if not isinstance(validation, bool):
        raise RpcError(INVALID_PARAMS, "eth_simulateV1 param 1: validation must be true or false")
    return await chain_job(node, execution.simulate, node.chain, blocks, block, full, validation)


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
async def eth_get_proof(node, address: Address, slots: Json, block: Block = "latest") -> dict:
    from vm import codec

    if not isinstance(slots, list):
        raise RpcError(INVALID_PARAMS, "eth_getProof param 2 (storageKeys): expected a list of storage keys")
    try:
        keys = [codec.parse_quantity(k, "storage key") for k in slots]
    except InvalidValue as exc:
        raise RpcError(INVALID_PARAMS, f"eth_getProof param 2 (storageKeys): {exc}") from None
    if any(k >= 2**256 for k in keys):
        raise RpcError(INVALID_PARAMS, "eth_getProof param 2 (storageKeys): a key is wider than 32 bytes")
    return await chain_read(node, proofs.get_proof, node.chain, address, keys, block)


# -- sending --
async def _submit(node, coro) -> str:
    try:
        tx_hash, _ = await coro
    except TxRejected as exc:
        raise RpcError(exc.code if exc.code != -32000 else SERVER_ERROR, str(exc)) from None
    except ExecutionFailed as exc:  # gas estimation of an unsigned tx failed
        raise revert_error(exc.result) from None
    return data(tx_hash)


@method("eth_sendRawTransaction")
async def eth_send_raw_transaction(node, raw: Data) -> str:
    if not raw:
        raise RpcError(INVALID_PARAMS, "eth_sendRawTransaction param 1: empty transaction")
    return await _submit(node, node.send_raw(raw, early=True))


@method("eth_sendTransaction")
async def eth_send_transaction(node, tx: Object) -> str:
    f = _call_fields(tx)
    if "sender" not in f:
        raise RpcError(INVALID_PARAMS, "eth_sendTransaction: the transaction needs a from address")
    return await _submit(node, node.send_unsigned(f, early=True))


@method("eth_sign")
async def eth_sign(node, address: Address, message: Data) -> str:
    return data(await chain_read(node, signing.sign_message, node.chain, address, message))


@method("personal_sign")
async def personal_sign(node, message: Json, address: Address) -> str:
    if not isinstance(message, str):
        raise RpcError(INVALID_PARAMS, "personal_sign param 1 (message): expected a 0x-hex string or text")
    try:
        payload = parse_data(message, "message")
    except InvalidValue:  # MetaMask and ethers also send plain text
        payload = message.encode("utf-8")
    return data(await chain_read(node, signing.sign_message, node.chain, address, payload))


async def _sign_typed(node, address: bytes, typed: Any) -> str:
    return data(await chain_read(node, signing.sign_typed_data, node.chain, address, typed))


@method("eth_signTypedData_v4")
async def eth_sign_typed_data_v4(node, address: Address, typed: Json) -> str:
    return await _sign_typed(node, address, typed)


@method("eth_signTypedData")
async def eth_sign_typed_data(node, address: Address, typed: Json) -> str:
    return await _sign_typed(node, address, typed)


@method("eth_signTransaction")
async def eth_sign_transaction(node, tx: Object) -> dict:
    f = _call_fields(tx)
    if "sender" not in f:
        raise RpcError(INVALID_PARAMS, "eth_signTransaction: the transaction needs a from address")
    await chain_read(node, signing.dev_key, node.chain, f["sender"])

    def sign():
        fields = dict(f)
        sender = fields.pop("sender")
        if fields.get("nonce") is None:
            fields["nonce"] = node.read_pending_nonce(sender)
        signed, _ = node.chain.sign(sender, **fields)
        return signed, sender

    signed, sender = await chain_read(node, sign)
    return {"raw": data(signed.encode()), "tx": signing.transaction_json(signed, sender)}


# -- blocks and transactions --
async def _block_record(node, ref: Any, full: bool) -> Optional[dict]:
    def read():
        try:
            n = _block_number(node.chain, ref)
        except UnknownBlock:
            if isinstance(ref, bytes):  # a block from before the fork, if forked
                return forking.remote_lookup(node.chain, "eth_getBlockByHash", ref)
            return None
        remote = forking.remote_block(node.chain, n, full)  # up to the fork block: the forked chain's own
        if remote is not None:
            return remote
        rec = node.chain.index.block(n)
        if rec is not None and full:
            rec["transactions"] = [
                node.chain.index.transaction(bytes.fromhex(h[2:]))["tx"] for h in rec["transactions"]
            ]
        return rec

    return await chain_read(node, read)


def _local_or_remote(node, tx_hash: bytes, part: str) -> Optional[dict]:
    """Chain thread: a mined transaction's `tx` or `receipt`, from the fork's remote when mined before it."""
    rec = node.chain.index.transaction(tx_hash)
    if rec is not None:
        return rec[part]
    method_name = "eth_getTransactionByHash" if part == "tx" else "eth_getTransactionReceipt"
    return forking.remote_lookup(node.chain, method_name, tx_hash)


@method("eth_getBlockByNumber")
async def eth_get_block_by_number(node, ref: Block, full: Bool = False) -> Optional[dict]:
    if ref == "pending":
        return await chain_job(node, lookups.pending_block, node, full)
    return await _block_record(node, ref, full)


@method("eth_getBlockByHash")
async def eth_get_block_by_hash(node, block_hash: Hash, full: Bool = False) -> Optional[dict]:
    return await _block_record(node, block_hash, full)


@method("eth_getBlockTransactionCountByNumber")
async def eth_get_block_tx_count_by_number(node, ref: Block) -> Optional[str]:
    rec = await _block_record(node, ref, False)
    return None if rec is None else quantity(len(rec["transactions"]))


@method("eth_getBlockTransactionCountByHash")
async def eth_get_block_tx_count_by_hash(node, block_hash: Hash) -> Optional[str]:
    rec = await _block_record(node, block_hash, False)
    return None if rec is None else quantity(len(rec["transactions"]))


@method("eth_getUncleCountByBlockNumber")
async def eth_get_uncle_count_by_number(node, ref: Block) -> str:
    return "0x0"


@method("eth_getUncleCountByBlockHash")
async def eth_get_uncle_count_by_hash(node, block_hash: Hash) -> str:
    return "0x0"


@method("eth_getTransactionByHash")
async def eth_get_transaction_by_hash(node, tx_hash: Hash) -> Optional[dict]:
    rec = node.chain.index.transaction(tx_hash)  # one committed key: no thread needed
    if rec is None:  # pending (automine off): blockHash, blockNumber and transactionIndex are null
        q = txpool.find(node, tx_hash)
        if q is not None:
            return txpool.pending_json(q)
        return await chain_read(node, forking.remote_lookup, node.chain, "eth_getTransactionByHash", tx_hash)
    return rec["tx"]


@method("eth_getRawTransactionByHash")
async def eth_get_raw_transaction_by_hash(node, tx_hash: Hash) -> Optional[str]:
    raw = await chain_read(node, lookups.raw_by_hash, node, tx_hash)
    return None if raw is None else data(raw)


async def _raw_by_index(node, ref: Any, index: int) -> Optional[str]:
    def read():
        n = lookups.block_number_of(node.chain, ref)
        return None if n is None else lookups.raw_by_position(node.chain, n, index)

    raw = await chain_read(node, read)
    return None if raw is None else data(raw)


@method("eth_getRawTransactionByBlockNumberAndIndex")
async def eth_get_raw_tx_by_number_and_index(node, ref: Block, index: Quantity) -> Optional[str]:
    return await _raw_by_index(node, ref, index)


@method("eth_getRawTransactionByBlockHashAndIndex")
async def eth_get_raw_tx_by_hash_and_index(node, block_hash: Hash, index: Quantity) -> Optional[str]:
    return await _raw_by_index(node, block_hash, index)


async def _tx_by_index(node, ref: Any, index: int) -> Optional[dict]:
    rec = await _block_record(node, ref, False)
    if rec is None or index >= len(rec["transactions"]):
        return None
    entry = rec["transactions"][index]
    if isinstance(entry, dict):
        return entry
    return await chain_read(node, _local_or_remote, node, bytes.fromhex(entry[2:]), "tx")


@method("eth_getTransactionByBlockNumberAndIndex")
async def eth_get_tx_by_number_and_index(node, ref: Block, index: Quantity) -> Optional[dict]:
    return await _tx_by_index(node, ref, index)


@method("eth_getTransactionByBlockHashAndIndex")
async def eth_get_tx_by_hash_and_index(node, block_hash: Hash, index: Quantity) -> Optional[dict]:
    return await _tx_by_index(node, block_hash, index)


@method("eth_getTransactionReceipt")
async def eth_get_transaction_receipt(node, tx_hash: Hash) -> Optional[dict]:
    rec = node.chain.index.transaction(tx_hash)  # one committed key: no thread needed
    if rec is None:
        return await chain_read(node, forking.remote_lookup, node.chain, "eth_getTransactionReceipt", tx_hash)
    return rec["receipt"]


@method("eth_getBlockReceipts")
async def eth_get_block_receipts(node, ref: Block) -> Optional[list]:
    rec = await _block_record(node, ref, False)
    if rec is None:
        return None

    def read():
        return [_local_or_remote(node, bytes.fromhex(h[2:]), "receipt") for h in rec["transactions"]]

    return await chain_read(node, read)


# -- logs --
def parse_log_filter(chain, obj: dict) -> dict:
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
    from vm.rpc.params import Block as BlockParam

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


def query_logs(chain, crit: dict, lo: Optional[int] = None, hi: Optional[int] = None, raw: bool = False) -> list:
    """`raw`: the list may hold orjson Fragments (whole blocks' stored logs): for a direct RPC answer."""
    if "block_hash" in crit:
        n = chain.index.block_number(crit["block_hash"])
        if n is None:
            raise UnknownBlock(f"unknown block hash 0x{crit['block_hash'].hex()}")
        lo = hi = n
    else:
        for ref in (crit["from"], crit["to"]):
            if isinstance(ref, int) and ref > chain.head_number and lo is None:
                raise RpcError(INVALID_PARAMS, "block range extends beyond current head block")
        lo = _block_number(chain, crit["from"]) if lo is None else lo
        hi = _block_number(chain, crit["to"]) if hi is None else hi
        if lo > hi:
            raise RpcError(INVALID_PARAMS, "invalid block range params")
    try:
        before_fork = forking.remote_logs(chain, lo, hi, crit["addresses"], crit["topics"])
        return before_fork + chain.index.logs(lo, hi, crit["addresses"], crit["topics"], limit=MAX_LOG_RESULTS, raw=raw)
    except OverflowError:
        raise RpcError(
            LIMIT_EXCEEDED,
            f"query returned more than {MAX_LOG_RESULTS} results: narrow the block range or the filter",
        ) from None


@method("eth_getLogs")
async def eth_get_logs(node, criteria: Object) -> list:
    try:
        crit = parse_log_filter(node.chain, criteria)
    except InvalidValue as exc:
        raise RpcError(INVALID_PARAMS, f"eth_getLogs param 1 (filter): {exc}") from None
    return await chain_read(node, query_logs, node.chain, crit, raw=True)
