"""Shared set-up for the bridge tests: two bridge endpoints on in-process AIVM chains."""
from __future__ import annotations

from pathlib import Path

import pytest

import synq
from interop.message import NATIVE_TOKEN, Kind, Message, word
from bridge.testing import DevGuardians
from pqc.levels import SecurityLevel

ROOT = Path(__file__).resolve().parent.parent.parent
NATIVE = "0x" + NATIVE_TOKEN[12:].hex()


@pytest.fixture(scope="session")
def bridge_out():
    return synq.compile_source((ROOT / "contracts/PQCBridge.synq").read_text(), "PQCBridge.synq", optimize=int(__import__("os").environ.get("SYNQ_O", "1")))


@pytest.fixture(scope="session")
def wrapped_out():
    return synq.compile_source((ROOT / "contracts/WrappedToken.synq").read_text(), "WrappedToken.synq")


@pytest.fixture(scope="session")
def guardians():
    return DevGuardians(4)


def transfer_message(dst_bridge: bytes, *, src_chain=777, src_bridge=b"\x11" * 20, dst_chain=31337,
                     sequence=1, recipient=b"\x22" * 20, token_chain=777, token=b"\x33" * 20,
                     amount=10**18, level=SecurityLevel.ENHANCED, kind=Kind.TRANSFER, payload=b""):
    return Message(kind, level, src_chain, word(src_bridge), dst_chain, word(dst_bridge), sequence,
                   word(b"\x44" * 20), word(recipient), token_chain, word(token) if token else b"\0" * 32,
                   amount, payload)
