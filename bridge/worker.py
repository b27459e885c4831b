"""The polling loop the attester and the relayer share, and their process entry point.

Both are stateless-per-pass workers: `step()` does one pass over the chains,
`run()` repeats it every `poll` seconds until `stop_event` is set. A chain
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


def serve(worker: PollingWorker, banner: str) -> int:
    """A worker as a process: logs to stderr, SIGTERM or Ctrl-C ends the loop after the current pass."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, lambda *_: worker.stop_event.set())
    print(banner, flush=True)
    try:
        worker.run()
    except KeyboardInterrupt:
        pass
    return 0
