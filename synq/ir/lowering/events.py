"""Events: topics (indexed fields, hashed when not a word) and the ABI-encoded data."""
from __future__ import annotations

from synq.ir.lowering.base import LoweringBase
from synq.semantics import types as T


class EventLowering(LoweringBase):
    def emit(self, ev, values: list) -> list:
        names = [self.tmp("ev") for _ in values]
        topics: list = [int.from_bytes(ev.topic0, "big")]
        data_t, data_v = [], []
        for (pname, t, indexed), nm in zip(ev.params, names):
            if indexed:
                if t.is_word:
                    topics.append(nm)
                elif T.is_bytes_like(t):
                    topics.append(["sha3", ["add", nm, 32], ["mload", nm]])
                else:
                    enc = self.encode([t], [nm])
                    b = self.tmp("b")
                    topics.append(["with", b, enc, ["sha3", ["add", b, 32], ["mload", b]]])
            else:
                data_t.append(t)
                data_v.append(nm)
        buf = self.tmp("buf")
        log = [f"log{len(topics)}", ["add", buf, 32], ["mload", buf], *topics]
        inner: list = ["with", buf, self.encode(data_t, data_v), log]
        for nm, v in reversed(list(zip(names, values))):
            inner = ["with", nm, v, inner]
        return inner

