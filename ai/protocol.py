"""What validators sign, and how the node and validators name things.

Every message is a keccak256 over a canonical ABI encoding that starts with a
domain tag and the chain id, so a signature for one purpose (or one chain)
never verifies for another. A task vote deliberately does not name the task or
the validator: all validators of a task sign the same hash, and those votes
together are the quorum certificate.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from eth_abi import encode
from eth_hash.auto import keccak

from models.catalog import MODELS
from pqc.keys import PublicKeys
from pqc.levels import SecurityLevel
from vm.addresses import to_syn

DOMAIN_TASK = keccak(b"AIVM task result v1")
DOMAIN_REGISTER = keccak(b"AIVM validator registration v1")
DOMAIN_ATTEST = keccak(b"AIVM validator attestation v1")
DOMAIN_HEARTBEAT = keccak(b"AIVM validator heartbeat v1")

LEVEL = SecurityLevel.BASIC  # validators sign AI results at Basic (ML-DSA); bridges ask for more
ZERO32 = b"\x00" * 32


def validator_address(keys: "PublicKeys | bytes") -> bytes:
    """A validator's account: the last 20 bytes of its signing-key hash."""
    if not isinstance(keys, PublicKeys):
        keys = PublicKeys.decode(keys)
    return keys.key_hash[12:]


def quorum_size(holders: int) -> int:
    """Head-count quorum (67% of a set, rounded up); AI rounds are decided by stake instead (validator_set.py)."""
    return max(1, LEVEL.suite.required_signers(holders))


def stage_set_id(model_id: str, stage: int) -> int:
    """The on-chain validator set of the holders of one model stage."""
    return int.from_bytes(keccak(b"aivm.ai.stage-set" + model_id.encode() + stage.to_bytes(2, "big")), "big")


@dataclass(frozen=True)
class TaskVote:
    """The statement a validator signs about one task's result."""

    chain_id: int
    computation_id: str
    model_id: str
    stage: int
    step: int
    request_hash: bytes  # keccak of the computation's input
    input_hash: bytes  # keccak of this task's input
    commitment: bytes  # the model's commitment to this task's output
    result_hash: bytes  # final stage: keccak of the computation's result so far; else zero

    def encode(self) -> bytes:
        return encode(
            ["bytes32", "uint256", "string", "string", "uint16", "uint32", "bytes32", "bytes32", "bytes32", "bytes32"],
            [DOMAIN_TASK, self.chain_id, self.computation_id, self.model_id, self.stage, self.step,
             self.request_hash, self.input_hash, self.commitment, self.result_hash],
        )

    @functools.cached_property
    def message_hash(self) -> bytes:
        """keccak of the ABI encoding: computed once per vote (frozen, so it cannot go stale)."""
        return keccak(self.encode())

    def to_json(self) -> dict:
        return {"chain_id": self.chain_id, "computation_id": self.computation_id, "model_id": self.model_id,
                "stage": self.stage, "step": self.step, "request_hash": "0x" + self.request_hash.hex(),
                "input_hash": "0x" + self.input_hash.hex(), "commitment": "0x" + self.commitment.hex(),
                "result_hash": "0x" + self.result_hash.hex()}

    @classmethod
    def from_json(cls, d: dict) -> "TaskVote":
        h = lambda k: bytes.fromhex(d[k][2:])  # noqa: E731
        return cls(d["chain_id"], d["computation_id"], d["model_id"], d["stage"], d["step"],
                   h("request_hash"), h("input_hash"), h("commitment"), h("result_hash"))


@dataclass(frozen=True)
class TaskRef:
    """Which task a vote is about: everything of a TaskVote but what the validator computed."""

    chain_id: int
    computation_id: str
    model_id: str
    stage: int
    step: int
    request_hash: bytes  # keccak of the computation's input

    @classmethod
    def from_task(cls, chain_id: int, task: dict) -> "TaskRef":
        """From a task as the node hands it out (`synergy_getValidatorAITasks`, `synergy_aiTasks`)."""
        return cls(chain_id, task["computation_id"], task["model_id"], task["stage"], task["step"],
                   bytes.fromhex(task["request_hash"][2:]))


ACCEPT, REJECT = b"\x01", b"\x00"  # a text chunk's verdict byte


def task_vote(task: TaskRef, stage_input: bytes, output: bytes, proposal: "bytes | None" = None,
              codec: Any = None) -> TaskVote:
    """The vote an honest validator signs for `output`, what it computed from `stage_input` for `task`.

    The one builder: the scheduler rebuilds with it the vote a submission must carry, the validator process
    and the in-process test cluster sign what it returns, so they cannot drift. For a model stage the output is
    the stage's output bytes; for a text chunk (`proposal` given: the proposed stage output it verified) the
    output is the verdict byte, ACCEPT or REJECT, and on the last stage `codec` (a tokenizer: `decode(ids)`)
    turns the proposed tokens into the answer text whose hash the vote carries.
    Raises ValueError (or the model's InvalidInputError) for an output no honest validator could produce.
    """
    from ai.commitments import commitment, verdict_commitment  # not at the top: torch (an idle node imports us)

    final = task.stage == MODELS[task.model_id].num_stages - 1
    if proposal is None:
        digest = commitment(task.model_id, task.stage, output)
        result_hash = keccak(output) if final else ZERO32
    else:
        if output not in (ACCEPT, REJECT):
            raise ValueError("a text chunk verdict is one byte: 01 accept, 00 reject")
        digest = verdict_commitment(task.model_id, task.stage, proposal, output == ACCEPT)
        result_hash = ZERO32
        if final:
            from models.tensorio import decode_tensor  # torch: only text models reach here

            if codec is None:
                raise TypeError("a last-stage verdict vote names the answer text: pass the tokenizer as codec")
            tokens = [int(t) for t in decode_tensor(proposal)]
            result_hash = keccak(codec.decode(tokens).encode("utf-8"))
    return TaskVote(task.chain_id, task.computation_id, task.model_id, task.stage, task.step, task.request_hash,
                    keccak(stage_input), digest, result_hash)


def registration_message(chain_id: int, address: bytes, key_hash: bytes, stake: int) -> bytes:
    """Proof of key possession: the validator signs its own registration."""
    return keccak(encode(["bytes32", "uint256", "address", "bytes32", "uint256"],
                         [DOMAIN_REGISTER, chain_id, address, key_hash, stake]))


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def attestation_message(chain_id: int, address: bytes, attestation: dict) -> bytes:
    return keccak(encode(["bytes32", "uint256", "address", "bytes32"],
                         [DOMAIN_ATTEST, chain_id, address, keccak(canonical_json(attestation))]))


def heartbeat_message(chain_id: int, address: bytes, timestamp: int) -> bytes:
    return keccak(encode(["bytes32", "uint256", "address", "uint256"],
                         [DOMAIN_HEARTBEAT, chain_id, address, timestamp]))


def task_id(computation_id: str, address: bytes, stage: int = 0, step: int = 0, single: bool = True) -> str:
    """The guide's form `<computation>_task_<sYn address>` (stage/step added for pipelines)."""
    if single:
        return f"{computation_id}_task_{to_syn(address)}"
    return f"{computation_id}_s{step}_st{stage}_task_{to_syn(address)}"


DOMAIN_RELAY = keccak(b"AIVM text relay v1")


def relay_message(chain_id: int, computation_id: str, stage: int, start: int, data: bytes) -> bytes:
    """A proposer's statement of one stage output it relays (positions from `start`, or token index)."""
    return keccak(encode(["bytes32", "uint256", "string", "uint16", "uint32", "bytes32"],
                         [DOMAIN_RELAY, chain_id, computation_id, stage, start, keccak(data)]))
