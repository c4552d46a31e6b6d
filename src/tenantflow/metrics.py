"""Prometheus metrics: requests by route and status, latencies, executions by status, node durations.

The HTTP layer records requests; the execution service records executions and node runs (a module of
its own so that services need not import the web layer).

Labels use route templates (``/api/v1/{tenant}/workflows/{workflow_id}``), never raw paths, so a scan of
random URLs cannot blow up the series count. With ``serve --workers N`` each process exposes its own
figures unless ``PROMETHEUS_MULTIPROC_DIR`` is set (prometheus-client's multiprocess mode).
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

REQUESTS = Counter("tenantflow_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "tenantflow_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EXECUTIONS = Counter("tenantflow_executions_total", "Finished executions", ["status"])
NODE_DURATION = Histogram(
    "tenantflow_node_duration_seconds",
    "Node run durations",
    ["node_type", "status"],
    buckets=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120),
)
CONTENT_TYPE = CONTENT_TYPE_LATEST


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(method, route).observe(seconds)


def observe_execution(status: str) -> None:
    EXECUTIONS.labels(status).inc()


def observe_node(node_type: str, status: str, seconds: float) -> None:
    NODE_DURATION.labels(node_type, status).observe(seconds)


def exposition() -> bytes:
    return generate_latest()
