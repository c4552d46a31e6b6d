"""Retry policy arithmetic: how long to wait before an attempt, and whether an error deserves one."""

from __future__ import annotations

import random

from tenantflow.engine.definition import RetryPolicy
from tenantflow.engine.errors import NodeError

NO_RETRY = RetryPolicy()


def retry_delay(policy: RetryPolicy, retry_number: int) -> float:
    """Seconds to wait before retry ``retry_number`` (1-based), capped by ``maxDelay``, with jitter."""
    base = float(policy.initial_delay_ms)
    delay: float
    if policy.backoff == "exponential":
        delay = base * 2 ** (retry_number - 1)
    elif policy.backoff == "linear":
        delay = base * retry_number
    elif policy.backoff == "fibonacci":
        a, b = 1, 1
        for _ in range(retry_number - 1):
            a, b = b, a + b
        delay = base * a
    else:
        delay = base
    delay = min(delay, policy.max_delay_ms)
    if policy.jitter:
        delay *= 1 + random.uniform(-policy.jitter, policy.jitter)
    return max(delay, 0.0) / 1000


def is_retryable(policy: RetryPolicy, error: NodeError) -> bool:
    if error.retryable is not None:
        return error.retryable
    if policy.retryable_errors is None and policy.retryable_status_codes is None:
        return True
    if policy.retryable_errors is not None and error.code in policy.retryable_errors:
        return True
    return (
        policy.retryable_status_codes is not None
        and error.status_code is not None
        and error.status_code in policy.retryable_status_codes
    )
