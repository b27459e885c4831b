"""`--block-time N`: transactions wait in the queue and land together in the next interval block."""
import time

from web3 import Web3

from tests.nodeproc import start_node


def test_interval_mining_batches_pending_transactions(tmp_path):
    node = start_node(tmp_path, "--block-time", "1.5")
    try:
        w3 = Web3(Web3.HTTPProvider(node.url))
        a = w3.eth.accounts
        start = w3.eth.block_number
        hashes = [w3.eth.send_transaction({"from": a[0], "to": a[1], "value": 1}) for _ in range(3)]
        assert w3.eth.get_transaction_count(a[0], "pending") == 3
        receipts = [w3.eth.wait_for_transaction_receipt(h, timeout=30) for h in hashes]
        assert len({r.blockNumber for r in receipts}) == 1  # one block took them all
        time.sleep(3.2)  # empty blocks keep coming, as Anvil and Hardhat do with an interval
        assert w3.eth.block_number >= receipts[0].blockNumber + 1 > start
    finally:
        node.stop()
