"""The round engine: initiate a computation, assign its rounds, take votes, judge, settle, decide, certify.

A mixin of `ai.scheduler.core.Scheduler` (its state and lock); split out so each concept reads alone.
"""
from __future__ import annotations

import logging
import time
from typing import Optional

from eth_hash.auto import keccak

from ai import protocol
from models.catalog import MODELS
from models.errors import InvalidInputError
from ai.ports import AIError
from ai.protocol import LEVEL, TaskRef, TaskVote, task_vote
from ai.scheduler import economics
from ai.commitments import validate_request
from ai.scheduler.computation import MAX_NEW_TOKENS, MAX_TASKS_KEPT, SPARE, Computation, Round, Task
from ai.scheduler.validators import Validator
from ai.status import ComputationStatus as Status, TaskStatus
from pqc import bundle
from pqc.quorum import QuorumCertificate
from vm.addresses import to_syn

log = logging.getLogger("aivm.ai")


class RoundEngine:
    """Computations: rounds handed to validators until a quorum of stake agrees."""

    def records_callback(self, cid: str) -> Optional[dict]:
        return self.records.callback(cid) if cid else None

    def max_tokens_for(self, model_id: str, max_tokens: Optional[int]) -> Optional[int]:
        """A text model's answer length (the node's default when not asked); None for other models."""
        if model_id not in MODELS:
            return max_tokens  # initiate() refuses the unknown model with its own message
        if not MODELS[model_id].generates:
            if max_tokens is not None:
                raise AIError(f"max_tokens applies to the pipelined text model; {model_id} does not take it")
            return None
        if max_tokens is None:
            return self.max_new_tokens
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or not 1 <= max_tokens <= MAX_NEW_TOKENS:
            raise AIError(f"max_tokens must be an integer from 1 to {MAX_NEW_TOKENS}, got {max_tokens!r}")
        return max_tokens

    def answer_key(self, model_id: str, request_hash: bytes, max_tokens: Optional[int] = None) -> bytes:
        """The (model, input[, answer length]) an answer is recorded under."""
        key = model_id.encode() + b"/" + request_hash
        if max_tokens is not None and max_tokens != self.max_new_tokens:
            key += b"/%d" % max_tokens
        return key

    def initiate(self, model_id: str, data: bytes, requester: Optional[str] = None,
                 callback: Optional[dict] = None, max_tokens: Optional[int] = None) -> Computation:
        if model_id not in MODELS or model_id not in self.manifests:
            raise AIError(f"unknown model {model_id!r}; available: {', '.join(sorted(self.manifests))}")
        try:
            validate_request(model_id, data)
        except InvalidInputError as exc:
            raise AIError(str(exc)) from None
        max_tokens = self.max_tokens_for(model_id, max_tokens)
        notes = []
        # the tokenizer may load on first use: never while holding the lock (heartbeats need it)
        generation = self._new_generation(data, max_tokens) if max_tokens is not None else None
        with self._lock:
            n = next(self._seq)
            cid = f"ai_comp_{int(time.time())}_{n}"
            comp = Computation(cid, model_id, bytes(data), requester, time.time(), max_tokens=max_tokens,
                               callback=callback is not None)
            self.computations[cid] = comp
            if callback is not None:  # recorded before any work, so a restart still owes it
                self.records.set_callback(cid, callback)
            self.counters["computations"] = n
            cached = self.recorded(model_id, comp.request_hash, max_tokens) if self.cache else None
            if cached is not None:
                comp.status, comp.result, comp.certificate = Status.COMPLETED, bytes.fromhex(cached["result"]), cached["certificate"]
                comp.cached, comp.finished = True, time.time()
                comp.validators = {bytes.fromhex(a) for a in cached.get("validators", [])}
                self.counters["completed"] += 1
                self.counters["cached"] += 1
                self._persist(comp)
                self._done.notify_all()
                self.on_finish(comp)
                return comp
            comp.status = Status.RUNNING
            # the model's sets as of now (a new epoch's on-chain copy is queued, never awaited; the ticker
            # refreshes the other models' sets)
            self.refresh_sets(model_id=model_id)
            # the computation's sets: a burst of registrations or departures from now on changes nothing here
            comp.sets = {st: self.sets.snapshot(model_id, st) for st in range(MODELS[model_id].num_stages)}
            if generation is not None:
                comp.generation = generation
                self._text_start(comp, notes)
            else:
                self._start_round(comp, 0, 0, comp.input, notes)
            self._persist(comp)
        self._send(notes)
        return comp

    def _new_generation(self, prompt: bytes, max_tokens: int):
        from models.text_request import new_generation  # chat (issue 16): a text request or a plain prompt

        if max_tokens < 1:
            raise AIError(f"max_tokens must be at least 1 for a quorum answer, got {max_tokens}")
        try:
            return new_generation(self._codec_loader(), prompt, max_tokens)
        except InvalidInputError as exc:
            raise AIError(str(exc)) from None

    def recorded(self, model_id: str, request_hash: bytes, max_tokens: Optional[int] = None) -> Optional[dict]:
        """The completed computation that first answered (model, input[, answer length]), if any."""
        cid = self.records.answer(self.answer_key(model_id, request_hash, max_tokens))
        return None if cid is None else self.records.computation(cid)

    def _start_round(self, comp: Computation, step: int, stage: int, data: bytes, notes: list) -> None:
        now = time.time()
        snap = comp.sets[stage]
        rnd = Round(step, stage, data, len(snap.stakes), snap.required, snapshot=snap)
        comp.round = rnd
        candidates = self.eligible(comp.model_id, stage, now, snap)
        reachable = snap.weight(v.address for v in candidates)
        if not snap.met(reachable):
            num, den = snap.threshold
            self._fail(comp, f"Validator AI task assignment failed: {len(candidates)} eligible validators of "
                             f"{comp.model_id} stage {stage} hold {reachable} wei of the set's {snap.total} wei "
                             f"active stake ({len(snap.stakes)} validators, epoch {snap.epoch}); a decision needs "
                             f"{num}/{den} = {snap.required} wei")
            return
        candidates = self._audit_first(comp.model_id, stage, snap, candidates)
        assigned, spares = 0, 0
        for v in candidates:  # enough stake to decide; a spare only if the round is slow (hedge) or a vote fails
            if snap.met(assigned):
                if self.hedge_after > 0:
                    self._hedges[id(rnd)] = (now + self.hedge_after, comp, rnd)
                    break
                if spares == SPARE:  # hedge_after 0: the spare is asked up front
                    break
                spares += 1
            self._assign(comp, rnd, v, now, notes)
            assigned += snap.stakes[v.address]

    def _audit_first(self, model_id: str, stage: int, snap, candidates: list) -> list:
        """The audit slot: each round of a stage asks one member of its set first, the next member (by address)
        each round, then the most stake until it decides. So every member is asked at least once in every
        len(set) rounds of its stage whatever its stake and however fast the others are: a small-stake liar
        beside large-stake validators is judged (and slashed) regularly, not only when a round is slow enough
        to call the hedged spare. Equal stakes: it is one of the deciders anyway (no extra work); otherwise at
        most one task more than the stake that decides."""
        members = sorted(snap.stakes)
        if not members:
            return candidates
        n = self._audits[(model_id, stage)]
        self._audits[(model_id, stage)] = n + 1
        first = members[n % len(members)]
        pick = next((v for v in candidates if v.address == first), None)
        if pick is None:  # not eligible now: the slot passes on (its absence costs it score, as ever)
            return candidates
        return [pick] + [v for v in candidates if v is not pick]

    def _hedge_due(self, now: float, notes: list) -> None:
        """Under the lock: each round still undecided HEDGE_AFTER seconds after it started gets SPARE more
        validators (a slow or crashed one then costs that delay, not a task timeout; a fast round costs no
        spare's work: on a shared machine the spare's model run and signature slowed the ones that decide)."""
        for key, (due, comp, rnd) in list(self._hedges.items()):
            if due > now:
                continue
            del self._hedges[key]
            if comp.status != "Running" or rnd.winner_hash is not None:
                continue
            if comp.text is None and comp.round is not rnd:
                continue
            if comp.text is not None and (rnd.epoch != comp.text.epoch or rnd.verdict is not None
                                          or comp.text.rounds.get((rnd.step, rnd.stage)) is not rnd):
                continue
            skip = set(rnd.tasks) | (comp.text.excluded if comp.text is not None else set())
            spare = [v for v in self.eligible(comp.model_id, rnd.stage, now, rnd.snapshot) if v.address not in skip]
            for v in spare[:SPARE]:
                self._assign(comp, rnd, v, now, notes)

    def hedges_due(self) -> bool:
        """Whether some round waits for its spare now (read without the lock: a cheap check, often)."""
        now = time.time()
        try:
            return any(due <= now for due, _, _ in list(self._hedges.values()))
        except RuntimeError:  # changed while read
            return True

    def hedge(self) -> None:
        """Ask spares for the slow rounds (the service calls it often; cheap when there are none)."""
        if not self._hedges:
            return
        notes: list = []
        with self._lock:
            self._hedge_due(time.time(), notes)
        self._send(notes)

    def _assign(self, comp: Computation, rnd: Round, v: Validator, now: float, notes: list) -> None:
        if rnd.proposal is not None:
            self._assign_text(comp, rnd, v, now, notes)
            return
        single = MODELS[comp.model_id].num_stages == 1
        tid = protocol.task_id(comp.id, v.address, rnd.stage, rnd.step, single)
        task = Task(tid, comp.id, v.address, rnd.stage, rnd.step, now, now + self.task_timeout, round=rnd)
        rnd.tasks[v.address] = task
        self._tasks[tid] = task
        v.assigned += 1
        while len(self._tasks) > MAX_TASKS_KEPT:  # finished tasks are kept a while to name replays
            self._tasks.popitem(last=False)
        notes.append((v.address, self.task_json(task)))

    def task_json(self, task: Task) -> dict:
        comp = self.computations[task.computation_id]
        rnd = task.round
        out = {
            "task_id": task.task_id,
            "computation_id": comp.id,
            "validator_address": to_syn(task.address),
            "model_id": comp.model_id,
            "status": task.status,
            "stage": task.stage,
            "step": task.step,
            "deadline": task.deadline,
            "request_hash": comp.request_hash_hex,
        }
        if rnd is not None and task.status == TaskStatus.ASSIGNED and comp.status == "Running":
            if task.payload is not None:
                out.update(task.payload)
            else:
                out["input"] = rnd.input_hex
        return out

    def vote_for(self, comp: Computation, rnd: Round, output: bytes) -> TaskVote:
        """The vote an honest validator signs for `output` in this round (text chunk: the verdict byte)."""
        if output in rnd.votes_by_verdict:  # the validators of a round mostly sign one vote: built once
            return rnd.votes_by_verdict[output]
        if rnd.proposal is None:  # kept by submit() once a signature verified on it (forgeries add nothing)
            return task_vote(self._task_ref(comp, rnd), rnd.input, output)
        if output not in rnd.votes_by_verdict:  # every submission of a text round signs one of two votes
            rnd.votes_by_verdict[output] = task_vote(self._task_ref(comp, rnd), rnd.input, output,
                                                     proposal=rnd.proposal, codec=comp.generation.codec)
        return rnd.votes_by_verdict[output]

    def _task_ref(self, comp: Computation, rnd: Round) -> TaskRef:
        return TaskRef(self.chain_id, comp.id, comp.model_id, rnd.stage, rnd.step, comp.request_hash)

    def submit(self, task_id: str, address: bytes, output: bytes, signature: bytes,
               decoded: Optional[bundle.SignatureBundle] = None) -> dict:
        """A validator's signed result. The signature is checked outside the lock (the C code releases
        the GIL, so concurrent submissions verify in parallel); the task's state is checked before and
        again after, so a result is counted once and only while its task is open. `decoded`: the
        caller's SignatureBundle.decode(signature), when it parsed it already (the RPC layer does)."""
        notes: list = []
        with self._lock:
            task = self._task_of(task_id, address)
            late = task.status == TaskStatus.CLOSED and task.winner is not None
            if not late and (task.status in (TaskStatus.TIMED_OUT, TaskStatus.CLOSED) or time.time() > task.deadline):
                raise AIError(f"task {task_id} is closed: the deadline passed or the round is decided (late submission)")
            comp = self.computations[task.computation_id]
            rnd = task.round
            v = self.validators[address]
            if task.canary is not None:
                return self._judge_canary(comp, task, v, output, signature)
            try:
                vote = self.vote_for(comp, rnd, output)
            except (InvalidInputError, ValueError, IndexError) as exc:
                if late:
                    raise AIError(f"task {task_id} is closed: the deadline passed or the round is decided "
                                  f"(late submission)") from None
                raise AIError(f"result is malformed for {comp.model_id} stage {task.stage}: {exc}") from None
            keys = v.keys
        digest = vote.message_hash  # once: each use would ABI-encode the vote again
        if decoded is not None and decoded.encode() != bytes(signature):  # checked is what is kept
            decoded = None
        ok, why = bundle.check(signature if decoded is None else decoded, keys, digest, LEVEL)
        with self._lock:
            if task.status == TaskStatus.SUBMITTED:
                raise AIError(f"task {task_id} already has a result: replayed submission refused")
            if task.status == TaskStatus.CLOSED and task.winner is not None:
                if ok:
                    self._judge_late(task, digest)
            if task.status in (TaskStatus.TIMED_OUT, TaskStatus.CLOSED) or time.time() > task.deadline:
                raise AIError(f"task {task_id} is closed: the deadline passed or the round is decided (late submission)")
            if not ok:
                raise AIError(f"result signature does not verify under the registered keys of {to_syn(address)}: {why}")
            task.status, task.output, task.signature = TaskStatus.SUBMITTED, bytes(output), bytes(signature)
            task.vote_hash, task.latency = digest, time.time() - task.assigned_at
            rnd.votes[digest] = vote
            rnd.votes_by_verdict.setdefault(bytes(output), vote)  # the next signer's vote: not rebuilt
            self.counters["participations"] += 1
            self._settle(comp, rnd, notes)
        self._send(notes)
        return {"success": True, "task_id": task_id, "status": task.status}

    def _task_of(self, task_id: str, address: bytes) -> Task:
        """Under the lock: the task, if `address` may submit to it now."""
        task = self._tasks.get(task_id)
        if task is None:
            raise AIError(f"unknown task {task_id[:120]}")
        if task.address != address:
            raise AIError(f"task {task_id} is not assigned to {to_syn(address)}")
        if task.status == TaskStatus.SUBMITTED:
            raise AIError(f"task {task_id} already has a result: replayed submission refused")
        return task

    def _judge_canary(self, comp: Computation, task: Task, v: Validator, output: bytes, signature: bytes) -> dict:
        """A verifier that accepts a canary signed a wrong output without checking it: slashed."""
        rnd = task.round
        if output not in (b"\x00", b"\x01"):
            raise AIError("a text chunk verdict is one byte: 01 accept, 00 reject")
        vote = task_vote(self._task_ref(comp, rnd), rnd.input, output, proposal=task.canary,
                         codec=comp.generation.codec)
        ok, why = bundle.check(signature, v.keys, vote.message_hash, LEVEL)
        if not ok:
            raise AIError(f"result signature does not verify under the registered keys of {to_syn(v.address)}: {why}")
        task.status, task.output, task.signature = TaskStatus.SUBMITTED, bytes(output), bytes(signature)
        task.latency = time.time() - task.assigned_at
        if output == b"\x01":
            penalty = economics.slash(v)
            self._maybe_remove(v)
            comp.text.excluded.add(v.address)
            log.warning("validator %s accepted a wrong %s stage %d chunk %d without checking: slashed %d wei",
                        to_syn(v.address), comp.id, rnd.stage, rnd.step, penalty)
        else:
            economics.agreed(v, task.latency)
        self.records.write(validators={v.address: v.to_record()})
        return {"success": True, "task_id": task.task_id, "status": task.status}

    def _judge_late(self, task: Task, digest: bytes) -> None:
        """Under the lock: a signed (and verified) answer that arrives after its round was decided still
        counts against a liar."""
        comp = self.computations.get(task.computation_id)
        if comp is None or task.round is None:
            return
        v = self.validators[task.address]
        if digest != task.winner:
            task.status = TaskStatus.SUBMITTED
            penalty = economics.slash(v)
            self._burn(penalty)
            self._maybe_remove(v)
            self.records.write(validators={v.address: v.to_record()})
            log.warning("validator %s signed a losing result in %s (after the quorum): slashed %d wei",
                        to_syn(v.address), comp.id, penalty)
            raise AIError(f"task {task.task_id} is closed and its result disagrees with the quorum's: slashed")

    def _settle(self, comp: Computation, rnd: Round, notes: list) -> None:
        """Decide the round if the threshold of stake agrees; replace or fail if it no longer can."""
        best = rnd.decided()
        if best is not None:
            self._decide(comp, rnd, best, notes)
            return
        snap = rnd.snapshot
        if rnd.proposal is not None and not rnd.can_decide():
            rejects = [t for t in rnd.tasks.values() if t.status == TaskStatus.SUBMITTED and t.output == b"\x00"]
            if 2 * snap.weight(t.address for t in rejects) > snap.total:  # a stake majority rejects: the proposal is wrong
                self._decide(comp, rnd, rejects[0].vote_hash, notes)
                return
        while not rnd.can_decide():
            now = time.time()
            skip = set(rnd.tasks) | (comp.text.excluded if comp.text is not None else set())  # a canary's holder may step in
            spare = [v for v in self.eligible(comp.model_id, rnd.stage, now, snap) if v.address not in skip]
            if not spare:
                snap = rnd.snapshot
                top = max(snap.tally(rnd.ballots()).values(), default=0)
                pending = snap.weight(a for a, t in rnd.tasks.items() if t.status == TaskStatus.ASSIGNED)
                self._fail(comp, f"no quorum possible for {comp.model_id} stage {rnd.stage}: the largest agreeing "
                                 f"stake is {top} wei, {pending} wei pending, {snap.required} wei of "
                                 f"{snap.total} needed (too many validators failed or disagreed)")
                return
            self._assign(comp, rnd, spare[0], now, notes)

    def _decide(self, comp: Computation, rnd: Round, winner: bytes, notes: list) -> None:
        rnd.winner_hash = winner
        self._hedges.pop(id(rnd), None)
        winners = [t for t in rnd.tasks.values() if t.status == TaskStatus.SUBMITTED and t.vote_hash == winner]
        losers = [t for t in rnd.tasks.values() if t.status == TaskStatus.SUBMITTED and t.vote_hash != winner]
        for t in rnd.tasks.values():
            if t.status == TaskStatus.ASSIGNED:
                t.status, t.winner = TaskStatus.CLOSED, winner
                if rnd.proposal is not None:  # a spare's verification is no longer needed: spare its CPU
                    notes.append((t.address, {"kind": "close", "task_id": t.task_id, "computation_id": comp.id}))
                    comp.text.gaps.add((t.address, rnd.stage))  # its cache may now lack this chunk
        for t in losers:
            penalty = economics.slash(self.validators[t.address])
            self._burn(penalty)
            log.warning("validator %s signed a losing result in %s: slashed %d wei (burned)", to_syn(t.address),
                        comp.id, penalty)
            self._maybe_remove(self.validators[t.address])
            if comp.text is not None:
                comp.text.excluded.add(t.address)  # a liar neither proposes, verifies nor is paid here again
        for t in winners:
            economics.agreed(self.validators[t.address], t.latency)
        if comp.text is None:  # text rounds are paid when the answer is agreed (a rejected proposal earns nothing)
            paid = economics.share_fee(MODELS[comp.model_id].gas_price // 100,
                                       [(self.validators[t.address], t.latency) for t in winners])
            self.counters["rewards"] += sum(paid.values())
        comp.validators |= {t.address for t in rnd.tasks.values()}
        comp.rounds_done += 1
        output = winners[0].output
        info = MODELS[comp.model_id]
        touched = {t.address: self.validators[t.address].to_record() for t in winners + losers}
        if comp.text is not None:
            self._text_decided(comp, rnd, winner, winners, output == b"\x01", notes)
            self.records.write(validators={**touched, **self._text_touched(comp)}, counters=self.counters)
            return
        if rnd.stage < info.num_stages - 1:
            self._start_round(comp, rnd.step, rnd.stage + 1, output, notes)
            self.records.write(validators=touched, counters=self.counters)
        else:  # the validators' standing goes in the computation's own batch (one write a computation's end)
            self._certify_and_complete(comp, rnd, winner, winners, output, touched)

    def _certify_and_complete(self, comp: Computation, rnd: Round, winner: bytes, winners: list, result: bytes,
                              touched: Optional[dict] = None) -> None:
        """`touched`: validator records to write with the computation's (the round's judged validators)."""
        vote = rnd.votes[winner]
        if vote.result_hash != keccak(result):
            if touched:
                self.records.write(validators=touched, counters=self.counters)
            self._fail(comp, "the quorum's result hash does not match the agreed output")
            return
        snap = rnd.snapshot
        cert = QuorumCertificate(winner, LEVEL, snap.set_id, 1,
                                 tuple((self.validators[t.address].public_keys, t.signature) for t in winners),
                                 snap.epoch)
        comp.certificate = {"vote": vote.to_json(), "encoded": "0x" + cert.encode().hex(),
                            "signers": [to_syn(t.address) for t in winners],
                            "signed_stake": str(snap.weight(t.address for t in winners)),
                            "total_stake": str(snap.total), "required_stake": str(snap.required),
                            "threshold": "%d/%d" % snap.threshold, "epoch": snap.epoch,
                            "set_id": str(cert.set_id), "level": LEVEL.title}
        self._complete(comp, result, touched)

    def _complete(self, comp: Computation, result: bytes, touched: Optional[dict] = None) -> None:
        comp.result, comp.finished, comp.round = result, time.time(), None
        comp.status = Status.COMPLETED  # last: the RPC loop reads a finished computation in place
        self.counters["completed"] += 1
        self.counters["total_time"] += comp.finished - comp.created
        if comp.text is not None:
            log.info("%s completed in %.2f s: %d tokens, %d rounds, proposed %d time(s)", comp.id,
                     comp.finished - comp.created, len(comp.generation.generated), comp.rounds_done, comp.text.epoch)
        # always recorded (the AI precompile replays from it); `cache` only decides reuse by initiate()
        self._persist(comp, {self.answer_key(comp.model_id, comp.request_hash, comp.max_tokens): comp.id}, touched)
        self._done.notify_all()
        self.on_finish(comp)

    def _fail(self, comp: Computation, reason: str) -> None:
        for rnd in self._open_rounds(comp):
            for t in rnd.tasks.values():
                t.status = TaskStatus.CLOSED if t.status == TaskStatus.ASSIGNED else t.status
        if comp.text is not None:
            self._text_end(comp)
        comp.reason, comp.finished, comp.round = reason, time.time(), None
        comp.status = Status.FAILED  # last: the RPC loop reads a finished computation in place
        self.counters["failed"] += 1
        log.warning("computation %s failed: %s", comp.id, reason)
        self._persist(comp)
        self._done.notify_all()
        self.on_finish(comp)

    def _persist(self, comp: Computation, answers: Optional[dict] = None, validators: Optional[dict] = None) -> None:
        self.records.write(computations={comp.id: comp.to_record()}, answers=answers or {}, validators=validators or {},
                           counters=self.counters)

    def _send(self, notes: list) -> None:
        for address, task in notes:
            try:
                self.notify(address, task)
            except Exception:
                log.exception("task notification failed")
