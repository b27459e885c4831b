"""`Chain`'s signing for dev accounts and impersonated senders (the node signs for unlocked accounts)."""
from __future__ import annotations

from typing import Optional, Sequence

from eth.abc import SignedTransactionAPI
from eth_keys import keys

from vm.chain_records import TxRejected
from vm.errors import Reason

_IMPERSONATION_KEY = keys.PrivateKey(b"\x11" * 32)


class ChainSigning:
    """Sign for an unlocked dev account, or fake-sign for an impersonated one."""


    def sign(
        self,
        sender: bytes,
        to: Optional[bytes] = None,
        data: bytes = b"",
        value: int = 0,
        gas: Optional[int] = None,
        nonce: Optional[int] = None,
        gas_price: Optional[int] = None,
        max_fee_per_gas: Optional[int] = None,
        max_priority_fee_per_gas: Optional[int] = None,
        access_list: Sequence = (),
    ) -> tuple[SignedTransactionAPI, bytes]:
        """Sign for an unlocked dev account (or fake-sign for an impersonated one)."""
        key = self._keys.get(sender)
        if key is None and sender not in self._impersonated:
            raise TxRejected(f"account 0x{sender.hex()} is not unlocked on this node", reason=Reason.REFUSED)
        if nonce is None:
            nonce = self.nonce(sender)
        if gas is None:
            gas = self.estimate_gas(sender, to, data, value)
        builder = self.transaction_builder
        legacy = gas_price is not None and not access_list
        if legacy:
            utx = builder.create_unsigned_transaction(
                nonce=nonce, gas_price=gas_price, gas=gas, to=to or b"", value=value, data=data)
        elif gas_price is not None:
            utx = builder.new_unsigned_access_list_transaction(
                chain_id=self.config.chain_id, nonce=nonce, gas_price=gas_price, gas=gas,
                to=to or b"", value=value, data=data, access_list=list(access_list))
        else:
            tip = 1_000_000_000 if max_priority_fee_per_gas is None else max_priority_fee_per_gas
            cap = max_fee_per_gas if max_fee_per_gas is not None else 2 * self.next_base_fee() + tip
            utx = builder.new_unsigned_dynamic_fee_transaction(
                chain_id=self.config.chain_id, nonce=nonce, max_priority_fee_per_gas=min(tip, cap),
                max_fee_per_gas=cap, gas=gas, to=to or b"", value=value, data=data,
                access_list=list(access_list))
        # an impersonated sender gets a throwaway signature; the sender is overridden when mined
        signer = key or _IMPERSONATION_KEY
        if legacy:  # EIP-155: the chain id goes into v
            return utx.as_signed_transaction(signer, chain_id=self.config.chain_id), sender
        return utx.as_signed_transaction(signer), sender

    def impersonate(self, address: bytes, on: bool = True) -> None:
        (self._impersonated.add if on else self._impersonated.discard)(address)
