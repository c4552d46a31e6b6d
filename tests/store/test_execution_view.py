"""ExecutionView.from_dict: a view that crossed processes as its ``execution.finished`` event reads back as
the view that was sent, so a caller waiting on another process's run needs no read of the store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tenantflow.engine.record import LogEntry, NodeState
from tenantflow.store.errors import InvalidRequestError
from tenantflow.store.executions import ExecutionView

START = datetime(2026, 12, 7, 1, 2, 3, 456000, tzinfo=UTC)


def _view(**changes: object) -> ExecutionView:
    values: dict[str, object] = {
        "id": "e1",
        "workflow_id": "w1",
        "workflow_version": 3,
        "status": "error",
        "trigger_kind": "webhook",
        "attempt": 2,
        "abort_requested": False,
        "created_by": "u1",
        "created_at": START - timedelta(milliseconds=5),
        "started_at": START,
        "finished_at": START + timedelta(milliseconds=12),
        "duration_ms": 12.0,
        "error": {"message": "boom", "code": "NODE_FAILED", "node": "Set"},
        "idempotency_key": "k-1",
        "input": {"triggerData": {"who": "ada"}, "startNode": "Webhook"},
        "metrics": {"nodesExecuted": 2, "failedNodes": 1},
        "state": {
            "Webhook": NodeState(
                "success",
                [[{"json": {"a": 1}}]],
                runs=1,
                attempts=1,
                start_time=START,
                end_time=START + timedelta(milliseconds=1),
            ),
            "Set": NodeState(
                "error",
                [],
                runs=2,
                attempts=3,
                error={"message": "boom"},
                start_time=START + timedelta(milliseconds=2),
                end_time=START + timedelta(milliseconds=11),
            ),
        },
        "logs": [
            LogEntry(START, "info", "started"),
            LogEntry(START + timedelta(milliseconds=3), "error", "failed", "Set", {"status": 500}),
        ],
    }
    values.update(changes)
    return ExecutionView(**values)  # type: ignore[arg-type]


def test_a_view_survives_its_event() -> None:
    view = _view()
    sent = json.loads(json.dumps(view.to_dict()))  # as the Redis bus carries it
    assert ExecutionView.from_dict(sent) == view


def test_a_view_that_never_started_survives_too() -> None:
    view = _view(status="aborted", started_at=None, finished_at=None, duration_ms=None, state={}, logs=[])
    assert ExecutionView.from_dict(json.loads(json.dumps(view.to_dict()))) == view


def test_a_time_that_is_not_one_is_refused_with_its_path() -> None:
    sent = _view().to_dict()
    sent["logs"][1]["timestamp"] = "yesterday"
    with pytest.raises(InvalidRequestError) as refused:
        ExecutionView.from_dict(sent)
    assert refused.value.path == "$.logs[1].timestamp"
