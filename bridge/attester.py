"""The attester loop a validator runs: watch source chains, wait, sign, submit.

For each lane the node lists (`synergy_getBridgeLanes`), the attester reads the
source chain itself over its JSON-RPC, takes only MessageSent events of that
lane's bridge that are at least `confirmations` blocks deep, checks the block
is still canonical (its hash at that height is the log's block hash) and the
event's digest is the hash of its message, then signs the digest three ways
(PQC bundle, secp256k1, ed25519; bridge/keys.py) and submits the attestation
to the node's hub. A reorg above the confirmation depth is simply never seen.

Progress (the next block to scan per lane) is saved atomically after each
lane's batch is submitted, so a killed attester resumes where it stopped and
resubmits at worst one batch (the hub ignores duplicate votes).

    python -m bridge.attester --rpc URL --keystore FILE --password-file F --state DIR
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from pathlib import Path

import requests
from eth_abi import decode as abi_decode
from eth_hash.auto import keccak

from bridge.evm import MESSAGE_SENT, ChainError, EvmClient
from bridge.hub import attester_binding
from bridge.keys import AttesterKeys
from bridge.message import MessageError, decode, word
from pqc import bundle

log = logging.getLogger("aivm.bridge.attester")
MAX_RANGE = 2_000


class NodeClient:
    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url, self.timeout = url, timeout
        self.session = requests.Session()

    def rpc(self, method: str, *params):
        try:
            body = self.session.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                                     "params": list(params)}, timeout=self.timeout).json()
        except (requests.RequestException, ValueError) as exc:
            raise ChainError(f"node {self.url}: {method}: {exc}") from None
        if "error" in body:
            raise ChainError(f"node: {method}: {body['error'].get('message')}")
        return body["result"]


class Attester:
    def __init__(self, node_url: str, keys: AttesterKeys, state_dir: "str | Path", *, poll: float = 0.25) -> None:
        if keys.pqc is None:
            raise ValueError("an attester needs its PQC keys")
        self.node = NodeClient(node_url)
        self.keys = keys
        self.key_hash = keys.pqc.signing_keys().key_hash
        self.state_path = Path(state_dir) / f"attester-{self.key_hash.hex()[:16]}.json"
        self.poll = poll
        self.state = self._load()
        self.registered = False
        self.submitted = 0
        self.stop_event = threading.Event()

    # -- persistence --
    def _load(self) -> dict:
        try:
            return json.loads(self.state_path.read_text())
        except FileNotFoundError:
            return {"next_block": {}}
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"attester state {self.state_path} is unreadable: {exc}") from None

    def _save(self) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.state_path.parent, prefix=".attester-")
        with os.fdopen(fd, "w") as f:
            json.dump(self.state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.state_path)

    # -- protocol --
    def register(self, chain_id: int) -> None:
        ed = bytes(self.keys.ed25519.pubkey())
        binding = attester_binding(chain_id, self.key_hash, self.keys.evm_address, ed)
        sig = bundle.sign(self.keys.pqc, binding).encode()
        self.node.rpc("synergy_registerBridgeAttester", "0x" + self.keys.pqc.signing_keys().encode().hex(),
                      self.keys.evm_address, "0x" + ed.hex(), "0x" + sig.hex())
        self.registered = True

    def attestation(self, source: str, message: bytes, log_entry: dict) -> dict:
        digest = keccak(message)
        r, s, v = self.keys.sign_ecdsa(digest)
        kp = self.keys.ed25519
        return {"source_chain": source, "message": "0x" + message.hex(),
                "tx_hash": log_entry.get("transactionHash"), "block_number": int(log_entry["blockNumber"], 16),
                "pqc_keys": "0x" + self.keys.pqc.signing_keys().encode().hex(),
                "pqc_signature": "0x" + bundle.sign(self.keys.pqc, digest).encode().hex(),
                "secp256k1": {"r": "0x" + r.hex(), "s": "0x" + s.hex(), "v": v},
                "ed25519": {"pubkey": str(kp.pubkey()), "signature": str(kp.sign_message(digest))}}

    def step(self) -> int:
        """One pass over every lane; the number of attestations submitted."""
        info = self.node.rpc("synergy_getBridgeLanes")
        if info["guardian_set"] is None:
            return 0
        if not self.registered:
            self.register(info["chain_id"])
        done = 0
        for lane in info["lanes"]:
            if lane["kind"] == "solana":
                continue  # Solana is a destination here (see docs/bridges.md)
            try:
                done += self._scan(lane)
            except ChainError as exc:
                log.warning("lane %s: %s", lane["name"], exc)
        return done

    def _scan(self, lane: dict) -> int:
        client = EvmClient(lane["rpc_url"])
        head = client.block_number()
        safe = head - int(lane["confirmations"]) + 1
        start = self.state["next_block"].get(lane["name"], 0)
        done = 0
        while start <= safe:
            end = min(safe, start + MAX_RANGE - 1)
            for entry in client.logs(lane["bridge_address"], MESSAGE_SENT, start, end):
                message = self._checked(client, lane, entry)
                if message is not None:
                    self.node.rpc("synergy_submitBridgeAttestation", self.attestation(lane["name"], message, entry))
                    done += 1
            start = end + 1
            self.state["next_block"][lane["name"]] = start
            self._save()
        self.submitted += done
        return done

    def _checked(self, client: EvmClient, lane: dict, entry: dict) -> bytes | None:
        """The message of a confirmed, canonical MessageSent log from this lane's bridge, or None."""
        if entry.get("removed") or entry["address"].lower() != lane["bridge_address"].lower():
            return None
        number = int(entry["blockNumber"], 16)
        if client.block_hash(number) != entry["blockHash"]:
            log.warning("lane %s: block %d was reorganised away; not attesting", lane["name"], number)
            return None
        try:
            _, message = abi_decode(["uint256", "bytes"], bytes.fromhex(entry["data"][2:]))
            msg = decode(message)
        except (MessageError, Exception) as exc:
            log.warning("lane %s: undecodable message in %s: %s", lane["name"], entry.get("transactionHash"), exc)
            return None
        if bytes.fromhex(entry["topics"][1][2:]) != keccak(message):
            return None
        if msg.src_chain != int(lane["chain_id"]) or msg.src_bridge != word(lane["bridge_address"]):
            log.warning("lane %s: message claims another source; not attesting", lane["name"])
            return None
        return message

    def run(self) -> None:
        """Until `stop_event` is set; errors are logged and retried, never fatal."""
        while not self.stop_event.is_set():
            try:
                self.step()
            except ChainError as exc:
                log.warning("attester: %s", exc)
            except Exception:
                log.exception("attester step failed")
            self.stop_event.wait(self.poll)


def start_in_validator(node_url: str, keys, state_dir: "str | Path") -> Attester:
    """The validator process's hook: an attester thread for its own key set."""
    attester = Attester(node_url, AttesterKeys.from_keyset(keys), state_dir)
    threading.Thread(target=attester.run, name="aivm-attester", daemon=True).start()
    return attester


def main(argv: list[str] | None = None) -> int:
    import argparse
    import signal

    from pqc import keystore

    p = argparse.ArgumentParser(prog="python -m bridge.attester", description=__doc__.split("\n")[0])
    p.add_argument("--rpc", required=True)
    p.add_argument("--keystore", required=True)
    p.add_argument("--password-file", required=True)
    p.add_argument("--state", required=True, help="directory for the attester's progress file")
    p.add_argument("--poll", type=float, default=0.25)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    keys = keystore.load(args.keystore).unlock(Path(args.password_file).read_text().strip())
    attester = Attester(args.rpc, AttesterKeys.from_keyset(keys), args.state, poll=args.poll)
    signal.signal(signal.SIGTERM, lambda *_: attester.stop_event.set())
    print(f"attester {attester.keys.evm_address} watching lanes of {args.rpc}", flush=True)
    try:
        attester.run()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
