"""py-evm's block header and account records copied, encoded and decoded without rebuilding them.

`rlp.Serializable.copy` deep-copies every unchanged field, merges arguments to
keywords and back, and runs the class's `__init__` with all of them: ≈29 µs for
a Prague header, and a one-transaction block copies its header four or five
times (the template, the timestamp, each receipt's gas and bloom, the roots) and
its accounts several times (balance, nonce, storage root). The fields are
immutable (ints, bytes, tuples) and these classes' `__init__` only stores them,
so a copy is the same field values with the changed ones replaced — and none of
the caches the original carries (its rlp encoding, its hash, its Python hash).

A receipt is encoded once for the receipts root, a header once for its hash, the same way. An account is also encoded about six times a transaction (every balance, nonce
or storage-root change) and decoded about four times a block (py-evm's account
cache starts empty each block), each through rlp's generic sedes walk. Its four
fields have fixed rules (two minimal big-endian integers, a 32-byte-or-empty
root, a 32-byte hash): values that meet them are converted directly; anything
else goes to rlp's own serializer, which then raises its usual error.

Only for the exact classes listed here (their `__init__` was read: fields stored,
nothing derived), only for keyword changes that name fields; anything else is
rlp's own. tests/test_fast_records.py compares both field by field, by encoding
and by hash, and on malformed input. `AIVM_FAST_RECORDS=0` leaves rlp's in place.
"""
from __future__ import annotations

import os

from rlp.sedes.serializable import BaseSerializable, make_immutable

_ORIGINAL = BaseSerializable.copy
ENABLED = os.environ.get("AIVM_FAST_RECORDS", "1") != "0"


def _classes() -> list[type]:
    from eth.rlp.accounts import Account
    from eth.vm.forks.prague.blocks import PragueBlockHeader

    return [PragueBlockHeader, Account]


def _receipt_class() -> type:
    from eth.rlp.receipts import Receipt

    return Receipt


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

    copy.fast_of = cls
    return copy


def _account_codec(Account: type):
    """Account.serialize / deserialize: nonce and balance big_endian_int, storage_root
    trie_root (32 bytes or empty), code_hash hash32 (32 bytes)."""
    generic_serialize = Account.serialize.__func__
    generic_deserialize = Account.deserialize.__func__
    nonce_a, balance_a, root_a, code_a = Account._meta.field_attrs
    new = object.__new__

    def serialize(cls, obj):
        if cls is Account and type(obj) is Account:
            d = obj.__dict__
            nonce, balance, root, code = d[nonce_a], d[balance_a], d[root_a], d[code_a]
            if (type(nonce) is int and type(balance) is int and nonce >= 0 and balance >= 0
                    and type(root) is bytes and (len(root) == 32 or not root)
                    and type(code) is bytes and len(code) == 32):
                return [nonce.to_bytes((nonce.bit_length() + 7) // 8, "big"),
                        balance.to_bytes((balance.bit_length() + 7) // 8, "big"), root, code]
        return generic_serialize(cls, obj)

    def deserialize(cls, serial, **extra):
        if cls is Account and not extra and type(serial) is list and len(serial) == 4:
            nonce, balance, root, code = serial
            if (type(nonce) is bytes and type(balance) is bytes and nonce[:1] != b"\x00"
                    and balance[:1] != b"\x00" and type(root) is bytes and (len(root) == 32 or not root)
                    and type(code) is bytes and len(code) == 32):
                obj = new(Account)
                obj.__dict__.update({nonce_a: int.from_bytes(nonce, "big"),
                                     balance_a: int.from_bytes(balance, "big"), root_a: root, code_a: code})
                return obj
        return generic_deserialize(cls, serial, **extra)

    serialize.fast_of = deserialize.fast_of = Account
    return classmethod(serialize), classmethod(deserialize)


def _receipt_serializer(Receipt: type):
    """Receipt.serialize (the receipts root encodes every receipt): state_root binary, gas_used
    big_endian_int, bloom uint256 (256 bytes), logs of Log = address (20 bytes or empty),
    topics uint32 (32 bytes each), data binary."""
    from eth.rlp.logs import Log

    generic = Receipt.serialize.__func__
    root_a, gas_a, bloom_a, logs_a = Receipt._meta.field_attrs
    addr_a, topics_a, data_a = Log._meta.field_attrs
    limit = 1 << 2048

    def serialize(cls, obj):
        if cls is Receipt and type(obj) is Receipt:
            d = obj.__dict__
            root, gas, bloom, logs = d[root_a], d[gas_a], d[bloom_a], d[logs_a]
            if (type(root) is bytes and type(gas) is int and gas >= 0 and type(bloom) is int
                    and 0 <= bloom < limit and type(logs) is tuple):
                out_logs = []
                for log in logs:
                    if type(log) is not Log:
                        break
                    ld = log.__dict__
                    addr, topics, data = ld[addr_a], ld[topics_a], ld[data_a]
                    if not (type(addr) is bytes and (len(addr) == 20 or not addr) and type(topics) is tuple
                            and type(data) is bytes
                            and all(type(t) is int and 0 <= t < 1 << 256 for t in topics)):
                        break
                    out_logs.append([addr, [t.to_bytes(32, "big") for t in topics], data])
                else:
                    return [root, gas.to_bytes((gas.bit_length() + 7) // 8, "big"), bloom.to_bytes(256, "big"),
                            out_logs]
        return generic(cls, obj)

    serialize.fast_of = Receipt
    return classmethod(serialize)


def _flat_serializer(cls: type):
    """`cls.serialize` for a record whose every field is an rlp Binary or BigEndianInt (a block
    header: its hash encodes it): each value checked against its field's rules and converted
    directly; anything else is rlp's generic serializer (and its error). None if `cls` has
    another kind of field."""
    from rlp.sedes import BigEndianInt, Binary

    specs = []
    for (name, sedes), attr in zip(cls._meta.fields, cls._meta.field_attrs):
        if type(sedes) is BigEndianInt:
            specs.append((attr, True, sedes.length, None, None))
        elif type(sedes) is Binary:
            specs.append((attr, False, sedes.min_length, sedes.max_length, sedes.allow_empty))
        else:
            return None
    generic = cls.serialize.__func__

    def serialize(cls_, obj):
        if cls_ is cls and type(obj) is cls:
            d = obj.__dict__
            out = []
            for attr, is_int, a, b, allow_empty in specs:
                v = d[attr]
                if is_int:
                    if type(v) is not int or v < 0:
                        break
                    if a is None:
                        out.append(v.to_bytes((v.bit_length() + 7) // 8, "big"))
                    elif v < 1 << (8 * a):
                        out.append(v.to_bytes(a, "big"))
                    else:
                        break
                else:
                    if type(v) is not bytes:
                        break
                    n = len(v)
                    if not (a <= n <= b or (allow_empty and n == 0)):
                        break
                    out.append(v)
            else:
                return out
        return generic(cls_, obj)

    serialize.fast_of = cls
    return classmethod(serialize)


def install() -> None:
    if not ENABLED:
        return
    if installed():
        return
    uninstall()
    header_cls, account_cls = _classes()
    header_cls.copy = _make_copy(header_cls)
    header_serialize = _flat_serializer(header_cls)
    if header_serialize is not None:
        header_cls.serialize = header_serialize
    account_cls.copy = _make_copy(account_cls)
    account_cls.serialize, account_cls.deserialize = _account_codec(account_cls)
    receipt_cls = _receipt_class()
    receipt_cls.serialize = _receipt_serializer(receipt_cls)


def _ours(cls: type, name: str) -> bool:
    attr = cls.__dict__.get(name)
    return getattr(getattr(attr, "__func__", attr), "fast_of", None) is cls


def installed() -> bool:
    header_cls, account_cls = _classes()
    return (_ours(header_cls, "copy") and all(_ours(account_cls, n) for n in ("copy", "serialize", "deserialize"))
            and _ours(_receipt_class(), "serialize"))


def uninstall() -> None:
    """Tests: rlp's own methods back."""
    for cls in _classes() + [_receipt_class()]:
        for name in ("copy", "serialize", "deserialize"):
            if _ours(cls, name):
                delattr(cls, name)
