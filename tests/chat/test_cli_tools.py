"""`aivm chat`'s tool loop against a real node: what a tool-calling model asks for is run, and
state changes wait for the user's `y`.

No tool-calling model runs offline here (GPT-OSS needs its own server), so the model's replies
are scripted — everything else (the node, the chain operations, the confirmation) is real.
"""
import io

import pytest
from rich.console import Console

from app.chat import cli
from app.chat.cli import Answer, Session
from app.chat.tools import TOOLS, Chain
from tests.nodeproc import start_node

DEV1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


class ScriptedModel:
    """Replies in order; records what the chat sent (messages and tools)."""

    def __init__(self, replies):
        self.replies, self.sent = list(replies), []
        self.model = "gpt_oss_chat"

    def stream(self, messages, on_text, **params):
        self.sent.append((messages, params))
        reply = self.replies.pop(0)
        on_text(reply.text)
        return reply


def call(name, args):
    import json

    return {"id": f"call_{name}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    cfg = tmp_path_factory.mktemp("tools") / "cfg.toml"
    cfg.write_text("[aivm]\nenabled = false\n")
    n = start_node(cfg.parent, "--config", str(cfg))
    yield n
    n.stop()


def session(node, replies, answers):
    chain = Chain(node.url)
    out = io.StringIO()
    s = Session(chain, ScriptedModel(replies), Console(file=out, width=160), 16, 0.0, tools=True)
    return s, out


def test_tool_calls_read_facts_and_confirm_state_changes(node, monkeypatch):
    proof = {"computation_id": "ai_comp_x", "signers": [], "threshold": 1}
    replies = [Answer("", proof, "tool_calls", tool_calls=[call("get_balances", {"addresses": [DEV1]}),
                                                           call("send_eth", {"to": DEV1, "amount_eth": "2"})]),
               Answer("", proof, "tool_calls", tool_calls=[call("send_eth", {"to": DEV1, "amount_eth": "3"})]),
               Answer("Done: you sent 2 ETH.", proof, "stop")]
    typed = iter(["n", "y"])  # the first transfer is declined, the second confirmed
    monkeypatch.setattr(cli, "read_line", lambda prompt, console: next(typed))
    s, out = session(node, replies, [])
    before = int(node.rpc("eth_getBalance", DEV1, "latest")["result"], 16)
    s.history.append({"role": "user", "content": "Send some ETH to my other account"})
    s.answer(None)
    after = int(node.rpc("eth_getBalance", DEV1, "latest")["result"], 16)
    assert after - before == 3 * 10**18  # only the confirmed transfer was sent
    text = out.getvalue()
    assert "about to send ETH" in text and "not sent" in text and "send ETH: sent" in text
    sent = s.api.sent
    assert all(params["tools"] == TOOLS for _, params in sent)
    tool_messages = [m for m in sent[1][0] if m["role"] == "tool"]
    assert '"balances"' in tool_messages[0]["content"] and "cancelled" in tool_messages[1]["content"]
    assert "transaction_hash" in [m for m in sent[2][0] if m["role"] == "tool"][-1]["content"]
    assert s.answers[-1].text == "Done: you sent 2 ETH."


def test_a_bad_tool_call_becomes_an_error_the_model_sees(node, monkeypatch):
    proof = {"computation_id": "ai_comp_x", "signers": [], "threshold": 1}
    replies = [Answer("", proof, "tool_calls", tool_calls=[call("explain_transaction", {"hash": "0x" + "00" * 32}),
                                                           call("no_such_tool", {})]),
               Answer("Sorry.", proof, "stop")]
    s, _ = session(node, replies, [])
    s.history.append({"role": "user", "content": "Explain 0x00…"})
    s.answer(None)
    tool_messages = [m["content"] for m in s.api.sent[1][0] if m["role"] == "tool"]
    assert "no transaction" in tool_messages[0] and "unknown tool" in tool_messages[1]
