"""Rate limits and a pause for deliveries to Solana — attester-enforced policy, not on-chain code.

On EVM chains PQCBridge enforces per-lane, per-token rate limits and a pause in
its own bytecode. On Solana the bridge cannot deploy a program (none can be built
here), so the only check the chain runs is the SPL multisig: m of the n guardians
must sign the very mint transaction. The limits and the pause therefore live
where those signatures are made: each attester reads this policy file before it
signs a mint, and refuses (and tells the hub why) when

  * the policy is paused, or missing, or unreadable (fail closed);
  * the (source chain, token origin chain, token) route has no limit — as on the
    EVM bridge, a token with no limit cannot cross;
  * the amount would take that route past its limit in the current window
    (fixed windows of `window_seconds`, 3600 by default, as PQCBridge's WINDOW).

What this does and does not give, plainly: the policy binds as long as more than
n - m attesters enforce it (then fewer than m signatures exist for a refused mint).
It is each operator's own file, not a rule the chain checks; an attester that
ignores it is as bad as one that signs a forged message. Usage is counted per
digest, once, when an attester first signs a mint for it, and is saved with the
attester's state before the signature leaves.

The file (TOML; amounts are in the message's 18-decimal units, written as
strings because TOML integers stop at 2^63):

    paused = false
    window_seconds = 3600

    [[limit]]
    source_chain = 31001          # the lane's source chain id
    token_chain = 31337           # where the token comes from
    token = "native"              # or the token's 0x address / 32-byte word
    per_window = "1000000000000000000000"

    python -m bridge.solana.policy show  FILE
    python -m bridge.solana.policy pause FILE | resume FILE
"""
from __future__ import annotations

import os
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from interop.message import NATIVE_TOKEN, Message, word

FILE_NAME = "solana-policy.toml"
DEFAULT_WINDOW = 3600
_TOP = {"paused", "window_seconds", "limit"}
_LIMIT = {"source_chain", "token_chain", "token", "per_window"}


class PolicyError(ValueError):
    """The policy file is missing or malformed; the text names the key."""


def _token(value: str, where: str) -> bytes:
    if value == "native":
        return NATIVE_TOKEN
    try:
        raw = bytes.fromhex(value.removeprefix("0x"))
    except (ValueError, AttributeError):
        raise PolicyError(f"{where}.token: {value!r} is not 'native', an address or a 32-byte word") from None
    if len(raw) == 20:
        return word(raw)
    if len(raw) == 32:
        return raw
    raise PolicyError(f"{where}.token: {value!r} is not 'native', an address or a 32-byte word")


def _amount(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise PolicyError(f"{where}.per_window: an amount (integer or decimal string), not {value!r}")
    try:
        n = int(value)
    except ValueError:
        raise PolicyError(f"{where}.per_window: {value!r} is not a whole number") from None
    if n <= 0:
        raise PolicyError(f"{where}.per_window: must be positive (leave the route out to close it)")
    return n


def _chain(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise PolicyError(f"{where}: a positive chain id, not {value!r}")
    return value


@dataclass
class Policy:
    paused: bool = False
    window_seconds: int = DEFAULT_WINDOW
    limits: dict[tuple[int, int, bytes], int] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: dict) -> "Policy":
        unknown = set(data) - _TOP
        if unknown:
            raise PolicyError(f"unknown key {sorted(unknown)[0]!r} (known: {', '.join(sorted(_TOP))})")
        paused = data.get("paused", False)
        if not isinstance(paused, bool):
            raise PolicyError("paused: true or false")
        window = data.get("window_seconds", DEFAULT_WINDOW)
        if isinstance(window, bool) or not isinstance(window, int) or window <= 0:
            raise PolicyError("window_seconds: a positive number of seconds")
        limits = {}
        entries = data.get("limit", [])
        if not isinstance(entries, list):
            raise PolicyError("limit: an array of tables ([[limit]])")
        for i, entry in enumerate(entries):
            where = f"limit[{i}]"
            if not isinstance(entry, dict):
                raise PolicyError(f"{where}: a table")
            missing, extra = _LIMIT - set(entry), set(entry) - _LIMIT
            if missing or extra:
                raise PolicyError(f"{where}: " + (f"missing {sorted(missing)[0]!r}" if missing
                                                  else f"unknown key {sorted(extra)[0]!r}"))
            key = (_chain(entry["source_chain"], f"{where}.source_chain"),
                   _chain(entry["token_chain"], f"{where}.token_chain"), _token(entry["token"], where))
            if key in limits:
                raise PolicyError(f"{where}: a second limit for the same route")
            limits[key] = _amount(entry["per_window"], where)
        return cls(paused, window, limits)

    @classmethod
    def load(cls, path: "str | Path") -> "Policy":
        try:
            data = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise PolicyError(f"no policy file at {path}") from None
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise PolicyError(f"{path}: {exc}") from None
        try:
            return cls.parse(data)
        except PolicyError as exc:
            raise PolicyError(f"{path}: {exc}") from None

    def dump(self) -> str:
        lines = ["# attester policy for mints on Solana (bridge/solana/policy.py)",
                 f"paused = {'true' if self.paused else 'false'}", f"window_seconds = {self.window_seconds}", ""]
        for (src, origin, token), amount in sorted(self.limits.items()):
            name = "native" if token == NATIVE_TOKEN else "0x" + token.hex()
            lines += ["[[limit]]", f"source_chain = {src}", f"token_chain = {origin}", f'token = "{name}"',
                      f'per_window = "{amount}"', ""]
        return "\n".join(lines)

    def save(self, path: "str | Path") -> None:
        """Atomically (a temporary file renamed over the old one): an attester never reads half a file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".policy-")
        with os.fdopen(fd, "w") as f:
            f.write(self.dump())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    # -- the check an attester runs before it signs a mint --
    def refusal(self, msg: Message, windows: dict, now: float, first_signature: bool) -> str | None:
        """Why this mint must not be signed, or None. On None for a first signature, the
        amount is added to `windows` (the caller saves it before the signature leaves)."""
        if self.paused:
            return "deliveries to Solana are paused (attester policy)"
        key = (msg.src_chain, msg.token_chain, msg.token)
        limit = self.limits.get(key)
        if limit is None:
            return (f"token is not enabled from chain {msg.src_chain} to Solana "
                    "(attester policy: no rate limit for this lane and token)")
        if not first_signature:  # a re-signed mint of a digest already counted
            return None
        name = f"{key[0]}:{key[1]}:{key[2].hex()}"
        w = windows.get(name)
        if w is None or now >= w["start"] + self.window_seconds:
            w = {"start": now, "used": 0}
        if w["used"] + msg.amount > limit:
            return "rate limit reached for this lane and token (attester policy on Solana)"
        windows[name] = {"start": w["start"], "used": w["used"] + msg.amount}
        return None


class PolicyFile:
    """The policy as a file an operator edits while the attester runs: re-read when it changes."""

    def __init__(self, path: "str | Path") -> None:
        self.path = Path(path)
        self._stamp = None
        self._policy: Policy | None = None
        self._error: str | None = None

    def current(self) -> Policy:
        """The policy now in the file; PolicyError (fail closed) if it is missing or malformed."""
        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            raise PolicyError(f"no policy file at {self.path}: mints to Solana are not signed "
                              "(a token with no limit cannot cross)") from None
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                self._policy, self._error = Policy.load(self.path), None
            except PolicyError as exc:
                self._policy, self._error = None, str(exc)
        if self._policy is None:
            raise PolicyError(self._error)
        return self._policy


def main(argv: list[str] | None = None) -> int:
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] not in ("show", "pause", "resume"):
        print(__doc__.split("\n\n")[-1].strip(), file=sys.stderr)
        return 2
    action, path = args
    try:
        policy = Policy.load(path)
    except PolicyError as exc:
        print(f"policy: {exc}", file=sys.stderr)
        return 1
    if action != "show":
        policy.paused = action == "pause"
        policy.save(path)
    print(policy.dump(), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
