"""Solana's part of bridge/devnet.py: the guardian multisig and one bridge mint per EVM coin."""
from __future__ import annotations

import time

from eth_hash.auto import keccak
from solders.keypair import Keypair
from solders.message import Message as SolMessage
from solders.transaction import Transaction

from bridge.message import NATIVE_TOKEN
from bridge.solana import spl
from bridge.solana.client import DECIMALS, SolanaClient, dev_user, mint_keypair, multisig_keypair, required
from pqc.levels import SecurityLevel

RELAYER_SEED = keccak(b"aivm devnet solana relayer")


def relayer() -> Keypair:
    return Keypair.from_seed(RELAYER_SEED)


def wait_ready(p, url: str, timeout: float = 60.0) -> None:
    client = SolanaClient(url, timeout=2)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not p.alive():
            raise RuntimeError(f"solana exited:\n{p.tail()}")
        try:
            client.rpc("getHealth")
            return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError(f"solana did not answer within {timeout:.0f} s:\n{p.tail()}")


def create_mints(net) -> None:
    from bridge.devnet import CHAIN_IDS

    c = net.chains["solana"]
    client = SolanaClient(c.url)
    payer = relayer()
    for who in (payer.pubkey(), dev_user().pubkey()):
        client.rpc("requestAirdrop", str(who), 100 * 10**9)
    guardians = [bytes(k.ed25519.pubkey()) for k in net.keys]
    ms = multisig_keypair(guardians)
    m = required(SecurityLevel.ENHANCED, len(guardians))
    from solders.pubkey import Pubkey

    origins = [CHAIN_IDS[n] for n in ("aivm", "ethereum", "polygon")] + ([CHAIN_IDS["aivm2"]] if net.with_aivm2 else [])
    if client.account_data(ms.pubkey()) is None:
        rent_ms = client.rpc("getMinimumBalanceForRentExemption", spl.MULTISIG_SIZE)
        ixs = [spl.allocate(payer.pubkey(), ms.pubkey(), spl.MULTISIG_SIZE, rent_ms),
               spl.initialize_multisig(ms.pubkey(), [Pubkey.from_bytes(g) for g in sorted(guardians)], m)]
        client.send(Transaction([payer, ms], SolMessage.new_with_blockhash(ixs, payer.pubkey(), client.blockhash()),
                                client.blockhash()))
    rent_mint = client.rpc("getMinimumBalanceForRentExemption", spl.MINT_SIZE)
    for origin in origins:
        mint = mint_keypair(ms.pubkey(), origin, NATIVE_TOKEN)
        if client.account_data(mint.pubkey()) is not None:
            continue
        ixs = [spl.allocate(payer.pubkey(), mint.pubkey(), spl.MINT_SIZE, rent_mint),
               spl.initialize_mint(mint.pubkey(), ms.pubkey(), DECIMALS)]
        client.send(Transaction([payer, mint], SolMessage.new_with_blockhash(ixs, payer.pubkey(), client.blockhash()),
                                client.blockhash()))
        c.wrapped[[n for n, i in CHAIN_IDS.items() if i == origin][0]] = str(mint.pubkey())
    c.bridge = str(ms.pubkey())
    c.bridge_word = bytes(ms.pubkey()).hex()


def wire(net) -> None:
    """Nothing to configure on Solana itself: the multisig is the whole verifier there."""
