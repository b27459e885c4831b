"""A verifier that shares cores with a decoding proposer parks its checks of that proposal until it is complete (or
a bound passes) and checks the parked chunks of a stage in one forward pass, each chunk keeping its own verdict."""
import asyncio

import pytest
import torch

from ai import protocol
from ai.validator import client
from models.decoding import GreedyRule, chunk_bounds, verify_chunk, verify_chunks
from models.pipeline import StageCache
from pqc.keys import KeySet

PROMPT = b"Hello, DI World"
TOKENS = 20
CHUNK = 6


@pytest.fixture(scope="module")
def transcript(greedy_transcript):
    return greedy_transcript(PROMPT, TOKENS)


def _chunks(ids, t, stage, wrong: int = -1):
    """(x from position 0, [(start, end, proposal)]) of every chunk of `stage`; chunk `wrong` gets a bad proposal."""
    tokens, n = t["tokens"], (len(t["tokens"]) + CHUNK - 1) // CHUNK
    seq = torch.tensor([ids + tokens], dtype=torch.int64)
    x = seq if stage == 0 else t["hidden"][stage - 1]
    out = []
    for c in range(n):
        _, end, start, stop = chunk_bounds(len(ids), c, len(tokens), CHUNK)
        if stage == 2:
            proposal = torch.tensor(tokens[:end])
            if c == wrong:
                proposal = proposal.clone()
                proposal[end - 1] = (proposal[end - 1] + 1) % 49152
        else:
            proposal = t["hidden"][stage][:, start:stop].clone()
            if c == wrong:
                proposal[0, -1] += 10 * proposal[0, -1].abs().max()
        out.append((start, stop, proposal))
    return x[:, :out[-1][1]], out


@pytest.mark.parametrize("stage", [0, 1, 2])
def test_one_pass_over_every_chunk_gives_each_chunks_own_verdict(runners, transcript, stage):
    ids, t = transcript
    for wrong in (-1, 1):
        x, chunks = _chunks(ids, t, stage, wrong)
        together = verify_chunks(runners[stage], StageCache(), x, chunks, GreedyRule(), len(ids))
        cache, alone = StageCache(), []
        for start, stop, proposal in chunks:
            alone.append(verify_chunk(runners[stage], cache, x[:, start:stop], start, proposal, GreedyRule(), len(ids)))
        assert [ok for ok, _ in together] == [ok for ok, _ in alone] == [c != wrong for c in range(len(chunks))]
        assert together == alone  # the same reasons too


def _validator(defer: float) -> client.Validator:
    return client.Validator("http://127.0.0.1:1", KeySet.generate(protocol.LEVEL, with_kem=False), 10**18,
                            [("distributed_ai_model", 0)], defer_checks=defer)


def _task(chunk: int, cid: str = "c", **extra) -> dict:
    return {"kind": "verify", "task_id": f"{cid}-{chunk}-{extra.get('stage', 0)}", "computation_id": cid,
            "epoch": 1, "stage": 0, "chunk": chunk, "input": "00", "proposal": "00", **extra}


def _run(v: client.Validator, script) -> list:
    """Drive `v`'s worker while `script(offer, wait)` offers tasks; the batches `handle` got, as chunk lists."""
    handled = []

    async def handle(task, batch=None):
        handled.append([t["chunk"] for t in (batch or [task])])

    v.handle = handle

    async def go():
        worker = asyncio.ensure_future(v._worker())
        try:
            await script(v._offer, asyncio.sleep, handled)
        finally:
            worker.cancel()

    asyncio.run(go())
    return handled


def test_checks_wait_for_the_proposal_and_go_as_one_batch():
    async def script(offer, wait, handled):
        for c in range(3):
            offer(_task(c))
        await wait(0.05)
        assert handled == []  # parked: the proposal is still being decoded
        offer(_task(3, proposal_done=True))
        await wait(0.05)

    assert _run(_validator(5.0), script) == [[0, 1, 2, 3]]


def test_parked_checks_go_when_the_node_says_the_proposal_is_complete():
    async def script(offer, wait, handled):
        offer(_task(0))
        offer(_task(1))
        offer(_task(1, cid="other"))
        await wait(0.05)
        offer({"kind": "proposal_done", "computation_id": "c", "epoch": 1})  # no task of the last chunk here
        await wait(0.05)

    assert _run(_validator(5.0), script) == [[0, 1]]  # the other computation's check stays parked


def test_parked_checks_go_after_the_bound_and_sampled_or_undeferred_ones_at_once():
    async def script(offer, wait, handled):
        offer(_task(0))
        offer(_task(5, cid="s", rule={"name": "sample", "seed": 1}))  # an exact check: never parked
        await wait(0.05)
        assert handled == [[5]]
        await wait(0.3)

    assert _run(_validator(0.2), script) == [[5], [0]]

    async def at_once(offer, wait, handled):
        offer(_task(0))
        offer(_task(1))
        await wait(0.05)

    handled = _run(_validator(0.0), at_once)  # a remote validator (its own cores): checks each chunk as it comes
    assert handled in ([[0], [1]], [[0, 1]])


def test_a_closed_parked_batch_is_not_computed():
    async def script(offer, wait, handled):
        offer(_task(0))
        await wait(0.02)
        offer({"kind": "close", "task_id": "c-0-0", "computation_id": "c"})
        await wait(0.3)

    assert _run(_validator(0.1), script) == []
