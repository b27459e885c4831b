"""vm/fast_records.py: a header's or an account's `copy(**changes)` equals py-evm's
`Serializable.copy` field by field, by encoding and by hash, and carries none of the
original's caches; an account's rlp encoding and decoding equal rlp's own, errors included;
other calls are rlp's own."""
import random

import pytest
import rlp
import rlp.codec
from eth.rlp.accounts import Account
from eth.vm.forks.prague.blocks import PragueBlockHeader
from rlp.sedes.serializable import BaseSerializable

import vm.chain  # noqa: F401  (installs the fast copy, as the node runs)
from vm import fast_records

ORIGINAL = BaseSerializable.copy


def _same(fast, slow):
    assert type(fast) is type(slow)
    assert fast.as_dict() == slow.as_dict()
    assert rlp.encode(fast) == rlp.encode(slow)
    assert hash(fast) == hash(slow) and fast == slow
    if isinstance(slow, PragueBlockHeader):
        assert fast.hash == slow.hash


def _header(rng):
    return PragueBlockHeader(
        difficulty=0, block_number=rng.randrange(1, 10**6), gas_limit=30_000_000,
        timestamp=1_700_000_000 + rng.randrange(10**6), coinbase=bytes(rng.randrange(256) for _ in range(20)),
        parent_hash=bytes(rng.randrange(256) for _ in range(32)), base_fee_per_gas=rng.randrange(10**10),
        gas_used=rng.randrange(10**6), bloom=rng.getrandbits(2048),
    )


def _changes(rng, names, values):
    picked = rng.sample(names, rng.randrange(0, 4))
    return {n: values(n) for n in picked}


def test_installed_for_the_listed_classes():
    assert fast_records.installed()
    assert PragueBlockHeader.copy.fast_of is PragueBlockHeader and Account.copy.fast_of is Account


def test_header_copies_equal_py_evms():
    rng = random.Random(1)
    ints = {"block_number", "gas_limit", "gas_used", "timestamp", "base_fee_per_gas", "bloom",
            "blob_gas_used", "excess_blob_gas", "difficulty"}

    def value(name):
        if name in ints:
            return rng.randrange(2**64)
        if name == "coinbase":
            return bytes(rng.randrange(256) for _ in range(20))
        if name in ("extra_data",):
            return bytes(rng.randrange(256) for _ in range(rng.randrange(33)))
        if name == "nonce":
            return bytes(8)
        return bytes(rng.randrange(256) for _ in range(32))

    names = list(PragueBlockHeader._meta.field_names)
    for _ in range(300):
        h = _header(rng)
        if rng.random() < 0.5:  # the original's caches filled first: the copy must not keep them
            h.hash, rlp.encode(h), hash(h)
        changes = _changes(rng, names, value)
        fast, slow = h.copy(**changes), ORIGINAL(h, **changes)
        _same(fast, slow)
        if changes:
            assert fast.hash != h.hash or all(getattr(h, n) == v for n, v in changes.items())
        fast.hash  # the copy's own caches leave the original alone
        assert h.hash == ORIGINAL(h).hash


def test_account_copies_equal_py_evms():
    rng = random.Random(2)

    def value(name):
        if name in ("nonce", "balance"):
            return rng.randrange(2**80)
        return bytes(rng.randrange(256) for _ in range(32))

    names = list(Account._meta.field_names)
    for _ in range(300):
        a = Account(rng.randrange(100), rng.randrange(2**70))
        if rng.random() < 0.5:
            rlp.encode(a), hash(a)
        changes = _changes(rng, names, value)
        _same(a.copy(**changes), ORIGINAL(a, **changes))


def test_lists_become_tuples_and_other_calls_are_py_evms():
    a = Account(1, 2)
    assert a.copy(code_hash=b"\x01" * 32).code_hash == b"\x01" * 32
    assert a.copy(code_hash=[b"\x01", [b"\x02"]]).code_hash == ORIGINAL(a, code_hash=[b"\x01", [b"\x02"]]).code_hash
    assert a.copy(code_hash=[b"\x01", [b"\x02"]]).code_hash == (b"\x01", (b"\x02",))
    with pytest.raises(TypeError):
        a.copy(no_such_field=1)  # py-evm's error
    with pytest.raises(ValueError, match="timestamp"):
        _header(random.Random(3)).copy(timestamp=None)  # py-evm's __init__ refuses it
    positional = a.copy(5)  # positional arguments: py-evm's copy
    _same(positional, ORIGINAL(a, 5))

    class Sub(Account):
        pass

    s = Sub(1, 2)
    assert type(s.copy(balance=3)) is Sub and s.copy(balance=3).balance == 3


def test_uninstall_restores_rlps_own():
    fast_records.uninstall()
    try:
        assert "copy" not in PragueBlockHeader.__dict__ and "copy" not in Account.__dict__
        assert "serialize" not in Account.__dict__ and "deserialize" not in Account.__dict__
    finally:
        fast_records.install()
    assert fast_records.installed()


GENERIC_SERIALIZE = BaseSerializable.serialize.__func__
GENERIC_DESERIALIZE = BaseSerializable.deserialize.__func__


def _outcome(fn, *args):
    try:
        value = fn(*args)
    except Exception as exc:  # noqa: BLE001
        return ("error", type(exc))
    return ("ok", value.as_dict() if isinstance(value, Account) else value)


def test_account_rlp_equals_rlps_own():
    rng = random.Random(4)
    for _ in range(500):
        a = Account(
            rng.choice([0, 1, 127, 128, 255, 256, rng.getrandbits(64), rng.getrandbits(256)]),
            rng.choice([0, 1, rng.getrandbits(90), 2**256 - 1]),
            rng.choice([b"", bytes(rng.randrange(256) for _ in range(32))]),
            bytes(rng.randrange(256) for _ in range(32)),
        )
        assert Account.serialize(a) == GENERIC_SERIALIZE(Account, a)
        encoded = rlp.encode(a)
        assert encoded == rlp.encode(ORIGINAL(a), sedes=Account)  # (a fresh copy: nothing cached)
        fast, slow = rlp.decode(encoded, sedes=Account), GENERIC_DESERIALIZE(Account, rlp.decode(encoded))
        _same(fast, slow)
        assert fast == a and fast._cached_rlp == encoded  # rlp.decode still caches the input


def test_malformed_accounts_fail_as_rlps_own():
    good = [b"\x05", b"\x01\x00", b"\x11" * 32, b"\x22" * 32]
    bad = [
        [b"\x00\x05", *good[1:]],  # a non-minimal integer
        [good[0], b"\x00", *good[2:]],
        [*good[:2], b"\x11" * 31, good[3]],  # a root of the wrong length
        [*good[:3], b""],  # an empty code hash
        good[:3], good + [b""],  # the wrong number of fields
        [good[0], [b"\x01"], *good[2:]],  # a list where bytes belong
        [bytearray(b"\x05"), *good[1:]],
        (*good,),
    ]
    for serial in bad:
        assert _outcome(Account.deserialize, serial) == _outcome(GENERIC_DESERIALIZE, Account, serial), serial
        assert _outcome(Account.deserialize, serial)[0] == "error" or type(serial) is not list \
            or isinstance(serial[0], bytearray)
    fine = Account.deserialize(good)
    assert fine.as_dict() == GENERIC_DESERIALIZE(Account, good).as_dict()
    for kwargs in ({"nonce": -1}, {"balance": 2**256 + True}, {"storage_root": b"\x01" * 31},
                   {"code_hash": "0x" + "22" * 32}, {"nonce": True}, {"balance": 1.0}):
        odd = ORIGINAL(fine, **kwargs)
        assert _outcome(Account.serialize, odd) == _outcome(GENERIC_SERIALIZE, Account, odd), kwargs


def test_chain_roots_receipts_and_gas_equal_rlps_own_records():
    """test_warm_state's workload block for block, with and without the fast records."""
    import json
    import os
    import subprocess
    import sys

    from tests.test_warm_state import ROOT, WORKLOAD

    def run(flag):
        env = {**os.environ, "AIVM_FAST_RECORDS": flag, "PYTHONPATH": ROOT}
        out = subprocess.run([sys.executable, "-c", WORKLOAD], env=env, capture_output=True, text=True,
                             timeout=300, cwd=ROOT)
        assert out.returncode == 0, out.stderr[-3000:]
        return json.loads(out.stdout.strip().splitlines()[-1])

    fast, slow = run("1"), run("0")
    assert len(fast) == 13 and all(all(ok) for *_, ok in fast)
    assert fast == slow


def test_receipt_rlp_equals_rlps_own():
    from eth.rlp.logs import Log
    from eth.rlp.receipts import Receipt

    generic = BaseSerializable.serialize.__func__
    rng = random.Random(6)
    for _ in range(300):
        logs = [Log(rng.choice([bytes(rng.randrange(256) for _ in range(20)), b""]),
                    tuple(rng.choice([0, 1, rng.getrandbits(256)]) for _ in range(rng.randrange(5))),
                    bytes(rng.randrange(256) for _ in range(rng.randrange(70))))
                for _ in range(rng.randrange(4))]
        r = Receipt(rng.choice([b"", b"\x01", b"\x02" * 32]), rng.choice([0, 21_000, rng.getrandbits(64)]), logs,
                    bloom=rng.choice([None, 0, rng.getrandbits(2048)]))
        assert Receipt.serialize(r) == generic(Receipt, r)
        assert rlp.encode(r) == rlp.codec.encode_raw(generic(Receipt, r))
    # what rlp refuses, refused the same way
    good = Log(b"\x01" * 20, (1,), b"")
    for odd in (Receipt(b"", -1, []), Receipt(b"", 1, [], bloom=1 << 2048), Receipt("x", 1, []),
                Receipt(b"", 1, [Log(b"\x01" * 19, (), b"")]), Receipt(b"", 1, [Log(b"\x01" * 20, (-1,), b"")], 0),
                Receipt(b"", 1, [Log(b"\x01" * 20, (1 << 256,), b"")], 0), Receipt(b"", True, [good]),
                Receipt(b"", 1, [good], -1)):
        assert _outcome(Receipt.serialize, odd) == _outcome(generic, Receipt, odd)


def test_header_rlp_equals_rlps_own():
    generic = BaseSerializable.serialize.__func__
    assert "serialize" in PragueBlockHeader.__dict__  # the fast path is installed, not just rlp's
    rng = random.Random(7)
    for _ in range(300):
        h = _header(rng)
        h = ORIGINAL(h, extra_data=bytes(rng.randrange(256) for _ in range(rng.randrange(40))),
                     nonce=rng.choice([b"", bytes(8)]), coinbase=rng.choice([b"", b"\x05" * 20]),
                     withdrawals_root=rng.choice([b"", b"\x07" * 32]), excess_blob_gas=rng.getrandbits(70))
        assert PragueBlockHeader.serialize(h) == generic(PragueBlockHeader, h)
        assert rlp.encode(h) == rlp.codec.encode_raw(generic(PragueBlockHeader, h))
        assert h.hash == ORIGINAL(h).hash
    base = _header(rng)
    for change in ({"gas_used": -1}, {"bloom": 1 << 2048}, {"bloom": -5}, {"parent_hash": b"\x01" * 31},
                   {"parent_hash": b""}, {"requests_hash": b""},
                   {"coinbase": b"\x01" * 21}, {"nonce": b"\x00" * 7}, {"extra_data": "text"},
                   {"gas_limit": True}, {"timestamp": 1.5}, {"state_root": bytearray(32)}):
        odd = ORIGINAL(base, **change)
        assert _outcome(PragueBlockHeader.serialize, odd) == _outcome(generic, PragueBlockHeader, odd), change
