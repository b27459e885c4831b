"""RLP through the Rust backend that `rlp` itself offers (`rlp[rust-backend]`, rusty-rlp),
with pure-Python results.

Encoding and decoding RLP is a large share of sealing a block (trie nodes,
accounts, headers, receipts). rusty-rlp encodes byte for byte what pyrlp does,
but its decoder accepts some malformed input that pyrlp refuses. So decoding is
checked: a decoded value is only taken when it encodes back to exactly the input
(then the input is that value's canonical encoding, which pyrlp decodes to the
same value); anything else — malformed, non-canonical, non-`bytes` input, the
lenient or per-item modes — goes to pyrlp's own decoder, as does anything the
Rust encoder refuses. Results, errors included, are pyrlp's
(tests/test_rlp_backend.py compares both on random and mutated input).
`AIVM_RUST_RLP=0` keeps pure pyrlp.
"""
from __future__ import annotations

import importlib.util
import os
import sys

import rlp.codec

_installed = False


def _pure_codec():
    """pyrlp's codec module as it is without rusty-rlp: a second copy of rlp/codec.py."""
    saved = sys.modules.get("rusty_rlp")
    sys.modules["rusty_rlp"] = None  # makes `import rusty_rlp` fail inside the copy
    try:
        spec = importlib.util.spec_from_file_location("vm._rlp_pure_codec", rlp.codec.__file__)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            sys.modules.pop("rusty_rlp", None)
        else:
            sys.modules["rusty_rlp"] = saved
    return module


def install() -> bool:
    """Route `rlp.codec`'s raw encode/decode through the checked Rust backend; False if unavailable."""
    global _installed
    if _installed:
        return True
    if os.environ.get("AIVM_RUST_RLP", "1") == "0":
        return False
    try:
        import rusty_rlp
    except ImportError:
        return False
    pure = _pure_codec()
    pure_encode, pure_decode = pure.encode_raw, pure.decode_raw
    fast_encode, fast_decode = rusty_rlp.encode_raw, rusty_rlp.decode_raw
    Failed = (TypeError, rusty_rlp.EncodingError, rusty_rlp.DecodingError)

    def encode_raw(item):
        try:
            return fast_encode(item)
        except Failed:
            return pure_encode(item)  # pyrlp's result or pyrlp's error (e.g. a bytearray inside a list)

    def decode_raw(item, strict, preserve_per_item_rlp):
        if strict and not preserve_per_item_rlp and type(item) is bytes:
            try:
                value, _ = fast_decode(item, True, False)
            except Failed:
                pass
            else:
                try:
                    if fast_encode(value) == item:
                        return value, []
                except Failed:
                    pass
        return pure_decode(item, strict, preserve_per_item_rlp)

    rlp.codec.encode_raw = encode_raw
    rlp.codec.decode_raw = decode_raw
    import trie.hexary  # imports encode_raw by name

    trie.hexary.encode_raw = encode_raw
    # pure-Python fallbacks for tests
    install.pure = pure  # type: ignore[attr-defined]
    _installed = True
    return True
