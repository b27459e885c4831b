"""Pinned compiler output for every shipped SynQ program (tests/synq/golden_bytecode.json).

Shipped programs: every `*.synq` file in the repository (contracts/, bench/contracts/, tests/) and every
complete ```synq block in docs/. Per program and optimisation level the pin holds sha256 of the init
bytecode, the runtime bytecode and the ABI; the source's own hash tells "the program changed" apart
from "the compiler changed".

    python -m tests.synq.golden           # compare, print what differs (exit 1 on a difference)
    python -m tests.synq.golden --update  # re-pin after an intended change (check the diff first)
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

import synq

ROOT = Path(__file__).resolve().parents[2]
PIN = Path(__file__).resolve().parent / "golden_bytecode.json"
LEVELS = (0, 1)
SKIP_DIRS = {".venv", ".peers", "node_modules", ".git"}
UPDATE = "python -m tests.synq.golden --update"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def shipped_sources() -> dict[str, str]:
    """name -> source of every shipped program; doc blocks are named `docs/x.md#<n>` (n-th block)."""
    out: dict[str, str] = {}
    for p in sorted(ROOT.rglob("*.synq")):
        rel = p.relative_to(ROOT)
        if not SKIP_DIRS & set(rel.parts):
            out[rel.as_posix()] = p.read_text()
    for md in sorted((ROOT / "docs").rglob("*.md")):
        for i, m in enumerate(re.finditer(r"```synq\n(.*?)```", md.read_text(), re.S)):
            out[f"{md.relative_to(ROOT).as_posix()}#{i}"] = m.group(1)
    return out


def fingerprint(source: str, name: str) -> dict | None:
    """Hashes of the outputs at each level; None for a doc fragment that is not a whole program."""
    entry: dict = {"source": _sha(source.encode())}
    for level in LEVELS:
        try:
            o = synq.compile_source(source, name, optimize=level)
        except synq.SynqUserError:
            if "#" in name:  # a statement fragment in prose, not a contract
                return None
            raise
        entry[f"O{level}"] = {"bytecode": _sha(o.bytecode), "runtime": _sha(o.runtime_bytecode),
                              "abi": _sha(json.dumps(o.abi, sort_keys=True).encode())}
    return entry


def current() -> dict[str, dict]:
    out = {}
    for name, src in shipped_sources().items():
        fp = fingerprint(src, name)
        if fp is not None:
            out[name] = fp
    return out


def differences(pinned: dict[str, dict], now: dict[str, dict]) -> list[str]:
    """One readable line per program whose output (or source) no longer matches its pin."""
    out = []
    for name in sorted(set(pinned) | set(now)):
        old, new = pinned.get(name), now.get(name)
        if old is None:
            out.append(f"{name}: not pinned (a new program): run `{UPDATE}`")
        elif new is None:
            out.append(f"{name}: pinned but gone: run `{UPDATE}`")
        elif old["source"] != new["source"]:
            out.append(f"{name}: its source changed since it was pinned: check its output, then run `{UPDATE}`")
        else:
            for level in LEVELS:
                for part in ("bytecode", "runtime", "abi"):
                    if old[f"O{level}"][part] != new[f"O{level}"][part]:
                        out.append(f"{name}: the compiler now emits a different {part} at -O{level} "
                                   "for the same source")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--update", action="store_true", help="re-pin the current output")
    args = ap.parse_args(argv)
    now = current()
    if args.update:
        PIN.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
        print(f"pinned {len(now)} programs in {PIN.relative_to(ROOT)}")
        return 0
    diff = differences(json.loads(PIN.read_text()), now)
    print("\n".join(diff) or f"all {len(now)} programs match their pins")
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
