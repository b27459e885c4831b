"""The scheduler's stake rule, in process and exact to the wei (no node: the chain is a dict).

Validators here are real key sets signing real votes through `Scheduler`'s own
entry points (register with proof, attest, heartbeat, submit); the certificate
each decided round yields is checked with the consensus precompile's code
against the stakes the scheduler mirrored into "chain storage".
"""
from __future__ import annotations

import time

import pytest
from eth_hash.auto import keccak

from ai import protocol
from models import get_manifest
from ai.records import AIRecords
from ai.scheduler import AIError, Scheduler
from ai.commitments import commitment
from pqc import bundle, quorum
from pqc.keys import KeySet
from vm.store.kv import MemoryKV

ETH = 10**18
IMAGE = bytes(range(16)) * 4
RIGHT, WRONG = b"\x03", b"\x04"


class Chain:
    """The scheduler's chain hooks over a dict: writes land at once (the node queues them on its chain thread)."""

    def __init__(self) -> None:
        self.storage: dict = {}
        self.burned = 0

    def lock_stake(self, address, amount):
        pass

    def update_storage(self, compute):
        for address, slot, value in compute(self.read_storage):
            self.storage[(address, slot)] = value

    def read_storage(self, address, slot):
        return self.storage.get((address, slot), 0)

    def burn_stake(self, amount):
        self.burned += amount


class Member:
    def __init__(self, s: Scheduler, stake: int, answer: "bytes | None" = RIGHT) -> None:
        self.s, self.answer = s, answer
        self.keys = KeySet.generate(protocol.LEVEL, with_kem=False)
        self.pub = self.keys.signing_keys()
        self.address = protocol.validator_address(self.pub)
        self.register(stake)
        att = {"software_version": "t", "cores": 1, "memory_mb": 4096, "gpu": None, "timestamp": int(time.time()),
               "shards": [{"model_id": "digits_cnn", "stage": 0, "sha256": SHA}]}
        self.att = att
        s.attest(self.address, att, self.sign(protocol.attestation_message(s.chain_id, self.address, att)))
        s.restore(self.address)  # a fresh heartbeat

    def sign(self, msg: bytes) -> bytes:
        return bundle.sign(self.keys, msg).encode()

    def register(self, stake: int):
        msg = protocol.registration_message(self.s.chain_id, self.address, self.pub.key_hash, stake)
        return self.s.register(self.pub.encode(), stake, self.sign(msg))

    def beat(self):
        v = self.s.validators[self.address]
        ts = max(int(time.time()), int(v.last_heartbeat) + 1)
        return self.s.heartbeat(self.address, ts, self.sign(protocol.heartbeat_message(self.s.chain_id, self.address, ts)))

    def reattest(self):
        att = {**self.att, "timestamp": int(time.time())}
        return self.s.attest(self.address, att, self.sign(protocol.attestation_message(self.s.chain_id, self.address, att)))

    def respond(self, comp) -> None:
        """Answer every open task of ours in this computation (None: withhold)."""
        if comp.round is None:
            return
        for task in [t for t in comp.round.tasks.values() if t.address == self.address and t.status == "Assigned"]:
            if self.answer is None:
                continue
            vote = protocol.TaskVote(self.s.chain_id, comp.id, "digits_cnn", 0, 0, keccak(IMAGE), keccak(IMAGE),
                                     commitment("digits_cnn", 0, self.answer), keccak(self.answer))
            try:
                self.s.submit(task.task_id, self.address, self.answer, self.sign(vote.message_hash))
            except AIError:
                pass  # decided already


SHA = get_manifest("digits_cnn").stage_shard(0).sha256


@pytest.fixture
def sched():
    chain = Chain()
    s = Scheduler(AIRecords(MemoryKV()), 31337, {"digits_cnn": get_manifest("digits_cnn")}, chain,
                  cache=False, task_timeout=0.3, join_delay=0, heartbeat_grace=30)
    s.chain = chain
    return s


def run(s: Scheduler, members: list[Member], timeout: float = 5.0):
    s.tick()  # the set as of now
    comp = s.initiate("digits_cnn", IMAGE)
    deadline = time.time() + timeout
    while comp.status == "Running" and time.time() < deadline:
        for m in members:
            if comp.round is not None:
                m.respond(comp)
        if comp.status == "Running":
            time.sleep(0.1)
            for m in members:
                s.restore(m.address) if m.answer is not None else None
            s.tick()
    return comp


def onchain(s: Scheduler, comp) -> quorum.QuorumResult:
    return quorum.verify(bytes.fromhex(comp.certificate["encoded"][2:]), s.chain.read_storage)


def test_eleven_cheap_liars_cannot_outvote_five_honest(sched):
    honest = [Member(sched, 10 * ETH) for _ in range(5)]
    liars = [Member(sched, ETH, WRONG) for _ in range(11)]
    comp = run(sched, liars + honest)
    assert comp.status == "Completed" and comp.result == RIGHT
    result = onchain(sched, comp)
    assert result.passed and result.total_stake == 61 * ETH and result.signed_stake >= result.required_stake
    assert all(sched.validators[m.address].slashed == 0 for m in honest)


@pytest.mark.parametrize("below", [1, 0])
def test_changing_an_answer_needs_two_thirds_of_the_stake_to_the_wei(sched, below):
    """Liars with 2/3 of the stake less one wei change nothing (no quorum); with exactly 2/3 they decide."""
    honest = [Member(sched, 10 * ETH) for _ in range(3)]
    per = 60 * ETH // 11
    stakes = [per] * 10 + [60 * ETH - 10 * per - below]  # 11 liars, 2 x the honest stake (less `below` wei)
    liars = [Member(sched, st, WRONG) for st in stakes]
    comp = run(sched, liars + honest)
    if below:
        assert comp.status == "Failed" and "no quorum possible" in comp.reason
        assert all(sched.validators[m.address].slashed == 0 for m in honest + liars)
    else:
        assert comp.status == "Completed" and comp.result == WRONG
        assert onchain(sched, comp).passed


@pytest.mark.parametrize("extra", [0, 1])
def test_stalling_needs_more_than_a_third_of_the_stake_to_the_wei(sched, extra):
    """Withholders with exactly 1/3 of the stake cannot stall; one wei more and nothing can be decided."""
    honest = [Member(sched, 10 * ETH) for _ in range(4)]
    staller = Member(sched, 20 * ETH + extra, None)  # the biggest: assigned first
    comp = run(sched, [staller] + honest)
    if extra:
        assert comp.status == "Failed" and "no quorum possible" in comp.reason
    else:
        assert comp.status == "Completed" and comp.result == RIGHT
        assert onchain(sched, comp).passed


def test_a_running_computation_keeps_its_set_while_100_register(sched):
    honest = [Member(sched, 10 * ETH) for _ in range(3)]
    sched.task_timeout = 60  # the burst takes a while; nobody times out meanwhile
    sched.tick()
    comp = sched.initiate("digits_cnn", IMAGE)
    epoch = comp.round.snapshot.epoch
    burst = [Member(sched, ETH, WRONG) for _ in range(100)]
    sched.tick()
    assert sched.sets.snapshot("digits_cnn", 0).epoch > epoch  # the node's set moved on ...
    assert comp.round.snapshot.epoch == epoch and len(comp.round.snapshot.stakes) == 3  # ... the computation's did not
    for m in honest:
        m.respond(comp)
    assert comp.status == "Completed" and comp.result == RIGHT
    assert onchain(sched, comp).epoch == epoch
    for m in honest + burst:
        sched.restore(m.address)
    # 100 minimum stakes (100 ETH) against 30 ETH of honest stake: now they decide, as the rule says
    later = run(sched, burst + honest)
    assert later.status == "Completed" and later.result == WRONG


def test_join_delay_and_heartbeat_grace(sched):
    sched.sets.join_delay, sched.sets.grace = 1.0, 1.5
    early = Member(sched, 10 * ETH)
    sched.tick()
    assert early.address not in sched.sets.snapshot("digits_cnn", 0)  # attested, but the join delay runs
    time.sleep(1.1)
    early.beat()
    sched.tick()
    assert early.address in sched.sets.snapshot("digits_cnn", 0)
    time.sleep(1.7)  # silent past the grace period
    sched.tick()
    v = sched.validators[early.address]
    assert early.address not in sched.sets.snapshot("digits_cnn", 0)
    assert not v.attestation_valid and "fresh attestation" in v.attestation_error
    with pytest.raises(AIError, match="attestation lapsed"):
        early.beat()  # a heartbeat alone does not bring it back
    sched.tick()
    assert early.address not in sched.sets.snapshot("digits_cnn", 0)
    early.reattest()
    sched.tick()
    assert early.address not in sched.sets.snapshot("digits_cnn", 0)  # the join delay again
    time.sleep(1.1)
    early.beat()
    sched.tick()
    assert early.address in sched.sets.snapshot("digits_cnn", 0)


def test_slashed_below_minimum_stays_out_until_topped_up(sched):
    # equal stakes: three of the four decide, and where the liar ranks among them is its address's luck;
    # asking the spare with the round (ai_hedge_after = 0) puts all four in it, so the liar's vote is judged
    liar = Member(sched, ETH, WRONG)
    honest = [Member(sched, ETH) for _ in range(3)]
    sched.sets.join_delay = 0
    sched.hedge_after = 0
    comp = run(sched, [liar] + honest)  # the liar answers first, the honest outvote it
    assert comp.status == "Completed" and comp.result == RIGHT
    v = sched.validators[liar.address]
    assert v.slashed == ETH // 10 and v.stake == ETH - ETH // 10 and v.slashed_wrong == ETH // 10
    assert sched.chain.burned == ETH // 10  # slashed stake is burned
    sched.tick()
    assert liar.address not in sched.sets.snapshot("digits_cnn", 0)
    with pytest.raises(AIError, match="top it up"):
        liar.reattest()
    liar.register(ETH)  # the same registration call with a higher total stake tops it up
    assert v.stake == ETH
    liar.reattest()
    sched.restore(liar.address)
    sched.tick()
    assert liar.address in sched.sets.snapshot("digits_cnn", 0)


def test_a_small_stake_liar_is_asked_by_the_audit_slot_without_a_slow_round(sched):
    # 3 x 70 ETH decide alone (1 ETH adds nothing they need) and answer at once, so the hedged spare is never
    # called; the audit slot asks each member first in turn, so within 4 rounds the liar is judged and slashed
    assert sched.hedge_after > 0
    liar = Member(sched, ETH, WRONG)
    honest = [Member(sched, 70 * ETH) for _ in range(3)]
    v = sched.validators[liar.address]
    for _ in range(4):
        comp = run(sched, [liar] + honest)
        assert comp.status == "Completed" and comp.result == RIGHT
    assert v.slashed_wrong == ETH // 10 and v.disagreed == 1


def test_accepting_tasks_and_never_answering_costs_score_then_stake(sched):
    honest = [Member(sched, 10 * ETH) for _ in range(3)]
    lazy = Member(sched, 40 * ETH, None)  # more than a third: every round waits for it, then fails
    v = sched.validators[lazy.address]
    first = run(sched, [lazy] + honest)
    assert first.status == "Failed" and v.timeouts == 1 and v.slashed == 0 and v.score < 85
    second = run(sched, [lazy] + honest)
    assert second.status == "Failed" and v.timeouts == 2
    assert v.slashed_unanswered == 2 * ETH and v.stake == 38 * ETH and sched.chain.burned == 2 * ETH
    sched.tick()  # its score is below the eligibility floor: it is out, and the honest decide alone
    assert lazy.address not in sched.sets.snapshot("digits_cnn", 0)
    assert run(sched, honest).status == "Completed"
