"""The AI network view in headless chromium, against a node with four real validator processes.

One validator lies (it is slashed), one answers late (so the round's votes
visibly arrive one by one). A contract asks the AI from a transaction; the
page, open all along and never reloaded, shows the computation start, its
votes fill in, the quorum decide, the certificate verify, and the liar marked
slashed.
"""
from __future__ import annotations

import json
import threading
import time

from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector
from sklearn.datasets import load_digits

from tests.dashboard.conftest import assert_page_stayed_local_and_read_only
from tests.distributed import ai_contract
from tests.distributed.cluster import start_cluster

DEV0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def test_ai_view_fills_in_rounds_verifies_the_certificate_and_marks_the_liar(tmp_path, browser):
    digits = load_digits()
    image = bytes(int(x) for x in digits.data[7])
    c = start_cluster(tmp_path / "cluster", 4, behaviours={0: "lie", 1: "delay=2.5"}, task_timeout=10)
    try:
        liar = c.rpc("dashboard_address", "0x" + c.validators[0].address.hex())["syn"]
        compiled = ai_contract.compiled()
        contract = c.rpc("synergy_deployAIVMContract", compiled["bytecode"], json.dumps(compiled["abi"]), "ai")
        address = contract["contract_address"]

        browser.goto(c.node.url + "/dashboard/#/ai")
        browser.wait_for("() => window.__dash.ready && document.querySelectorAll('#validators tbody tr').length === 4", timeout=30)
        browser.eval("() => { window.__sameDocument = true; }")
        assert "slashed" not in browser.text(f"#validators tbody tr[data-address='{liar}']")
        browser.screenshot(tmp_path / "ai-before.png")

        calldata = function_signature_to_4byte_selector("infer(string,bytes)") + encode(["string", "bytes"], ["digits_cnn", image])
        sent: dict = {}

        def send() -> None:  # mined once the quorum answered: the chain thread waits for the AI
            sent["reply"] = c.node.rpc("eth_sendTransaction", {"from": DEV0, "to": address, "data": "0x" + calldata.hex(),
                                                               "gas": hex(3_000_000)}, timeout=120)

        sender = threading.Thread(target=send)
        sender.start()
        cid = browser.wait_for("() => { const r = document.querySelector('#computations tr[data-id]'); return r && r.dataset.id; }", timeout=30)
        browser.wait(f"#computations tr[data-id='{cid}'] .vote.Submitted")  # the fast votes are in, the late one is not
        browser.screenshot(tmp_path / "ai-votes-arriving.png")
        browser.wait(f"#computations tr[data-id='{cid}'][data-status='Completed']", timeout=60)
        sender.join(timeout=120)
        assert "result" in sent["reply"], sent

        renders = [r for r in browser.eval("() => window.__dash.renders") if r["id"] == cid]
        partial = [r for r in renders if r["status"] == "Running" and 1 <= r["submitted"] < 4]
        assert partial, f"the page never showed the round before all votes were in: {renders}"
        done = [r for r in renders if r["status"] == "Completed"]
        assert done and renders.index(done[0]) > renders.index(partial[0])
        row = browser.text(f"#computations tr[data-id='{cid}']")
        assert "decided" in row and "3 agree" in row and "disagreed" in row and "3 signers" in row

        # the liar lost a round and is marked, live
        browser.wait(f"#validators tbody tr.slashed[data-address='{liar}']", timeout=30)
        assert "slashed" in browser.text(f"#validators tbody tr[data-address='{liar}']")
        assert browser.eval("() => window.__sameDocument === true"), "the page reloaded"
        deadline = time.monotonic() + 20  # the next sample carries the fees paid for it
        while c.rpc("dashboard_history")["series"]["ai_fees"][-1][1] == 0 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert c.rpc("dashboard_history")["series"]["ai_fees"][-1][1] > 0
        browser.wait_for("() => Chart.getChart('chart-fees').data.datasets[0].data.some((p) => p.y > 0)", timeout=20)
        charts = browser.eval("() => ({scores: Chart.getChart('chart-scores').data.datasets.length,"
                              " fees: Chart.getChart('chart-fees').data.datasets.length})")
        assert charts["scores"] == 4 and charts["fees"] == 2
        assert browser.text("#clusters tbody").startswith("#1")
        browser.screenshot(tmp_path / "ai.png")

        # the liar's own page: slashed, its stake and score over time
        browser.eval(f"() => {{ location.hash = '#/address/{liar}'; }}")
        browser.wait("#chart-validator")
        page = browser.text("#view")
        assert "Validator" in page and "slashed" in page and "1 disagreed" in page and "digits_cnn/0" in page
        browser.screenshot(tmp_path / "validator.png")

        # the computation's page: the quorum certificate and its verification
        browser.eval(f"() => {{ location.hash = '#/computation/{cid}'; }}")
        browser.wait("#verification[data-valid='true']", timeout=30)
        assert "certificate valid" in browser.text("#verification")
        assert c.rpc("synergy_verifyAIResult", cid)["valid"] is True
        browser.screenshot(tmp_path / "computation.png")

        # the transaction that asked for it, decoded with the recorded ABI
        tx = sent["reply"]["result"]
        browser.eval(f"() => {{ location.hash = '#/tx/{tx}'; }}")
        browser.wait("#decoded-call .args")
        assert "infer(string,bytes)" in browser.text("#decoded-call")
        assert "Answer(string,bytes)" in browser.text("#events")
        assert "ai" in browser.text("#tx-detail")

        # Security: the validators' signatures were verified, by algorithm and level
        browser.eval("() => { location.hash = '#/security'; }")
        browser.wait("#algorithms tbody tr[data-algorithm]")
        verified = int(browser.text("#pqc-verified .v"))
        assert verified > 0
        assert int(browser.text("#levels tbody tr[data-level='Basic'] td:nth-child(2)")) > 0
        browser.screenshot(tmp_path / "security.png")
        assert_page_stayed_local_and_read_only(browser, c.node.port)
    finally:
        c.stop()
