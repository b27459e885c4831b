"""One error tree for the PQC layer, so callers catch `PQCError` and show `.reason`.

Every failure says *why* (which field, which algorithm, which byte), because a
validator operator debugging a rejected certificate has nothing else to go on.
"""
from __future__ import annotations


class PQCError(Exception):
    """Base class: a PQC operation refused its input. `reason` is user-facing."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FormatError(PQCError):
    """Bytes that do not decode as the format they claim (truncated, unknown id, trailing data)."""


class VerificationError(PQCError):
    """Well-formed input that does not verify (bad signature, wrong level, missing algorithm)."""


class SealError(PQCError):
    """A sealed message could not be created or opened (tampered, wrong recipient, no KEM at level)."""


class KeystoreError(PQCError):
    """A keystore file is unreadable, corrupt, or the password is wrong."""
