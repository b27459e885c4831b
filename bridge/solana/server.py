"""A local Solana chain: LiteSVM (the Solana runtime, from solders) behind Solana's JSON-RPC.

What it is, plainly: one in-memory LiteSVM bank with the System, SPL Token,
Token-2022, Associated Token Account and Memo programs, served over HTTP with
the subset of Solana's JSON-RPC that the bridge and a client need. It is not a
validator: there is no gossip, no leader schedule, no votes. Each accepted
transaction is its own slot (the slot advances by one), the blockhash rolls
every BLOCKHASH_SECONDS (so signed transactions expire, as on Solana). With
`--state DIR` every accepted transaction is journalled to disk before it is
acknowledged and replayed into a fresh LiteSVM at start (bridge/solana/ledger.py),
so a killed process comes back with every account; without it, state is in memory.

Methods: getHealth, getVersion, getSlot, getBlockHeight, getLatestBlockhash,
isBlockhashValid, getBalance, getAccountInfo, getMultipleAccounts,
getTokenAccountBalance, getMinimumBalanceForRentExemption, requestAirdrop,
sendTransaction, simulateTransaction, getSignatureStatuses, getTransaction,
getSignaturesForAddress.

    python -m bridge.solana.server --port 8899 [--state DIR]
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import logging
import sys
import threading
import time

from aiohttp import web
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from solders.token.state import TokenAccount
from solders.transaction import Transaction, VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata

from bridge.solana.ledger import Ledger, LedgerError, decode_account, encode_account, writable_keys

log = logging.getLogger("aivm.solana")
BLOCKHASH_SECONDS = 60.0
VERSION = {"solana-core": "litesvm (solders 0.29)", "feature-set": 0}


class RpcFail(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class LocalSolana:
    """The bank and the bookkeeping JSON-RPC needs (statuses, per-address history)."""

    def __init__(self, state_dir: "str | None" = None) -> None:
        self.svm = LiteSVM()
        self.lock = threading.Lock()
        self.slot = 1
        self.statuses: dict[str, dict] = {}
        self.history: dict[str, list[str]] = {}
        self.txs: dict[str, tuple[bytes, int, dict, int]] = {}   # raw, slot, meta, block time
        self.ledger = Ledger(state_dir) if state_dir else None
        if self.ledger is not None:
            self._replay(self.ledger.load())
        self.svm.warp_to_slot(self.slot)
        self.valid_hashes: dict[str, float] = {str(self.svm.latest_blockhash()): time.monotonic()}
        self.rolled = time.monotonic()

    # -- the journal (bridge/solana/ledger.py) --
    def _replay(self, records: list[dict]) -> None:
        for r in records:
            for address, row in (r.get("accounts") or {}).items():
                self.svm.set_account(Pubkey.from_string(address), decode_account(row))
            self.slot = max(self.slot, int(r.get("slot", 1)))
            if r.get("t") == "tx":
                self._remember(r["sig"], base64.b64decode(r["raw"]), r["slot"], r["meta"], r["keys"], r["time"])
        if records and len(records) > 1:
            log.info("replayed %d transactions from %s (slot %d)", len(records) - 1, self.ledger.path, self.slot)

    def _journal(self, record: dict, keys) -> None:
        """Write the post-state of `keys` with `record`, durably, before the caller is answered."""
        if self.ledger is None:
            return
        record["accounts"] = {str(k): encode_account(self.svm.get_account(k)) for k in keys}
        self.ledger.append(record)

    def _remember(self, sig: str, raw: bytes, slot: int, meta: dict, keys: list[str], when: int) -> None:
        self.statuses[sig] = {"slot": slot, "confirmations": None, "err": None, "confirmationStatus": "finalized"}
        self.txs[sig] = (raw, slot, meta, when)
        for k in keys:
            self.history.setdefault(k, []).append(sig)

    def _roll(self) -> None:
        if time.monotonic() - self.rolled >= BLOCKHASH_SECONDS:
            self.svm.expire_blockhash()
            self.valid_hashes = {str(self.svm.latest_blockhash()): time.monotonic()}
            self.rolled = time.monotonic()

    def latest_blockhash(self) -> str:
        with self.lock:
            self._roll()
            return str(self.svm.latest_blockhash())

    def send(self, raw: bytes) -> str:
        try:
            tx = Transaction.from_bytes(raw)
        except Exception:
            try:
                tx = VersionedTransaction.from_bytes(raw)
            except Exception as exc:
                raise RpcFail(-32602, f"invalid transaction: {exc}") from None
        with self.lock:
            self._roll()
            sig = str(tx.signatures[0])
            if sig in self.statuses:
                raise RpcFail(-32002, "Transaction simulation failed: This transaction has already been processed")
            result = self.svm.send_transaction(tx)
            if isinstance(result, FailedTransactionMetadata):
                logs = list(_call(result.meta).logs())
                raise RpcFail(-32002, f"Transaction simulation failed: {result.err}" +
                              (f"; logs: {logs[-3:]}" if logs else ""))
            self.slot += 1  # a transaction lands in a new slot, after every slot getSlot reported
            self.svm.warp_to_slot(self.slot)
            meta = {"err": None, "logMessages": list(_call(result.logs)), "fee": _call(result.fee),
                    "computeUnitsConsumed": _call(result.compute_units_consumed)}
            keys, when = [str(k) for k in tx.message.account_keys], int(time.time())
            self._journal({"t": "tx", "sig": sig, "slot": self.slot, "time": when, "raw": base64.b64encode(raw).decode(),
                           "meta": meta, "keys": keys}, writable_keys(tx.message))
            self._remember(sig, raw, self.slot, meta, keys, when)
            return sig

    def airdrop(self, address: str, lamports: int) -> str:
        pk = _pubkey(address)
        with self.lock:
            res = self.svm.airdrop(pk, lamports)
            if isinstance(res, FailedTransactionMetadata):
                raise RpcFail(-32002, f"airdrop failed: {res.err}")
            self._journal({"t": "airdrop", "slot": self.slot}, [pk])
            return str(_call(res.signature))

    def account(self, address: str):
        with self.lock:
            return self.svm.get_account(_pubkey(address))


def _call(attr):
    """solders exposes some metadata fields as methods and some as properties."""
    return attr() if callable(attr) else attr


_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58decode(text: str) -> bytes:
    """Base58 (Bitcoin alphabet), for the legacy default encoding of sendTransaction."""
    n = 0
    for ch in text:
        n = n * 58 + _B58.index(ch)
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return b"\0" * (len(text) - len(text.lstrip("1"))) + raw


def _pubkey(text) -> Pubkey:
    try:
        return Pubkey.from_string(text)
    except Exception:
        raise RpcFail(-32602, f"Invalid param: {text!r:.60} is not a base58 public key") from None


def _account_json(acc) -> dict | None:
    if acc is None:
        return None
    return {"lamports": acc.lamports, "owner": str(acc.owner), "executable": acc.executable,
            "rentEpoch": acc.rent_epoch, "data": [base64.b64encode(bytes(acc.data)).decode(), "base64"],
            "space": len(bytes(acc.data))}


def make_app(chain: LocalSolana) -> web.Application:
    def ctx(value):
        return {"context": {"slot": chain.slot, "apiVersion": "2.0"}, "value": value}

    def call(method: str, params: list):
        if method == "getHealth":
            return "ok"
        if method == "getVersion":
            return VERSION
        if method in ("getSlot", "getBlockHeight"):
            return chain.slot
        if method == "getLatestBlockhash":
            return ctx({"blockhash": chain.latest_blockhash(), "lastValidBlockHeight": chain.slot + 150})
        if method == "isBlockhashValid":
            chain.latest_blockhash()
            return ctx(params[0] in chain.valid_hashes)
        if method == "getBalance":
            acc = chain.account(params[0])
            return ctx(acc.lamports if acc else 0)
        if method == "getAccountInfo":
            return ctx(_account_json(chain.account(params[0])))
        if method == "getMultipleAccounts":
            return ctx([_account_json(chain.account(a)) for a in params[0]])
        if method == "getTokenAccountBalance":
            acc = chain.account(params[0])
            if acc is None:
                raise RpcFail(-32602, "Invalid param: could not find account")
            try:
                amount = TokenAccount.from_bytes(bytes(acc.data)).amount
            except Exception:
                raise RpcFail(-32602, "Invalid param: not a Token account") from None
            return ctx({"amount": str(amount), "decimals": 9, "uiAmountString": str(amount / 1e9)})
        if method == "getMinimumBalanceForRentExemption":
            return chain.svm.minimum_balance_for_rent_exemption(int(params[0]))
        if method == "requestAirdrop":
            return chain.airdrop(params[0], int(params[1]))
        if method == "sendTransaction":
            opts = params[1] if len(params) > 1 and isinstance(params[1], dict) else {}
            try:
                raw = base64.b64decode(params[0]) if opts.get("encoding") == "base64" else b58decode(params[0])
            except Exception:
                raise RpcFail(-32602, "invalid transaction encoding") from None
            return chain.send(raw)
        if method == "simulateTransaction":
            raw = base64.b64decode(params[0])
            with chain.lock:
                res = chain.svm.simulate_transaction(Transaction.from_bytes(raw))
            err = str(_call(res.err)) if isinstance(res, FailedTransactionMetadata) else None
            meta = _call(res.meta)
            return ctx({"err": err, "logs": list(_call(meta.logs))})
        if method == "getSignatureStatuses":
            return ctx([chain.statuses.get(s) for s in params[0]])
        if method == "getTransaction":
            entry = chain.txs.get(params[0])
            if entry is None:
                return None
            raw, slot, meta, when = entry
            return {"slot": slot, "blockTime": when, "meta": meta,
                    "transaction": [base64.b64encode(raw).decode(), "base64"]}
        if method == "getSignaturesForAddress":
            sigs = chain.history.get(str(_pubkey(params[0])), [])
            return [{"signature": s, "slot": chain.statuses[s]["slot"], "err": None,
                     "confirmationStatus": "finalized"} for s in reversed(sigs)]
        raise RpcFail(-32601, f"Method not found: {method}")

    async def handle(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except Exception:
            return web.json_response({"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}})
        if not isinstance(body, dict) or not isinstance(body.get("method"), str):
            return web.json_response({"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Invalid request"}})
        params = body.get("params") or []
        try:
            if not isinstance(params, list):
                raise RpcFail(-32602, "params must be a list")
            result = await asyncio.to_thread(call, body["method"], params)
            return web.json_response({"jsonrpc": "2.0", "id": body.get("id"), "result": result})
        except RpcFail as exc:
            return web.json_response({"jsonrpc": "2.0", "id": body.get("id"),
                                      "error": {"code": exc.code, "message": exc.message}})
        except (IndexError, TypeError, ValueError) as exc:
            return web.json_response({"jsonrpc": "2.0", "id": body.get("id"),
                                      "error": {"code": -32602, "message": f"Invalid params: {exc}"}})

    app = web.Application()
    app.router.add_post("/", handle)
    return app


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bridge.solana.server", description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8899)
    p.add_argument("--state", default=None,
                   help="directory for the journal (state survives restarts); default: in memory only")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        chain = LocalSolana(args.state)
    except LedgerError as exc:
        print(f"solana: {exc}", file=sys.stderr)
        return 1
    where = f"state in {chain.ledger.path}" if chain.ledger else "state in memory"
    print(f"local Solana (LiteSVM) on http://{args.host}:{args.port}, slot {chain.slot}, {where}", flush=True)
    web.run_app(make_app(chain), host=args.host, port=args.port, print=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
