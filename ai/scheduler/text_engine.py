"""Text generation: one proposal, verified a chunk per round (the pure helpers: `ai.scheduler.text_rounds`).

A mixin of `ai.scheduler.core.Scheduler` (its state and lock); split out so each concept reads alone.
"""
from __future__ import annotations

import collections
import logging
import random
import time
from typing import Optional

from ai import protocol
from models.catalog import MODELS
from models.errors import InvalidInputError
from ai.ports import AIError
from ai.scheduler import economics
from ai.scheduler import text_rounds
from ai.scheduler.computation import MAX_TASKS_KEPT, Computation, Round, Task
from ai.scheduler.validator_set import StageSet
from ai.scheduler.validators import Validator
from vm.addresses import to_syn
from ai.status import TaskStatus

log = logging.getLogger("aivm.ai")


class TextEngine:
    """The sharded text model's propose / relay / chunk rounds."""

    def _open_rounds(self, comp: Computation) -> list:
        if comp.text is not None:
            return [r for r in comp.text.rounds.values() if r.verdict is None]
        return [comp.round] if comp.round is not None else []

    def _text_start(self, comp: Computation, notes: list) -> None:
        comp.text = text_rounds.TextState(comp.generation, MODELS[comp.model_id].num_stages, self.chunk_tokens)
        self._text_propose(comp, notes)

    def _proposing(self) -> collections.Counter:
        busy = collections.Counter()
        for cid in self._running_text:
            st = self.computations[cid].text
            busy.update({p.address for p in st.proposers})
        return busy

    def _choose_proposers(self, comp: Computation) -> Optional[list]:
        """(first stage, last stage, validator) ranges: one validator for all stages if one holds them,
        else the fewest consecutive ranges; the least busy eligible holder first."""
        st, now = comp.text, time.time()
        cands = [[v for v in self.eligible(comp.model_id, k, now) if v.address not in st.excluded]
                 for k in range(st.num_stages)]
        if not all(cands):
            return None
        busy = self._proposing()
        holders = [{v.address for v in c} for c in cands]
        whole = [v for v in cands[0] if all(v.address in h for h in holders)]
        if whole:
            return [(0, st.num_stages - 1, min(whole, key=lambda v: busy[v.address]))]
        out, k = [], 0
        while k < st.num_stages:
            def reach(v):
                j = k
                while j + 1 < st.num_stages and v.address in holders[j + 1]:
                    j += 1
                return j
            v = min(cands[k], key=lambda v: (-reach(v), busy[v.address]))
            out.append((k, reach(v), v))
            k = reach(v) + 1
        return out

    def _text_propose(self, comp: Computation, notes: list) -> None:
        """(Re)start the proposal from the tokens agreed so far, with fresh proposers."""
        st = comp.text
        for rnd in self._open_rounds(comp):
            for t in rnd.tasks.values():
                t.status = TaskStatus.CLOSED if t.status == TaskStatus.ASSIGNED else t.status
        self._text_end(comp, keep=True)
        st.reset(st.epoch + 1)
        if st.epoch > 1:
            log.info("%s: proposing again from %d agreed tokens", comp.id, len(comp.generation.generated))
        chosen = self._choose_proposers(comp)
        if chosen is None:
            self._fail(comp, f"Validator AI task assignment failed: no eligible validator holds every stage of "
                             f"{comp.model_id} to propose with")
            return
        proposers = []
        for first, last, v in chosen:
            tid = f"{comp.id}_e{st.epoch}_propose_st{first}-{last}_task_{to_syn(v.address)}"
            p = text_rounds.Proposer(tid, v.address, first, last, st.epoch)
            st.by_task[tid] = p
            self._proposals[tid] = comp.id
            proposers += [p] * (last - first + 1)
        st.proposers = proposers
        self._running_text.add(comp.id)
        gen = comp.generation
        for p in st.by_task.values():
            comp.validators.add(p.address)
            task = {"kind": "propose", "task_id": p.task_id, "computation_id": comp.id,
                    "validator_address": to_syn(p.address), "model_id": comp.model_id, "status": "Assigned",
                    "stage": p.first, "first_stage": p.first, "last_stage": p.last, "step": 0, "epoch": st.epoch,
                    "request_hash": "0x" + comp.request_hash.hex(), "prompt_len": st.prompt_len,
                    "agreed": len(gen.generated), "limits": gen.limits.to_json(), "rule": gen.rule,
                    "chunk_tokens": st.chunk_tokens, "deadline": time.time() + self.task_timeout}
            if p.first == 0:
                task["ids"] = gen.prompt_ids + list(gen.generated)
            p.task = task
            notes.append((p.address, task))

    def relay(self, task_id: str, address: bytes, stage: int, start: int, data: bytes, signature: bytes) -> dict:
        """A proposer's signed stage output: recorded, forwarded to the next stage's proposer, and
        verification rounds opened for every chunk it completes."""
        notes: list = []
        with self._lock:
            cid = self._proposals.get(task_id)
            v = self.validator(address)
        if cid is None:
            raise AIError(f"unknown proposal task {task_id[:120]}")
        self._verify(v, protocol.relay_message(self.chain_id, cid, stage, start, data), signature, "relay")
        with self._lock:
            comp = self.computations[cid]
            st = comp.text
            p = st.by_task.get(task_id) if st is not None and comp.status == "Running" else None
            if p is None:
                raise AIError(f"proposal {task_id} is closed (the computation ended or is proposed again)")
            if p.address != address:
                raise AIError(f"proposal {task_id} is not assigned to {to_syn(address)}")
            try:
                forward = text_rounds.accept_relay(st, p, stage, start, data)
            except (text_rounds.RelayError, InvalidInputError) as exc:
                raise AIError(f"relay refused: {exc}") from None
            st.wire_bytes += 2 * len(data)
            if forward is not None:
                forward["computation_id"] = cid
                notes.append((st.by_task[forward["task_id"]].address, forward))
                st.wire_bytes += 2 * len(data)
            self._open_chunks(comp, notes)
        self._send(notes)
        return {"success": True}

    def _open_chunks(self, comp: Computation, notes: list) -> None:
        st = comp.text
        while comp.status == "Running" and st.chunk_ready(st.next_chunk):
            chunk = st.next_chunk
            st.next_chunk += 1
            for stage in range(st.num_stages):
                self._open_text_round(comp, chunk, stage, notes)
                if comp.status != "Running":
                    return
        if comp.status == "Running" and st.finished() and not st.done_told:
            # the answer waits on every open check now: a verifier that held some back to check several chunks
            # in one pass (ai/validator/client.py, `_parks`) starts, whether or not it has a task of the last chunk
            st.done_told = True
            waiting = {t.address for rnd in st.rounds.values() if rnd.epoch == st.epoch
                       for t in (*rnd.tasks.values(), *rnd.canaries.values()) if t.status == TaskStatus.ASSIGNED}
            for address in waiting:
                notes.append((address, {"kind": "proposal_done", "computation_id": comp.id, "epoch": st.epoch}))

    def _open_text_round(self, comp: Computation, chunk: int, stage: int, notes: list) -> None:
        from models.decoding import chunk_bounds

        st, now = comp.text, time.time()
        _, tokens_end, start, end = chunk_bounds(st.prompt_len, chunk, len(st.tokens), st.chunk_tokens)
        snap = comp.sets[stage]
        rnd = Round(chunk, stage, st.stage_input(stage, start, end), len(snap.stakes), snap.required, snapshot=snap,
                    proposal=st.proposal(stage, chunk), start=start, end=end, tokens_end=tokens_end, epoch=st.epoch)
        st.rounds[(chunk, stage)] = rnd
        proposer = self.validators.get(st.proposers[stage].address)
        others = [v for v in self.eligible(comp.model_id, stage, now, snap)
                  if v.address != proposer.address and v.address not in st.excluded]
        chosen = self._cover(snap, [proposer], others)
        if chosen is None:
            reachable = snap.weight([proposer.address] + [v.address for v in others])
            self._fail(comp, f"Validator AI task assignment failed: eligible holders of {comp.model_id} stage {stage} "
                             f"hold {reachable} wei of {snap.total}; the threshold "
                             f"{snap.threshold[0]}/{snap.threshold[1]} needs {snap.required} wei")
            return
        if random.random() < text_rounds.CANARY_RATE:
            # the least-canaried holder first, so every verifier is tested in turn (a lazy one cannot hide);
            # where the others decide without the target, it gets the canary instead of the real task, else
            # (no holder beyond the quorum) a chosen verifier gets the canary as a second task of the round
            first_token = rnd.start - (st.prompt_len - 1) if rnd.step else 0
            bad = text_rounds.canary(rnd.proposal, stage == st.num_stages - 1, first_token)
            ranked = sorted(others, key=lambda v: (self._canaries_sent[v.address], random.random()))
            for target in ranked:
                alt = self._cover(snap, [proposer], [v for v in others if v is not target])
                if alt is None:
                    continue
                chosen = alt
                self._canaries_sent[target.address] += 1
                self._assign_text(comp, rnd, target, now, notes, canary=bad)
                break
            else:
                target = next((v for v in ranked if v in chosen), None)
                if target is not None:
                    self._canaries_sent[target.address] += 1
                    self._assign_text(comp, rnd, target, now, notes, canary=bad)
        for v in [proposer] + chosen:
            self._assign_text(comp, rnd, v, now, notes)
        self._hedges[id(rnd)] = (now + self.task_timeout / 3, comp, rnd)  # a silent verifier: a spare, not a timeout

    @staticmethod
    def _cover(snap: StageSet, first: list, others: list) -> Optional[list]:
        """`others` taken in order after `first` until their stake meets the threshold (no spare for text)."""
        chosen, weight = [], snap.weight(v.address for v in first)
        for v in others:
            if snap.met(weight):
                break
            chosen.append(v)
            weight = snap.weight([v.address for v in first] + [c.address for c in chosen])
        return chosen if snap.met(weight) else None

    def _assign_text(self, comp: Computation, rnd: Round, v: Validator, now: float, notes: list,
                     canary: Optional[bytes] = None) -> None:
        st = comp.text
        tid = f"{comp.id}_e{rnd.epoch}_c{rnd.step}_st{rnd.stage}_task_{to_syn(v.address)}"
        if v.address in rnd.canaries:  # the canary's holder steps in as a spare: a second task of the round
            tid += "_spare"
        task = Task(tid, comp.id, v.address, rnd.stage, rnd.step, now, now + self.task_timeout, round=rnd,
                    canary=canary)
        payload = {"kind": "verify", "epoch": rnd.epoch, "chunk": rnd.step, "start": rnd.start, "end": rnd.end,
                   "tokens_end": rnd.tokens_end, "prompt_len": st.prompt_len, "rule": comp.generation.rule,
                   "proposal_done": st.finished()}  # verification is the critical path now: no yielding the CPU
        last = rnd.stage == st.num_stages - 1
        if v.address == st.proposers[rnd.stage].address:
            payload["self_check"] = True  # the proposer signs what it relayed, from its own record
            if last:
                payload["proposal"] = rnd.proposal.hex()  # all tokens: a re-proposal's proposer lacks the agreed ones
        else:
            payload["proposal"] = (rnd.proposal if canary is None else canary).hex()
            prev = st.rounds.get((rnd.step - 1, rnd.stage))
            cont = (prev is not None and (v.address in prev.tasks or v.address in prev.canaries)
                    and (v.address, rnd.stage) not in st.gaps)
            st.gaps.discard((v.address, rnd.stage))
            frm = rnd.start if rnd.stage > 0 and cont else 0  # stage 0's ids are tiny: always all of them
            payload["input_from"] = frm
            upstream = st.rounds.get((rnd.step, rnd.stage - 1)) if rnd.stage > 0 else None
            if (frm == rnd.start and upstream is not None and v.address in upstream.tasks
                    and v.address not in upstream.canaries  # which of its two upstream tasks was real is ours to know
                    and v.address != st.proposers[rnd.stage - 1].address):
                payload["input_ref"] = "upstream proposal"  # the proposal of its task for the stage before
            else:
                payload["input"] = (rnd.input if frm == rnd.start else st.stage_input(rnd.stage, frm, rnd.end)).hex()
        st.wire_bytes += sum(len(payload.get(x, "")) for x in ("input", "proposal"))
        task.payload = payload
        if canary is None:
            rnd.tasks[v.address] = task
        else:
            rnd.canaries[v.address] = task
        self._tasks[tid] = task
        while len(self._tasks) > MAX_TASKS_KEPT:
            self._tasks.popitem(last=False)
        notes.append((v.address, self.task_json(task)))

    def _text_decided(self, comp: Computation, rnd: Round, winner: bytes, winners: list, accepted: bool,
                      notes: list) -> None:
        from models.decoding import chunk_bounds

        st = comp.text
        rnd.verdict = accepted
        if rnd.epoch != st.epoch:
            return
        if not accepted:
            self._text_reject(comp, rnd, winner, notes)
            return
        st.accepted.setdefault(rnd.step, set()).add(rnd.stage)
        while len(st.accepted.get(st.agreed_chunks, ())) == st.num_stages:
            chunk = st.agreed_chunks
            first, end, _, _ = chunk_bounds(st.prompt_len, chunk, len(st.tokens), st.chunk_tokens)
            st.agreed_chunks += 1
            if comp.generation.extend(st.tokens[first:end]):
                final = st.rounds[(chunk, st.num_stages - 1)]
                win = [t for t in final.tasks.values() if t.status == TaskStatus.SUBMITTED and t.vote_hash == final.winner_hash]
                self._text_pay(comp)
                self._text_end(comp)
                self._certify_and_complete(comp, final, final.winner_hash, win, comp.generation.text.encode("utf-8"))
                return

    def _text_pay(self, comp: Computation) -> None:
        """Each certified round of the agreed answer pays its signers, but none who lied in this computation."""
        st = comp.text
        fee = MODELS[comp.model_id].gas_price // 100
        for (chunk, _), rnd in sorted(st.rounds.items()):
            if rnd.verdict and chunk < st.agreed_chunks:
                winners = [(self.validators[t.address], t.latency) for t in rnd.tasks.values()
                           if t.status == TaskStatus.SUBMITTED and t.vote_hash == rnd.winner_hash and t.address not in st.excluded]
                paid = economics.share_fee(fee, winners)
                self.counters["rewards"] += sum(paid.values())
                st.touched |= set(paid)

    def _text_reject(self, comp: Computation, rnd: Round, winner: bytes, notes: list) -> None:
        st = comp.text
        p = st.proposers[rnd.stage]
        v = self.validators[p.address]
        own = rnd.tasks.get(p.address)
        if own is None or own.status != TaskStatus.SUBMITTED or own.vote_hash == winner:  # not slashed as a loser yet
            penalty = economics.slash(v)
            self._maybe_remove(v)
            log.warning("validator %s proposed a rejected %s stage %d chunk %d: slashed %d wei",
                        to_syn(v.address), comp.id, rnd.stage, rnd.step, penalty)
        st.excluded.add(p.address)
        st.touched.add(p.address)
        self._text_propose(comp, notes)

    def _text_stalled(self, comp: Computation, notes: list) -> None:
        st = comp.text
        p = text_rounds.stalled_proposer(st)
        if p is None:
            st.last_progress = time.time()  # verification is what runs now: its tasks have deadlines
            return
        economics.timed_out(self.validators[p.address])
        st.excluded.add(p.address)
        st.touched.add(p.address)
        log.warning("proposer %s stalled on %s: proposing again with another", to_syn(p.address), comp.id)
        self._text_propose(comp, notes)

    def _text_touched(self, comp: Computation) -> dict:
        st = comp.text
        out = {a: self.validators[a].to_record() for a in st.touched if a in self.validators}
        st.touched.clear()
        return out

    def _text_end(self, comp: Computation, keep: bool = False) -> None:
        """Tell the proposers to drop their caches; free the proposal (unless it is proposed again)."""
        st = comp.text
        for p in st.by_task.values():
            self._proposals.pop(p.task_id, None)
            try:
                self.notify(p.address, {"kind": "end", "task_id": p.task_id, "computation_id": comp.id,
                                        "epoch": p.epoch, "final": not keep})
            except Exception:
                log.exception("task notification failed")
        if not keep:
            self._running_text.discard(comp.id)
            st.by_task, st.hidden = {}, []
