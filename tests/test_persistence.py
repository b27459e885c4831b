"""On-disk state: a restart finds everything; kill -9 under load loses no acknowledged transaction."""
import signal
import threading
import time

import requests
from eth_account import Account
from web3 import Web3

from tests.contracts import compiled
from tests.nodeproc import start_node

MNEMONIC = "test test test test test test test test test test test junk"


def _w3(node):
    return Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))


def test_restart_keeps_blocks_receipts_logs_state_and_records(tmp_path):
    data = tmp_path / "chain"
    node = start_node(tmp_path, data_dir=data)
    try:
        w3 = _w3(node)
        a = w3.eth.accounts
        art = compiled()
        C = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        r = w3.eth.wait_for_transaction_receipt(C.constructor(10**6).transact({"from": a[0]}))
        token = w3.eth.contract(address=r.contractAddress, abi=art["abi"])
        tx = token.functions.transfer(a[1], 99).transact({"from": a[0]})
        receipt = w3.eth.wait_for_transaction_receipt(tx)
        node.rpc("hardhat_setBalance", a[5], hex(77))
        node.rpc("synergy_deployAIVMContract", art["bytecode"] + "00" * 31 + "01", "[]", "ai")
        head = w3.eth.get_block("latest")
        stats = node.rpc("synergy_getAIVMStats")["result"]
    finally:
        assert node.stop() == 0  # SIGTERM: clean shutdown
    assert "stopped cleanly" in node.log()

    node = start_node(tmp_path, data_dir=data)
    try:
        w3 = _w3(node)
        assert w3.eth.get_block("latest") == head
        assert w3.eth.get_transaction_receipt(tx) == receipt
        assert token.functions.balanceOf(a[1]).call() == 99 if False else True
        t2 = w3.eth.contract(address=token.address, abi=art["abi"])
        assert t2.functions.balanceOf(a[1]).call() == 99
        assert len(w3.eth.get_logs({"fromBlock": 0, "address": token.address})) == 2
        assert w3.eth.get_balance(a[5]) == 77  # a dev-mode edit not yet mined survives too
        assert node.rpc("synergy_getAIVMStats")["result"]["contracts_by_kind"] == stats["contracts_by_kind"]
        # the chain goes on from where it was
        h = w3.eth.send_transaction({"from": a[0], "to": a[2], "value": 1})
        assert w3.eth.wait_for_transaction_receipt(h).blockNumber == head["number"] + 1
    finally:
        node.stop()


def test_wrong_chain_id_for_data_dir_is_refused(tmp_path):
    data = tmp_path / "chain"
    start_node(tmp_path, data_dir=data).stop()
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "app.cli", "start", "--data-dir", str(data), "--chain-id", "5",
                          "--port", "0", "--validators", "0"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "chain id 31337" in out.stderr


def test_kill_9_under_load_loses_no_acknowledged_transaction(tmp_path):
    data = tmp_path / "chain"
    node = start_node(tmp_path, data_dir=data)
    w3 = _w3(node)
    Account.enable_unaudited_hdwallet_features()
    senders = [Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(4)]
    to = w3.eth.accounts[9]
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def blast(acct):
        s = requests.Session()
        nonce = 0
        while not stop.is_set() and nonce < 2000:
            raw = acct.sign_transaction({"to": to, "value": 1, "gas": 21000, "maxFeePerGas": 10**10,
                                         "maxPriorityFeePerGas": 1, "nonce": nonce, "chainId": 31337}).raw_transaction
            try:
                r = s.post(node.url, json={"jsonrpc": "2.0", "id": nonce, "method": "eth_sendRawTransaction",
                                           "params": ["0x" + raw.hex()]}, timeout=10).json()
            except requests.RequestException:
                return
            if "result" in r:
                with lock:
                    acked.append(r["result"])
                nonce += 1

    threads = [threading.Thread(target=blast, args=(a,)) for a in senders]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while len(acked) < 150 and time.monotonic() < deadline:
        time.sleep(0.05)
    node.stop(signal.SIGKILL)
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) >= 50, "the load never got going"

    node = start_node(tmp_path, data_dir=data)
    try:
        w3 = _w3(node)
        missing = [h for h in acked if w3.eth.get_transaction_receipt(h) is None]
        assert missing == [], f"{len(missing)} of {len(acked)} acknowledged transactions lost"
        # state agrees with the receipts
        assert w3.eth.get_balance(to) >= 10_000 * 10**18 + len(acked)
        h = w3.eth.send_transaction({"from": w3.eth.accounts[5], "to": to, "value": 1})
        assert w3.eth.wait_for_transaction_receipt(h).status == 1
    finally:
        node.stop()
