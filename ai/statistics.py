"""Per-cluster statistics of the validator network (synergy_getClusterAIStats).

Read on an AI thread from the scheduler's live records: clusters come from
`ai.scheduler.validators.clusters`, computations count for a cluster when any of
its members took part.
"""
from __future__ import annotations

import statistics
import time
from typing import Any

from ai.status import ComputationStatus
from vm.addresses import to_syn

ACTIVE_UPTIME = 0.95  # a member counts as active above this uptime


def cluster_stats(scheduler: Any, cluster_id: int, cross_chain_transfers: int) -> dict:
    """The guide's cluster figures for cluster `cluster_id` (numbered from 1); AIError for an unknown one."""
    from ai.scheduler import AIError
    from ai.scheduler.validators import clusters

    groups = clusters(list(scheduler.validators.values()))
    if not 1 <= cluster_id <= len(groups):
        raise AIError(f"unknown cluster {cluster_id}: there are {len(groups)} clusters (numbered from 1)")
    members = groups[cluster_id - 1]
    addrs = {v.address for v in members}
    comps = [c for c in scheduler.computations.values() if c.validators & addrs]
    finished = [c for c in comps if c.status in (ComputationStatus.COMPLETED, ComputationStatus.FAILED)]
    ok = [c for c in finished if c.status == ComputationStatus.COMPLETED]
    times = [c.finished - c.created for c in ok if not c.cached]
    now = time.time()
    return {"cluster_id": cluster_id,
            "active_validators": sum(1 for v in members if v.uptime(now) > ACTIVE_UPTIME),
            "ai_computations_handled": len(comps),
            "average_consensus_time": f"{statistics.mean(times):.1f}" if times else "0.0",
            "cluster_synergy_score": round(statistics.mean(v.score for v in members), 1),
            "ai_success_rate": round(len(ok) / len(finished), 4) if finished else 0.0,
            "pqc_security_level": "Basic", "cross_chain_transfers": cross_chain_transfers,
            "security_incidents": sum(v.disagreed for v in members),
            "validators": [to_syn(v.address) for v in members]}
