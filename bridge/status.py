"""The states of a cross-chain transfer in the hub's records, as synergy_getCrossChainTransferStatus shows them.

A `str` enum (as ai/status.py's ComputationStatus): a state compares equal to its
wire word ("attested"), so records stored before the enum existed, and the
relayer's JSON, keep working. A relayer's delivery report uses the two end words
(`DELIVERED`, `FAILED`) as its outcome.
"""
import enum


class TransferStatus(str, enum.Enum):
    INITIATED = "initiated"  # seen on the source chain; attestations are being collected
    ATTESTED = "attested"  # the guardians' quorum signed it: a relayer may deliver it
    DELIVERED = "delivered"  # the destination bridge says it delivered the message
    FAILED = "failed"  # a relayer reported a failed delivery (it is offered again later)

    def __str__(self) -> str:  # the wire word, also in f-strings
        return self.value


DELIVERABLE = (TransferStatus.ATTESTED, TransferStatus.FAILED)  # what relayers are offered
