"""End to end with real processes: contracts and RPC users get answers from a validator quorum."""
import pytest
from sklearn.datasets import load_digits
from web3 import Web3

from tests.distributed.ai_contract import compiled
from tests.distributed.cluster import start_cluster

DIGITS = load_digits()


def test_contract_gets_a_digit_from_five_validators_even_when_one_dies_mid_task(tmp_path):
    # validator 4 answers slowly (after the quorum of 4 has decided), and is killed mid-task later
    c = start_cluster(tmp_path, 5, holds="digits_cnn", behaviours={4: "delay=4"}, task_timeout=3)
    try:
        w3 = Web3(Web3.HTTPProvider(c.node.url, request_kwargs={"timeout": 120}))
        art = compiled()
        deployed = c.rpc("synergy_deployAIVMContract", art["bytecode"], art["abi"], "ai")
        ai = w3.eth.contract(address=deployed["contract_address"], abi=art["abi"])
        i = 42
        image = bytes(int(x) for x in DIGITS.data[i])
        receipt = w3.eth.wait_for_transaction_receipt(
            ai.functions.infer("digits_cnn", image).transact({"from": w3.eth.accounts[1]}))
        assert receipt.status == 1
        event = ai.events.Answer().process_receipt(receipt)[0].args
        assert event.model == "digits_cnn" and event.result == bytes([DIGITS.target[i]])
        assert ai.functions.last().call() == bytes([DIGITS.target[i]])
        # the answer was recorded: a call on the past block, and a new one, read it back unchanged
        assert ai.functions.infer("digits_cnn", image).call(block_identifier=receipt.blockNumber) == event.result
        stats = c.rpc("synergy_getAIVMStats")
        assert stats["contracts_by_kind"]["ai"] == 1 and stats["completed_computations"] >= 1
        assert stats["active_validators"] == 5
        rewards = [c.rpc("synergy_getValidatorAIRewards", "0x" + v.address.hex())["total_rewards"]
                   for v in c.validators]
        assert sum(1 for r in rewards if r > 0) >= 4
        cluster = c.rpc("synergy_getClusterAIStats", 1)
        assert cluster["active_validators"] == 5 and cluster["ai_success_rate"] == 1.0
        dist = c.rpc("synergy_getAIDistributedStats")
        assert int(dist["completed_computations"]) >= 1 and int(dist["total_ai_rewards_distributed"]) > 0

        # kill one validator mid-task: the computation still completes
        import signal
        import time

        j = 21
        cid = c.rpc("synergy_initiateDistributedAI", "digits_cnn", bytes(int(x) for x in DIGITS.data[j]).hex())
        time.sleep(0.5)
        c.validators[4].process.send_signal(signal.SIGKILL)
        out = c.wait(cid["computation_id"])
        assert out["status"] == "Completed" and bytes.fromhex(out["result"])[0] == DIGITS.target[j]
        slow = c.rpc("synergy_getValidatorAIStats", "0x" + c.validators[4].address.hex())
        assert slow["ai_tasks_completed"] == 0

        # one request (param 4, ours: a wait): initiate answers at the end, with the status and the result
        k = 33
        one = c.rpc("synergy_initiateDistributedAI", "digits_cnn", bytes(int(x) for x in DIGITS.data[k]).hex(), None, 30)
        assert one["success"] is True and one["status"] == "Completed", one
        assert bytes.fromhex(one["result"])[0] == DIGITS.target[k]
        assert c.rpc("synergy_getDistributedAIResult", one["computation_id"])["result"] == one["result"]
        status = c.rpc("synergy_getDistributedAIStatus", one["computation_id"])
        assert {key: one[key] for key in status} == status  # the same status fields
        for bad in (61, -1, "x", True):
            assert "param 4 (wait)" in c.rpc_error("synergy_initiateDistributedAI", "digits_cnn", "00" * 64, None, bad)
    finally:
        c.stop()


def test_sharded_model_across_validators_equals_the_unsharded_model(tmp_path):
    """Three validators, each holding one pipeline stage only: no one holds the whole model."""
    from models import generate_whole

    holds = {0: "distributed_ai_model:0", 1: "distributed_ai_model:1", 2: "distributed_ai_model:2"}
    c = start_cluster(tmp_path, 3, holds=holds, max_new_tokens=4, task_timeout=60)
    try:
        prompt = bytes.fromhex("48656c6c6f2c20444920576f726c64")  # the guide's "Hello, DI World"
        out = c.compute("distributed_ai_model", prompt)
        assert out["status"] == "Completed", out
        text = bytes.fromhex(out["result"]).decode("utf-8")
        assert text == generate_whole(prompt, 4)
        assert out["rounds_completed"] == 3 * 4 or text  # 3 stages per generated token
        for i, v in enumerate(c.validators):
            att = c.rpc("synergy_getValidatorAttestation", "0x" + v.address.hex())
            assert att["shards_held"] == [["distributed_ai_model", i]]
        verdict = c.rpc("synergy_verifyAIResult", out["computation_id"])
        assert verdict["valid"] is True
    finally:
        c.stop()


def test_async_request_is_answered_in_a_callback_transaction(tmp_path):
    import time

    from eth_utils import keccak

    from tests.distributed.async_contract import compiled as async_compiled
    from web3.exceptions import ContractLogicError

    # slow validators keep the first request pending long enough to see the one-pending rule
    c = start_cluster(tmp_path, 3, holds="digits_cnn", behaviours={i: "delay=4" for i in range(3)}, task_timeout=20)
    try:
        w3 = Web3(Web3.HTTPProvider(c.node.url, request_kwargs={"timeout": 120}))
        art = async_compiled()
        C = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        r = w3.eth.wait_for_transaction_receipt(C.constructor().transact({"from": w3.eth.accounts[0]}))
        oracle = w3.eth.contract(address=r.contractAddress, abi=art["abi"])
        i = 77
        image = bytes(int(x) for x in DIGITS.data[i])
        w3.eth.wait_for_transaction_receipt(oracle.functions.ask("digits_cnn", image).transact({"from": w3.eth.accounts[0]}))
        rid = oracle.functions.last_request().call()
        # a second concurrent request without the fee is refused; with the fee it would queue
        assert oracle.functions.results(rid).call() == b""
        with pytest.raises(ContractLogicError, match="one pending request per sender"):
            oracle.functions.ask("digits_cnn", image).call({"from": w3.eth.accounts[0]})
        oracle.functions.ask("digits_cnn", image).call({"from": w3.eth.accounts[0], "value": 10**16})
        deadline = time.monotonic() + 120
        while oracle.functions.results(rid).call() == b"" and time.monotonic() < deadline:
            time.sleep(0.3)
        assert oracle.functions.succeeded(rid).call() is True
        from models import load_model

        assert oracle.functions.results(rid).call() == load_model("digits_cnn").infer(image)  # the model's own answer
        logs = oracle.events.Delivered().get_logs(from_block=0)
        assert len(logs) == 1
        tx = w3.eth.get_transaction(logs[0].transactionHash)
        assert tx["from"] == "0x0000000000000000000000000000000000000121"
        assert oracle.functions.certificate_hashes(rid).call() != keccak(b"")  # a certificate came with it
    finally:
        c.stop()
