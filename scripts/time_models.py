#!/usr/bin/env python
"""Time the models on this machine: digits inference, each SmolLM2 stage, the whole model, a generation.

    .venv/bin/python scripts/time_models.py [--cache-dir DIR] [--threads 1] [--repeat 5]

Prints medians in milliseconds (one forward over the chat-templated prompt, batch 1, float32).
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def median_ms(fn, repeat: int) -> float:
    fn()  # warm-up
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--prompt", default="What is the capital of France?")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from models import encode_tensor, load_model
    from models.digits import encode_input, load_split
    from models.generation import WholeModel, generate_pipelined

    digits = load_model("digits_cnn", args.cache_dir)
    pixels = encode_input(load_split()[1][0])
    print(f"threads={args.threads}")
    print(f"digits_cnn infer: {median_ms(lambda: digits.infer(pixels), args.repeat * 20):.2f} ms")

    stages = [load_model("distributed_ai_model", args.cache_dir, stage=i) for i in range(3)]
    whole = WholeModel(args.cache_dir)
    ids = whole.codec.encode(args.prompt)
    data = [encode_tensor(torch.tensor([ids]))]
    for runner in stages:
        data.append(runner.infer(data[-1]))
    for i, runner in enumerate(stages):
        ms = median_ms(lambda: runner.infer(data[i]), args.repeat)
        print(f"stage {i} ({len(ids)} tokens, in {len(data[i])} B -> out {len(data[i + 1])} B): {ms:.1f} ms")
    print(f"whole model forward ({len(ids)} tokens): {median_ms(lambda: whole.last_logits(ids), args.repeat):.1f} ms")
    start = time.perf_counter()
    text = generate_pipelined(args.prompt, 8, lambda i, b: stages[i].infer(b), args.cache_dir)
    print(f"pipelined generation, 8 new tokens: {(time.perf_counter() - start) * 1000:.0f} ms -> {text!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
