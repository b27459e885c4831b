"""Headless Debian chromium driven by Playwright (playwright-core from npm), for the dashboard tests.

`driver.mjs` runs in node and takes one JSON command a line; this wrapper
sends them and waits for each answer with a timeout. `make test` installs
chromium (apt-get) and playwright-core (npm, into this folder); when either is
missing the test fails with the command that installs it, it never skips.
"""
from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CHROMIUM = os.environ.get("AIVM_CHROMIUM", "/usr/bin/chromium")


class BrowserError(AssertionError):
    pass


def check_installed() -> None:
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"{CHROMIUM} (apt-get install -y chromium)")
    if not (HERE / "node_modules" / "playwright-core").is_dir():
        if shutil.which("npm"):
            subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent"], cwd=HERE, check=True, timeout=300)
        else:
            missing.append("npm")
    if not shutil.which("node"):
        missing.append("node")
    if missing:
        raise BrowserError("the browser tests need " + ", ".join(missing) + ": `make test` installs them")


class Browser:
    def __init__(self, workdir: Path) -> None:
        check_installed()
        workdir.mkdir(parents=True, exist_ok=True)
        profile = workdir / "chromium-profile"
        self._log = open(workdir / "browser-driver.log", "wb")
        self.proc = subprocess.Popen(["node", str(HERE / "driver.mjs"), CHROMIUM, str(profile)], cwd=HERE,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
                                     start_new_session=True, text=True, bufsize=1)
        self._replies: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self._replies.put(line)
        self._replies.put(None)

    def call(self, cmd: str, timeout: float = 60, **args: Any) -> Any:
        self.proc.stdin.write(json.dumps({"cmd": cmd, **args}) + "\n")
        self.proc.stdin.flush()
        try:
            line = self._replies.get(timeout=timeout)
        except queue.Empty:
            raise BrowserError(f"browser did not answer {cmd} within {timeout} s") from None
        if line is None:
            raise BrowserError(f"browser driver exited (see browser-driver.log) during {cmd}")
        reply = json.loads(line)
        if not reply["ok"]:
            raise BrowserError(f"{cmd} {args}: {reply['error']}")
        return reply.get("value")

    # conveniences
    def goto(self, url: str) -> str:
        return self.call("goto", url=url)

    def wait(self, selector: str, timeout: float = 15) -> None:
        self.call("wait", timeout=timeout + 10, selector=selector, ms=timeout * 1000)

    def wait_for(self, js: str, arg: Any = None, timeout: float = 15) -> Any:
        return self.call("waitFn", timeout=timeout + 10, js=js, arg=arg, ms=timeout * 1000)

    def eval(self, js: str, arg: Any = None) -> Any:
        return self.call("eval", js=js, arg=arg)

    def text(self, selector: str) -> str:
        return self.call("text", selector=selector)

    def screenshot(self, path: Path) -> Path:
        self.call("screenshot", path=str(path))
        return path

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self.call("close", timeout=15)
        except Exception:
            pass
        finally:
            if self.proc.poll() is None:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)  # the driver's own session: node and its chromium
                except ProcessLookupError:
                    pass
            self.proc.wait(timeout=10)
            self._log.close()
