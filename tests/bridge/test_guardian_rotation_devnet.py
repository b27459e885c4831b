"""The AIVM guardian set's stakes reach real foreign chains: a rotation, end to end on Anvil.

A devnet (AIVM, Anvil `ethereum` and `polygon`, three attester processes, a relayer) starts with
every guardian at weight 1 everywhere. Governance installs a stake-weighted AIVM set (the devnet's
guardians are not AI validators: guardian_source = "governance"); the attesters check the mirror
against AIVM chain state and sign each foreign bridge's own rotation digest, the relayer pushes
`rotateGuardians` once 3/4 of the foreign set's weight signed — and then a transfer to each chain
is delivered under the new weights.
"""
from __future__ import annotations

import time

import pytest

from bridge.devnet import Devnet

pytestmark = pytest.mark.timeout(240)
ETH = 10**18
USER = "0x" + "cd" * 20


def test_stakes_rotate_onto_anvil_and_deliveries_follow(tmp_path):
    with Devnet(tmp_path / "devnet", attesters=3, solana=False) as net:
        rpc = net.node_rpc()
        assert rpc("synergy_getBridgeLanes")["guardian_source"] == "governance"
        stakes = [5 * ETH, 3 * ETH, 2 * ETH + 1]
        keys = ["0x" + k.pqc.signing_keys().encode().hex() for k in net.keys]
        out = rpc("synergy_setBridgeGuardians", keys, [str(s) for s in stakes])
        assert out["guardian_set"] == 1 and out["total_stake"] == str(sum(stakes))
        deadline = time.monotonic() + 60
        while (view := rpc("synergy_getBridgeGuardianSet"))["evm"]["uncovered_stake"] != "0":  # attesters register
            assert time.monotonic() < deadline, view
            time.sleep(0.3)
        assert sorted(map(int, view["evm"]["weights"])) == sorted(stakes)
        by_addr = dict(zip(view["evm"]["signers"], map(int, view["evm"]["weights"])))
        for chain in ("ethereum", "polygon"):
            c = net.client(chain)
            bridge = net.chains[chain].bridge
            deadline = time.monotonic() + 90
            while c.view(bridge, "PQCBridge", "guardianIndex") != 2:
                assert time.monotonic() < deadline, f"{chain} never rotated:\n" + "\n".join(
                    p.tail() for n, p in net.procs.items() if n.startswith(("attester", "relayer")))
                time.sleep(0.5)
            assert c.view(bridge, "PQCBridge", "guardianTotal", 2) == sum(stakes)
            for address, weight in by_addr.items():
                assert c.view(bridge, "PQCBridge", "guardianWeight", 2, address) == weight
        # deliveries now pass the foreign chains' stake-weighted quorum
        for chain in ("ethereum", "polygon"):
            r = rpc("synergy_initiateCrossChainTransfer", "aivm", "native", ETH, USER, chain)
            st = net.wait_status(r["transfer_id"])
            assert st["status"] == "delivered", st
            assert st["signed_weight"] >= st["required_weight"] == -(-sum(stakes) * 3 // 4)
