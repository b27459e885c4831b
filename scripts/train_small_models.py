#!/usr/bin/env python
"""(Re)train the small models of the shipped contracts (seeded, one thread, seconds each).

    .venv/bin/python scripts/train_small_models.py [price-v1 mm-v1 risk-model] [--out DIR]

Same as ``python -m models.price train`` (``market``, ``risk``); prints each model's held-out
figures, manifest root and whether it equals the shipped weights'. Without model ids, all three;
``--out models/weights`` replaces the shipped files (then pin the new roots in catalog.py).
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models import small  # noqa: E402
from models.catalog import MODELS  # noqa: E402

SMALL = [m for m, info in MODELS.items() if info.module]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", metavar="MODEL", help=f"any of {', '.join(SMALL)} (default: all)")
    parser.add_argument("--out", default="rebuilt-models")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.models) - set(SMALL))
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(SMALL)}")
    args.models = args.models or SMALL
    for model_id in args.models:
        small.cli(MODELS[model_id], ["train", "--out", args.out])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
