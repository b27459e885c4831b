"""The states of a distributed computation, as the guide's synergy_getDistributedAIStatus shows them, and of
the tasks its rounds hand to validators.

A `str` enum: a status compares equal to its wire word ("Completed"), so records
stored before the enum existed, and code that still compares words, keep working.
"""
import enum


class ComputationStatus(str, enum.Enum):
    PENDING = "Pending"  # initiated, no round started yet
    RUNNING = "Running"  # rounds in progress
    COMPLETED = "Completed"  # a quorum agreed: result and certificate set
    FAILED = "Failed"  # no quorum, a timeout or a refusal: `reason` says which

    @property
    def finished(self) -> bool:
        return self in (ComputationStatus.COMPLETED, ComputationStatus.FAILED)

    def __str__(self) -> str:  # the wire word, also in f-strings
        return self.value


UNFINISHED = (ComputationStatus.PENDING, ComputationStatus.RUNNING)
FINISHED = (ComputationStatus.COMPLETED, ComputationStatus.FAILED)


class TaskStatus(str, enum.Enum):
    """One validator's task in a round (a `str` enum, like ComputationStatus: the dashboard shows the word)."""

    ASSIGNED = "Assigned"  # handed out, no answer yet
    SUBMITTED = "Submitted"  # answered with a signed vote
    TIMED_OUT = "TimedOut"  # no answer before its deadline
    CLOSED = "Closed"  # the round was decided without it

    def __str__(self) -> str:
        return self.value
