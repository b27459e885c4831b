"""`Chain`'s transaction intake: decode, recover the sender, refuse what can never be mined, mine one."""
from __future__ import annotations

from typing import Any, Optional

from coincurve import PublicKey
from eth.abc import SignedTransactionAPI
from eth_hash.auto import keccak

from vm.chain_records import ExecutionResult, TxRejected
from vm.errors import Reason

_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class ChainTransactions:
    """Raw decoding, sender recovery, the admission check, the next base fee, transact/send_raw."""

    # -- transactions --
    @property
    def transaction_builder(self):
        return self.vm_class.get_transaction_builder()

    def decode_raw(self, raw: bytes) -> SignedTransactionAPI:
        try:
            tx = self.transaction_builder.decode(raw)
        except Exception as exc:
            raise TxRejected(f"invalid raw transaction: {exc}", reason=Reason.INVALID_INPUT) from None
        return tx

    def sender_of(self, tx: SignedTransactionAPI) -> bytes:
        """The signer, from one public-key recovery (py-evm's check + `.sender` do three EC ops;
        a key recovered from the signature verifies it by construction)."""
        try:
            r, s, v = tx.r, tx.s, tx.y_parity
            if not (0 < r < _SECP256K1_N and 0 < s < _SECP256K1_N and v in (0, 1)):
                raise ValueError("signature values out of range")
            signature = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v])
            digest = keccak(tx.get_message_for_signing())
            public = PublicKey.from_signature_and_message(signature, digest, hasher=None)
            return keccak(public.format(compressed=False)[1:])[12:]
        except Exception:
            raise TxRejected("invalid transaction signature", reason=Reason.INVALID_INPUT) from None

    def check(self, tx: SignedTransactionAPI, sender: bytes, expected_nonce: Optional[int] = None) -> None:
        """Refuse what can never be mined; `expected_nonce` counts the sender's queued txs."""
        chain_id = getattr(tx, "chain_id", None)
        if chain_id is None and getattr(tx, "v", 27) >= 35:
            chain_id = (tx.v - 35) // 2
        if chain_id is not None and chain_id != self.config.chain_id:
            raise TxRejected(f"invalid chain id {chain_id}: this chain is {self.config.chain_id}")
        state = self._accounts_at("latest")
        nonce = state.get_nonce(sender) if expected_nonce is None else expected_nonce
        if tx.nonce < nonce:
            raise TxRejected(f"nonce too low: account has nonce {nonce}, transaction has {tx.nonce}")
        if tx.nonce > nonce:
            raise TxRejected(f"nonce too high: account has nonce {nonce}, transaction has {tx.nonce}")
        intrinsic = self._intrinsic_gas(tx.to, tx.data)
        if tx.gas < intrinsic:
            raise TxRejected(f"intrinsic gas too low: need {intrinsic}, transaction gives {tx.gas}")
        if tx.gas > self.config.gas_limit:
            raise TxRejected(f"exceeds block gas limit: {tx.gas} > {self.config.gas_limit}")
        base_fee = self.next_base_fee()
        max_fee = getattr(tx, "max_fee_per_gas", None)
        if max_fee is None:
            max_fee = tx.gas_price
        elif tx.max_priority_fee_per_gas > max_fee:
            raise TxRejected("max priority fee per gas higher than max fee per gas")
        if max_fee < base_fee:
            raise TxRejected(
                f"max fee per gas less than block base fee: {max_fee} < {base_fee}"
            )
        cost = tx.gas * max_fee + tx.value
        balance = state.get_balance(sender)
        if balance < cost:
            raise TxRejected(
                f"insufficient funds for gas * price + value: balance {balance}, cost {cost}"
            )

    def next_base_fee(self) -> int:
        """The next block's base fee (computed once per head: every check asks for it)."""
        key = (self._head.hash, self.config.gas_limit)
        cached = getattr(self, "_base_fee", None)
        if cached is None or cached[0] != key:
            cached = self._base_fee = (key, self._pending_header_template().base_fee_per_gas)
        return cached[1]

    def transact(
        self, sender: Optional[bytes] = None, to: Optional[bytes] = None, data: bytes = b"",
        value: int = 0, gas: Optional[int] = None, **fees: Any,
    ) -> ExecutionResult:
        """Sign, check and mine one transaction in its own block (tests, tools)."""
        sender = sender or self.accounts[0].address
        tx, sender = self.sign(sender, to, data, value, gas, **fees)
        self.check(tx, sender)
        return self.mine([(tx, sender)]).results[0]

    def send_raw(self, raw: bytes) -> ExecutionResult:
        tx = self.decode_raw(raw)
        sender = self.sender_of(tx)
        self.check(tx, sender)
        return self.mine([(tx, sender)]).results[0]
