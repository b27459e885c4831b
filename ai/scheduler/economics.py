"""Rewards, slashing and synergy scores: how a round's outcome moves money and reputation.

Scores are an exponential moving average of per-task samples: agreeing with
the quorum scores 100 less a latency penalty, a timeout 20, a losing result 0.
Agreeing validators share the round's fee equally plus a bonus for speed;
those who signed a losing result lose a tenth of their stake; those who accept
tasks and never answer lose score each time and, from the second task in a row,
a twentieth of their stake. Slashed stake is burned: the scheduler removes it
from the staking pool account on chain (nobody profits from a slash, so no
validator gains by provoking one).
"""
from __future__ import annotations

from ai.scheduler.validators import Validator

SCORE_WEIGHT = 0.15  # how fast scores move
LATENCY_PENALTY_PER_S = 2.0  # score points per second of response time, at most 20
SLASH_FRACTION = 10  # a losing result costs stake // SLASH_FRACTION
SPEED_BONUS_PCT = 20  # share of a round's fee paid as a bonus to the fastest half
UNANSWERED_LIMIT = 2  # tasks in a row left unanswered before stake is slashed too
UNANSWERED_SLASH_FRACTION = 20  # ... stake // UNANSWERED_SLASH_FRACTION each time from then on


def _move(v: Validator, sample: float) -> None:
    v.score = round((1 - SCORE_WEIGHT) * v.score + SCORE_WEIGHT * sample, 4)


def agreed(v: Validator, latency_s: float) -> None:
    v.tasks_completed += 1
    v.agreed += 1
    v.responses += 1
    v.response_ms_total += latency_s * 1000
    v.missed_in_row = 0
    _move(v, 100 - min(20.0, LATENCY_PENALTY_PER_S * latency_s))


def timed_out(v: Validator) -> int:
    """An accepted task never answered: score down; from the UNANSWERED_LIMIT-th in a row, stake too.

    Returns the wei slashed (0 for a first miss)."""
    v.tasks_failed += 1
    v.timeouts += 1
    v.missed_in_row += 1
    _move(v, 20)
    if v.missed_in_row < UNANSWERED_LIMIT:
        return 0
    penalty = v.stake // UNANSWERED_SLASH_FRACTION
    v.stake -= penalty
    v.slashed += penalty
    v.slashed_unanswered += penalty
    return penalty


def slash(v: Validator) -> int:
    """A losing result: score to the floor of this sample, a tenth of the stake gone."""
    v.tasks_failed += 1
    v.disagreed += 1
    _move(v, 0)
    penalty = v.stake // SLASH_FRACTION
    v.stake -= penalty
    v.slashed += penalty
    v.slashed_wrong += penalty
    return penalty


def share_fee(fee: int, winners: list[tuple[Validator, float]]) -> dict[bytes, int]:
    """Split `fee` among (validator, latency) winners: equal base plus a speed bonus.

    The bonus (SPEED_BONUS_PCT of the fee) goes to the faster half in equal parts;
    every unit of the fee is paid out (rounding remainders go to the fastest).
    """
    if not winners or fee <= 0:
        return {}
    ranked = sorted(winners, key=lambda w: w[1])
    bonus_pool = fee * SPEED_BONUS_PCT // 100
    base = (fee - bonus_pool) // len(ranked)
    fast = ranked[: max(1, len(ranked) // 2)]
    bonus = bonus_pool // len(fast)
    paid = {v.address: base for v, _ in ranked}
    for v, _ in fast:
        paid[v.address] += bonus
    paid[ranked[0][0].address] += fee - sum(paid.values())
    for v, _ in ranked:
        v.rewards += paid[v.address]
    return paid
