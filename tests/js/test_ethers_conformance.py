"""ethers.js v6 drives the node's conformance features: tests/js/conformance.mjs, checked here."""
from __future__ import annotations

import json
import subprocess

import pytest

from tests.js.test_ethers_client import DEV0, JS, ethers_installed, running_aivm  # noqa: F401


@pytest.fixture(scope="module")
def result(ethers_installed, tmp_path_factory) -> dict:  # noqa: F811
    log_path = tmp_path_factory.mktemp("aivm") / "node.log"
    with running_aivm(log_path) as url:
        run = subprocess.run(["node", str(JS / "conformance.mjs"), url], cwd=JS, capture_output=True,
                             text=True, timeout=120)
        try:
            data = json.loads(run.stdout)
        except json.JSONDecodeError:
            pytest.fail(f"conformance.mjs printed no JSON (exit {run.returncode}):\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
        data["exit_code"] = run.returncode
        data["log"] = log_path.read_text()
        return data


def test_no_step_failed(result):
    assert result["errors"] == [], json.dumps(result["errors"], indent=2)
    assert "internal error" not in result["log"]


def test_sign_message_and_typed_data_recover(result):
    assert result["steps"]["signMessage"]["recovered"] == DEV0
    assert result["steps"]["signTypedData"]["recovered"] == DEV0


def test_pending_pool_as_ethers_sees_it(result):
    p = result["steps"]["pendingPool"]
    assert p["pendingBlockNumber"] is None
    assert p["underpriced"] == "REPLACEMENT_UNDERPRICED"  # ethers recognised geth's words
    assert p["pendingTxs"] == [p["secondHash"]] and p["txpoolPending"] == "0x1"
    assert p["minedStatus"] == 1 and p["firstGone"] is True


def test_eip7702_through_ethers(result):
    s = result["steps"]["eip7702"]
    assert s["type"] == 4 and s["status"] == 1 and s["code"] == "0xef0100" + "cd" * 20


def test_trace_raw_overrides_access_list(result):
    t = result["steps"]["trace"]
    assert t["type"] == "CALL" and t["value"] == "0x7" and t["rawHashMatches"] is True
    o = result["steps"]["overridesAndAccessList"]
    assert o["call"] == "42" and int(o["gasUsed"]) >= 21000
    assert result["steps"]["badInput"]["code"] == -32602
