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

Mints on Solana are also signed here (the SPL multisig's ed25519 keys), and
only within this attester's Solana policy (bridge/solana/policy.py: per-lane,
per-token rate limits and a pause, enforced by the attesters because Solana
runs no bridge program); by default the policy file is STATE/solana-policy.toml.

    python -m bridge.attester --rpc URL --keystore FILE --password-file F --state DIR [--solana-policy FILE]
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from pathlib import Path

from eth_abi import decode as abi_decode
from eth_hash.auto import keccak

from bridge.evm import MESSAGE_SENT, ChainError, EvmClient
from bridge.hub import attester_binding
from bridge.jsonrpc import JsonRpcClient
from bridge.keys import AttesterKeys
from interop.message import MessageError, decode, word
from bridge.solana.policy import FILE_NAME, PolicyError, PolicyFile
from bridge.worker import PollingWorker, serve
from pqc import bundle

log = logging.getLogger("aivm.bridge.attester")
MAX_RANGE = 2_000
STALL_WARNING_S = 30.0


class Attester(PollingWorker):
    log = log

    def __init__(self, node_url: str, keys: AttesterKeys, state_dir: "str | Path", *, poll: float = 0.25,
                 solana_policy: "str | Path | None" = None, endorser=None) -> None:
        if keys.pqc is None:
            raise ValueError("an attester needs its PQC keys")
        super().__init__(poll)
        self.node = JsonRpcClient(node_url, timeout=30.0)
        self.keys = keys
        self.key_hash = keys.pqc.signing_keys().key_hash
        self.state_path = Path(state_dir) / f"attester-{self.key_hash.hex()[:16]}.json"
        self.state = self._load()
        self.registered = False
        self.submitted = 0
        self.lanes: list[dict] | None = None
        self.solana_policy = PolicyFile(solana_policy or Path(state_dir) / FILE_NAME)
        self._refused: dict[str, str] = {}   # digest -> the reason last told to the hub
        self._heads: dict[str, tuple[int, float, bool]] = {}   # lane -> (head, since, warned)
        self.stalls = 0
        self.rotations = None  # bridge.rotation.RotationSigner, made on the first step
        self.endorser = endorser  # the validator's KeySet vouching for `keys` (bridge/endorse.py), if any

    def use_config(self, path: "str | Path") -> None:
        """Watch the lanes of this aivm-config.toml instead of the ones the node lists."""
        from interop.config import lanes
        from vm import config as config_mod

        self.lanes = [l.to_json() for l in lanes(config_mod.load(Path(path), explicit=True).interoperability).values()]

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
    def register(self, chain_id: int, guardian_source: str | None = None) -> None:
        ed = bytes(self.keys.ed25519.pubkey())
        binding = attester_binding(chain_id, self.key_hash, self.keys.evm_address, ed)
        sig = bundle.sign(self.keys.pqc, binding).encode()
        extra = []
        if self.endorser is not None and guardian_source == "validators":  # sets follow the registry
            from bridge.endorse import endorsement

            extra = [endorsement(self.endorser, self.key_hash, chain_id)]
        self.node.rpc("synergy_registerBridgeAttester", "0x" + self.keys.pqc.signing_keys().encode().hex(),
                      self.keys.evm_address, "0x" + ed.hex(), "0x" + sig.hex(), *extra)
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
        if self.lanes is not None:  # the validator's own lane table: the node's word is not needed
            info = {**info, "lanes": self.lanes}
        if not self.registered:
            self.register(info["chain_id"], info.get("guardian_source"))
        done = 0
        by_id = {int(l["chain_id"]): l for l in info["lanes"]}
        for lane in info["lanes"]:
            try:
                done += self._scan_solana(lane, by_id) if lane["kind"] == "solana" else self._scan(lane)
            except ChainError as exc:
                log.warning("lane %s: %s", lane["name"], exc)
        if any(l["kind"] == "solana" for l in info["lanes"]):
            try:
                self._sign_solana(by_id)
            except ChainError as exc:
                log.warning("solana signing: %s", exc)
        self._sign_rotations(info)
        return done

    def _sign_rotations(self, info: dict) -> None:
        """Foreign EVM guardian sets follow the AIVM set's stakes (bridge/rotation.py)."""
        from bridge.rotation import RotationRefused, RotationSigner, rpc_storage

        if self.rotations is None:
            own = next((l for l in info["lanes"] if int(l["chain_id"]) == int(info["chain_id"])), None)
            aivm = EvmClient(own["rpc_url"] if own else self.node.url)  # AIVM chain state, read by this attester
            self.rotations = RotationSigner(self.node, self.keys, int(info["chain_id"]), rpc_storage(aivm))
        try:
            self.rotations.step(info["lanes"])
        except (ChainError, RotationRefused) as exc:
            log.warning("guardian rotation: %s", exc)

    def _submit(self, source: str, message: bytes, entry: dict) -> None:
        self.node.rpc("synergy_submitBridgeAttestation", self.attestation(source, message, entry))
        msg = decode(message)
        self.state.setdefault("attested", {})[keccak(message).hex()] = message.hex()

    def _scan_solana(self, lane: dict, by_id: dict) -> int:
        """Burns on the bridge mints, `confirmations` slots deep."""
        from bridge.solana.client import SolanaClient, mint_keypair, read_burn
        from interop.message import NATIVE_TOKEN
        from solders.pubkey import Pubkey

        client = SolanaClient(lane["rpc_url"])
        safe = client.slot() - int(lane["confirmations"]) + 1
        start = self.state["next_block"].get(lane["name"], 0)
        origins = [int(l["chain_id"]) for l in by_id.values() if l["kind"] != "solana"]
        multisig = Pubkey.from_string(lane["bridge_address"])
        found = []
        for origin in origins:
            mint = mint_keypair(multisig, origin, NATIVE_TOKEN).pubkey()
            for entry in client.rpc("getSignaturesForAddress", str(mint)):
                if start <= entry["slot"] <= safe:
                    found.append(entry)
        done = 0
        for entry in sorted(found, key=lambda e: e["slot"]):
            msg = read_burn(client, lane, entry["signature"], origins, by_id)
            if msg is not None:
                self._submit(lane["name"], msg.encode(), {"transactionHash": entry["signature"],
                                                          "blockNumber": hex(entry["slot"])})
                done += 1
        if safe + 1 > start:
            self.state["next_block"][lane["name"]] = safe + 1
            self._save()
        return done

    def _sign_solana(self, by_id: dict) -> None:
        """Sign canonical mint transactions for messages this attester attested, each digest once."""
        from bridge.solana.client import SolanaClient, bridge_mint, check_mint_request, minted_already
        from solders.pubkey import Pubkey

        me = str(self.keys.ed25519.pubkey())
        signed = self.state.setdefault("solana_signed", {})
        windows = self.state.setdefault("solana_windows", {})
        for req in self.node.rpc("synergy_getSolanaSigningRequests"):
            if me in req["signed_by"]:
                continue
            digest = req["transfer_id"][2:]
            message = bytes.fromhex(req["message"][2:])
            if self.state.get("attested", {}).get(digest) != message.hex():
                continue  # not a message this attester saw on its source chain
            msg = decode(message)
            lane = by_id.get(msg.dst_chain)
            if lane is None or lane["kind"] != "solana":
                continue
            client = SolanaClient(lane["rpc_url"])
            multisig = Pubkey.from_string(lane["bridge_address"])
            raw = bytes.fromhex(req["solana_message"][2:])
            previous = signed.get(digest)
            if previous and previous["message"] != raw.hex():
                # a second transaction for one digest: only if the first can never land, and did not
                if client.blockhash_valid(previous["blockhash"]):
                    continue
                if minted_already(client, bridge_mint(client, multisig, msg.token_chain, msg.token), keccak(message)):
                    continue
            sol = check_mint_request(client, multisig, msg, raw)
            try:
                reason = self.solana_policy.current().refusal(msg, windows, time.time(), previous is None)
            except PolicyError as exc:
                reason = str(exc)
            if reason:
                self._refuse(req["transfer_id"], reason)
                continue
            self._refused.pop(req["transfer_id"], None)
            signed[digest] = {"message": raw.hex(), "blockhash": str(sol.recent_blockhash)}
            self._save()  # remember (and the rate-limit window's use) before the signature leaves
            sig = self.keys.ed25519.sign_message(raw)
            self.node.rpc("synergy_submitSolanaSignature", req["transfer_id"], me, str(sig))

    def _refuse(self, transfer_id: str, reason: str) -> None:
        """Not signing a mint: say why on the transfer's status, once per reason (not every pass)."""
        if self._refused.get(transfer_id) == reason:
            return
        log.warning("not signing the Solana mint of %s: %s", transfer_id, reason)
        try:
            self.node.rpc("synergy_reportBridgeDelivery", transfer_id, "failed", None,
                          f"attester {self.keys.evm_address}: {reason}")
        except ChainError as exc:  # the refusal stands; only the status misses its reason (retried)
            log.warning("could not report the refusal of %s: %s", transfer_id, exc)
            return
        self._refused[transfer_id] = reason

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
                    self._submit(lane["name"], message, entry)
                    done += 1
            start = end + 1
            self.state["next_block"][lane["name"]] = start
            self._save()
        self._watch_stall(client, lane, head, max(start, safe + 1))
        self.submitted += done
        return done

    def _watch_stall(self, client: EvmClient, lane: dict, head: int, first_unconfirmed: int) -> None:
        """Say so (once a stall) when messages wait for confirmations on a chain whose head stopped:
        an automine dev chain (Anvil, Hardhat) mines only on transactions, so depth never grows."""
        now = time.monotonic()
        seen = self._heads.get(lane["name"])
        if seen is None or seen[0] != head:
            self._heads[lane["name"]] = (head, now, False)
            return
        if seen[2] or now - seen[1] < STALL_WARNING_S or first_unconfirmed > head:
            return
        waiting = client.logs(lane["bridge_address"], MESSAGE_SENT, first_unconfirmed, head)
        if waiting:
            log.warning("lane %s: %d message(s) wait for %s confirmations, but block %d has been the head for "
                        "%.0f s: a chain that mines only on transactions (automine) needs traffic or interval "
                        "mining for them to confirm", lane["name"], len(waiting), lane["confirmations"], head,
                        now - seen[1])
            self.stalls += 1
        self._heads[lane["name"]] = (head, seen[1], True)

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


def start_in_validator(node_url: str, keys, state_dir: "str | Path") -> Attester:
    """The validator process's hook: an attester thread voting with the validator's Enhanced bridge
    bundle, endorsed by the validator's registered keys (bridge/endorse.py)."""
    from bridge.endorse import bridge_keyset

    attester = Attester(node_url, AttesterKeys.from_keyset(bridge_keyset(keys, state_dir)), state_dir, endorser=keys)
    threading.Thread(target=attester.run, name="aivm-attester", daemon=True).start()
    return attester


def main(argv: list[str] | None = None) -> int:
    import argparse

    from pqc import keystore

    p = argparse.ArgumentParser(prog="python -m bridge.attester", description=__doc__.split("\n")[0])
    p.add_argument("--rpc", required=True)
    p.add_argument("--keystore", required=True)
    p.add_argument("--password-file", required=True)
    p.add_argument("--state", required=True, help="directory for the attester's progress file")
    p.add_argument("--poll", type=float, default=0.25)
    p.add_argument("--solana-policy", default=None,
                   help="rate limits and pause for mints on Solana (default: STATE/solana-policy.toml)")
    p.add_argument("--config", default=None,
                   help="watch the lanes of this aivm-config.toml (default: the lanes the node lists)")
    args = p.parse_args(argv)
    keys = keystore.load(args.keystore).unlock(Path(args.password_file).read_text().strip())
    attester = Attester(args.rpc, AttesterKeys.from_keyset(keys), args.state, poll=args.poll,
                        solana_policy=args.solana_policy)
    if args.config:
        attester.use_config(args.config)
    return serve(attester, f"attester {attester.keys.evm_address} watching lanes of {args.rpc}")


if __name__ == "__main__":
    raise SystemExit(main())
