#!/usr/bin/env python
"""Train the ``digits_cnn`` model (seeded, one thread, seconds) into the models data dir.

    .venv/bin/python scripts/train_digits.py [--cache-dir DIR]

Same as ``python -m models.digits train``; prints the held-out accuracy and the manifest root.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.digits import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main(["train", *sys.argv[1:]]))
