"""The guide's seven-parameter cross-chain message, sealed and opened."""
from __future__ import annotations

import pytest

from pqc import crosschain
from pqc.errors import PQCError, SealError
from pqc.levels import SecurityLevel

from pqc_helpers import flip

ARGS = ("ethereum", "polygon", "sYnSenderAddress", "sYnRecipientAddress",
        b"encrypted_transfer_data", "TokenTransfer")


@pytest.mark.parametrize("level", [SecurityLevel.ENHANCED, SecurityLevel.MILITARY],
                         ids=lambda lv: lv.title)
def test_round_trip(level, keysets):
    keys = keysets[level]
    sealed = crosschain.create(*ARGS, level.title, keys.kem_keys())
    msg = crosschain.open_message(sealed.encode(), keys, destination_chain="polygon")
    assert (msg.source_chain, msg.destination_chain, msg.sender, msg.recipient, msg.data,
            msg.message_type, msg.level) == (*ARGS, level)


def test_wrong_chain_and_level(keysets):
    keys = keysets[SecurityLevel.ENHANCED]
    sealed = crosschain.create(*ARGS, "Enhanced", keys.kem_keys())
    with pytest.raises(SealError, match="for polygon, not arbitrum"):
        crosschain.open_message(sealed, keys, destination_chain="arbitrum")
    with pytest.raises(SealError, match="recipient keys are level Enhanced, the message asks for Military"):
        crosschain.create(*ARGS, "Military", keys.kem_keys())
    with pytest.raises(SealError, match="1-255 bytes"):
        crosschain.create("", *ARGS[1:], "Enhanced", keys.kem_keys())


def test_tampering_fails(keysets):
    keys = keysets[SecurityLevel.ENHANCED]
    encoded = crosschain.create(*ARGS, "Enhanced", keys.kem_keys()).encode()
    for bit in range(0, 8 * len(encoded), 211):
        with pytest.raises(PQCError):
            crosschain.open_message(flip(encoded, bit), keys)
