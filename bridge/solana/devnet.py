"""Solana's part of bridge/devnet.py: the guardian multisig and one bridge mint per EVM coin."""
from __future__ import annotations

import time

from eth_hash.auto import keccak
from solders.keypair import Keypair
from solders.message import Message as SolMessage
from solders.transaction import Transaction

from interop.message import NATIVE_TOKEN
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


def _send(client: SolanaClient, payer: Keypair, signers: list, ixs: list) -> str:
    bh = client.blockhash()
    return client.send(Transaction([payer, *signers], SolMessage.new_with_blockhash(ixs, payer.pubkey(), bh), bh))


def create_multisig(client: SolanaClient, payer: Keypair, guardians: list[bytes], m: int):
    """The guardians' m-of-n SPL multisig at its derived address (created if absent); its key."""
    from solders.pubkey import Pubkey

    ms = multisig_keypair(guardians)
    if client.account_data(ms.pubkey()) is None:
        rent = client.rpc("getMinimumBalanceForRentExemption", spl.MULTISIG_SIZE)
        _send(client, payer, [ms], [spl.allocate(payer.pubkey(), ms.pubkey(), spl.MULTISIG_SIZE, rent),
                                    spl.initialize_multisig(ms.pubkey(), [Pubkey.from_bytes(g) for g in sorted(guardians)], m)])
    return ms.pubkey()


def create_mint(client: SolanaClient, payer: Keypair, multisig, origin: int, token: bytes = NATIVE_TOKEN):
    """The bridge mint of (origin chain, token) under `multisig` (created if absent); its key."""
    mint = mint_keypair(multisig, origin, token)
    if client.account_data(mint.pubkey()) is None:
        rent = client.rpc("getMinimumBalanceForRentExemption", spl.MINT_SIZE)
        _send(client, payer, [mint], [spl.allocate(payer.pubkey(), mint.pubkey(), spl.MINT_SIZE, rent),
                                      spl.initialize_mint(mint.pubkey(), multisig, DECIMALS)])
    return mint.pubkey()


def dev_guarded_mint(client: SolanaClient, origin: int, guardians: int = 4,
                     level: SecurityLevel = SecurityLevel.ENHANCED):
    """A funded payer, `guardians` fixed dev keypairs, their multisig at `level` and one bridge mint for `origin`'s
    coin: what the Solana tests and the bridge bench start from. (payer, guardians, multisig, mint, m)."""
    payer = Keypair()
    client.rpc("requestAirdrop", str(payer.pubkey()), 10 * 10**9)
    keys = [Keypair.from_seed(bytes([i + 1]) * 32) for i in range(guardians)]
    m = required(level, guardians)
    ms = create_multisig(client, payer, [bytes(g.pubkey()) for g in keys], m)
    return payer, keys, ms, create_mint(client, payer, ms, origin), m


def create_mints(net) -> None:
    from bridge.devnet import CHAIN_IDS

    c = net.chains["solana"]
    client = SolanaClient(c.url)
    payer = relayer()
    for who in (payer.pubkey(), dev_user().pubkey()):
        client.rpc("requestAirdrop", str(who), 100 * 10**9)
    guardians = [bytes(k.ed25519.pubkey()) for k in net.keys]
    ms = create_multisig(client, payer, guardians, required(SecurityLevel.ENHANCED, len(guardians)))
    origins = [CHAIN_IDS[n] for n in ("aivm", "ethereum", "polygon")] + ([CHAIN_IDS["aivm2"]] if net.with_aivm2 else [])
    for origin in origins:
        mint = create_mint(client, payer, ms, origin)
        c.wrapped[[n for n, i in CHAIN_IDS.items() if i == origin][0]] = str(mint)
    c.bridge = str(ms)
    c.bridge_word = bytes(ms).hex()


def wire(net) -> None:
    """Nothing to configure on Solana itself: the multisig is the whole verifier there."""
