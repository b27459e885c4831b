"""`copy(**changes)` for py-evm's block header and account records without rebuilding them.

`rlp.Serializable.copy` deep-copies every unchanged field, merges arguments to
keywords and back, and runs the class's `__init__` with all of them: ≈29 µs for
a Prague header, and a one-transaction block copies its header four or five
times (the template, the timestamp, each receipt's gas and bloom, the roots) and
its accounts several times (balance, nonce, storage root). The fields are
immutable (ints, bytes, tuples) and these classes' `__init__` only stores them,
so a copy is the same field values with the changed ones replaced — and none of
the caches the original carries (its rlp encoding, its hash, its Python hash).

Only for the exact classes listed here (their `__init__` was read: fields stored,
nothing derived) and only for keyword changes that name fields; anything else is
`Serializable.copy` itself. tests/test_fast_copy.py compares both field by field,
by encoding and by hash. `AIVM_FAST_COPY=0` leaves py-evm's copy in place.
"""
from __future__ import annotations

import os

from rlp.sedes.serializable import BaseSerializable, make_immutable

_ORIGINAL = BaseSerializable.copy


def _classes() -> list[type]:
    from eth.rlp.accounts import Account
    from eth.vm.forks.prague.blocks import PragueBlockHeader

    return [PragueBlockHeader, Account]


def _make_copy(cls: type):
    meta = cls._meta
    attrs = meta.field_attrs
    attr_of = dict(zip(meta.field_names, attrs))
    new = object.__new__

    def copy(self, *args, **kwargs):
        if args or type(self) is not cls:
            return _ORIGINAL(self, *args, **kwargs)
        own = self.__dict__
        fields = {attr: own[attr] for attr in attrs}  # field values only: no cached rlp or hash
        for name, value in kwargs.items():
            attr = attr_of.get(name)
            if attr is None or value is None:  # not a field, or a default __init__ fills in
                return _ORIGINAL(self, *args, **kwargs)  # (a header's timestamp=None raises)
            fields[attr] = make_immutable(value)
        obj = new(cls)
        obj.__dict__.update(fields)
        return obj

    copy.fast_copy_of = cls
    return copy


def install() -> None:
    if os.environ.get("AIVM_FAST_COPY", "1") == "0":
        return
    for cls in _classes():
        if getattr(cls.__dict__.get("copy"), "fast_copy_of", None) is not cls:
            cls.copy = _make_copy(cls)


def uninstall() -> None:
    """Tests: py-evm's copy back."""
    for cls in _classes():
        if getattr(cls.__dict__.get("copy"), "fast_copy_of", None) is cls:
            del cls.copy
