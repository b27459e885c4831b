"""The AIVM node: chain adapter over py-evm, on-disk store, the node API (its JSON-RPC surface and CLI are in `app`)."""
import os as _os

# keccak is py-evm's hottest function: pysha3 (safe-pysha3) is ~6x faster than
# the pycryptodome backend eth-hash picks by default. The choice is made on
# first use, so it must be set before anything hashes.
try:
    import sha3 as _sha3  # noqa: F401

    _os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")
except ImportError:  # pragma: no cover - the dependency is declared
    pass

# RLP through rusty-rlp (pyrlp's own optional backend), checked to give pyrlp's results.
from vm import rlp_backend as _rlp_backend  # noqa: E402

_rlp_backend.install()
