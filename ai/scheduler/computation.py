"""A computation, its rounds and their tasks (in memory; ai/records.py keeps them durable), and their limits."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Optional

from eth_hash.auto import keccak

from ai.scheduler.validator_set import StageSet
from ai.status import ComputationStatus as Status, TaskStatus
from vm import defaults

SPARE = 1  # validators asked beyond the stake that decides, when a round is slow (HEDGE_AFTER) or a vote fails
HEDGE_AFTER = defaults.AI_HEDGE_AFTER  # seconds a round of a single-round model waits for its validators before a spare is asked too
TASK_TIMEOUT = defaults.AI_TASK_TIMEOUT  # seconds a validator has for one task
COMPUTATION_TIMEOUT = 600.0
HEARTBEAT_WINDOW = 60.0
MAX_TASKS_KEPT = 100_000
MAX_NEW_TOKENS = defaults.AI_MAX_ANSWER_TOKENS  # the cap on a text answer's length


@dataclass
class Task:
    task_id: str
    computation_id: str
    address: bytes
    stage: int
    step: int
    assigned_at: float
    deadline: float
    status: TaskStatus = TaskStatus.ASSIGNED
    vote_hash: Optional[bytes] = None
    output: Optional[bytes] = None
    signature: Optional[bytes] = None
    latency: float = 0.0
    round: Optional["Round"] = None  # the round it belongs to (kept to judge late answers)
    winner: Optional[bytes] = None  # the vote the quorum agreed on, once the round is decided
    payload: Optional[dict] = None  # text rounds: what this validator gets beyond the common fields
    canary: Optional[bytes] = None  # text rounds: the wrong proposal this validator was given to check


@dataclass
class Round:
    step: int
    stage: int
    input: bytes
    set_size: int  # members of the snapshot
    required: int  # stake (wei) that decides: snapshot.required
    tasks: dict = field(default_factory=dict)  # address -> Task
    votes: dict = field(default_factory=dict)  # vote hash -> TaskVote
    snapshot: Optional[StageSet] = None  # who counts, with what stake (the computation's, from its start)
    proposal: Optional[bytes] = None  # text chunk: the proposed stage output the round verifies
    start: int = 0  # text chunk: first position (end = start + positions of `input`)
    end: int = 0
    tokens_end: int = 0  # text chunk: generated tokens through this chunk
    epoch: int = 0
    verdict: Optional[bool] = None  # text chunk: accepted (True) or rejected (False) once decided
    winner_hash: Optional[bytes] = None
    votes_by_verdict: dict = field(default_factory=dict)  # output (text chunk: verdict byte) -> TaskVote
    canaries: dict = field(default_factory=dict)  # text chunk: address -> canary Task (outside the tally)

    @functools.cached_property
    def input_hex(self) -> str:
        """The round's input as its tasks carry it (made once, not once per task)."""
        return self.input.hex()

    def ballots(self) -> dict[bytes, bytes]:
        """{validator address: vote hash} of the submitted results."""
        return {a: t.vote_hash for a, t in self.tasks.items() if t.status == TaskStatus.SUBMITTED}

    def decided(self) -> Optional[bytes]:
        """The vote that holds the threshold of the snapshot's stake, if any: the round's answer."""
        return self.snapshot.decided(self.ballots())

    def can_decide(self) -> bool:
        """Whether the still-open tasks could carry some vote to the threshold."""
        pending = [a for a, t in self.tasks.items() if t.status == TaskStatus.ASSIGNED]
        return self.snapshot.can_decide(self.ballots(), pending)


@dataclass
class Computation:
    id: str
    model_id: str
    input: bytes
    requester: Optional[str]
    created: float
    status: Status = Status.PENDING  # a str enum: compares equal to its wire word
    reason: str = ""
    finished: float = 0.0
    result: Optional[bytes] = None
    certificate: Optional[dict] = None
    cached: bool = False
    rounds_done: int = 0
    validators: set = field(default_factory=set)
    round: Optional[Round] = None
    generation: Any = None
    sets: dict = field(default_factory=dict)  # stage -> StageSet snapshot taken when the computation started
    max_tokens: Optional[int] = None  # text models: the answer's length limit
    text: Any = None  # text_rounds.TextState while a text computation runs
    callback: bool = False  # started with a contract callback (ai_request) in this run: the service delivers it

    @functools.cached_property
    def request_hash(self) -> bytes:
        """keccak of the input (set once at creation): named by every task, vote and answer key of it."""
        return keccak(self.input)

    @functools.cached_property
    def request_hash_hex(self) -> str:
        return "0x" + self.request_hash.hex()

    def to_record(self) -> dict:
        return {
            "id": self.id, "model_id": self.model_id, "input": self.input.hex(), "requester": self.requester,
            "created": self.created, "status": self.status, "reason": self.reason, "finished": self.finished,
            "result": None if self.result is None else self.result.hex(), "certificate": self.certificate,
            "cached": self.cached, "rounds": self.rounds_done, "validators": sorted(a.hex() for a in self.validators),
            "max_tokens": self.max_tokens,
        }

    @classmethod
    def from_record(cls, d: dict) -> "Computation":
        c = cls(d["id"], d["model_id"], bytes.fromhex(d["input"]), d["requester"], d["created"], Status(d["status"]),
                d["reason"], d["finished"], None if d["result"] is None else bytes.fromhex(d["result"]),
                d["certificate"], d.get("cached", False), d.get("rounds", 0),
                {bytes.fromhex(a) for a in d.get("validators", [])}, max_tokens=d.get("max_tokens"))
        return c
