"""The benchmarks' own command lines: `--help` must print, not start a run of several minutes."""
import subprocess
import sys

import pytest

from bench import host
from bench.run import quick_flag

ROOT = __file__.rsplit("/tests/", 1)[0]


def test_quick_flag_reads_quick_and_refuses_what_it_does_not_know():
    assert quick_flag("doc", []) is False
    assert quick_flag("doc", ["--quick"]) is True
    with pytest.raises(SystemExit) as exc:
        quick_flag("doc", ["--digits"])
    assert exc.value.code == 2


@pytest.mark.parametrize("module", ["bench_ai", "bench_chat", "bench_plugin", "bench_scale", "bench_rpc"])
def test_help_prints_usage_and_runs_nothing(module):
    r = subprocess.run([sys.executable, "-m", f"bench.{module}", "--help"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage:") and "--quick" in r.stdout


def test_host_probe_reports_a_positive_time_and_the_load():
    assert host.probe_ns(rounds=1) > 0
    assert len(host.load().split("/")) == 3
