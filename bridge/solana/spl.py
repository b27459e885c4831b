"""SPL Token, Associated Token Account and Memo instructions, encoded by hand.

solders ships the programs' ids and account decoders but no instruction
builders; these are the programs' documented byte layouts (spl-token's
`TokenInstruction` enum, little-endian), kept to the handful the bridge uses.
"""
from __future__ import annotations

import struct

from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey
from solders.system_program import ID as SYSTEM_PROGRAM
from solders.system_program import CreateAccountParams, create_account
from solders.token import ID as TOKEN_PROGRAM
from solders.token.associated import get_associated_token_address

ATA_PROGRAM = Pubkey.from_string("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL")
MEMO_PROGRAM = Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr")
MINT_SIZE, ACCOUNT_SIZE, MULTISIG_SIZE = 82, 165, 355
MAX_SIGNERS = 11

_INIT_MULTISIG2, _INIT_MINT2, _MINT_TO, _BURN = 19, 20, 7, 8


def _w(pk: Pubkey) -> AccountMeta:
    return AccountMeta(pk, is_signer=False, is_writable=True)


def _r(pk: Pubkey, signer: bool = False) -> AccountMeta:
    return AccountMeta(pk, is_signer=signer, is_writable=False)


def allocate(payer: Pubkey, new: Pubkey, space: int, lamports: int) -> Instruction:
    return create_account(CreateAccountParams(from_pubkey=payer, to_pubkey=new, lamports=lamports,
                                              space=space, owner=TOKEN_PROGRAM))


def initialize_multisig(multisig: Pubkey, signers: list[Pubkey], m: int) -> Instruction:
    if not 1 <= m <= len(signers) <= MAX_SIGNERS:
        raise ValueError(f"an SPL multisig is m-of-n with 1 <= m <= n <= {MAX_SIGNERS}")
    return Instruction(TOKEN_PROGRAM, bytes([_INIT_MULTISIG2, m]), [_w(multisig)] + [_r(s) for s in signers])


def initialize_mint(mint: Pubkey, authority: Pubkey, decimals: int) -> Instruction:
    data = bytes([_INIT_MINT2, decimals]) + bytes(authority) + b"\x00"  # no freeze authority
    return Instruction(TOKEN_PROGRAM, data, [_w(mint)])


def create_ata(payer: Pubkey, owner: Pubkey, mint: Pubkey) -> Instruction:
    """CreateIdempotent: succeeds when the account already exists."""
    ata = get_associated_token_address(owner, mint)
    return Instruction(ATA_PROGRAM, bytes([1]), [
        AccountMeta(payer, True, True), _w(ata), _r(owner), _r(mint), _r(SYSTEM_PROGRAM), _r(TOKEN_PROGRAM)])


def mint_to(mint: Pubkey, dest: Pubkey, multisig: Pubkey, signers: list[Pubkey], amount: int) -> Instruction:
    return Instruction(TOKEN_PROGRAM, bytes([_MINT_TO]) + struct.pack("<Q", amount),
                       [_w(mint), _w(dest), _r(multisig)] + [_r(s, True) for s in signers])


def burn(account: Pubkey, mint: Pubkey, owner: Pubkey, amount: int) -> Instruction:
    return Instruction(TOKEN_PROGRAM, bytes([_BURN]) + struct.pack("<Q", amount),
                       [_w(account), _w(mint), _r(owner, True)])


def memo(text: str, signers: list[Pubkey] = ()) -> Instruction:
    return Instruction(MEMO_PROGRAM, text.encode(), [_r(s, True) for s in signers])


def ata(owner: Pubkey, mint: Pubkey) -> Pubkey:
    return get_associated_token_address(owner, mint)
