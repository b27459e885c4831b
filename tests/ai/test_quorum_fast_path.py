"""The digits quorum's fast path (issue 12): less CPU a computation, the same safety.

In process, no node: the scheduler's light-work hints and its vote cache, the AI service's event-loop
shortcuts (no thread hop, no self-pipe wake-up from the loop's own thread), the validator's choice of
which tasks run on its loop, and raw bytes in binary frames.
"""
from __future__ import annotations

import asyncio
import threading
import time

import orjson
import pytest
from eth_hash.auto import keccak

from ai import protocol, wire
from ai.records import AIRecords
from ai.scheduler import AIError, Scheduler
from ai.commitments import commitment
from ai.service import AIService
from ai.validator.client import Validator
from models import get_manifest
from pqc import bundle
from pqc.keys import KeySet
from vm.store.kv import MemoryKV

ETH = 10**18
IMAGE = bytes(range(16)) * 4
RIGHT = b"\x03"


class Chain:
    def lock_stake(self, address, amount):
        pass

    def update_storage(self, compute):
        compute(lambda a, s: 0)

    def read_storage(self, address, slot):
        return 0

    def burn_stake(self, amount):
        pass


def member(s: Scheduler, stake: int) -> KeySet:
    keys = KeySet.generate(protocol.LEVEL, with_kem=False)
    pub = keys.signing_keys()
    address = protocol.validator_address(pub)
    s.register(pub.encode(), stake, bundle.sign(keys, protocol.registration_message(
        s.chain_id, address, pub.key_hash, stake)).encode())
    att = {"software_version": "t", "cores": 1, "memory_mb": 4096, "gpu": None, "timestamp": int(time.time()),
           "shards": [{"model_id": "digits_cnn", "stage": 0, "sha256": get_manifest("digits_cnn").stage_shard(0).sha256}]}
    s.attest(address, att, bundle.sign(keys, protocol.attestation_message(s.chain_id, address, att)).encode())
    s.restore(address)
    return keys


def signed(s: Scheduler, comp, keys: KeySet, output: bytes) -> bytes:
    vote = protocol.TaskVote(s.chain_id, comp.id, "digits_cnn", 0, 0, keccak(IMAGE), keccak(IMAGE),
                             commitment("digits_cnn", 0, output), keccak(output))
    return bundle.sign(keys, vote.message_hash).encode()


@pytest.fixture
def quorum():
    s = Scheduler(AIRecords(MemoryKV()), 31337, {"digits_cnn": get_manifest("digits_cnn")}, Chain(),
                  cache=False, join_delay=0, heartbeat_grace=30)
    keys = {protocol.validator_address(k.signing_keys()): k for k in (member(s, 10 * ETH) for _ in range(5))}
    s.tick()
    return s, keys


def test_a_digits_result_is_light_work_and_unknown_or_text_work_is_not(quorum):
    s, keys = quorum
    comp = s.initiate("digits_cnn", IMAGE)
    assert s.light_initiate("digits_cnn") and not s.light_initiate("distributed_ai_model")
    assert not s.light_initiate("no_such_model")
    tasks = list(comp.round.tasks.values())
    assert len(tasks) == 4  # 4 of 5 equal stakes decide at 2/3
    assert all(s.light_submit(t.task_id) for t in tasks)
    assert not s.light_submit("ai_comp_0_0_task_nobody")
    tasks[0].round.proposal = b"a text chunk"  # a text verification round: its verdict may need the tokenizer
    assert not s.light_submit(tasks[0].task_id)


def test_the_vote_is_built_once_a_round_bounded_and_a_liar_still_loses(quorum):
    s, keys = quorum
    comp = s.initiate("digits_cnn", IMAGE)
    rnd = comp.round
    tasks = list(rnd.tasks.values())
    liar, honest = tasks[0], tasks[1:]
    # forged outputs (anyone can send them: the signature is checked after the vote is rebuilt) are never kept
    for wrong in (RIGHT, *(bytes([w]) for w in range(4, 10))):
        with pytest.raises(AIError, match="does not verify"):
            s.submit(liar.task_id, liar.address, wrong, bundle.sign(KeySet.generate(protocol.LEVEL, with_kem=False),
                                                                    keccak(wrong)).encode())
    assert rnd.votes_by_verdict == {}
    s.submit(liar.task_id, liar.address, b"\x05", signed(s, comp, keys[liar.address], b"\x05"))
    first, *others = honest
    s.submit(first.task_id, first.address, RIGHT, signed(s, comp, keys[first.address], RIGHT))
    cached = rnd.votes_by_verdict[RIGHT]  # kept once its signature verified: the next signers' vote, not rebuilt
    assert s.vote_for(comp, rnd, RIGHT) is cached and cached.message_hash is cached.message_hash
    assert set(rnd.votes_by_verdict) == {b"\x05", RIGHT}
    for t in others:
        s.submit(t.task_id, t.address, RIGHT, signed(s, comp, keys[t.address], RIGHT))
    # 3 honest of 5 equal stakes are short of 2/3 with the liar's vote against: the spare was asked
    spare = [t for t in rnd.tasks.values() if t.status == "Assigned"]
    assert len(spare) == 1 and comp.status == "Running"
    honest.append(spare[0])
    s.submit(spare[0].task_id, spare[0].address, RIGHT, signed(s, comp, keys[spare[0].address], RIGHT))
    assert comp.status == "Completed" and comp.result == RIGHT
    assert s.validators[liar.address].slashed > 0 and s.validators[liar.address].rewards == 0
    assert all(s.validators[t.address].slashed == 0 and s.validators[t.address].rewards > 0 for t in honest)
    assert len(comp.certificate["signers"]) == 4  # the liar's vote is not in the certificate
    assert rnd.votes[keccak(cached.encode())] is cached  # what was certified is the vote the honest ones signed


def service_on(loop: asyncio.AbstractEventLoop) -> AIService:
    svc = AIService.__new__(AIService)  # only its loop plumbing: no node, no scheduler
    svc._loop, svc._loop_thread, svc._subscribers = loop, threading.get_ident(), {}
    svc.executor = __import__("concurrent.futures").futures.ThreadPoolExecutor(1)
    return svc


def test_light_work_runs_on_the_loop_and_heavy_work_on_the_ai_threads():
    async def main():
        svc = service_on(asyncio.get_running_loop())
        try:
            here = threading.get_ident()
            assert await svc.call_light(True, threading.get_ident) == here
            assert await svc.call_light(False, threading.get_ident) != here
        finally:
            svc.executor.shutdown()

    asyncio.run(main())


def test_notifications_from_the_loop_thread_skip_the_self_pipe_and_others_use_it():
    async def main():
        loop = asyncio.get_running_loop()
        svc = service_on(loop)
        got, woken = [], []
        real = loop.call_soon_threadsafe

        def counted(*args):
            if args and args[0] == got.append:  # a task delivery (asyncio.to_thread uses it too, for its result)
                woken.append(threading.get_ident())
            return real(*args)

        loop.call_soon_threadsafe = counted
        svc.subscribe(b"v" * 20, got.append)
        svc._notify(b"v" * 20, {"task_id": "a"})  # on the loop (a submit taken there): no self-pipe write
        await asyncio.sleep(0)
        assert got == [{"task_id": "a"}] and woken == []
        await asyncio.to_thread(svc._notify, b"v" * 20, {"task_id": "b"})  # another thread: the threadsafe way
        for _ in range(100):
            if len(got) == 2:
                break
            await asyncio.sleep(0.01)
        assert got[-1] == {"task_id": "b"} and len(woken) == 1 and woken[0] != threading.get_ident()
        svc.executor.shutdown()

    asyncio.run(main())


@pytest.mark.parametrize("task, light", [
    ({"model_id": "digits_cnn", "input": "00"}, True),
    ({"model_id": "price-v1", "input": "00"}, True),
    ({"model_id": "digits_cnn", "kind": "verify"}, False),
    ({"model_id": "distributed_ai_model", "stage": 2, "sampling": {}}, False),
    ({"model_id": "gpt_oss_chat", "input": "00"}, False),  # an endpoint call: never on the loop
    ({"model_id": "no_such_model"}, False),
])
def test_which_tasks_a_validator_runs_on_its_loop(task, light):
    assert Validator._light(task) is light


def test_raw_bytes_travel_raw_and_read_back_as_0x_hex():
    sig = bytes(range(256)) * 13
    msg = {"jsonrpc": "2.0", "method": "synergy_submitAIPartialResult", "params": ["t", "sYn1", b"\x07", sig]}
    frame = wire.encode(msg)
    assert wire.is_frame(frame) and len(frame) < len(sig) + 200  # the signature as its raw bytes
    back = wire.decode(frame)
    assert back["params"] == ["t", "sYn1", "0x07", "0x" + sig.hex()]
    assert wire.jsonable(msg) == back and orjson.loads(orjson.dumps(wire.jsonable(msg))) == back
    assert wire.encode({"a": b"\x01"}) is None  # nothing worth moving: JSON, through jsonable


def test_a_poll_walks_only_the_recent_tasks_and_still_finds_every_open_one(quorum):
    from ai.scheduler import core

    s, keys = quorum
    comps = [s.initiate("digits_cnn", IMAGE) for _ in range(3)]
    some = next(iter(keys))
    mine = {t.task_id for c in comps for t in c.round.tasks.values() if t.address == some}
    assert {t["task_id"] for t in s.tasks_for(some)} == mine
    # tasks far past their deadline end the walk (the ticker closed them long ago): older ones are not looked
    # at, even one still marked open (a full scan would return the first computation's tasks too)
    for t in comps[0].round.tasks.values():
        t.deadline = time.time() - core.OPEN_TASK_SLACK - 1
    assert {t.task_id for t in s._open_tasks()} == {t.task_id for c in comps[1:] for t in c.round.tasks.values()}


# -- the node's CPU per computation (issue 12, s22): shortcuts that must not weaken a check --

def test_a_decoded_bundle_handed_in_is_checked_against_the_bytes_kept(quorum):
    """The RPC layer hands the scheduler the bundle it decoded: a caller whose decoded bundle is not the
    bytes it sent (a genuine signature beside forged bytes) gets the bytes checked, and is refused."""
    s, keys = quorum
    comp = s.initiate("digits_cnn", IMAGE)
    t = next(iter(comp.round.tasks.values()))
    genuine = signed(s, comp, keys[t.address], RIGHT)
    forged = bundle.sign(KeySet.generate(protocol.LEVEL, with_kem=False), keccak(RIGHT)).encode()
    with pytest.raises(AIError, match="does not verify"):
        s.submit(t.task_id, t.address, RIGHT, forged, bundle.SignatureBundle.decode(genuine))
    assert t.status == "Assigned" and comp.round.votes_by_verdict == {}
    s.submit(t.task_id, t.address, RIGHT, genuine, bundle.SignatureBundle.decode(genuine))
    assert t.status == "Submitted" and t.signature == genuine


def test_a_wrong_result_signed_by_its_own_key_never_counts_and_is_slashed(quorum):
    """With every shortcut on (decoded bundles, one records batch, cached addresses), a validator that signs
    a wrong answer is outvoted, slashed, unpaid and not in the certificate; the records say so durably."""
    s, keys = quorum
    comp = s.initiate("digits_cnn", IMAGE)
    tasks = list(comp.round.tasks.values())
    liar = tasks[0]
    for t in tasks:
        out = b"\x05" if t is liar else RIGHT
        sig = signed(s, comp, keys[t.address], out)
        s.submit(t.task_id, t.address, out, sig, bundle.SignatureBundle.decode(sig))
    spare = [t for t in comp.round.tasks.values() if t.status == "Assigned"]
    for t in spare:
        sig = signed(s, comp, keys[t.address], RIGHT)
        s.submit(t.task_id, t.address, RIGHT, sig, bundle.SignatureBundle.decode(sig))
    assert comp.status == "Completed" and comp.result == RIGHT
    from vm.addresses import to_syn

    assert to_syn(liar.address) not in comp.certificate["signers"] and len(comp.certificate["signers"]) == 4
    stored = dict(s.records.validators())
    assert int(stored[liar.address]["slashed"]) > 0 and stored[liar.address]["rewards"] == "0"
    assert all(int(stored[a]["rewards"]) > 0 for a in comp.validators if a != liar.address)
    rec = s.records.computation(comp.id)
    assert rec["status"] == "Completed" and rec["certificate"] == comp.certificate
    # the certificate still passes the consensus rule over the set's stakes, and binds this input and answer
    from ai.verify import verify_computation

    class Storage(dict):
        def __call__(self, address, slot):
            return self.get((address, slot), 0)

    storage = Storage()
    for st in comp.sets.values():
        from pqc.validators import snapshot_writes

        for address, slot, value in snapshot_writes(st.set_id, st.epoch, {st.key_hashes[a]: w
                                                                          for a, w in st.stakes.items()}):
            storage[(address, slot)] = value
    verdict = verify_computation(s.get(comp.id), s.chain_id, storage)
    assert verdict["valid"] is True, verdict


def test_a_starting_computation_refreshes_its_own_models_sets_and_the_tick_all(quorum):
    s, keys = quorum
    calls = []
    real = s.sets.refresh
    s.sets.refresh = lambda validators, now, only=None: calls.append(only) or real(validators, now, only)
    s.initiate("digits_cnn", IMAGE)
    s.tick()
    assert calls == ["digits_cnn", None]


def test_sYn_addresses_are_remembered_and_bad_ones_still_refused():
    from vm.addresses import from_syn, to_syn

    a = bytes(range(20))
    assert to_syn(a) is to_syn(bytes(a)) and to_syn(bytearray(a)) == to_syn(a) and from_syn(to_syn(a)) == a
    with pytest.raises(ValueError):
        to_syn(b"short")


def test_a_callback_computation_is_known_without_a_record_read(quorum):
    s, keys = quorum
    plain = s.initiate("digits_cnn", IMAGE)
    owed = s.initiate("digits_cnn", IMAGE, "0x" + "11" * 20, callback={"caller": "11" * 20, "selector": "00" * 4,
                                                                     "request_id": "22" * 32})
    assert not plain.callback and owed.callback and s.records_callback(owed.id) is not None


def test_a_wait_is_woken_by_the_finish_and_bounded_by_its_timer():
    async def main():
        loop = asyncio.get_running_loop()
        svc = service_on(loop)
        svc._waiters = {}

        class Comp:
            def __init__(self, cid):
                self.id, self.status = cid, "Running"

        running, finishing = Comp("a"), Comp("b")
        svc.scheduler = type("S", (), {"computations": {"a": running, "b": finishing}})()
        t = time.monotonic()
        assert (await svc.wait_finished("a", 0.05)) is running and 0.04 < time.monotonic() - t < 2
        assert svc._waiters == {}  # the timed-out waiter is gone

        async def finish():
            await asyncio.sleep(0.02)
            finishing.status = "Completed"
            svc._wake("b")

        t = time.monotonic()
        waited, _ = await asyncio.gather(svc.wait_finished("b", 30), finish())
        assert waited.status == "Completed" and time.monotonic() - t < 5 and svc._waiters == {}
        svc.executor.shutdown()

    asyncio.run(main())
