"""The Solana verifier: an SPL Token multisig of guardian ed25519 keys as mint authority, on the
real Solana runtime (LiteSVM) served by bridge/solana/server.py. Its quorum is count-based."""
from __future__ import annotations

import base64
import subprocess
import sys
import time

import pytest
import requests
from solders.keypair import Keypair
from solders.message import Message as SolMessage
from solders.pubkey import Pubkey
from solders.transaction import Transaction

from bridge.evm import ChainError
from interop.message import NATIVE_TOKEN, Kind, Message, word
from bridge.solana import spl
from bridge.solana.client import SolanaClient, check_mint_request, mint_message, minted_already
from bridge.solana.devnet import dev_guarded_mint
from pqc.levels import SecurityLevel
from tests.nodeproc import free_port

ORIGIN = 31337


@pytest.fixture(scope="module")
def solana(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("solana") / "solana.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "bridge.solana.server", "--port", str(port)],
                                stdout=fh, stderr=subprocess.STDOUT)
    client = SolanaClient(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 30
    while True:
        try:
            client.rpc("getHealth")
            break
        except ChainError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError(log.read_text())
            time.sleep(0.1)
    yield client
    proc.terminate()
    proc.wait(10)


def send(client, signers, ixs, payer):
    bh = client.blockhash()
    return client.send(Transaction(signers, SolMessage.new_with_blockhash(ixs, payer.pubkey(), bh), bh))


@pytest.fixture(scope="module")
def setup(solana):
    """4 guardians, Enhanced (3 of 4), one bridge mint for AIVM's coin."""
    return dev_guarded_mint(solana, ORIGIN)


def bridge_msg(ms: Pubkey, owner: Pubkey, seq=1, amount=10**18):
    return Message(Kind.TRANSFER, SecurityLevel.ENHANCED, ORIGIN, word(b"\x11" * 20), 900001, bytes(ms), seq,
                   word(b"\x22" * 20), bytes(owner), ORIGIN, NATIVE_TOKEN, amount)


def mint_tx(solana, payer, ms, msg, signers):
    sol = mint_message(solana, ms, msg, payer.pubkey(), [s.pubkey() for s in signers], solana.blockhash())
    return sol, Transaction([payer, *signers], sol, sol.recent_blockhash)


def test_threshold_exact_passes_one_below_and_outsiders_fail(solana, setup):
    payer, guardians, ms, mint, m = setup
    assert m == 3
    owner = Keypair().pubkey()
    msg = bridge_msg(ms, owner)
    _, tx = mint_tx(solana, payer, ms, msg, guardians[:2])          # 2 of 4: below
    with pytest.raises(ChainError, match="MissingRequiredSignature"):
        solana.send(tx)
    outsider = Keypair()
    _, tx = mint_tx(solana, payer, ms, msg, guardians[:2] + [outsider])  # 2 members + an outsider
    with pytest.raises(ChainError, match="MissingRequiredSignature"):
        solana.send(tx)
    sol, tx = mint_tx(solana, payer, ms, msg, guardians[:3])        # exactly 3: passes
    solana.send(tx)
    assert solana.token_balance(spl.ata(owner, mint)) == 10**9
    assert minted_already(solana, mint, msg.digest)


def test_duplicate_signer_counts_once(solana, setup):
    """The same guardian listed three times is one signature to the runtime and one key to SPL."""
    payer, guardians, ms, mint, m = setup
    owner = Keypair().pubkey()
    msg = bridge_msg(ms, owner, seq=2)
    g = guardians[0]
    ix = spl.mint_to(mint, spl.ata(owner, mint), ms, [g.pubkey(), g.pubkey(), g.pubkey()], 5)
    with pytest.raises(ChainError):
        send(solana, [payer, g], [spl.create_ata(payer.pubkey(), owner, mint), ix], payer)
    assert solana.token_balance(spl.ata(owner, mint)) == 0


def test_replayed_transaction_refused(solana, setup):
    payer, guardians, ms, mint, m = setup
    owner = Keypair().pubkey()
    msg = bridge_msg(ms, owner, seq=3)
    _, tx = mint_tx(solana, payer, ms, msg, guardians[1:4])
    solana.send(tx)
    with pytest.raises(ChainError, match="already been processed"):
        solana.send(tx)
    assert solana.token_balance(spl.ata(owner, mint)) == 10**9


def test_attester_check_refuses_anything_but_the_canonical_mint(solana, setup):
    payer, guardians, ms, mint, m = setup
    owner = Keypair().pubkey()
    msg = bridge_msg(ms, owner, seq=4)
    sol, _ = mint_tx(solana, payer, ms, msg, guardians[:3])
    check_mint_request(solana, ms, msg, bytes(sol))              # the canonical one is accepted
    thief = Keypair().pubkey()
    for bad in (bridge_msg(ms, thief, seq=4), bridge_msg(ms, owner, seq=4, amount=10**19)):
        forged, _ = mint_tx(solana, payer, ms, bad, guardians[:3])
        with pytest.raises(ChainError, match="does not match"):
            check_mint_request(solana, ms, msg, bytes(forged))
    outsider, _ = mint_tx(solana, payer, ms, msg, guardians[:2] + [Keypair()])
    with pytest.raises(ChainError, match="outside the multisig"):
        check_mint_request(solana, ms, msg, bytes(outsider))
    # zero or unbridgeable values never become a mint request
    with pytest.raises(ChainError, match="multiple of"):
        mint_message(solana, ms, bridge_msg(ms, owner, amount=10**9 + 1), payer.pubkey(), [], solana.blockhash())
    with pytest.raises(ChainError, match="no bridge mint"):
        mint_message(solana, ms, Message(Kind.TRANSFER, SecurityLevel.ENHANCED, ORIGIN, word(b"\x11" * 20), 900001,
                                         bytes(ms), 9, word(b"\x22" * 20), bytes(owner), 5, NATIVE_TOKEN, 10**18),
                     payer.pubkey(), [], solana.blockhash())


def test_json_rpc_subset_and_errors(solana, setup):
    payer, guardians, ms, mint, m = setup
    url = solana.url
    rpc = lambda method, *params: requests.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                                           "params": list(params)}).json()
    assert rpc("getHealth")["result"] == "ok"
    assert rpc("getBalance", str(payer.pubkey()))["result"]["value"] > 0
    info = rpc("getAccountInfo", str(mint), {"encoding": "base64"})["result"]["value"]
    assert info["owner"] == str(spl.TOKEN_PROGRAM)
    assert rpc("getAccountInfo", "not-a-key")["error"]["code"] == -32602
    assert rpc("noSuchMethod")["error"]["code"] == -32601
    assert rpc("sendTransaction", "!!", {"encoding": "base64"})["error"]["code"] == -32602
    bh = rpc("getLatestBlockhash")["result"]["value"]["blockhash"]
    assert rpc("isBlockhashValid", bh)["result"]["value"] is True
    sigs = rpc("getSignaturesForAddress", str(mint))["result"]
    assert sigs and rpc("getSignatureStatuses", [sigs[0]["signature"]])["result"]["value"][0]["err"] is None
    tx = rpc("getTransaction", sigs[0]["signature"], {"encoding": "base64"})["result"]
    assert Transaction.from_bytes(base64.b64decode(tx["transaction"][0]))
