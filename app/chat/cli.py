"""`aivm chat --rpc URL`: a terminal chat with the validator quorum that knows the chain.

Answers stream in as the quorum agrees on each token; every answer keeps its computation id and
certificate — press Tab on an empty line (or ``/cert N``) to see it checked by the node
(``synergy_verifyAIResult``). Chain work:

- commands: ``/balance``, ``/tx HASH``, ``/contract ADDR``, ``/call ADDR FN ARGS…``,
  ``/send TO ETH``, ``/deploy FILE.synq ARGS… [--kind K]``, ``/stats``;
- retrieval: addresses, transaction hashes and words like "balance" or "stats" in a question
  fetch the facts before the model answers;
- a model that calls tools (endpoint-served, ``--tools``) chooses the operations itself.

Facts go into the model's context as a system message; every state-changing action is shown in
full and sent only after the user typed ``y``.
"""
from __future__ import annotations

import codecs
import json
import os
import re
import shlex
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional

import click
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from app.chat.tools import TOOLS, Action, Chain, ChainError, run_tool

SYSTEM = ("You are the assistant of an AIVM blockchain node. Your answers are computed by a quorum of validators. "
          "Answer briefly. When chain facts are given, explain them plainly and do not invent numbers.")
CONTEXT_CHARS = 1600  # SmolLM2's 1024-token window (hex is ~2 characters a token); halved when the node says too long
TX_HASH = re.compile(r"\b0x[0-9a-fA-F]{64}\b")
ADDRESS = re.compile(r"\b(0x[0-9a-fA-F]{40}|sYn[a-z2-7]{38,42})\b")
HELP = """[bold]commands[/bold]
  /balance [ADDR…]            balances (default: the node's dev accounts)
  /tx HASH                    a transaction and its receipt, decoded with the recorded ABI
  /contract ADDR              a contract's functions and events
  /call ADDR FN [ARGS…]       call a function (state-changing calls are confirmed first)
  /send TO ETH                send ETH from your account (confirmed first)
  /deploy FILE.synq [ARGS…] [--kind K]   compile and deploy a SynQ contract (confirmed first)
  /stats                      AI statistics of the node
  /cert [N]                   the certificate of answer N (default: the last) — or press Tab
  /history  /clear  /help  /quit"""


class APIFailure(Exception):
    pass


@dataclass
class Answer:
    text: str
    proof: dict
    finish_reason: str
    usage: dict = field(default_factory=dict)
    tool_calls: Optional[list] = None


class ChatAPI:
    """The node's /v1/chat/completions, streamed (server-sent events over urllib)."""

    def __init__(self, rpc_url: str, model: str, account: Optional[str], timeout: float = 600) -> None:
        self.url = rpc_url.rstrip("/") + "/v1/chat/completions"
        self.model, self.account, self.timeout = model, account, timeout

    def _post(self, body: dict):
        headers = {"Content-Type": "application/json"}
        if self.account:
            headers["X-AIVM-Account"] = self.account
        req = urllib.request.Request(self.url, json.dumps(body).encode(), headers)
        try:
            return urllib.request.urlopen(req, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read())["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = f"HTTP {exc.code}"
            raise APIFailure(message) from None
        except (urllib.error.URLError, OSError) as exc:
            raise APIFailure(f"cannot reach {self.url}: {getattr(exc, 'reason', exc)}") from None

    def stream(self, messages: list, on_text: Callable[[str], None], **params) -> Answer:
        body = {"model": self.model, "messages": messages, "stream": True,
                "stream_options": {"include_usage": True}, **{k: v for k, v in params.items() if v is not None}}
        text, proof, finish, usage, calls = [], {}, "stop", {}, None
        with self._post(body) as resp:
            for event in _events(resp):
                if "error" in event:
                    raise APIFailure(event["error"].get("message", "error"))
                if event.get("usage"):
                    usage = event["usage"]
                for choice in event.get("choices", []):
                    delta = choice.get("delta") or {}
                    if delta.get("content"):
                        text.append(delta["content"])
                        on_text(delta["content"])
                    if delta.get("tool_calls"):
                        calls = delta["tool_calls"]
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
                if event.get("aivm"):
                    proof = event["aivm"]
        return Answer("".join(text), proof, finish, usage, calls)


def _events(resp) -> Iterator[dict]:
    for raw in resp:
        line = raw.decode("utf-8").strip()
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        yield json.loads(data)


def _leaves(value, prefix: str = "") -> Iterator[tuple[str, object]]:
    """Nested facts as (dotted key, value) rows; short lists of scalars stay on one row."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        for i, v in enumerate(value):
            yield from _leaves(v, f"{prefix}[{i}]")
    elif isinstance(value, list):
        yield prefix, ", ".join(map(str, value)) or "(none)"
    else:
        yield prefix, value


def read_line(prompt: str, console: Console) -> str:
    """One line from the terminal; Tab on an empty line returns "\\t" at once (the certificate key)."""
    if not sys.stdin.isatty():
        return console.input(prompt)
    import termios
    import tty

    console.print(prompt, end="")
    fd = sys.stdin.fileno()
    old = termios.tcgetattr(fd)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    buf: list[str] = []
    tty.setcbreak(fd)
    try:
        while True:
            byte = os.read(fd, 1)
            if not byte:
                raise EOFError
            ch = decoder.decode(byte)
            if not ch:
                continue
            if ch in ("\r", "\n"):
                sys.stdout.write("\n")
                sys.stdout.flush()
                return "".join(buf)
            if ch == "\t":
                if not buf:
                    sys.stdout.write("\n")
                    sys.stdout.flush()
                    return "\t"
            elif ch in ("\x7f", "\b"):
                if buf:
                    buf.pop()
                    sys.stdout.write("\b \b")
            elif ch == "\x04" and not buf:
                raise EOFError
            elif ch == "\x15":  # Ctrl-U: clear the line
                sys.stdout.write("\b \b" * len(buf))
                buf.clear()
            elif ch.isprintable():
                buf.append(ch)
                sys.stdout.write(ch)
            sys.stdout.flush()
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, old)


class Session:
    def __init__(self, chain: Chain, api: ChatAPI, console: Console, max_tokens: int, temperature: float,
                 tools: bool) -> None:
        self.chain, self.api, self.console = chain, api, console
        self.max_tokens, self.temperature, self.use_tools = max_tokens, temperature, tools
        self.history: list[dict] = []
        self.answers: list[Answer] = []

    # -- the loop --
    def run(self) -> None:
        c = self.console
        c.print(Panel.fit(f"[bold]AIVM chat[/bold] — {self.api.model} answered by the validator quorum at "
                          f"{self.chain.url}\nyour account: {self.chain.account}\n"
                          "type a question, /help for chain commands, Tab for the last answer's certificate",
                          border_style="cyan"))
        while True:
            try:
                line = read_line("[bold green]you>[/bold green] ", c)
            except (EOFError, KeyboardInterrupt):
                c.print()
                return
            if line == "\t":
                self.show_certificate(len(self.answers))
                continue
            line = line.strip()
            if not line:
                continue
            if line in ("/quit", "/exit"):
                return
            try:
                if line.startswith("/"):
                    self.command(line)
                else:
                    self.ask(line)
            except (ChainError, APIFailure) as exc:
                c.print(f"[red]error:[/red] {exc}", highlight=False)
            except KeyboardInterrupt:
                c.print("\n[yellow]interrupted[/yellow]")

    def command(self, line: str) -> None:
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise ChainError(f"cannot parse the command: {exc}") from None
        name, args = words[0][1:], words[1:]
        if name == "help":
            self.console.print(HELP)
        elif name == "balance":
            self.explain("balances", self.chain.balances(args or None), "Summarise these balances.")
        elif name == "tx":
            self._need(args, 1, "/tx HASH")
            self.explain("transaction", self.chain.explain_tx(args[0]), "Explain this transaction in two sentences.")
        elif name == "contract":
            self._need(args, 1, "/contract ADDR")
            self.explain("contract", self.chain.contract(args[0]), "Describe what this contract offers.")
        elif name == "stats":
            self.explain("AI stats", self.chain.ai_stats(), "Summarise these AI statistics.")
        elif name == "call":
            if len(args) < 2:
                raise ChainError("usage: /call ADDR FN [ARGS…]")
            out = self.chain.prepare_call(args[0], args[1], args[2:])
            if isinstance(out, Action):
                self.confirm_and_run(out)
            else:
                self.explain("call result", out, None)
        elif name == "send":
            self._need(args, 2, "/send TO ETH")
            self.confirm_and_run(self.chain.prepare_send(args[0], args[1]))
        elif name == "deploy":
            if not args:
                raise ChainError("usage: /deploy FILE.synq [ARGS…] [--kind standard|ai|pqc|bridge]")
            kind = "standard"
            if "--kind" in args:
                i = args.index("--kind")
                if i + 1 >= len(args):
                    raise ChainError("--kind needs a value")
                kind = args[i + 1]
                args = args[:i] + args[i + 2:]
            self.confirm_and_run(self.chain.prepare_deploy(args[0], args[1:], kind))
        elif name == "cert":
            n = len(self.answers)
            if args:
                try:
                    n = int(args[0])
                except ValueError:
                    raise ChainError("usage: /cert [N]") from None
            self.show_certificate(n)
        elif name == "history":
            self.show_history()
        elif name == "clear":
            self.history.clear()
            self.console.print("[dim]conversation cleared (answers and certificates are kept)[/dim]")
        else:
            raise ChainError(f"unknown command /{name}: /help lists them")

    @staticmethod
    def _need(args: list, n: int, usage: str) -> None:
        if len(args) != n:
            raise ChainError(f"usage: {usage}")

    # -- chain facts, actions --
    def show_facts(self, title: str, facts: dict) -> None:
        table = Table(show_header=False, box=None, padding=(0, 1))
        for key, value in _leaves(facts):
            table.add_row(f"[bold]{key}[/bold]", str(value))
        self.console.print(Panel(table, title=f"chain: {title}", border_style="blue", expand=False), highlight=False)

    def add_facts(self, title: str, facts: dict) -> None:
        self.history.append({"role": "system", "content": f"Chain facts ({title}), from the node: "
                                                          f"{json.dumps(facts, separators=(',', ':'))}"})

    def explain(self, title: str, facts: dict, question: Optional[str]) -> None:
        self.show_facts(title, facts)
        self.add_facts(title, facts)
        if question:
            self.answer(question)

    def confirm_and_run(self, action: Action) -> Optional[dict]:
        table = Table(show_header=False, box=None)
        for k, v in action.details.items():
            table.add_row(f"[bold]{k}[/bold]", json.dumps(v) if isinstance(v, (list, dict)) else str(v))
        self.console.print(Panel(table, title=f"about to {action.title}", border_style="yellow", expand=False))
        reply = read_line("[bold yellow]send it? \\[y/N][/bold yellow] ", self.console).strip().lower()
        if reply not in ("y", "yes"):
            self.console.print("[dim]not sent[/dim]")
            self.add_facts(f"{action.title}: cancelled by the user", action.details)
            return None
        result = action.run()
        self.show_facts(f"{action.title}: sent", result)
        self.add_facts(f"{action.title}: done", {**action.details, **result})
        return result

    def retrieve(self, text: str) -> list[tuple[str, dict]]:
        """Chain facts a question mentions (the small model cannot call tools: we look them up)."""
        found = []
        for h in dict.fromkeys(TX_HASH.findall(text)):
            found.append((f"transaction {h[:10]}…", self.chain.explain_tx(h)))
        addresses = list(dict.fromkeys(ADDRESS.findall(text)))
        if addresses:
            found.append(("balances", self.chain.balances(addresses)))
            for a in addresses:
                try:
                    found.append((f"contract {a[:10]}…", self.chain.contract(a)))
                except ChainError:
                    pass  # not a contract: its balance says it all
        lowered = text.lower()
        if not addresses and re.search(r"\bbalances?\b|\bhow much\b|\bfunds\b", lowered):
            found.append(("balances", self.chain.balances(None)))
        if re.search(r"\bstats?\b|\bstatistics\b|\bvalidators?\b|\bcomputations?\b", lowered):
            found.append(("AI stats", self.chain.ai_stats()))
        return found

    # -- talking to the model --
    def ask(self, text: str) -> None:
        if not self.use_tools:
            for title, facts in self.retrieve(text):
                self.show_facts(title, facts)
                self.add_facts(title, facts)
        self.history.append({"role": "user", "content": text})
        self.answer(None)

    def context(self, budget: int = CONTEXT_CHARS) -> list[dict]:
        """System prompt + the newest messages that fit the model's window (``budget`` characters)."""
        kept, size = [], 0
        for m in reversed(self.history):
            size += len(m["content"] or "") + 16
            if kept and size > budget:
                break
            kept.append(m)
        kept.reverse()
        kept = [{**m, "content": m["content"][:budget] + "…"} if len(m["content"] or "") > budget else m for m in kept]
        facts = [m["content"] for m in kept if m["role"] == "system"]
        turns = [m for m in kept if m["role"] != "system"]
        if not turns or turns[-1]["role"] == "assistant":
            turns.append({"role": "user", "content": "Go on."})
        return [{"role": "system", "content": "\n".join([SYSTEM, *facts])}, *turns]

    def answer(self, question: Optional[str]) -> None:
        if question:
            self.history.append({"role": "user", "content": question})
        for _ in range(4):  # tool rounds
            self.console.print("[bold magenta]quorum>[/bold magenta] ", end="")
            extra = {"tools": TOOLS} if self.use_tools else {}
            budget = CONTEXT_CHARS
            while True:
                try:
                    answer = self.api.stream(self.context(budget), lambda s: self.console.print(
                        s, end="", markup=False, highlight=False), max_tokens=self.max_tokens,
                        temperature=self.temperature, **extra)
                    break
                except APIFailure as exc:  # refused before any computation started: send less
                    if "context length" not in str(exc) or budget < 200:
                        raise
                    budget //= 2
            self.console.print()
            self.answers.append(answer)
            p = answer.proof
            signers = len(p.get("signers") or [])
            self.console.print(f"[dim]  #{len(self.answers)} · {p.get('computation_id')} · signed by {signers} "
                               f"validators (quorum {p.get('threshold')}) · {answer.finish_reason} · Tab: certificate[/dim]",
                               highlight=False)
            message = {"role": "assistant", "content": answer.text}
            if answer.tool_calls:
                message["tool_calls"] = [{k: c[k] for k in ("id", "type", "function") if k in c}
                                         for c in answer.tool_calls]
            self.history.append(message)
            if not answer.tool_calls:
                return
            for call in answer.tool_calls:
                fn = call.get("function", {})
                try:
                    args = json.loads(fn.get("arguments") or "{}")
                    out = run_tool(self.chain, fn.get("name", ""), args)
                    if isinstance(out, Action):
                        out = self.confirm_and_run(out) or {"cancelled": "the user did not confirm"}
                    else:
                        self.show_facts(fn.get("name", "tool"), out)
                except (ChainError, ValueError, KeyError, TypeError) as exc:
                    out = {"error": str(exc)}
                self.history.append({"role": "tool", "content": json.dumps(out), "tool_call_id": call.get("id")})

    # -- certificates, history --
    def show_certificate(self, n: int) -> None:
        if not 1 <= n <= len(self.answers):
            self.console.print("[yellow]no answer yet to show a certificate for[/yellow]" if not self.answers else
                               f"[yellow]answers are numbered 1..{len(self.answers)}[/yellow]")
            return
        p = self.answers[n - 1].proof
        cid = p.get("computation_id")
        verdict = self.chain.verify(cid) if cid else {"valid": False, "reason": "no computation id"}
        cert = p.get("certificate") or ""
        try:
            onchain = self.chain.verify_on_chain(cert) if cert else {"passed": False}
        except ChainError as exc:
            onchain = {"passed": False, "error": str(exc)}
        table = Table(show_header=False, box=None)
        rows = [("computation", cid), ("valid", "[green]yes[/green]" if verdict.get("valid") else
                                       f"[red]no[/red] ({verdict.get('reason')})"),
                ("on-chain 0x0118", "[green]passed[/green]" if onchain.get("passed") else f"[red]failed[/red] {onchain}"),
                ("signers", f"{verdict.get('signers')} of {verdict.get('set_size')} (needs {verdict.get('required')})"),
                ("level", p.get("level")), ("set id", p.get("set_id")), ("input hash", verdict.get("input_hash")),
                ("output hash", verdict.get("output_hash")), ("certificate", f"{cert[:34]}… ({(len(cert) - 2) // 2} bytes)"),
                ("paid by", f"{p.get('payer')} · {p.get('fee_wei')} wei · tx {p.get('payment_tx')}"),
                ("seed", p.get("seed")), ("validators", ", ".join(p.get("signers") or []))]
        for k, v in rows:
            table.add_row(f"[bold]{k}[/bold]", str(v))
        self.console.print(Panel(table, title=f"certificate of answer #{n} (synergy_verifyAIResult)",
                                 border_style="green", expand=False), highlight=False)

    def show_history(self) -> None:
        for m in self.history:
            role = {"user": "you", "assistant": "quorum", "system": "facts", "tool": "tool"}[m["role"]]
            text = m["content"] if len(m["content"]) < 200 else m["content"][:200] + "…"
            self.console.print(Text.assemble((f"{role}: ", "bold"), text), highlight=False)


@click.command("chat")
@click.option("--rpc", "rpc_url", default="http://127.0.0.1:8545", show_default=True, help="The node's URL.")
@click.option("--model", default="distributed_ai_model", show_default=True,
              help="distributed_ai_model (offline, sharded) or gpt_oss_chat (endpoint-served validators).")
@click.option("--account", default=None, help="The account that pays and sends (default: the node's first dev account).")
@click.option("--max-tokens", type=click.IntRange(1, 256), default=48, show_default=True)
@click.option("--temperature", type=click.FloatRange(0, 2), default=0.0, show_default=True)
@click.option("--tools/--no-tools", default=None,
              help="Let the model call chain tools (default: on for gpt_oss_chat, off for the small offline model).")
def chat(rpc_url, model, account, max_tokens, temperature, tools) -> None:
    """Chat with the validator quorum, about and on the chain."""
    console = Console(highlight=False)
    chain = Chain(rpc_url, account)
    try:
        chain.rpc("eth_chainId")
    except ChainError as exc:
        raise click.ClickException(str(exc)) from None
    use_tools = (model == "gpt_oss_chat") if tools is None else tools
    Session(chain, ChatAPI(rpc_url, model, account), console, max_tokens, temperature, use_tools).run()
