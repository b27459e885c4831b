"""AI from a contract never hangs the node (issue 9), against a real node and real validator processes.

The chain thread waits inside the AI precompile for the quorum; nothing the
quorum needs may in turn wait for the chain thread. These tests put the
multi-stage text model behind a contract's ai_infer (transaction, eth_call,
eth_estimateGas) while RPC computations and async requests run, kill a
validator mid-computation, and check that state reads keep being answered and
that ai_infer_timeout holds to the second.
"""
import signal
import threading
import time

import pytest
from sklearn.datasets import load_digits
from web3 import Web3

from tests.distributed.ai_contract import compiled
from tests.distributed.async_contract import compiled as async_compiled
from tests.distributed.cluster import start_cluster
from tests.nodeproc import start_node

DIGITS = load_digits()
TOKENS = 4


class ReadProbe(threading.Thread):
    """Keeps asking for state while AI work runs; records the slowest answer."""

    def __init__(self, w3, contract) -> None:
        super().__init__(daemon=True)
        self.w3, self.contract = w3, contract
        self.stop_flag = threading.Event()
        self.latencies: list[float] = []
        self.errors: list[str] = []

    def run(self) -> None:
        account = self.w3.eth.accounts[5]
        while not self.stop_flag.is_set():
            for read in (lambda: self.w3.eth.get_balance(account), lambda: self.contract.functions.last().call()):
                t = time.monotonic()
                try:
                    read()
                except Exception as exc:  # a timeout is the failure we are looking for
                    self.errors.append(repr(exc))
                self.latencies.append(time.monotonic() - t)
            time.sleep(0.05)

    def stop(self) -> None:
        self.stop_flag.set()
        self.join(10)


def test_text_model_behind_a_contract_with_concurrent_ai_work_and_a_killed_validator(tmp_path):
    from models import generate_whole

    c = start_cluster(tmp_path, 4, holds="digits_cnn,distributed_ai_model", max_new_tokens=TOKENS, task_timeout=15,
                      infer_timeout=240)
    try:
        w3 = Web3(Web3.HTTPProvider(c.node.url, request_kwargs={"timeout": 300}))
        art = compiled()
        deployed = c.rpc("synergy_deployAIVMContract", art["bytecode"], art["abi"], "ai")
        ai = w3.eth.contract(address=deployed["contract_address"], abi=art["abi"])
        aart = async_compiled()
        r = w3.eth.wait_for_transaction_receipt(
            w3.eth.contract(abi=aart["abi"], bytecode=aart["bytecode"]).constructor().transact({"from": w3.eth.accounts[2]}))
        oracle = w3.eth.contract(address=r.contractAddress, abi=aart["abi"])
        probe = ReadProbe(w3, ai)
        probe.start()

        # an RPC text computation and an async contract request are in flight when the contract asks
        rpc_cid = c.rpc("synergy_initiateDistributedAI", "distributed_ai_model", b"Name a colour.".hex())["computation_id"]
        image = bytes(int(x) for x in DIGITS.data[7])
        w3.eth.wait_for_transaction_receipt(oracle.functions.ask("digits_cnn", image).transact({"from": w3.eth.accounts[2]}))
        rid = oracle.functions.last_request().call()

        prompt = b"Hello, DI World"
        tx = ai.functions.infer("distributed_ai_model", prompt).transact({"from": w3.eth.accounts[1], "gas": 3_000_000})
        time.sleep(1.5)
        c.validators[3].process.send_signal(signal.SIGKILL)  # mid-computation: the other three still make a quorum
        receipt = w3.eth.wait_for_transaction_receipt(tx, timeout=300)
        assert receipt.status == 1
        answer = ai.events.Answer().process_receipt(receipt)[0].args.result
        assert answer.decode() == generate_whole(prompt, TOKENS)

        # eth_call and eth_estimateGas reach the same multi-stage path (new prompts: not recorded yet)
        assert ai.functions.infer("distributed_ai_model", b"Say hi.").call({"from": w3.eth.accounts[1]}).decode() == \
            generate_whole(b"Say hi.", TOKENS)
        gas = ai.functions.infer("distributed_ai_model", b"Say bye.").estimate_gas({"from": w3.eth.accounts[1]})
        assert gas > 400_000  # the model's price is in it
        # an answer length asked by the contract (max_tokens), recorded apart from the default length
        two = ai.functions.infer_n("distributed_ai_model", prompt, 2).call({"from": w3.eth.accounts[1]})
        assert two.decode() == generate_whole(prompt, 2)

        assert c.wait(rpc_cid)["status"] == "Completed"
        deadline = time.monotonic() + 120
        while oracle.functions.results(rid).call() == b"" and time.monotonic() < deadline:
            time.sleep(0.3)
        assert oracle.functions.succeeded(rid).call() is True
        probe.stop()
        assert not probe.errors, probe.errors[:3]
        assert max(probe.latencies) < 1.0, f"a state read took {max(probe.latencies):.2f} s while AI work ran"
    finally:
        c.stop()


def test_ai_infer_timeout_holds_to_the_second_and_the_transaction_reverts(tmp_path):
    # every validator stalls past the timeout: nobody can answer in time
    c = start_cluster(tmp_path, 3, holds="digits_cnn", behaviours={i: "delay=30" for i in range(3)}, task_timeout=60,
                      infer_timeout=3)
    try:
        w3 = Web3(Web3.HTTPProvider(c.node.url, request_kwargs={"timeout": 60}))
        art = compiled()
        deployed = c.rpc("synergy_deployAIVMContract", art["bytecode"], art["abi"], "ai")
        ai = w3.eth.contract(address=deployed["contract_address"], abi=art["abi"])
        image = bytes(int(x) for x in DIGITS.data[3])
        t = time.monotonic()
        tx = ai.functions.infer("digits_cnn", image).transact({"from": w3.eth.accounts[1], "gas": 500_000})
        receipt = w3.eth.wait_for_transaction_receipt(tx, timeout=60)
        took = time.monotonic() - t
        assert receipt.status == 0 and receipt.gasUsed > 50_000  # reverted; the model's price was charged
        assert took < 3 + 10  # bounded by ai_infer_timeout (plus block overhead), not hanging
        reason = c.node.rpc("eth_call", {"from": w3.eth.accounts[1], "to": ai.address, "gas": hex(500_000),
                                         "data": ai.encode_abi("infer", ["digits_cnn", image])}, "latest", timeout=60)
        assert "Distributed AI computation failed: timeout" in reason["error"]["message"]
        # the timed-out computations were failed, so no answer was recorded for a reverted transaction
        stats = c.rpc("synergy_getAIDistributedStats")
        assert int(stats["completed_computations"]) == 0 and int(stats["failed_computations"]) >= 2
        assert w3.eth.get_balance(w3.eth.accounts[1]) > 0  # and the node still answers
    finally:
        c.stop()


def test_max_tokens_is_validated(tmp_path):
    # no validators needed: without the check these requests would be accepted and wait for some
    node = start_node(tmp_path)
    try:
        for bad in (0, 257, -1):
            err = node.rpc("synergy_initiateDistributedAI", "distributed_ai_model", "00", bad)["error"]
            assert err["code"] == -32602 and "max_tokens" in err["message"]
        err = node.rpc("synergy_initiateDistributedAI", "digits_cnn", "00" * 64, 5)["error"]
        assert err["code"] == -32602 and "max_tokens" in err["message"]
        assert "result" in node.rpc("synergy_initiateDistributedAI", "digits_cnn", "00" * 64)  # the control
    finally:
        node.stop()
