"""The budget an execution and every sub-execution it starts spend together.

A sub-workflow used to start with budgets of its own: a fresh node-execution limit and a fresh timeout at
every level, so a workflow that runs itself three wide multiplied both by three at each of ten levels
(2.5 KB of workflow overran a 10 s timeout by a minute and took 1.4 GB). The top execution creates one
:class:`SharedBudget`; each sub-execution is handed the same object, so every node run anywhere in the
tree counts against the top execution's ``maxNodeExecutions`` and every execution in it stops at the top
execution's deadline. The deadline is also checked before each node starts, so it holds even while CPU-bound
nodes keep the event loop from firing the timeout's timer.

Item data is shared the same way: every execution of the tree adds what its node outputs hold
(:attr:`SharedBudget.held_bytes`, measured by each execution's data meter) and none may take the tree past
the top execution's ``maxMemoryMb`` (:attr:`SharedBudget.max_held_bytes`), so nesting cannot hold depth
times the limit. A sub-execution's data is released when it ends: only the items it returns stay alive, and
those are counted again as the calling node's output.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.record import ExecutionStatus

MAX_SUBWORKFLOW_DEPTH = 10
"""Sub-executions inside sub-executions: deeper is refused (a workflow that calls itself stops here)."""


@dataclass(frozen=True, slots=True)
class Overrun:
    """Why the budget refuses another node run: the execution's status, code and message."""

    status: ExecutionStatus
    code: ErrorCode
    message: str


@dataclass(slots=True)
class SharedBudget:
    """Node runs and wall time of one execution tree (see the module docstring)."""

    max_node_executions: int
    timeout_s: float | None = None
    max_held_bytes: int = 1 << 62  # item data the whole tree may hold: the top execution's maxMemoryMb
    node_executions: int = 0
    held_bytes: int = 0  # item data the tree's executions hold now
    deadline: float | None = field(init=False)

    def __post_init__(self) -> None:
        self.deadline = None if not self.timeout_s else time.monotonic() + self.timeout_s

    def remaining_s(self) -> float | None:
        """Seconds left before the deadline (never negative); None without a timeout."""
        return None if self.deadline is None else max(self.deadline - time.monotonic(), 0.0)

    def overrun(self) -> Overrun | None:
        """Why nothing more may run (the deadline passed, or every node run is spent), else None."""
        if self.deadline is not None and time.monotonic() >= self.deadline:
            message = f"execution exceeded its timeout of {self.timeout_s:g} s"
            return Overrun("timeout", ErrorCode.EXECUTION_TIMEOUT, message)
        if self.node_executions >= self.max_node_executions:
            message = (
                f"more than {self.max_node_executions} node executions (sub-workflows included);"
                " stopping a runaway loop"
            )
            return Overrun("error", ErrorCode.EXECUTION_LIMIT, message)
        return None

    def release(self, held: int) -> None:
        """An execution of the tree ended, and with it the ``held`` bytes of item data its runs kept."""
        self.held_bytes -= held

    def spend(self) -> Overrun | None:
        """Count one node run, unless the budget refuses it (then why). Runs before every node: the usual
        case is checked here rather than through :meth:`overrun`."""
        if self.node_executions < self.max_node_executions and (
            self.deadline is None or time.monotonic() < self.deadline
        ):
            self.node_executions += 1
            return None
        return self.overrun()
