"""MemoryKV keeps its key order lazily (vm/store/kv.py): every read and every ordered scan
equals a sorted map's, across puts, deletes, batches, re-added keys and reverse scans."""
import random

from sortedcontainers import SortedDict

from vm.store.kv import MemoryKV


def _scan(model: SortedDict, prefix, start=b"", stop=None, reverse=False):
    lo = prefix + start
    keys = [k for k in model if k >= lo and k.startswith(prefix) and (stop is None or k < prefix + stop)]
    return [(k, model[k]) for k in (reversed(keys) if reverse else keys)]


def test_reads_and_scans_equal_a_sorted_map():
    rng = random.Random(5)
    kv, model = MemoryKV(), SortedDict()
    alphabet = [b"a", b"ab", b"b", b"\xff", b"\xff\xff", b"aivm/x", b""]

    def key():
        return rng.choice(alphabet) + bytes(rng.randrange(3) for _ in range(rng.randrange(3)))

    for step in range(4000):
        op = rng.random()
        if op < 0.35:
            k, v = key(), bytes([rng.randrange(256)])
            kv.put(k, v)
            model[k] = v
        elif op < 0.55:
            k = key()
            kv.delete(k)
            model.pop(k, None)
        elif op < 0.75:
            batch = {key(): rng.choice([None, b"v%d" % step]) for _ in range(rng.randrange(1, 6))}
            kv.write_batch(batch)
            for k, v in batch.items():
                if v is None:
                    model.pop(k, None)
                else:
                    model[k] = v
        else:
            prefix = rng.choice([b"", b"a", b"ab", b"\xff", b"aivm/"])
            start = rng.choice([b"", b"\x00", b"\x01", b"b"])
            stop = rng.choice([None, b"\x01", b"\x02", b"z"])
            reverse = rng.random() < 0.5
            assert list(kv.items(prefix, start, stop, reverse)) == _scan(model, prefix, start, stop, reverse)
        k = key()
        assert kv.get(k) == model.get(k)
    assert list(kv.items(b"")) == list(model.items())
