"""Validators that lie, forge, replay, stall or die never change an answer; too many make it fail cleanly."""

import time

from sklearn.datasets import load_digits

from tests.distributed.cluster import start_cluster

DIGITS = load_digits()


def image(i: int) -> bytes:
    return bytes(int(x) for x in DIGITS.data[i])


def test_two_of_seven_lying_never_change_the_answer_get_slashed_and_records_survive_restart(tmp_path):
    behaviours = {0: "lie", 1: "forge", 2: "replay"}
    data = tmp_path / "chain"
    c = start_cluster(tmp_path, 7, behaviours=behaviours, task_timeout=6, data_dir=data)
    try:
        for i in (3, 17):
            out = c.compute("digits_cnn", image(i))
            assert out["status"] == "Completed", out
            assert bytes.fromhex(out["result"])[0] == DIGITS.target[i]
            verdict = c.rpc("synergy_verifyAIResult", out["computation_id"])
            # stake-weighted: 7 validators at 10 ETH (less what the liar lost), 2/3 of it decides
            assert verdict["valid"] and 60 * 10**18 < int(verdict["total_stake"]) <= 70 * 10**18
            assert int(verdict["signed_stake"]) * 3 >= int(verdict["total_stake"]) * 2 and verdict["signers"] >= 5
        liar, forger = (c.validators[i].address for i in (0, 1))
        deadline = time.monotonic() + 20  # a lie that lands after the quorum decided is judged on arrival
        while c.rpc("synergy_getValidatorAIRewards", "0x" + liar.hex())["slashed"] == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        liar_rewards = c.rpc("synergy_getValidatorAIRewards", "0x" + liar.hex())
        assert liar_rewards["slashed"] > 0 and liar_rewards["total_rewards"] == 0
        stats = c.rpc("synergy_getValidatorAIStats", "0x" + liar.hex())
        assert stats["synergy_score"] < 85 and stats["ai_tasks_failed"] >= 1
        forger_rewards = c.rpc("synergy_getValidatorAIRewards", "0x" + forger.hex())
        assert forger_rewards["total_rewards"] == 0
        honest = c.rpc("synergy_getValidatorAIRewards", "0x" + c.validators[5].address.hex())
        assert honest["total_rewards"] > 0 and honest["slashed"] == 0
        # the replaying validator's duplicate was refused (it logs that), its first answer counted
        log = (tmp_path / "logs" / "validator-2.log").read_text()
        assert "replay refused as expected" in log and "was accepted" not in log
        rewards = {v.address: c.rpc("synergy_getValidatorAIRewards", "0x" + v.address.hex()) for v in c.validators}
        stats = c.rpc("synergy_getAIDistributedStats")
    finally:
        c.stop()
    _check_records_after_restart(tmp_path, data, out, rewards, stats)


def _check_records_after_restart(tmp_path, data, out, rewards, stats):
    from tests.nodeproc import start_node

    node = start_node(tmp_path, data_dir=data)
    try:
        def rpc(m, *p):
            return node.rpc(m, *p)["result"]

        deadline = time.monotonic() + 600
        while "error" in node.rpc("synergy_listAIModels") and time.monotonic() < deadline:
            time.sleep(0.3)  # the AI layer loads in the background after a restart

        assert rpc("synergy_getDistributedAIResult", out["computation_id"])["result"] == out["result"]
        assert rpc("synergy_verifyAIResult", out["computation_id"])["valid"] is True
        for address, before in rewards.items():
            live = ("active", "active_in", "status")  # standing now: its validators are not running after the restart
            after = rpc("synergy_getValidatorAIRewards", "0x" + address.hex())
            assert {k: v for k, v in after.items() if k not in live} == {k: v for k, v in before.items() if k not in live}
        assert rpc("synergy_getAIDistributedStats") == stats
    finally:
        node.stop()


def test_too_many_liars_fail_cleanly(tmp_path):
    c = start_cluster(tmp_path, 4, behaviours={0: "lie", 1: "lie"}, task_timeout=5)
    try:
        out = c.compute("digits_cnn", image(8))
        assert out["status"] == "Failed" and out["success"] is False
        assert out["error"].startswith("Distributed AI computation failed: no quorum possible")
        assert "result" not in out
        assert c.rpc("synergy_verifyAIResult", out["computation_id"])["valid"] is False
    finally:
        c.stop()
