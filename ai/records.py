"""Durable records of the distributed-AI layer in the node's KV store.

Validators, computations (with their certificates), rewards and counters are
written as JSON under `aivm/ai/`, each change in one atomic batch straight to
the KV store (thread-safe in LevelDB), so they survive restarts and `kill -9`.
"""
from __future__ import annotations

from typing import Any, Iterator

import orjson

from vm.store.kv import KV

P_VALIDATOR = b"aivm/ai/val/"
P_COMPUTATION = b"aivm/ai/comp/"
P_ANSWER = b"aivm/ai/ans/"  # (model, request hash) -> computation id (the cache and replay index)
P_CALLBACK = b"aivm/ai/cb/"  # computation id -> pending callback to a contract (ai_request)
K_COUNTERS = b"aivm/ai/counters"


class AIRecords:
    def __init__(self, kv: KV) -> None:
        self.kv = kv

    def _get(self, key: bytes) -> Any:
        raw = self.kv.get(key)
        return None if raw is None else orjson.loads(raw)

    def write(self, **groups: dict) -> None:
        """One atomic batch: validators={addr: rec}, computations={id: rec}, answers={key: id}, counters=dict."""
        batch: dict[bytes, bytes] = {}
        for addr, rec in groups.get("validators", {}).items():
            batch[P_VALIDATOR + addr] = orjson.dumps(rec)
        for cid, rec in groups.get("computations", {}).items():
            batch[P_COMPUTATION + cid.encode()] = orjson.dumps(rec)
        for key, cid in groups.get("answers", {}).items():
            batch[P_ANSWER + key] = cid.encode()
        if "counters" in groups:
            batch[K_COUNTERS] = orjson.dumps(groups["counters"])
        if batch:
            self.kv.write_batch(batch)

    def validators(self) -> Iterator[tuple[bytes, dict]]:
        for k, v in self.kv.items(P_VALIDATOR):
            yield k[len(P_VALIDATOR):], orjson.loads(v)

    def computation(self, cid: str) -> dict | None:
        return self._get(P_COMPUTATION + cid.encode())

    def computations(self) -> Iterator[tuple[str, dict]]:
        for k, v in self.kv.items(P_COMPUTATION):
            yield k[len(P_COMPUTATION):].decode(), orjson.loads(v)

    def answer(self, key: bytes) -> str | None:
        raw = self.kv.get(P_ANSWER + key)
        return None if raw is None else raw.decode()

    def set_callback(self, cid: str, callback: "dict | None") -> None:
        self.kv.write_batch({P_CALLBACK + cid.encode(): None if callback is None else orjson.dumps(callback)})

    def callback(self, cid: str) -> dict | None:
        return self._get(P_CALLBACK + cid.encode())

    def callbacks(self) -> Iterator[tuple[str, dict]]:
        for k, v in self.kv.items(P_CALLBACK):
            yield k[len(P_CALLBACK):].decode(), orjson.loads(v)

    def counters(self) -> dict:
        return self._get(K_COUNTERS) or {}
