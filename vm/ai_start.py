"""When the node's AI layer starts: at start-up if it has work, else on first use.

The AI layer (scheduler, model manifests, and with them torch) costs ≈200 MB of
memory before it does anything. A node started with `--validators 0` and no
validators on record has nobody to schedule work on, so it stays idle until
something needs it: a validator registering (or any other AI RPC method), an
AI request (`synergy_initiateDistributedAI`, the chat API), or a contract
calling an AI precompile. Whatever arrives first starts it; RPC requests wait
for it (bounded), a precompile reverts with a clear "starting" error (it runs
on the chain thread, which the start itself needs).

The `AIStarter` lives on `node.ai_starter` and, as a plain callable, in
`services.ai_start` (precompiles reach services only). Thread-safe: the
trigger may come from the chain thread, a reader thread or the event loop;
the start itself always runs on the event loop.
"""
from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Awaitable, Callable, Optional

IDLE_STATUS = "idle: the AI layer starts when a validator registers or the first AI request arrives"
START_WAIT = 120.0  # seconds an RPC request waits for the AI layer to come up (models load from the cache)


class AIStarter:
    def __init__(self, node: Any, start: Callable[[], Awaitable[None]], loop: asyncio.AbstractEventLoop) -> None:
        self.node = node
        self._start = start
        self._loop = loop
        self._lock = threading.Lock()
        self._triggered = False
        self.task: Optional[asyncio.Task] = None
        self.reason: Optional[str] = None  # what started it (for the log and the stats)

    @property
    def triggered(self) -> bool:
        return self._triggered

    def __call__(self, reason: str = "an AI precompile call") -> None:
        self.trigger(reason)

    def trigger(self, reason: str) -> None:
        """Start the AI layer if it is not starting yet (any thread, never blocks)."""
        with self._lock:
            if self._triggered:
                return
            self._triggered = True
            self.reason = reason
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._begin()
        else:
            self._loop.call_soon_threadsafe(self._begin)

    def _begin(self) -> None:
        import logging

        logging.getLogger("aivm.ai").info("starting the AI layer (first use: %s)", self.reason)
        self.task = self._loop.create_task(self._start())

    async def ensure(self, reason: str, timeout: float = START_WAIT) -> None:
        """Event loop: start the AI layer and wait (bounded) until it is installed or failed."""
        self.trigger(reason)
        deadline = time.monotonic() + timeout
        while getattr(self.node, "ai", None) is None and time.monotonic() < deadline:
            if self.task is not None and self.task.done():
                return  # failed: node.ai_status says why
            await asyncio.sleep(0.05)


def starter(node: Any) -> Optional[AIStarter]:
    return getattr(node, "ai_starter", None)


def trigger(node: Any, reason: str) -> None:
    """Start the node's AI layer if it waits for first use (no-op otherwise)."""
    s = starter(node)
    if s is not None and getattr(node, "ai", None) is None:
        s.trigger(reason)


async def ensure(node: Any, reason: str) -> None:
    """Wait (bounded) for the node's AI layer if it waits for first use (no-op otherwise)."""
    s = starter(node)
    if s is not None and getattr(node, "ai", None) is None:
        await s.ensure(reason)
