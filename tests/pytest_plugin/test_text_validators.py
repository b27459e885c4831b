"""The `validators` fixture serving the sharded text model (distributed_ai_model, SmolLM2-135M in 3 stages).

A user's suite, run with pytester: a SynQ contract asks `ai.infer("distributed_ai_model", prompt)`;
the in-process validators propose, relay and verify the answer chunk by chunk as real validator
processes do (`aivm_pytest.cluster`), and the contract gets the quorum's certified greedy text,
equal to one-process greedy generation of the unsharded model; the certificate passes the
consensus precompile (0x0118, `quorum.verify`) and a tampered one does not; a lying validator
a lying proposer is slashed
and proposed again, a lying verifier outvoted; a sampled chat request (temperature > 0) is
the one-process sampled answer. 3 validators, 8 tokens (one chunk): about 20-40 s on a loaded 2-core machine.
"""
import pytest

from tests.pytest_plugin.conftest import PLUGIN

pytest_plugins = ["pytester"]

ASKER = """\
// Asks the validator quorum's text model and keeps the answer.
event Answered(asker: indexed address, length: uint256);

public storage lastAnswer: bytes;

external fn ask(prompt: bytes) -> bytes {
    let answer: bytes = ai.infer("distributed_ai_model", prompt);
    lastAnswer = answer;
    emit Answered(msg.sender, len(answer));
    return answer;
}

external view fn certified(certificate: bytes) -> bool {
    return quorum.verify(certificate);
}
"""

SUITE = '''
import pytest
from eth_hash.auto import keccak

PROMPT = b"Hello, DI World"


@pytest.fixture(scope="module")
def asker(deploy):
    return deploy("TextAsker.synq")


@pytest.fixture(scope="module")
def reference():
    from models import generate_whole

    return generate_whole(PROMPT, 8)  # one process, greedy, the unsharded model (aivm_max_tokens = 8)


def test_the_quorum_answers_with_one_process_greedy_text(asker, validators, reference):
    answer = asker.ask(PROMPT)
    assert answer.decode() == reference and reference
    assert asker.lastAnswer() == answer
    assert asker.events.Answered[0].length == len(answer)
    last = validators.last_answer
    assert (last.model_id, last.result, last.text) == ("distributed_ai_model", answer, reference)
    assert last.vote.request_hash == keccak(PROMPT) and last.vote.result_hash == keccak(answer)
    assert last.vote.stage == 2 and len(last.signers) >= 2  # the last stage's round, signed by a quorum
    assert asker.certified(last.certificate) is True
    forged = bytearray(last.certificate)
    forged[0] ^= 1  # another statement than the validators signed
    assert asker.certified(bytes(forged)) is False


def test_a_lying_proposer_is_slashed_and_the_answer_stands(asker, validators, reference):
    liar = validators.cluster.next_proposer()
    validators.make_liar(liar)  # it proposes wrong tokens: rejected, slashed, proposed again by another
    assert asker.ask(PROMPT).decode() == reference
    last = validators.last_answer
    assert validators.cluster.validators[liar].syn not in last.signers
    assert validators.cluster.slashed(liar) > 0
    assert asker.certified(last.certificate) is True


def test_a_lying_verifier_is_outvoted(asker, validators, reference):
    proposer = validators.cluster.next_proposer()
    liar = (proposer + 1) % len(validators)
    validators.make_liar(liar)  # it rejects honest chunks (and accepts canaries)
    assert asker.ask(PROMPT).decode() == reference
    last = validators.last_answer
    assert validators.cluster.validators[liar].syn not in last.signers
    assert asker.certified(last.certificate) is True


def sampled_in_one_process(runners, data):
    """A chat request's sampled answer decoded in this process alone (KV caches, as `generate` does)."""
    import torch
    from models import prompt_codec
    from models.decoding import StageProposer, token_rule
    from models.tensorio import encode_tensor
    from models.text_request import new_generation

    gen = new_generation(prompt_codec(), data, 8)
    proposer = StageProposer(runners, token_rule(gen.rule))
    x = torch.tensor([gen.prompt_ids])
    while not gen.done:
        token = proposer.feed(x, len(gen.generated))[-1]
        gen.accept(encode_tensor(token))
        x = token.reshape(1, 1)
    return gen.text


def test_a_sampled_chat_request_is_the_one_process_answer(asker, validators):
    from models.text_request import TextRequest

    data = TextRequest.build([{"role": "user", "content": "Tell me a story about a robot."}], 8,
                             temperature=0.9, top_p=0.95, seed=7).encode()
    runners = [validators.cluster.runner("distributed_ai_model", k) for k in range(3)]  # the shared copy
    answer = asker.ask(data)
    assert answer.decode() == sampled_in_one_process(runners, data)
    assert validators.last_answer.vote.request_hash == keccak(data)
    assert asker.certified(validators.last_answer.certificate) is True
'''


def test_a_contract_gets_the_quorums_certified_text(pytester):
    pytester.makefile(".synq", TextAsker=ASKER)
    pytester.makepyfile(test_text=SUITE)
    pytester.makeini("[pytest]\naivm_validators = 3\naivm_models = distributed_ai_model\naivm_max_tokens = 8\n")
    # in a process of its own: the run imports transformers (and scipy) and holds ≈1.1 GB of model, which
    # must not stay behind in this session (pytester would drop the modules, and sklearn cannot reload them)
    result = pytester.runpytest_subprocess(*PLUGIN, "-v", timeout=500)
    result.assert_outcomes(passed=4)


def test_models_it_cannot_serve_are_refused_clearly():
    from aivm_pytest.cluster import LocalCluster  # loads torch: not at collection
    from vm.chain import Chain
    from vm.node import Services

    chain = Chain.ephemeral(services=Services())
    with pytest.raises(ValueError, match="endpoint model .* use --network"):
        LocalCluster(chain, n=3, models=["gpt_oss_chat"])
    with pytest.raises(ValueError, match="not 'no-such-model'"):
        LocalCluster(chain, n=3, models=["no-such-model"])
    assert chain.services.ai is None
