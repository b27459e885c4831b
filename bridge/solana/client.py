"""The Solana end of the bridge: wrapped SPL mints under a guardian multisig.

Solana cannot run our verifier (custom programs cannot be built here), so the
Solana-side check is what its runtime offers: each bridge mint's authority is
an SPL Token multisig of the guardians' ed25519 keys (bridge/keys.py), m-of-n
with n <= 11. The quorum there is therefore **ed25519 and count-based**: m
distinct guardians must sign the very transaction that mints. m is the lane
level's share of n (Enhanced: ceil(0.75 n)).

Inbound (EVM -> Solana), two phases through the hub:
  1. the relayer builds the canonical mint transaction for an attested message
     (memo "aivm-bridge:<digest>", create the recipient's token account, mint_to
     through the multisig) and posts its message bytes (synergy_requestSolanaSignatures);
  2. each attester checks those bytes against the message it attested itself
     (`check_mint_request`): right mint for the token's origin, right owner and
     amount, the digest in the memo, nothing else; it signs a digest's mint once
     (a second, different transaction only after the first one's blockhash expired,
     so it can never land). The relayer adds the fee payer's signature and sends.
Outbound (Solana -> EVM): the holder burns with a memo "aivm-bridge:to:<chain id>:<recipient>"
in the same transaction; attesters read it with getTransaction and attest the message.

Amounts: EVM coins have 18 decimals, the SPL mints 9; a transfer to Solana must be a
multiple of 10^9 wei, and 1 unit on Solana is 10^9 wei back.
"""
from __future__ import annotations

import base64
import struct

from eth_hash.auto import keccak
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import Message as SolMessage
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.token.state import Mint, Multisig
from solders.transaction import Transaction

from bridge.jsonrpc import ChainError, JsonRpcClient
from interop.message import NATIVE_TOKEN, Kind, Message, word
from bridge.solana import spl
from pqc.levels import SecurityLevel

DECIMALS = 9
SCALE = 10**(18 - DECIMALS)
MEMO_PREFIX = "aivm-bridge:"


class SolanaClient(JsonRpcClient):
    """The Solana JSON-RPC methods the bridge uses, over `JsonRpcClient.rpc`."""

    def blockhash(self) -> Hash:
        return Hash.from_string(self.rpc("getLatestBlockhash")["value"]["blockhash"])

    def blockhash_valid(self, h: "Hash | str") -> bool:
        return bool(self.rpc("isBlockhashValid", str(h))["value"])

    def account_data(self, address: "Pubkey | str") -> bytes | None:
        v = self.rpc("getAccountInfo", str(address), {"encoding": "base64"})["value"]
        return None if v is None else base64.b64decode(v["data"][0])

    def token_balance(self, account: "Pubkey | str") -> int:
        try:
            return int(self.rpc("getTokenAccountBalance", str(account))["value"]["amount"])
        except ChainError:
            return 0

    def send(self, tx: Transaction) -> str:
        return self.rpc("sendTransaction", base64.b64encode(bytes(tx)).decode(), {"encoding": "base64"})

    def slot(self) -> int:
        return int(self.rpc("getSlot"))

    def status(self, sig: str) -> dict | None:
        return self.rpc("getSignatureStatuses", [sig])["value"][0]

    def transaction(self, sig: str) -> tuple[Transaction, dict, int] | None:
        t = self.rpc("getTransaction", sig, {"encoding": "base64"})
        if t is None:
            return None
        return Transaction.from_bytes(base64.b64decode(t["transaction"][0])), t["meta"], t["slot"]


# -- deterministic addresses: every party derives the same ones --
def multisig_keypair(guardians: list[bytes]) -> Keypair:
    return Keypair.from_seed(keccak(b"AIVM-bridge/solana-multisig/v1" + b"".join(sorted(guardians))))


def mint_keypair(multisig: Pubkey, origin_chain: int, token: bytes) -> Keypair:
    return Keypair.from_seed(keccak(b"AIVM-bridge/solana-mint/v1" + bytes(multisig)
                                    + origin_chain.to_bytes(32, "big") + token))


def required(level: SecurityLevel, n: int) -> int:
    return max(1, -(-n * level.suite.quorum_bps // 10_000))


def lane_word(lane) -> bytes:
    """The 32-byte bridge identity messages name for a lane (Solana: the multisig's key)."""
    address = lane["bridge_address"] if isinstance(lane, dict) else lane.bridge_address
    if address.startswith("0x"):
        return word(address)
    return bytes(Pubkey.from_string(address))


def multisig_state(client: SolanaClient, multisig: Pubkey) -> Multisig:
    data = client.account_data(multisig)
    if data is None:
        raise ChainError(f"no multisig at {multisig}")
    return Multisig.from_bytes(data)


def bridge_mint(client: SolanaClient, multisig: Pubkey, origin_chain: int, token: bytes) -> Pubkey:
    """The mint for (origin chain, token), checked on chain: it exists and the multisig is its authority."""
    mint = mint_keypair(multisig, origin_chain, token).pubkey()
    data = client.account_data(mint)
    if data is None:
        raise ChainError(f"no bridge mint for token of chain {origin_chain} on Solana")
    if Mint.from_bytes(data).mint_authority != multisig:
        raise ChainError(f"mint {mint} is not controlled by the bridge multisig")
    return mint


# -- inbound: the mint transaction --
def mint_message(client: SolanaClient, multisig: Pubkey, msg: Message, payer: Pubkey, signers: list[Pubkey],
                 blockhash: Hash) -> SolMessage:
    if msg.kind is not Kind.TRANSFER:
        raise ChainError("Solana lanes carry token transfers only")
    if msg.amount % SCALE:
        raise ChainError(f"amount {msg.amount} is not a multiple of 10^{18 - DECIMALS} (Solana mints have "
                         f"{DECIMALS} decimals)")
    mint = bridge_mint(client, multisig, msg.token_chain, msg.token)
    owner = Pubkey.from_bytes(msg.recipient)
    ixs = [spl.memo(MEMO_PREFIX + msg.digest.hex()), spl.create_ata(payer, owner, mint),
           spl.mint_to(mint, spl.ata(owner, mint), multisig, signers, msg.amount // SCALE)]
    return SolMessage.new_with_blockhash(ixs, payer, blockhash)


def check_mint_request(client: SolanaClient, multisig: Pubkey, msg: Message, raw: bytes) -> SolMessage:
    """What an attester runs before signing: `raw` must be exactly the canonical mint of `msg`."""
    sol = SolMessage.from_bytes(raw)
    if bytes(sol) != raw:
        raise ChainError("mint request is not in canonical form")
    keys = list(sol.account_keys)
    if len(sol.instructions) != 3 or len(sol.instructions[2].accounts) < 4:
        raise ChainError("mint request is not memo + create account + mint_to")
    payer = keys[0]
    signers = [keys[i] for i in sol.instructions[2].accounts[3:]]  # the multisig signers, in mint_to's order
    expected = mint_message(client, multisig, msg, payer, signers, sol.recent_blockhash)
    if bytes(expected) != raw:
        raise ChainError("mint request does not match the attested message")
    ms = multisig_state(client, multisig)
    members = set(ms.signers[:ms.n])
    if not set(signers) <= members or len(signers) < ms.m:
        raise ChainError("mint request names signers outside the multisig, or too few")
    return sol


def deliver_to_solana(dest: dict, p: dict, message: bytes, payer: Keypair, node) -> str | None:
    """Relayer, one step: request signatures, or send once they are all there. The tx signature or None."""
    from interop.message import decode

    if payer is None:
        raise ChainError("this relayer has no Solana fee payer (--solana-payer)")
    client = SolanaClient(dest["rpc_url"])
    multisig = Pubkey.from_string(dest["bridge_address"])
    msg = decode(message)
    req = p.get("solana")
    if req and client.blockhash_valid(SolMessage.from_bytes(bytes.fromhex(req["message"])).recent_blockhash):
        have = req["signatures"]
        sol = SolMessage.from_bytes(bytes.fromhex(req["message"]))
        wanted = [str(k) for k in list(sol.account_keys)[1:sol.header.num_required_signatures]]
        if all(w in have for w in wanted):
            first = payer.sign_message(bytes(sol))  # ed25519 is deterministic: the same tx id every time
            if client.status(str(first)) is not None:
                return str(first)  # sent before (a relayer killed before it reported)
            sigs = [first] + [Signature.from_string(have[w]) for w in wanted]
            tx = Transaction.populate(sol, sigs)
            return client.send(tx)
        return None
    ms = multisig_state(client, multisig)
    members = [str(k) for k in ms.signers[:ms.n]]
    online = sorted({e["pubkey"] for e in p["ed25519"]} & set(members))
    if len(online) < ms.m:
        raise ChainError(f"only {len(online)} attesters with multisig keys, the mint needs {ms.m}")
    signers = [Pubkey.from_string(k) for k in online[:ms.m]]
    sol = mint_message(client, multisig, msg, payer.pubkey(), signers, client.blockhash())
    node.rpc("synergy_requestSolanaSignatures", p["transfer_id"], "0x" + bytes(sol).hex())
    return None


def delivered(client: SolanaClient, tx_sig: str, digest: bytes) -> bool:
    """The reported transaction landed and carries this digest's memo."""
    found = client.transaction(tx_sig)
    if found is None:
        return False
    tx, meta, _ = found
    return meta.get("err") is None and any(
        (MEMO_PREFIX + digest.hex()).encode() == bytes(ix.data) for ix in tx.message.instructions)


def minted_already(client: SolanaClient, mint: Pubkey, digest: bytes) -> bool:
    """Has any landed transaction on `mint` carried this digest's memo? (The attesters' replay check.)"""
    memo = (MEMO_PREFIX + digest.hex()).encode()
    for entry in client.rpc("getSignaturesForAddress", str(mint)):
        found = client.transaction(entry["signature"])
        if found and found[1].get("err") is None and any(bytes(ix.data) == memo for ix in found[0].message.instructions):
            return True
    return False


# -- outbound: burns --
def burn_memo(dst_chain: int, recipient: bytes) -> str:
    return f"{MEMO_PREFIX}to:{dst_chain}:{recipient.hex()}"


def burn_transaction(client: SolanaClient, owner: Keypair, mint: Pubkey, amount: int, dst_chain: int,
                     recipient: bytes) -> Transaction:
    ixs = [spl.memo(burn_memo(dst_chain, recipient), [owner.pubkey()]),
           spl.burn(spl.ata(owner.pubkey(), mint), mint, owner.pubkey(), amount)]
    return Transaction([owner], SolMessage.new_with_blockhash(ixs, owner.pubkey(), client.blockhash()),
                       client.blockhash())


def read_burn(client: SolanaClient, lane: dict, sig: str, origins: list[int], lanes: dict[int, dict]
              ) -> Message | None:
    """The bridge message a confirmed burn transaction carries, or None if it is not exactly a bridge burn."""
    found = client.transaction(sig)
    if found is None:
        return None
    tx, meta, slot = found
    if meta.get("err") is not None:
        return None
    m = tx.message
    keys = list(m.account_keys)
    ixs = m.instructions
    if len(ixs) != 2:
        return None
    memo_ix, burn_ix = ixs
    if keys[memo_ix.program_id_index] != spl.MEMO_PROGRAM or keys[burn_ix.program_id_index] != spl.TOKEN_PROGRAM:
        return None
    text = bytes(memo_ix.data).decode(errors="replace")
    if not text.startswith(MEMO_PREFIX + "to:"):
        return None
    try:
        _, _, chain_s, rcpt_hex = text.split(":", 3)
        dst_chain, recipient = int(chain_s), bytes.fromhex(rcpt_hex)
    except ValueError:
        return None
    data = bytes(burn_ix.data)
    if len(data) != 9 or data[0] != 8:
        return None
    amount = struct.unpack("<Q", data[1:])[0]
    account, mint, owner = (keys[i] for i in burn_ix.accounts)
    if not m.is_signer(list(keys).index(owner)):
        return None
    multisig = Pubkey.from_string(lane["bridge_address"])
    origin = next((o for o in origins if mint_keypair(multisig, o, NATIVE_TOKEN).pubkey() == mint), None)
    dest = lanes.get(dst_chain)
    if origin is None or dest is None or len(recipient) != 32:
        return None
    return Message(Kind.TRANSFER, SecurityLevel.parse(lane["level"]), int(lane["chain_id"]), bytes(multisig),
                   dst_chain, lane_word(dest), int.from_bytes(bytes(Signature.from_string(sig))[:8], "big") | 1,
                   bytes(owner), recipient, origin, NATIVE_TOKEN, amount * SCALE)


DEV_USER_SEED = keccak(b"aivm devnet solana user 0")


def dev_user() -> Keypair:
    """The Solana dev account the node acts from (as dev account 0 on EVM chains)."""
    return Keypair.from_seed(DEV_USER_SEED)


async def initiate_burn(hub, src, dst, amount: int, recipient: str, token: str = "") -> dict:
    """synergy_initiateCrossChainTransfer from Solana: burn wrapped units (9 decimals) of the mint
    `token` (base58), or of the wrapped coin of the chain named `token`, from the dev user."""
    import asyncio

    from bridge.actions import parse_recipient
    from bridge.hub import BridgeError

    if dst.kind == "solana":
        raise BridgeError("source and destination chain are the same")
    if amount <= 0 or amount >= 2**64:
        raise BridgeError("amount must be a positive u64 (Solana units, 9 decimals)")
    to = parse_recipient(recipient, dst)
    client = SolanaClient(src.rpc_url)
    multisig = Pubkey.from_string(src.bridge_address)
    origin_lane = hub.lanes.get(token)
    try:
        mint = mint_keypair(multisig, origin_lane.chain_id, NATIVE_TOKEN).pubkey() if origin_lane \
            else Pubkey.from_string(token)
    except ValueError:
        raise BridgeError(f"token: {token!r} is neither a chain name nor a base58 mint") from None

    def go():
        return client.send(burn_transaction(client, dev_user(), mint, amount, dst.chain_id, to))

    try:
        sig = await asyncio.to_thread(go)
    except ChainError as exc:
        raise BridgeError(str(exc)) from None
    return {"success": True, "status": "initiated", "source_chain": src.name, "dest_chain": dst.name,
            "source_tx": sig, "amount": amount, "transfer_id": None,
            "message": "burned on Solana; validators attest it and the id appears in the status of that tx "
                       "(synergy_getCrossChainTransferStatus accepts the Solana signature)"}


def receipt_exists(dest, digest: bytes, tx: str | None = None) -> bool:
    if not tx:
        return False
    return delivered(SolanaClient(dest.rpc_url), tx, digest)
