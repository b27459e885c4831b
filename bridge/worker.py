"""The polling loop the attester and the relayer share, and their process entry point.

Both are stateless-per-pass workers: `step()` does one pass over the chains,
`run()` repeats it every `poll` seconds until `stop_event` is set (`serve`: SIGTERM). A chain
error is logged and retried on the next pass, never fatal: a chain that is
down for a while only delays the bridge.
"""
from __future__ import annotations

import logging
import signal
import threading

from bridge.jsonrpc import ChainError


class PollingWorker:
    log = logging.getLogger("aivm.bridge")

    def __init__(self, poll: float) -> None:
        self.poll = poll
        self.stop_event = threading.Event()

    def step(self) -> int:
        raise NotImplementedError

    def run(self) -> None:
        """Until `stop_event` is set; errors are logged and retried, never fatal."""
        while not self.stop_event.is_set():
            try:
                self.step()
            except ChainError as exc:
                self.log.warning("%s", exc)
            except Exception:
                self.log.exception("step failed")
            self.stop_event.wait(self.poll)


class Stopped(BaseException):
    """Raised by the SIGTERM handler into whatever the pass is waiting on (a BaseException: `run`'s
    error handling must not swallow it)."""


def _stop(worker: PollingWorker) -> None:
    worker.stop_event.set()
    raise Stopped


def serve(worker: PollingWorker, banner: str) -> int:
    """A worker as a process: logs to stderr; SIGTERM or Ctrl-C ends it at once, even inside a chain call.

    Not "after the current pass": a pass can wait 30 s on a node that accepted the connection and is shutting
    down. Stopping mid-pass is safe for the same reason kill -9 is (tests/bridge/test_lanes.py): a pass keeps no
    state of its own, and what it sent is found again on the chains by the next process.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, lambda *_: _stop(worker))
    print(banner, flush=True)
    try:
        worker.run()
    except (KeyboardInterrupt, Stopped):
        pass
    return 0
