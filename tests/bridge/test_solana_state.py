"""The local Solana chain keeps its state on disk: a chain process killed with SIGKILL comes back
with every mint, token account, multisig, balance and transaction record (bridge/solana/ledger.py)."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from solders.keypair import Keypair
from solders.token.state import Mint, Multisig

from bridge.jsonrpc import ChainError
from bridge.solana import spl
from bridge.solana.client import SolanaClient, burn_transaction, minted_already, required
from bridge.solana.devnet import create_mint, create_multisig
from bridge.solana.ledger import JOURNAL
from pqc.levels import SecurityLevel
from tests.bridge.test_solana import ORIGIN, bridge_msg, mint_tx
from tests.nodeproc import free_port

pytestmark = pytest.mark.timeout(120)


class Chain:
    """One `python -m bridge.solana.server --state DIR` process; restartable on the same directory."""

    def __init__(self, state, log):
        self.state, self.log, self.proc = state, log, None

    def start(self) -> SolanaClient:
        port = free_port()
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen([sys.executable, "-m", "bridge.solana.server", "--port", str(port),
                                          "--state", str(self.state)], stdout=fh, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        client = SolanaClient(f"http://127.0.0.1:{port}", timeout=5)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.rpc("getHealth")
                return client
            except ChainError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(self.log.read_text())
                time.sleep(0.1)

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def chain(tmp_path):
    c = Chain(tmp_path / "solana", tmp_path / "solana.log")
    yield c
    c.stop(signal.SIGKILL)


def bridge_setup(client):
    """The devnet's Solana side in small: a 3-of-4 guardian multisig and the bridge mint it controls."""
    payer = Keypair()
    client.rpc("requestAirdrop", str(payer.pubkey()), 10 * 10**9)
    guardians = [Keypair.from_seed(bytes([i + 7]) * 32) for i in range(4)]
    ms = create_multisig(client, payer, [bytes(g.pubkey()) for g in guardians], required(SecurityLevel.ENHANCED, 4))
    return payer, guardians, ms, create_mint(client, payer, ms, ORIGIN)


def snapshot(client, addresses, sigs):
    return {"accounts": {str(a): client.account_data(a) for a in addresses},
            "balances": {str(a): client.rpc("getBalance", str(a))["value"] for a in addresses},
            "history": {str(a): client.rpc("getSignaturesForAddress", str(a)) for a in addresses},
            "txs": {s: client.rpc("getTransaction", s, {"encoding": "base64"}) for s in sigs},
            "statuses": client.rpc("getSignatureStatuses", sigs)["value"]}


def test_kill9_restart_keeps_mints_token_accounts_multisig_and_history(chain):
    client = chain.start()
    payer, guardians, ms, mint = bridge_setup(client)
    owner = Keypair()
    client.rpc("requestAirdrop", str(owner.pubkey()), 10**9)
    msg = bridge_msg(ms, owner.pubkey(), seq=1, amount=5 * 10**18)
    _, minted = mint_tx(client, payer, ms, msg, guardians[:3])
    mint_sig = client.send(minted)
    burn_sig = client.send(burn_transaction(client, owner, mint, 2 * 10**9, 31001, b"\x01" * 32))
    account = spl.ata(owner.pubkey(), mint)
    assert client.token_balance(account) == 3 * 10**9
    slot = client.slot()
    before = snapshot(client, [ms, mint, account, payer.pubkey(), owner.pubkey()], [mint_sig, burn_sig])

    time.sleep(1.0)                                 # block times are the landing time, not the reading time
    chain.stop(signal.SIGKILL)                      # no shutdown hook runs
    client = chain.start()

    assert client.slot() >= slot
    after = snapshot(client, [ms, mint, account, payer.pubkey(), owner.pubkey()], [mint_sig, burn_sig])
    assert after == before
    state = Multisig.from_bytes(client.account_data(ms))
    assert (state.m, state.n, state.is_initialized) == (3, 4, True)
    assert sorted(state.signers[:4]) == sorted(g.pubkey() for g in guardians)
    assert Mint.from_bytes(client.account_data(mint)).mint_authority == ms
    assert Mint.from_bytes(client.account_data(mint)).supply == 3 * 10**9
    assert client.token_balance(account) == 3 * 10**9
    # the attesters' replay check reads the history: the digest is still known as minted
    assert minted_already(client, mint, msg.digest)
    # the very same signed transaction is refused, not applied twice
    with pytest.raises(ChainError, match="already been processed"):
        client.send(minted)
    # the restored bank is live: the multisig mints again (3 of 4), and below threshold still fails
    msg2 = bridge_msg(ms, owner.pubkey(), seq=2, amount=10**18)
    _, below = mint_tx(client, payer, ms, msg2, guardians[:2])
    with pytest.raises(ChainError, match="MissingRequiredSignature"):
        client.send(below)
    _, tx2 = mint_tx(client, payer, ms, msg2, guardians[1:4])
    sig2 = client.send(tx2)
    assert client.token_balance(account) == 4 * 10**9
    assert client.slot() > slot

    chain.stop(signal.SIGKILL)                      # and a second crash keeps the second mint too
    client = chain.start()
    assert client.token_balance(account) == 4 * 10**9
    assert client.status(sig2)["err"] is None
    assert Mint.from_bytes(client.account_data(mint)).supply == 4 * 10**9


def test_torn_last_record_is_dropped_damage_elsewhere_stops_the_chain(chain):
    client = chain.start()
    payer, guardians, ms, mint = bridge_setup(client)
    owner = Keypair().pubkey()
    _, tx = mint_tx(client, payer, ms, bridge_msg(ms, owner), guardians[:3])
    client.send(tx)
    chain.stop(signal.SIGKILL)
    journal = chain.state / JOURNAL
    with open(journal, "ab") as f:                  # a write the process died in: never acknowledged
        f.write(b'{"t":"tx","sig":"5xyz","slot":99,"acc')
    client = chain.start()
    assert client.token_balance(spl.ata(owner, mint)) == 10**9
    assert client.slot() < 99
    chain.stop()
    lines = journal.read_bytes().splitlines()
    assert all(line.startswith(b"{") and line.endswith(b"}") for line in lines)   # compacted, clean
    chain.start()                                   # one process per state directory
    second = subprocess.run([sys.executable, "-m", "bridge.solana.server", "--port", str(free_port()),
                             "--state", str(chain.state)], capture_output=True, text=True, timeout=60)
    assert second.returncode == 1 and "in use by another Solana chain process" in second.stderr
    chain.stop()
    journal.write_bytes(b"\n".join([lines[0], b"garbage", *lines[1:]]) + b"\n")
    proc = subprocess.run([sys.executable, "-m", "bridge.solana.server", "--port", str(free_port()),
                           "--state", str(chain.state)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert f"{JOURNAL}:2: not a journal record" in proc.stderr
