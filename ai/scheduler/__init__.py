"""The distributed inference scheduler (see core.py for how a computation runs)."""
from ai.scheduler.core import AIError, Computation, Scheduler, Task

__all__ = ["AIError", "Computation", "Scheduler", "Task"]
