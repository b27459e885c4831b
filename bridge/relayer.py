"""The relayer: take attested messages from the hub and deliver them. Anyone may run one.

Delivery is idempotent: before sending, the relayer asks the destination
bridge whether the digest was delivered (then it only reports), and the
destination refuses a second delivery anyway. So a relayer killed between
sending and reporting loses nothing: the next pass sees the delivery and
reports it. Nothing but a gas key is needed; the relayer keeps no state.

    python -m bridge.relayer --rpc NODE_URL --key 0xPRIVATE_KEY
"""
from __future__ import annotations

import logging
import threading
import time


from bridge.attester import NodeClient
from bridge.evm import ChainError, EvmClient, calldata

log = logging.getLogger("aivm.bridge.relayer")
RETRY_FAILED_AFTER = 2.0


class Relayer:
    def __init__(self, node_url: str, key: str, *, poll: float = 0.25, solana_payer=None) -> None:
        self.node = NodeClient(node_url)
        self.key = key
        self.poll = poll
        self.solana_payer = solana_payer
        self.delivered = 0
        self.stop_event = threading.Event()
        self._failed_at: dict[str, float] = {}

    def step(self) -> int:
        lanes = {l["name"]: l for l in self.node.rpc("synergy_getBridgeLanes")["lanes"]}
        done = 0
        for p in self.node.rpc("synergy_getPendingBridgeMessages"):
            if p["status"] == "failed" and time.monotonic() - self._failed_at.get(p["transfer_id"], 0) < RETRY_FAILED_AFTER:
                continue
            dest = lanes.get(p["dest_chain"])
            if dest is None:
                continue
            try:
                done += self.deliver(p, dest)
            except ChainError as exc:
                log.warning("delivery of %s to %s: %s", p["transfer_id"], dest["name"], exc)
        from bridge.rotation import RotationPusher  # foreign guardian sets follow the AIVM set's stakes

        self.rotations = getattr(self, "rotations", None) or RotationPusher(self.node, self.key)
        done += self.rotations.step(lanes)
        return done

    def deliver(self, p: dict, dest: dict) -> int:
        digest = bytes.fromhex(p["transfer_id"][2:])
        message = bytes.fromhex(p["message"][2:])
        if dest["kind"] == "solana":
            from bridge.solana.client import deliver_to_solana

            tx = deliver_to_solana(dest, p, message, self.solana_payer, self.node)
            if tx is None:
                return 0
            self._report(p, "delivered", tx)
            self.delivered += 1
            return 1
        client = EvmClient(dest["rpc_url"])
        bridge = dest["bridge_address"]
        if client.view(bridge, "PQCBridge", "delivered", digest):
            self._report(p, "delivered", None)
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
                self._report(p, "delivered", None)
                return 0
            self._failed_at[p["transfer_id"]] = time.monotonic()
            self._report(p, "failed", None, reason)
            return 0
        rc = client.send(self.key, bridge, data)
        self._report(p, "delivered", rc.tx_hash)
        self.delivered += 1
        return 1

    def _report(self, p: dict, outcome: str, tx: str | None, reason: str = "") -> None:
        self.node.rpc("synergy_reportBridgeDelivery", p["transfer_id"], outcome, tx, reason)

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.step()
            except ChainError as exc:
                log.warning("relayer: %s", exc)
            except Exception:
                log.exception("relayer step failed")
            self.stop_event.wait(self.poll)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import signal

    p = argparse.ArgumentParser(prog="python -m bridge.relayer", description=__doc__.split("\n")[0])
    p.add_argument("--rpc", required=True)
    p.add_argument("--key", required=True, help="gas key for destination chains (hex)")
    p.add_argument("--solana-payer", default=None, help="base58 or hex seed of the Solana fee payer")
    p.add_argument("--poll", type=float, default=0.25)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    payer = None
    if args.solana_payer:
        from solders.keypair import Keypair

        payer = Keypair.from_seed(bytes.fromhex(args.solana_payer.removeprefix("0x")))
    relayer = Relayer(args.rpc, args.key, poll=args.poll, solana_payer=payer)
    signal.signal(signal.SIGTERM, lambda *_: relayer.stop_event.set())
    print(f"relayer delivering for {args.rpc}", flush=True)
    try:
        relayer.run()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
