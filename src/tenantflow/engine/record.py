"""What an execution leaves behind: per-node state, metrics, logs, and the overall outcome.

The shapes follow MetaBuilder's ExecutionRecord (reference §2.1) with the eight metrics filled in for real.
``to_dict`` is the JSON contract the CLI prints and the store will persist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, Literal

from tenantflow.engine.sdk import Items

ExecutionStatus = Literal["running", "success", "error", "timeout", "aborted"]
NodeStatus = Literal["success", "error", "disabled", "aborted"]


utc_now: Callable[[], datetime] = partial(datetime.now, UTC)
"""The current time, timezone-aware in UTC (a partial, not a function: twice a node run, no Python frame)."""


_UTC_MILLIS = "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ"


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 to the millisecond, UTC written ``Z``. A UTC moment (every one the engine and the stores
    make) is formatted here: ``datetime.isoformat`` runs C's printf twice, for the time and the offset, at
    twice the cost, and a stored run formats about twenty."""
    if moment is None:
        return None
    if moment.tzinfo is UTC:
        return _UTC_MILLIS % (
            moment.year,
            moment.month,
            moment.day,
            moment.hour,
            moment.minute,
            moment.second,
            moment.microsecond // 1000,
        )
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def millis(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds() * 1000, 3)


@dataclass(slots=True)
class NodeState:
    """The latest run of one node, plus how many runs it had (loops run nodes more than once)."""

    status: NodeStatus
    output: list[Items]
    runs: int = 1
    attempts: int = 1
    error: dict[str, Any] | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "runs": self.runs,
            "output": self.output,
            "error": self.error,
            "attempts": self.attempts,
            "startTime": iso(self.start_time),
            "endTime": iso(self.end_time),
            "duration": millis(self.start_time, self.end_time),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NodeState:
        """Rebuild a finished node from a record or a checkpoint (what ``resume`` accepts)."""
        return cls(
            status=data.get("status", "success"),
            output=[list(items or []) for items in data.get("output", [])],
            runs=int(data.get("runs", 1)),
            attempts=int(data.get("attempts", 1)),
            error=data.get("error"),
        )


@dataclass(slots=True)
class Metrics:
    nodes_executed: int = 0
    success_nodes: int = 0
    failed_nodes: int = 0
    retried_nodes: int = 0
    total_retries: int = 0
    peak_memory: int = 0
    data_processed: int = 0
    api_calls_made: int = 0

    def to_dict(self) -> dict[str, int]:
        return {
            "nodesExecuted": self.nodes_executed,
            "successNodes": self.success_nodes,
            "failedNodes": self.failed_nodes,
            "retriedNodes": self.retried_nodes,
            "totalRetries": self.total_retries,
            "peakMemory": self.peak_memory,
            "dataProcessed": self.data_processed,
            "apiCallsMade": self.api_calls_made,
        }


@dataclass
class LogEntry:
    timestamp: datetime
    level: str
    message: str
    node: str | None = None
    data: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "timestamp": iso(self.timestamp),
            "level": self.level,
            "message": self.message,
        }
        if self.node is not None:
            entry["node"] = self.node
        if self.data:
            entry["data"] = self.data
        return entry


@dataclass
class ExecutionRecord:
    id: str
    workflow_id: str | None
    status: ExecutionStatus
    start_time: datetime
    end_time: datetime | None = None
    state: dict[str, NodeState] = field(default_factory=dict)
    metrics: Metrics = field(default_factory=Metrics)
    logs: list[LogEntry] = field(default_factory=list)
    error: dict[str, Any] | None = None

    @property
    def duration_ms(self) -> float | None:
        return millis(self.start_time, self.end_time)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "workflowId": self.workflow_id,
            "status": self.status,
            "startTime": iso(self.start_time),
            "endTime": iso(self.end_time),
            "duration": self.duration_ms,
            "state": {name: state.to_dict() for name, state in self.state.items()},
            "metrics": self.metrics.to_dict(),
            "logs": [entry.to_dict() for entry in self.logs],
            "error": self.error,
        }
