"""Run the benchmarks and record them in bench/RESULTS.md.

    .venv/bin/python -m bench.run                 # every benchmark, full size
    .venv/bin/python -m bench.run --only rpc      # one (repeat --only for more)
    .venv/bin/python -m bench.run --quick         # smaller runs, same shape

Each entry of BENCHMARKS names a module with ``main(quick: bool) -> str``
returning a markdown section; it may print to the console as it goes. Its
section lands in RESULTS.md between ``<!-- NAME:start -->`` and
``<!-- NAME:end -->``, replacing only that benchmark's previous section.
"""

from __future__ import annotations

import argparse
import importlib
import re
import signal
import sys
import time
import traceback
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"

# (name, module): add a benchmark by adding one line here.
BENCHMARKS: list[tuple[str, str]] = [
    ("rpc", "bench.bench_rpc"),
    ("pqc", "bench.bench_pqc"),
    ("ai", "bench.bench_ai"),
    ("plugin", "bench.bench_plugin"),
    ("synq", "bench.bench_synq"),
    ("bridge", "bench.bench_bridge"),
    ("scale", "bench.bench_scale"),
    ("idle", "bench.bench_idle"),
    ("dashboard", "bench.bench_dashboard"),
    ("chat", "bench.bench_chat"),
    ("conformance", "bench.bench_conformance"),
    ("dispatch", "bench.bench_dispatch"),
]

HEADER = """\
# Benchmark results

Written by `.venv/bin/python -m bench.run` (see bench/README.md). Each
section is replaced when its benchmark runs again; the figures in a section
come from one run on the machine it names.
"""


def write_section(name: str, text: str, path: Path = RESULTS) -> None:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{text.rstrip()}\n{end}"
    doc = path.read_text() if path.exists() else HEADER
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if pattern.search(doc):
        doc = pattern.sub(lambda _: block, doc, count=1)
    else:
        doc = doc.rstrip() + "\n\n" + block + "\n"
    path.write_text(doc if doc.endswith("\n") else doc + "\n")


def quick_flag(description: str | None, argv: list[str] | None = None) -> bool:
    """A benchmark module's own command line, `python -m bench.bench_NAME [--quick]`: whether
    `--quick` was given (`--help` prints the usage and the docstring's first line; an unknown
    argument is refused instead of silently starting a full run)."""
    first = (description or "").strip().splitlines()
    ap = argparse.ArgumentParser(description=first[0] if first else None)
    ap.add_argument("--quick", action="store_true", help="smaller runs of the same shape")
    return ap.parse_args(argv).quick


def main(argv: list[str] | None = None) -> int:
    names = [n for n, _ in BENCHMARKS]
    ap = argparse.ArgumentParser(description="Run the AIVM benchmarks.")
    ap.add_argument("--only", action="append", choices=names, metavar="NAME",
                    help=f"run only this benchmark (one of: {', '.join(names)}); repeatable")
    ap.add_argument("--quick", action="store_true", help="smaller runs, for a fast check")
    ap.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = ap.parse_args(argv)
    # SIGTERM -> SystemExit, so benchmarks' `finally` blocks stop what they started
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    failed = []
    for name, module in BENCHMARKS:
        if args.only and name not in args.only:
            continue
        print(f"=== {name} ({module}) ===", flush=True)
        t0 = time.monotonic()
        try:
            section = importlib.import_module(module).main(quick=args.quick)
        except Exception:
            traceback.print_exc()
            print(f"=== {name}: FAILED; RESULTS.md section left as it was ===", flush=True)
            failed.append(name)
            continue
        if not args.no_write:
            write_section(name, section)
        print(f"=== {name}: done in {time.monotonic() - t0:.0f} s"
              f"{'' if args.no_write else f', written to {RESULTS}'} ===", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
