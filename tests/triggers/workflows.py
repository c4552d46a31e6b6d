"""Scheduled workflow documents the store's tick tests and the scheduler's tests share."""

from __future__ import annotations

import uuid
from typing import Any

EVERY_SECOND = "*/1 * * * * *"


def scheduled(interval: dict[str, Any], *, active: bool = True, type_version: float = 1.2) -> dict[str, Any]:
    """A Schedule Trigger (node id ``clock``) with one interval, then a No Op."""
    return {
        "name": f"scheduled-{uuid.uuid4().hex[:8]}",
        "nodes": [
            {
                "id": "clock",
                "name": "Clock",
                "type": "n8n-nodes-base.scheduleTrigger",
                "typeVersion": type_version,
                "position": [0, 0],
                "parameters": {"rule": {"interval": [interval]}},
            },
            {
                "id": "done",
                "name": "Done",
                "type": "n8n-nodes-base.noOp",
                "typeVersion": 1,
                "position": [200, 0],
                "parameters": {},
            },
        ],
        "connections": {"Clock": {"main": [[{"node": "Done", "type": "main", "index": 0}]]}},
        "active": active,
    }


def cron(expression: str = EVERY_SECOND, **options: Any) -> dict[str, Any]:
    """A workflow scheduled by a cron expression (every second unless told)."""
    return scheduled({"field": "cronExpression", "expression": expression}, **options)
