"""Every Ethereum-side method the node registers answers a valid call with a result (no error).

The table below is checked against the dispatcher's method list, so a newly registered method
without a valid-call entry here fails this test. (synergy_* AI methods are tested with validators
in tests/ai; eth_subscribe / eth_unsubscribe need a WebSocket: tests/js/test_ethers_client.py.)
"""
from app.rpc import server  # noqa: F401  (registers the methods)
from app.rpc.dispatch import method_names

DEV0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
DEV1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
ELSEWHERE = {"eth_subscribe", "eth_unsubscribe", "dashboard_computation"}  # that one needs validators: tests/dashboard


def test_every_method_answers_a_valid_call(node, w3, token):
    h = w3.eth.send_transaction({"from": DEV0, "to": DEV1, "value": 1})
    r = w3.eth.wait_for_transaction_receipt(h)
    tx, blk, num = "0x" + bytes(h).hex(), "0x" + bytes(r.blockHash).hex(), hex(r.blockNumber)
    raw = node.rpc("eth_signTransaction", {"from": DEV0, "to": DEV1, "value": "0x3", "gas": "0x5208",
                                           "nonce": "0x3"})["result"]["raw"]
    dump = node.rpc("anvil_dumpState")["result"]
    typed = {"types": {"EIP712Domain": [{"name": "name", "type": "string"}], "M": [{"name": "x", "type": "uint256"}]},
             "primaryType": "M", "domain": {"name": "d"}, "message": {"x": 1}}
    call = {"from": DEV0, "to": token.address, "data": token.functions.totalSupply()._encode_transaction_data()}
    filt = node.rpc("eth_newFilter", {"fromBlock": "0x0"})["result"]
    calls = [
        ("web3_clientVersion", []), ("web3_sha3", ["0x00"]), ("net_version", []), ("net_listening", []),
        ("net_peerCount", []), ("eth_chainId", []), ("eth_protocolVersion", []), ("eth_syncing", []),
        ("eth_mining", []), ("eth_hashrate", []), ("eth_coinbase", []), ("eth_accounts", []),
        ("eth_blockNumber", []), ("eth_gasPrice", []), ("eth_maxPriorityFeePerGas", []), ("eth_blobBaseFee", []),
        ("eth_feeHistory", ["0x2", "latest", [50]]), ("eth_getBalance", [DEV0, "latest"]),
        ("eth_getTransactionCount", [DEV0, "pending"]), ("eth_getCode", [token.address, "latest"]),
        ("eth_getStorageAt", [token.address, "0x0", "latest"]), ("eth_call", [call, "latest"]),
        ("eth_estimateGas", [call]), ("eth_createAccessList", [call]),
        ("eth_simulateV1", [{"blockStateCalls": [{"calls": [call]}]}, "latest"]),
        ("eth_getProof", [DEV0, [], "latest"]), ("eth_getBlockByNumber", [num, True]),
        ("eth_getBlockByHash", [blk, False]), ("eth_getBlockTransactionCountByNumber", [num]),
        ("eth_getBlockTransactionCountByHash", [blk]), ("eth_getUncleCountByBlockNumber", [num]),
        ("eth_getUncleCountByBlockHash", [blk]), ("eth_getTransactionByHash", [tx]),
        ("eth_getTransactionByBlockNumberAndIndex", [num, "0x0"]),
        ("eth_getTransactionByBlockHashAndIndex", [blk, "0x0"]), ("eth_getTransactionReceipt", [tx]),
        ("eth_getBlockReceipts", [num]), ("eth_getRawTransactionByHash", [tx]),
        ("eth_getRawTransactionByBlockNumberAndIndex", [num, "0x0"]),
        ("eth_getRawTransactionByBlockHashAndIndex", [blk, "0x0"]), ("eth_getLogs", [{"fromBlock": "0x0"}]),
        ("eth_newFilter", [{"address": token.address}]), ("eth_newBlockFilter", []), ("eth_newPendingTransactionFilter", []), ("eth_getFilterLogs", [filt]),
        ("eth_getFilterChanges", [filt]), ("eth_uninstallFilter", [filt]), ("eth_sign", [DEV0, "0x01"]),
        ("personal_sign", ["0x01", DEV0]), ("eth_signTypedData", [DEV0, typed]),
        ("eth_signTypedData_v4", [DEV0, typed]), ("eth_signTransaction", [{"from": DEV0, "to": DEV1}]),
        ("eth_sendTransaction", [{"from": DEV0, "to": DEV1, "value": "0x1"}]), ("eth_sendRawTransaction", [raw]),
        ("debug_traceTransaction", [tx]), ("debug_traceCall", [call, "latest", {"tracer": "callTracer"}]),
        ("debug_traceBlockByNumber", [num]), ("debug_traceBlockByHash", [blk, {"tracer": "prestateTracer"}]),
        ("txpool_content", []), ("txpool_contentFrom", [DEV0]), ("txpool_status", []), ("txpool_inspect", []),
        ("evm_snapshot", []), ("anvil_snapshot", []), ("evm_mine", []), ("anvil_mine_detailed", []),
        ("hardhat_mine", ["0x2"]), ("anvil_mine", ["0x2", "0x3"]), ("evm_increaseTime", [10]),
        ("anvil_increaseTime", [10]), ("evm_setNextBlockTimestamp", [2**33]),
        ("anvil_setNextBlockTimestamp", [2**33 + 10]), ("evm_setBlockGasLimit", ["0x1c9c380"]),
        ("anvil_setBlockTimestampInterval", [3]), ("anvil_removeBlockTimestampInterval", []),
        ("hardhat_setBalance", [DEV1, "0x1"]), ("anvil_setBalance", [DEV1, hex(10**22)]),
        ("hardhat_setCode", ["0x" + "77" * 20, "0x00"]), ("anvil_setCode", ["0x" + "78" * 20, "0x00"]),
        ("hardhat_setNonce", ["0x" + "77" * 20, "0x5"]), ("anvil_setNonce", ["0x" + "78" * 20, "0x5"]),
        ("hardhat_setStorageAt", ["0x" + "77" * 20, "0x0", "0x" + "00" * 31 + "01"]),
        ("anvil_setStorageAt", ["0x" + "78" * 20, "0x0", "0x" + "00" * 31 + "01"]),
        ("hardhat_impersonateAccount", ["0x" + "79" * 20]), ("anvil_impersonateAccount", ["0x" + "7a" * 20]),
        ("hardhat_stopImpersonatingAccount", ["0x" + "79" * 20]),
        ("anvil_stopImpersonatingAccount", ["0x" + "7a" * 20]),
        ("evm_setAutomine", [False]), ("anvil_setAutomine", [False]),
        ("eth_sendTransaction", [{"from": DEV0, "to": DEV1, "value": "0x2"}]),
        ("anvil_dropTransaction", ["0x" + "00" * 32]), ("hardhat_dropTransaction", ["0x" + "00" * 32]),
        ("anvil_removePoolTransactions", [DEV1]), ("anvil_dropAllTransactions", []),
        ("evm_setAutomine", [True]), ("anvil_dumpState", []), ("hardhat_dumpState", []),
        ("anvil_loadState", [dump]), ("hardhat_loadState", [dump]),
        ("anvil_metadata", []), ("hardhat_metadata", []), ("anvil_nodeInfo", []),
        ("dashboard_overview", []), ("dashboard_latest", [5, 5]), ("dashboard_block", [num]),
        ("dashboard_transaction", [tx]), ("dashboard_address", [DEV0]), ("dashboard_contracts", []),
        ("dashboard_search", [tx]), ("dashboard_validators", []), ("dashboard_computations", []),
        ("dashboard_history", []), ("dashboard_bridges", []),
        ("evm_revert", ["0x1"]), ("anvil_revert", ["0x1"]), ("anvil_reset", []), ("hardhat_reset", []),
    ]
    covered = {name for name, _ in calls}
    expected = {n for n in method_names() if not n.startswith("synergy_")} - ELSEWHERE
    assert expected - covered == set(), "methods without a valid-call test here"
    for name, params in calls:
        resp = node.rpc(name, *params)
        assert "result" in resp, (name, params, resp)
