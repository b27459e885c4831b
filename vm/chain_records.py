"""The records and errors `vm.chain.Chain` takes and hands back (re-exported there): plain data, no py-evm."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from eth_keys import keys

from vm import defaults
from vm.errors import NodeError, Reason

DEV_MNEMONIC = "test test test test test test test test test test test junk"
ETHER = 10**18
BlockId = Union[str, int, bytes]


class TxRejected(NodeError):
    """A transaction the chain refuses before execution (nonce, funds, fees, size)."""

    def __init__(self, message: str, reason: Reason = Reason.REFUSED) -> None:
        super().__init__(reason, message)


class UnknownBlock(NodeError, LookupError):
    """A block tag, number or hash that names no block of this chain."""

    def __init__(self, message: str) -> None:
        super().__init__(Reason.NOT_FOUND, message)


@dataclass(frozen=True)
class DevAccount:
    address: bytes
    key: keys.PrivateKey


@dataclass
class ChainConfig:
    chain_id: int = 31337
    gas_limit: int = defaults.BLOCK_GAS_LIMIT
    initial_base_fee: int = 1_000_000_000
    accounts: int = 10
    balance_eth: int = 10_000
    mnemonic: str = DEV_MNEMONIC
    coinbase: bytes = b"\x00" * 20
    genesis_timestamp: Optional[int] = None
    extra_genesis: dict = field(default_factory=dict)  # address -> {balance, nonce, code, storage}
    fork: Any = None  # vm.forking.ForkSpec: run on a lazily fetched copy of a remote chain
    fork_chain_id_from_remote: bool = True


@dataclass
class Log:
    address: bytes
    topics: list[bytes]
    data: bytes


@dataclass
class ExecutionResult:
    """What a call or a mined transaction did."""

    success: bool
    output: bytes
    gas_used: int
    logs: list[Log] = field(default_factory=list)
    error: str = ""
    tx_hash: Optional[bytes] = None
    block_number: Optional[int] = None
    contract_address: Optional[bytes] = None
    receipt: Optional[dict] = None
    computation: Any = field(default=None, repr=False)

    @property
    def revert_data(self) -> bytes:
        return b"" if self.success else self.output


@dataclass
class MinedBlock:
    number: int
    record: dict
    results: list[ExecutionResult]  # one per included transaction, in order
    rejected: list[tuple[Any, str]]  # (tx, reason) dropped at execution time
    deferred: list[Any]  # did not fit in the block gas limit


def derive_dev_accounts(mnemonic: str, count: int) -> list[DevAccount]:
    """HD derivation is ~30 ms an account (PBKDF2): done once per process, not per chain."""
    return list(_derive_dev_accounts(mnemonic, count))


@functools.lru_cache(maxsize=8)
def _derive_dev_accounts(mnemonic: str, count: int) -> tuple[DevAccount, ...]:
    from eth_account import Account

    Account.enable_unaudited_hdwallet_features()
    out = []
    for i in range(count):
        acct = Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{i}")
        key = keys.PrivateKey(bytes(acct.key))
        out.append(DevAccount(key.public_key.to_canonical_address(), key))
    return tuple(out)


class ExecutionFailed(Exception):
    """A call that reverted or failed; carries the result for the revert data."""

    def __init__(self, result: ExecutionResult) -> None:
        super().__init__(result.error)
        self.result = result
