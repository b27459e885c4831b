"""The AIVM node: chain adapter over py-evm, on-disk store, the node API (its JSON-RPC surface and CLI are in `app`)."""
import os as _os

# keccak is py-evm's hottest function: pysha3 (safe-pysha3) is ~6x faster than
# the pycryptodome backend eth-hash picks by default. The choice is made on
# first use, so it must be set before anything hashes.
try:
    import sha3 as _sha3  # noqa: F401
except ImportError:  # pragma: no cover - the dependency is declared
    pass
else:
    _os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")
    if _os.environ["ETH_HASH_BACKEND"] == "pysha3":
        # Something (eth-account, web3) may have hashed before this import and so fixed
        # eth-hash's shared hasher on pycryptodome: point it at pysha3 (same digests).
        from eth_hash.auto import keccak as _keccak
        from eth_hash.utils import load_backend as _load_backend

        _backend = _load_backend("pysha3")
        _keccak.hasher, _keccak.preimage = _backend.keccak256, _backend.preimage

# RLP through rusty-rlp (pyrlp's own optional backend), checked to give pyrlp's results.
from vm import rlp_backend as _rlp_backend  # noqa: E402

_rlp_backend.install()
