"""The quorum's sampling rule: deterministic everywhere, and still sampling from the model's distribution."""
import json
import math
import os
import subprocess
import sys
from collections import Counter

import pytest
import torch

from models.errors import InvalidInputError
from models.sampling import Sampling, derive_seed, quantize, sample_token
from models.text_request import TextRequest, cut_at_stop, is_text_request, new_generation
from models.tensorio import encode_tensor

SEED = derive_seed(b"test")


def test_greedy_is_argmax_with_ties_to_the_lowest_id():
    logits = torch.tensor([0.5, 3.0, 3.0, -1.0])
    assert sample_token(logits, Sampling(0.0, 1.0, SEED), 0) == 1


def test_same_seed_and_step_same_token_and_seeds_differ():
    logits = torch.randn(49152, generator=torch.Generator().manual_seed(1)) * 3
    s = Sampling(1.0, 1.0, SEED)
    draws = [sample_token(logits, s, step) for step in range(50)]
    assert draws == [sample_token(logits.clone(), s, step) for step in range(50)]
    other = [sample_token(logits, Sampling(1.0, 1.0, derive_seed(b"other")), step) for step in range(50)]
    assert draws != other


def test_frequencies_follow_the_softmax_and_top_p_truncates():
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0])
    s = Sampling(1.0, 1.0, SEED)
    counts = Counter(sample_token(logits, s, step) for step in range(4000))
    z = sum(math.exp(v) for v in logits.tolist())
    for token, v in enumerate(logits.tolist()):
        assert abs(counts[token] / 4000 - math.exp(v) / z) < 0.03
    # top_p 0.7: only tokens 0 and 1 (0.64 + 0.24 reaches 0.7)
    assert set(sample_token(logits, Sampling(1.0, 0.7, SEED), step) for step in range(500)) == {0, 1}
    # a low temperature concentrates on the best token
    cold = Counter(sample_token(logits, Sampling(0.1, 1.0, SEED), step) for step in range(500))
    assert cold[0] > 495


def test_quantized_candidates_are_an_exact_integer_order():
    logits = torch.zeros(1000)
    logits[7] = 1.0
    ranked = quantize(logits)
    assert ranked[0] == (1024, 7) and [t for _, t in ranked[1:4]] == [0, 1, 2] and len(ranked) == 256


def test_bad_parameters_are_refused():
    for bad in (dict(temperature=-1), dict(temperature=3), dict(top_p=0), dict(top_p=1.5)):
        with pytest.raises(InvalidInputError):
            Sampling(**{"temperature": 1.0, "top_p": 1.0, "seed": SEED, **bad})
    with pytest.raises(InvalidInputError):
        Sampling.from_json({"rule": "other", "temperature": 1, "top_p": 1, "seed": "0x" + "00" * 32})


AGREE_SCRIPT = r"""
import json, sys, torch
if sys.argv[1] != "default":
    torch.set_num_threads(int(sys.argv[1]))
from tests.ai.test_chat_sampling import generate
print(json.dumps(generate(json.loads(sys.argv[2]))))
"""


def generate(requests):
    """Sampled token ids per request, and how many picks differed from the greedy one."""
    from models import prompt_codec
    from models.pipeline import stage_runner
    from models.tensorio import decode_tensor

    runners = [stage_runner(i) for i in range(3)]
    out, not_greedy = [], 0
    for data in requests:
        gen = new_generation(prompt_codec(), data.encode(), 32)
        while not gen.done:
            x = runners[1].infer(runners[0].infer(gen.stage0_input()))
            logits = runners[2].forward(decode_tensor(x))[0, -1]
            token = sample_token(logits, gen.sampling, len(gen.generated))
            not_greedy += token != int(logits.argmax())
            gen.accept(encode_tensor(torch.tensor([token])))
        out.append(gen.generated)
    return {"tokens": out, "not_greedy": not_greedy}


@pytest.mark.timeout(900)
def test_validators_agree_across_thread_counts_and_processes():
    requests = [TextRequest.build([{"role": "user", "content": p}], 8, t, top_p, seed).encode().decode()
                for p, t, top_p, seed in (("Tell me a story.", 1.2, 1.0, 1), ("Name three fruits.", 0.8, 0.9, 2))]
    # both processes at once, and this one too: the thread count is set, not the load, so sharing the
    # cores changes only how long it takes
    procs = [subprocess.Popen([sys.executable, "-c", AGREE_SCRIPT, threads, json.dumps(requests)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "OMP_NUM_THREADS": threads}) for threads in ("1", "2")]
    here = generate(requests)  # this process, torch's default thread count
    runs = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
        runs.append(json.loads(out.strip().splitlines()[-1]))
    assert runs[0] == runs[1]
    assert runs[0] == here
    assert runs[0]["not_greedy"] > 0  # sampling really samples


def test_text_request_is_canonical_and_validated():
    a = TextRequest.build([{"role": "user", "content": "hi"}], 5, 0.5, 0.9, 3, ["\n"])
    b = TextRequest.build([{"content": "hi", "role": "user"}], 5, 0.5, 0.9, 3, "\n")
    assert a.encode() == b.encode() and is_text_request(a.encode()) and not is_text_request(b"hi")
    assert TextRequest.decode(a.encode()) == a
    parts = TextRequest.build([{"role": "user", "content": [{"type": "text", "text": "h"}, {"type": "text", "text": "i"}]}], 5)
    assert parts.messages == (("user", "hi"),)
    for bad, param in ((dict(messages=[]), "messages"), (dict(messages=[{"role": "system", "content": "x"}]), "messages"),
                       (dict(max_tokens=257), "max_tokens"), (dict(seed="x"), "seed"), (dict(stop=[1]), "stop"),
                       (dict(messages=[{"role": "user", "content": [{"type": "image_url"}]}]), "messages[0].content")):
        args = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5, **bad}
        with pytest.raises(InvalidInputError) as exc:
            TextRequest.build(**args)
        assert exc.value.param == param
    assert cut_at_stop("hello world", ["o w", "ld"]) == ("hell", True)


def test_chat_generation_stops_on_strings_end_of_turn_and_length():
    from models import prompt_codec

    codec = prompt_codec()
    tok = codec.tokenizer
    ids = tok("Hello world, again", add_special_tokens=False)["input_ids"]

    def run(max_tokens, stop=None, tail=()):
        gen = new_generation(codec, TextRequest.build([{"role": "user", "content": "x"}], max_tokens, stop=stop).encode(), 32)
        for t in [*ids, *tail]:
            if gen.accept(encode_tensor(torch.tensor([t]))):
                break
        return gen

    g = run(50, stop=["world"])
    assert g.finish_reason == "stop" and cut_at_stop(g.text, ["world"]) == ("Hello ", True)
    g = run(2)
    assert g.finish_reason == "length" and len(g.generated) == 2
    g = run(50, tail=[tok.eos_token_id])
    assert g.finish_reason == "stop" and g.text == "Hello world, again"
    # the prompt is the model's own chat template over every turn
    multi = TextRequest.build([{"role": "system", "content": "S"}, {"role": "user", "content": "U"},
                               {"role": "assistant", "content": "A"}, {"role": "user", "content": "V"}], 4)
    text = tok.decode(new_generation(codec, multi.encode(), 32).prompt_ids)
    assert text == tok.apply_chat_template([{"role": r, "content": c} for r, c in multi.messages], tokenize=False,
                                           add_generation_prompt=True)
