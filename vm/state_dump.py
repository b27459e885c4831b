"""State dump and load (anvil_dumpState / anvil_loadState, `aivm start --dump-state/--load-state`).

A dump is exact: every trie node reachable from the state root (the account
trie and each account's storage trie) and every contract's code, plus the
head it was taken at. Loading one writes those nodes back and makes that root
the chain's state, so balances, nonces, code and storage continue exactly
(a restarted node's dev accounts go on with the right nonces).

Anvil's own dump format ({"accounts": {address: {nonce, balance, code,
storage}}}) loads too: its accounts are written over the current state.
"""
from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

import rlp
from eth.constants import BLANK_ROOT_HASH, EMPTY_SHA3
from eth_hash.auto import keccak

from vm import codec
from vm.codec import InvalidValue

FORMAT = "aivm-state/1"


def _walk(db: Any, ref: Any, nodes: dict, on_leaf) -> None:
    """Visit a trie node (hash reference or embedded node) and everything under it."""
    if ref in (b"", BLANK_ROOT_HASH):
        return
    if isinstance(ref, bytes) and len(ref) == 32:
        if ref in nodes:
            return
        raw = db[ref]
        nodes[ref] = raw
        node = rlp.decode(raw)
    else:
        node = ref
    if len(node) == 17:
        for child in node[:16]:
            if child:
                _walk(db, child, nodes, on_leaf)
    elif len(node) == 2:
        flag = node[0][0] >> 4
        if flag in (2, 3):  # leaf
            on_leaf(node[1])
        else:  # extension
            _walk(db, node[1], nodes, on_leaf)


def collect(db: Any, state_root: bytes) -> tuple[dict, dict]:
    """(trie nodes, codes) reachable from a state root, each keyed by its hash."""
    nodes: dict[bytes, bytes] = {}
    codes: dict[bytes, bytes] = {}

    def on_account(value: bytes) -> None:
        _nonce, _balance, storage_root, code_hash = rlp.decode(value)
        _walk(db, storage_root, nodes, lambda _v: None)
        if code_hash != EMPTY_SHA3 and code_hash not in codes:
            codes[code_hash] = db[code_hash]

    _walk(db, state_root, nodes, on_account)
    return nodes, codes


def dump(chain: Any) -> dict:
    """Chain thread: the current state (dev edits included) as a JSON-able dict."""
    root = chain._pending_root
    try:
        nodes, codes = collect(chain.store, root)
    except KeyError:  # a forked chain holds only what it has read from its remote
        from vm.chain import TxRejected

        raise TxRejected("cannot dump this state: parts of it live only on the forked chain's remote "
                         "(a fork fetches state lazily); dump the remote node instead") from None
    return {
        "format": FORMAT,
        "chainId": chain.config.chain_id,
        "block": {"number": chain.head_number, "timestamp": chain.head.timestamp,
                  "hash": codec.data(chain.head.hash)},
        "stateRoot": codec.data(root),
        "nodes": [codec.data(n) for n in nodes.values()],
        "codes": [codec.data(c) for c in codes.values()],
    }


def encode(state: dict) -> str:
    """anvil_dumpState's answer: 0x-hex of the gzipped JSON."""
    return codec.data(gzip.compress(json.dumps(state).encode()))


def decode(payload: Any) -> dict:
    """A dump as anvil_loadState receives it: 0x-hex (gzipped or plain JSON), or the object itself."""
    if isinstance(payload, dict):
        return payload
    raw = codec.parse_data(payload, "state")
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise InvalidValue(f"state: broken gzip data: {exc}") from None
    try:
        state = json.loads(raw)
    except ValueError:
        raise InvalidValue("state: not a JSON state dump") from None
    if not isinstance(state, dict):
        raise InvalidValue("state: a dump must be a JSON object")
    return state


def load(chain: Any, state: dict) -> None:
    """Chain thread: make a dump the chain's current state (it is mined into the next block)."""
    if state.get("format") == FORMAT:
        _load_exact(chain, state)
    elif isinstance(state.get("accounts"), dict):
        _load_accounts(chain, state["accounts"])
    else:
        raise InvalidValue("state: neither an AIVM dump (format aivm-state/1) nor an Anvil dump (accounts)")


def _load_exact(chain: Any, state: dict) -> None:
    try:
        root = codec.parse_hash(state["stateRoot"], "stateRoot")
        nodes = [codec.parse_data(n, "trie node") for n in state.get("nodes", [])]
        codes = [codec.parse_data(c, "code") for c in state.get("codes", [])]
    except (KeyError, TypeError):
        raise InvalidValue("state: an AIVM dump needs stateRoot, nodes and codes") from None
    by_hash = {keccak(n): n for n in nodes}
    if root != BLANK_ROOT_HASH and root not in by_hash:
        raise InvalidValue("state: the dump does not contain its state root's trie node")
    with chain.store.transaction():
        for h, n in by_hash.items():
            chain.store[h] = n
        for c in codes:
            chain.store[keccak(c)] = c
        chain.index.set_meta("pending_root", root.hex())
    chain._pending_root = root
    chain._publish_view()  # readers see the loaded state from now on


def _load_accounts(chain: Any, accounts: dict) -> None:
    parsed = []
    for addr, acct in accounts.items():
        if not isinstance(acct, dict):
            raise InvalidValue(f"state: account {addr} must be an object")
        a = codec.parse_address(addr, "account address")
        storage = acct.get("storage") or {}
        if not isinstance(storage, dict):
            raise InvalidValue(f"state: storage of {addr} must be an object")
        parsed.append((
            a,
            _number(acct.get("balance", 0), "balance"),
            _number(acct.get("nonce", 0), "nonce"),
            codec.parse_data(acct["code"], "code") if acct.get("code") else b"",
            {_number(k, "slot"): _number(v, "storage value") for k, v in storage.items()},
        ))

    def edit(state: Any) -> None:
        for a, balance, nonce, code, storage in parsed:
            state.set_balance(a, balance)
            state.set_nonce(a, nonce)
            state.set_code(a, code)
            for k, v in storage.items():
                state.set_storage(a, k, v)

    chain._edit_state(edit)


def _number(v: Any, what: str) -> int:
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, str) and v.startswith("0x"):
        return int(v, 16) if len(v) > 2 else 0
    if isinstance(v, str) and v.isdigit():
        return int(v)
    raise InvalidValue(f"state: {what} must be a number or 0x-hex, got {v!r:.40}")


def write_file(chain: Any, path: str) -> None:
    import os

    state = dump(chain)
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(state, f)
    os.replace(tmp, path)  # a crash mid-write leaves the previous dump whole


def read_file(path: str) -> dict:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise InvalidValue(f"cannot read state file {path}: {exc.strerror or exc}") from None
    try:
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        state = json.loads(raw)
    except (ValueError, OSError, EOFError, zlib.error):
        raise InvalidValue(f"{path}: not a JSON state dump") from None
    if not isinstance(state, dict):
        raise InvalidValue(f"{path}: a state dump must be a JSON object")
    return state
