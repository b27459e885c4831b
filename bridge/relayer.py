"""The relayer: take attested messages from the hub and deliver them. Anyone may run one.

Delivery is idempotent: before sending, the relayer asks the destination
bridge whether the digest was delivered (then it only reports), and the
destination refuses a second delivery anyway. So a relayer killed between
sending and reporting loses nothing: the next pass sees the delivery and
reports it. Nothing but a gas key is needed; the relayer keeps no state.

Each pass sends every EVM delivery it can first (consecutive nonces per
destination) and then waits for their receipts, so deliveries to a chain that
mines on an interval share blocks instead of taking one block each.

    python -m bridge.relayer --rpc NODE_URL --key 0xPRIVATE_KEY
"""
from __future__ import annotations

import logging
import time

from bridge.evm import ChainError, EvmClient, calldata
from bridge.jsonrpc import JsonRpcClient
from bridge.status import TransferStatus
from bridge.worker import PollingWorker, serve

log = logging.getLogger("aivm.bridge.relayer")
RETRY_FAILED_AFTER = 2.0


class Relayer(PollingWorker):
    log = log

    def __init__(self, node_url: str, key: str, *, poll: float = 0.25, solana_payer=None) -> None:
        super().__init__(poll)
        self.node = JsonRpcClient(node_url, timeout=30.0)
        self.key = key
        self.solana_payer = solana_payer
        self.delivered = 0
        self._failed_at: dict[str, float] = {}
        self._nonces: dict[str, int] = {}   # destination url -> next nonce, within one pass

    def step(self) -> int:
        lanes = {l["name"]: l for l in self.node.rpc("synergy_getBridgeLanes")["lanes"]}
        done = 0
        sent: list[tuple[dict, EvmClient, str]] = []
        self._nonces: dict[str, int] = {}
        for p in self.node.rpc("synergy_getPendingBridgeMessages"):
            if p["status"] == TransferStatus.FAILED and time.monotonic() - self._failed_at.get(p["transfer_id"], 0) < RETRY_FAILED_AFTER:
                continue
            dest = lanes.get(p["dest_chain"])
            if dest is None:
                continue
            try:
                out = self.deliver(p, dest)
            except ChainError as exc:
                log.warning("delivery of %s to %s: %s", p["transfer_id"], dest["name"], exc)
                self._nonces.pop(dest["rpc_url"], None)  # re-read the chain's count for the next one
                continue
            if isinstance(out, tuple):
                sent.append((p, *out))
            else:
                done += out
        for p, client, tx_hash in sent:
            try:
                client.wait(tx_hash)
                self._report(p, TransferStatus.DELIVERED, tx_hash)
                self.delivered += 1
                done += 1
            except ChainError as exc:  # reverted or not mined: the next pass asks the destination again
                log.warning("delivery of %s: %s", p["transfer_id"], exc)
        from bridge.rotation import RotationPusher  # foreign guardian sets follow the AIVM set's stakes

        self.rotations = getattr(self, "rotations", None) or RotationPusher(self.node, self.key)
        done += self.rotations.step(lanes)
        return done

    def _nonce(self, client: EvmClient) -> int:
        """Consecutive nonces within a pass (several deliveries to one chain before any is mined)."""
        from eth_account import Account

        n = self._nonces.get(client.url)
        if n is None:
            n = client.next_nonce(Account.from_key(self.key).address)
        self._nonces[client.url] = n + 1
        return n

    def deliver(self, p: dict, dest: dict) -> "int | tuple[EvmClient, str]":
        """Solana, or nothing to send: the number delivered now. EVM: (client, tx hash) sent."""
        digest = bytes.fromhex(p["transfer_id"][2:])
        message = bytes.fromhex(p["message"][2:])
        if dest["kind"] == "solana":
            from bridge.solana.client import deliver_to_solana

            tx = deliver_to_solana(dest, p, message, self.solana_payer, self.node)
            if tx is None:
                return 0
            self._report(p, TransferStatus.DELIVERED, tx)
            self.delivered += 1
            return 1
        client = EvmClient(dest["rpc_url"])
        bridge = dest["bridge_address"]
        if client.view(bridge, "PQCBridge", "delivered", digest):
            self._report(p, TransferStatus.DELIVERED, None)
            return 0
        if client.view(bridge, "PQCBridge", "pqcMode"):
            data = calldata("PQCBridge", "receiveWithCertificate", message, bytes.fromhex(p["certificate"][2:]))
        else:
            index = client.view(bridge, "PQCBridge", "guardianIndex")
            sigs = sorted((s for s in p["ecdsa"]
                           if client.view(bridge, "PQCBridge", "guardianWeight", index, s["address"]) > 0),
                          key=lambda s: int(s["address"], 16))
            data = calldata("PQCBridge", "receiveMessage", message, index,
                            [bytes.fromhex(s["r"][2:]) for s in sigs], [bytes.fromhex(s["s"][2:]) for s in sigs],
                            [int(s["v"]) for s in sigs])
        from eth_account import Account

        reason = client.revert_reason(bridge, data, Account.from_key(self.key).address)
        if reason:
            if "already delivered" in reason:
                self._report(p, TransferStatus.DELIVERED, None)
                return 0
            self._failed_at[p["transfer_id"]] = time.monotonic()
            self._report(p, TransferStatus.FAILED, None, reason)
            return 0
        return client, client.submit(self.key, bridge, data, nonce=self._nonce(client))

    def _report(self, p: dict, outcome: TransferStatus, tx: str | None, reason: str = "") -> None:
        self.node.rpc("synergy_reportBridgeDelivery", p["transfer_id"], outcome, tx, reason)


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m bridge.relayer", description=__doc__.split("\n")[0])
    p.add_argument("--rpc", required=True)
    p.add_argument("--key", required=True, help="gas key for destination chains (hex)")
    p.add_argument("--solana-payer", default=None, help="base58 or hex seed of the Solana fee payer")
    p.add_argument("--poll", type=float, default=0.25)
    args = p.parse_args(argv)
    payer = None
    if args.solana_payer:
        from solders.keypair import Keypair

        payer = Keypair.from_seed(bytes.fromhex(args.solana_payer.removeprefix("0x")))
    relayer = Relayer(args.rpc, args.key, poll=args.poll, solana_payer=payer)
    return serve(relayer, f"relayer delivering for {args.rpc}")


if __name__ == "__main__":
    raise SystemExit(main())
