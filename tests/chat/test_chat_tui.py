"""`aivm chat` driven as a person would: in tmux (send-keys, capture-pane), against a node and three validators."""
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest


REPO = Path(__file__).resolve().parents[2]
DEV1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
COUNTER = """
event Added(by: uint256, total: uint256);

public storage count: uint256;

constructor(start: uint256) {
    count = start;
}

external fn add(by: uint256) {
    count += by;
    emit Added(by, count);
}
"""

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux missing: `make test` installs it")


class Tmux:
    def __init__(self, workdir: Path, command: list[str]) -> None:
        self.socket = f"aivm-chat-{os.getpid()}"
        self.name = "chat"
        env = " ".join(f"{k}={v}" for k, v in (("PYTHONPATH", os.environ.get("PYTHONPATH", str(REPO))),
                                                ("TERM", "xterm-256color"), ("COLUMNS", "200")))
        self.tmux("new-session", "-d", "-s", self.name, "-x", "200", "-y", "80", "-c", str(workdir),
                  f"env {env} {' '.join(command)}; echo CHAT-EXITED $?; sleep 600")
        self.tmux("set-option", "-t", self.name, "history-limit", "20000")

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True).stdout

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.name, *keys)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", self.name, "-l", text)
        self.keys("Enter")

    def screen(self) -> str:
        # without the blank rows below the cursor, so the text only grows and offsets stay valid
        return self.tmux("capture-pane", "-p", "-J", "-S", "-20000", "-t", self.name).rstrip()

    def wait(self, pattern: str, timeout: float = 180, after: int = 0) -> str:
        """Wait until `pattern` appears in the scrollback beyond character `after`; return the text after it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.screen()
            m = re.search(pattern, text[after:])
            if m:
                return text
            time.sleep(0.3)
        raise AssertionError(f"{pattern!r} did not appear; screen:\n{self.screen()[-4000:]}")

    def mark(self) -> int:
        return len(self.screen())

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


@pytest.fixture(scope="module")
def cluster(chat_cluster):
    return chat_cluster


def answered(t: Tmux, n: int, after: int) -> str:
    return t.wait(rf"#{n} · ai_comp_\d+_\d+ · signed by [23] validators", after=after)


@pytest.mark.timeout(900)
def test_chat_answers_streams_shows_certificates_and_works_the_chain(cluster, tmp_path):
    (tmp_path / "Counter.synq").write_text(COUNTER)
    t = Tmux(tmp_path, [sys.executable, "-m", "app.cli", "chat", "--rpc", cluster.node.url, "--max-tokens", "3"])
    try:
        t.wait("AIVM chat", timeout=60)
        t.wait("you>")

        # a plain question: streamed answer from the quorum, then its certificate one key away
        m = t.mark()
        t.type("Hello there!")
        answered(t, 1, m)
        m = t.mark()
        t.keys("Tab")
        screen = t.wait(r"certificate of answer #1", after=m)
        cert = screen[m:]
        assert re.search(r"valid\s+yes", cert) and re.search(r"on-chain 0x0118\s+passed", cert)
        # by stake: 2 of 3 equal stakes decide (a validator that lapsed under load leaves a smaller set)
        assert re.search(r"signers\s+[1-3] of [1-3] \(needs", cert)

        # deploy a SynQ file: shown, confirmed, sent
        m = t.mark()
        t.type("/deploy Counter.synq 5")
        t.wait(r"about to deploy Counter\.synq", after=m)
        t.wait(r"send it\? \[y/N\]", after=m)
        assert re.search(r"constructor_args\s+\[5\]", t.screen()[m:]) and "add(uint256)" in t.screen()[m:]
        t.type("y")
        screen = t.wait(r"deploy Counter\.synq: sent", after=m)
        address = re.search(r"contract_address\s+(0x[0-9a-fA-F]{40})", screen[m:]).group(1)
        assert cluster.rpc("synergy_getAIVMContract", address)["kind"] == "standard"

        # a contract's functions, explained
        m = t.mark()
        t.type(f"/contract {address}")
        screen = t.wait(r"chain: contract", after=m)
        answered(t, 2, m)
        assert "add(uint256)" in t.screen()[m:] and "count()" in t.screen()[m:]

        # a state-changing call: declined first (nothing sent), then confirmed
        m = t.mark()
        t.type(f"/call {address} add 3")
        t.wait(r"about to call add", after=m)
        t.type("n")
        t.wait("not sent", after=m)
        assert _count(cluster, address) == 5
        m = t.mark()
        t.type(f"/call {address} add 3")
        t.wait(r"send it\?", after=m)
        t.type("y")
        screen = t.wait(r"call add: sent", after=m)
        tx_hash = re.search(r"transaction_hash\s+(0x[0-9a-f]{64})", screen[m:]).group(1)
        assert _count(cluster, address) == 8
        m = t.mark()
        t.type(f"/call {address} count")
        t.wait(r"result\s+8", after=m)

        # the transaction explained, decoded with the ABI the node recorded
        m = t.mark()
        t.type(f"/tx {tx_hash}")
        screen = t.wait(r"chain: transaction", after=m)
        answered(t, 3, m)
        part = t.screen()[m:]
        assert re.search(r"call\.function\s+add\(uint256\)", part) and re.search(r"call\.args\.by\s+3", part)
        assert re.search(r"events\[0\]\.event\s+Added", part) and re.search(r"events\[0\]\.args\.total\s+8", part)

        # sending ETH, confirmed; then a question that names the account gets its balance as a fact
        before = int(cluster.rpc("eth_getBalance", DEV1, "latest"), 16)
        m = t.mark()
        t.type(f"/send {DEV1} 1.5")
        t.wait(r"about to send ETH", after=m)
        t.type("y")
        t.wait(r"send ETH: sent", after=m)
        assert int(cluster.rpc("eth_getBalance", DEV1, "latest"), 16) - before == 15 * 10**17
        m = t.mark()
        t.type(f"How much does {DEV1} hold?")
        t.wait(r"chain: balances", after=m)
        answered(t, 4, m)
        from decimal import Decimal

        held = str(Decimal(int(cluster.rpc("eth_getBalance", DEV1, "latest"), 16)) / 10**18)
        assert re.search(rf"eth\s+{re.escape(held)}", t.screen()[m:])

        # AI stats, history, the certificate of an earlier answer, and quitting
        m = t.mark()
        t.type("/stats")
        t.wait(r"chain: AI stats", after=m)
        answered(t, 5, m)
        m = t.mark()
        t.type("/cert 2")
        t.wait(r"certificate of answer #2", after=m)
        m = t.mark()
        t.type("/history")
        t.wait(r"you: Hello there!", after=m)
        m = t.mark()
        t.type("/quit")
        t.wait(r"CHAT-EXITED 0", after=m, timeout=30)
    finally:
        t.close()


def _count(cluster, address: str) -> int:
    from eth_hash.auto import keccak

    out = cluster.rpc("eth_call", {"to": address, "data": "0x" + keccak(b"count()")[:4].hex()}, "latest")
    return int(out, 16)
