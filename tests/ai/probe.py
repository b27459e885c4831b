"""Run fixed inferences with a given thread count and print raw-output hashes and commitments as JSON.

Used by test_determinism.py in fresh subprocesses: ``python tests/ai/probe.py CACHE_DIR THREADS``.
"""
import hashlib
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402

PROMPT = "What is the capital of France?"


def main(cache_dir: str, threads: int) -> dict:
    start = time.perf_counter()
    torch.set_num_threads(threads)
    from models import load_model
    from models.digits import encode_input, load_split

    result = {"threads": torch.get_num_threads(), "digits": [], "stages": [], "text": None}
    digits = load_model("digits_cnn", cache_dir)
    _, x_test, _, _ = load_split()
    for pixels in x_test[:50]:
        out = digits.infer(encode_input(pixels))
        result["digits"].append([out.hex(), digits.commitment(out).hex()])

    from models.generation import Generation, prompt_codec

    stages = [load_model("distributed_ai_model", cache_dir, stage=i) for i in range(3)]
    result["load_seconds"] = round(time.perf_counter() - start, 2)
    gen = Generation(prompt_codec(cache_dir), PROMPT, max_new_tokens=3)
    while not gen.done:
        data = gen.stage0_input()
        for runner in stages:
            data = runner.infer(data)
            result["stages"].append([hashlib.sha256(data).hexdigest(), runner.commitment(data).hex()])
        gen.accept(data)
    result["text"] = gen.text
    result["seconds"] = round(time.perf_counter() - start, 2)
    return result


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]))))
