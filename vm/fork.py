"""The AIVM fork: Prague with the AIVM precompile registry merged in.

Like py-evm's own forks, each class overrides one thing. Everything else in
the project reaches py-evm through `vm/chain.py`.
"""
from __future__ import annotations

from typing import Any

from eth.vm.forks.prague import PragueVM
from eth.vm.forks.prague.computation import PragueComputation
from eth.vm.forks.prague.state import PragueState

import precompiles


class AIVMComputation(PragueComputation):
    _precompiles = {**PragueComputation._precompiles, **precompiles.py_evm_table()}


class AIVMState(PragueState):
    computation_class = AIVMComputation
    services: Any = None  # node services for precompiles (set per chain by configure)


class AIVM(PragueVM):
    fork = "aivm-prague"
    _state_class = AIVMState


def vm_with_services(services: Any) -> type[AIVM]:
    """An AIVM class whose precompiles can reach `services` (AI scheduler, bridges)."""
    if services is None:
        return AIVM
    state_class = AIVMState.configure(__name__="AIVMStateWithServices", services=services)
    return AIVM.configure(__name__="AIVMWithServices", _state_class=state_class)
