"""Bad input on both backends: every refusal is a 4xx with a code and a path, never a 500, and nothing is
half-written (tenant A's workflow and version counts are the same after as before). Plus request ids, and
a 500 that tells nothing of its cause."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from tenantflow.services import workflows as workflow_service
from tenantflow.store.identity import Level
from tests.api.conftest import MAX_BODY_BYTES, NO_BODY, World, expect_error, unique, workflow_body

pytestmark = pytest.mark.anyio

JSON = {"content-type": "application/json"}
WF = "/api/v1/{a}/workflows"


def _raw(body: dict[str, Any], old: str, new: str) -> bytes:
    """A workflow body's JSON text with one literal replaced: numbers ``json.dumps`` would not write."""
    text = json.dumps(body)
    assert old in text
    return text.replace(old, new, 1).encode()


def _nested(depth: int) -> bytes:
    return _raw(
        workflow_body(metadata={}), '"metadata": {}', f'"metadata": {{"x": {"[" * depth}{"]" * depth}}}'
    )


def _with_first_node(**fields: Any) -> dict[str, Any]:
    body = workflow_body()
    body["nodes"][0].update(fields)
    return body


@dataclass(frozen=True, slots=True)
class Bad:
    """One bad request: ``url`` may name ``{a}`` (tenant A) and ``{wid}`` (a fresh workflow of A's)."""

    id: str
    method: str
    url: str
    status: int
    code: str
    path: str
    json: Any = NO_BODY
    content: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)


def _nested_lists(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def unreadable(id: str, content: bytes) -> Bad:
    """A JSON-typed POST /workflows whose body cannot be read as JSON."""
    return Bad(id, "POST", WF, 400, "MALFORMED_JSON", "$", content=content, headers=JSON)


def not_json(id: str, headers: Mapping[str, str], content: bytes) -> Bad:
    """A POST /workflows whose body is not declared as JSON."""
    return Bad(id, "POST", WF, 415, "UNSUPPORTED_MEDIA_TYPE", "$", content=content, headers=headers)


CASES = (
    # malformed and unreadable JSON
    unreadable("truncated-json", b'{"name": "x",'),
    unreadable("not-json", b"hello"),
    unreadable("nested-too-deep", _nested(100_000)),
    unreadable("integer-of-5000-digits", _raw(workflow_body(), "[0, 0]", f"[1{'0' * 5000}, 0]")),
    # wrong types and unknown fields
    Bad("nodes-not-a-list", "POST", WF, 422, "INVALID_REQUEST", "$.nodes", json=workflow_body(nodes="x")),
    Bad(
        "node-not-an-object", "POST", WF, 422, "INVALID_REQUEST", "$.nodes[0]", json=workflow_body(nodes=[1])
    ),
    Bad("name-a-number", "POST", WF, 422, "INVALID_REQUEST", "$.name", json=workflow_body(name=5)),
    Bad(
        "unknown-category", "POST", WF, 422, "INVALID_REQUEST", "$.category", json=workflow_body(category="x")
    ),
    Bad("unknown-field", "POST", WF, 422, "INVALID_REQUEST", "$.bogus", json=workflow_body(bogus=1)),
    Bad(
        "patch-active-not-a-boolean",
        "PATCH",
        WF + "/{wid}",
        422,
        "INVALID_REQUEST",
        "$.active",
        json={"active": "maybe"},
    ),
    Bad(
        "unknown-field-in-a-bulk-item",
        "POST",
        WF + "/bulk",
        422,
        "INVALID_REQUEST",
        "$.items[0].bogus",
        json={"operation": "createMany", "items": [workflow_body(bogus=1)]},
    ),
    Bad(
        "unknown-bulk-operation",
        "POST",
        WF + "/bulk",
        422,
        "INVALID_REQUEST",
        "$.operation",
        json={"operation": "dropAll"},
    ),
    # Numbers JSON has not and runaway nesting: stored, they would be rows nobody can read back
    Bad(
        "infinite-number-in-a-node",
        "POST",
        WF,
        422,
        "INVALID_VALUE",
        "$.nodes[0].position[0]",
        content=json.dumps(_with_first_node(position=[1e400, 0])).encode(),
        headers=JSON,
    ),
    Bad(
        "nesting-too-deep",
        "POST",
        WF,
        422,
        "INVALID_VALUE",
        "$.metadata.x" + "[0]" * 62,
        json=workflow_body(metadata={"x": _nested_lists(100)}),
    ),
    # NUL characters (PostgreSQL refuses them in text; both backends answer alike)
    Bad("nul-in-name", "POST", WF, 422, "INVALID_VALUE", "$.name", json=workflow_body(name="a\x00b")),
    Bad(
        "nul-in-description",
        "POST",
        WF,
        422,
        "INVALID_VALUE",
        "$.description",
        json=workflow_body(description="\x00"),
    ),
    Bad(
        "nul-in-a-node-name",
        "POST",
        WF,
        422,
        "INVALID_VALUE",
        "$.nodes[0].name",
        json=_with_first_node(name="St\x00art"),
    ),
    Bad(
        "nul-in-a-key",
        "POST",
        WF,
        422,
        "INVALID_VALUE",
        "$.metadata",
        json=workflow_body(metadata={"k\x00": 1}),
    ),
    Bad(
        "nul-in-a-patch",
        "PATCH",
        WF + "/{wid}",
        422,
        "INVALID_VALUE",
        "$.description",
        json={"description": "\x00"},
    ),
    Bad("nul-in-a-filter", "GET", WF, 400, "INVALID_FILTER", "query.name", params={"name": "a\x00b"}),
    Bad("nul-in-a-workflow-id", "GET", WF + "/a%00b", 400, "INVALID_REQUEST", "path.workflow_id"),
    Bad(
        "nul-in-an-execution-id",
        "GET",
        "/api/v1/{a}/executions/a%00b",
        400,
        "INVALID_REQUEST",
        "path.execution_id",
    ),
    Bad("nul-in-the-tenant", "GET", "/api/v1/a%00b/workflows", 403, "TENANT_MISMATCH", "path.tenant"),
    Bad(
        "nul-in-a-login-tenant",
        "POST",
        "/api/v1/auth/login",
        422,
        "INVALID_REQUEST",
        "$.tenant",
        json={"tenant": "a\x00b", "email": "someone@example.com", "password": "whatever"},
    ),
    # sizes, pages and huge numbers
    Bad("page-of-1000", "GET", WF, 400, "INVALID_REQUEST", "query.limit", params={"limit": 1000}),
    Bad(
        "execution-page-of-1000",
        "GET",
        "/api/v1/{a}/executions",
        400,
        "INVALID_REQUEST",
        "query.limit",
        params={"limit": 1000},
    ),
    Bad("huge-offset", "GET", WF, 400, "INVALID_REQUEST", "query.offset", params={"offset": 10**30}),
    Bad(
        "huge-version-in-the-path",
        "GET",
        WF + "/{wid}/versions/" + "9" * 30,
        400,
        "INVALID_REQUEST",
        "path.number",
    ),
    Bad(
        "huge-before",
        "GET",
        WF + "/{wid}/versions",
        400,
        "INVALID_REQUEST",
        "query.before",
        params={"before": 10**30},
    ),
    Bad(
        "huge-etag",
        "PATCH",
        WF + "/{wid}",
        400,
        "INVALID_REQUEST",
        "header.If-Match",
        json={"description": "x"},
        headers={"If-Match": f'"{"9" * 30}"'},
    ),
    Bad(
        "huge-expected-version",
        "PATCH",
        WF + "/{wid}",
        409,
        "VERSION_CONFLICT",
        "$.version",
        json={"description": "x", "expectedVersion": 10**30},
    ),
    Bad(
        "overflowing-lock-timeout",
        "POST",
        WF + "/{wid}/lock",
        422,
        "INVALID_REQUEST",
        "$.timeout",
        content=b'{"timeout": 1e400}',
        headers=JSON,
    ),
    Bad(
        "huge-type-version",
        "POST",
        WF,
        422,
        "WORKFLOW_INVALID",
        "$.nodes[0].typeVersion",
        json=_with_first_node(typeVersion=10**40),
    ),
    Bad(
        "body-too-large",
        "POST",
        WF,
        413,
        "PAYLOAD_TOO_LARGE",
        "$",
        content=b" " * (MAX_BODY_BYTES + 1),
        headers=JSON,
    ),
    # content types
    not_json("text-plain", {"content-type": "text/plain"}, json.dumps(workflow_body()).encode()),
    not_json("form-encoded", {"content-type": "application/x-www-form-urlencoded"}, b"name=x&category=y"),
    not_json("no-content-type", {}, json.dumps(workflow_body()).encode()),
    # cursors
    Bad(
        "garbage-cursor",
        "GET",
        "/api/v1/{a}/executions",
        400,
        "INVALID_CURSOR",
        "query.cursor",
        params={"cursor": "x"},
    ),
)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_bad_input_is_a_4xx_with_a_path_and_writes_nothing(world: World, case: Bad) -> None:
    created = await world.create()
    before = await world.counts()
    response = await world.send(
        case.method,
        case.url.format(a=world.a, wid=created["id"]),
        who=world.admin,
        json=case.json,
        content=case.content,
        params=case.params,
        headers=case.headers,
    )
    expect_error(response, case.status, case.code, path=case.path)
    assert await world.counts() == before
    assert (await world.read(created["id"]))["version"] == 1


async def test_a_body_too_large_without_a_content_length_is_cut_off_while_streaming(world: World) -> None:
    chunk = b" " * (64 * 1024)
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(MAX_BODY_BYTES // len(chunk) + 8):
            sent += len(chunk)
            yield chunk

    before = await world.counts()
    response = await world.send("POST", world.url(), who=world.admin, content=chunks(), headers=JSON)
    expect_error(response, 413, "PAYLOAD_TOO_LARGE", path="$")
    assert MAX_BODY_BYTES < sent < MAX_BODY_BYTES + 8 * len(chunk)  # refused before the end of the stream
    assert await world.counts() == before


async def _execute_three(world: World, tenant: str) -> None:
    admin = world.member(tenant, Level.ADMIN)
    made = await world.send("POST", world.url(tenant=tenant), who=admin, json=workflow_body())
    assert made.status_code == 201, made.text
    for _ in range(3):
        ran = await world.send(
            "POST", world.url(f"/{made.json()['id']}/execute", tenant=tenant), who=admin, json={}
        )
        assert ran.status_code == 200, ran.text


async def _first_cursor(world: World, tenant: str, **params: Any) -> str:
    url = f"/api/v1/{tenant}/executions"
    page = await world.send("GET", url, who=world.member(tenant, Level.ADMIN), params={"limit": 1, **params})
    assert page.status_code == 200 and page.json()["hasMore"] is True, page.text
    cursor: str = page.json()["nextCursor"]
    return cursor


async def test_forged_cursors_are_refused(world: World) -> None:
    await _execute_three(world, world.a)
    await _execute_three(world, world.b)
    mine = await _first_cursor(world, world.a)
    middle = len(mine) // 2
    tampered = mine[:middle] + ("A" if mine[middle] != "A" else "B") + mine[middle + 1 :]
    for cursor, params in (
        (tampered, {}),
        (await _first_cursor(world, world.b), {}),  # another tenant's, genuinely signed
        (mine, {"status": "error"}),  # another filter's
        (mine + "=", {}),
    ):
        url = f"/api/v1/{world.a}/executions"
        response = await world.send(
            "GET", url, who=world.admin, params={"limit": 1, "cursor": cursor, **params}
        )
        expect_error(response, 400, "INVALID_CURSOR")
    second = await world.send(
        "GET", f"/api/v1/{world.a}/executions", who=world.admin, params={"limit": 1, "cursor": mine}
    )
    assert second.status_code == 200 and len(second.json()["items"]) == 1, second.text


async def test_request_ids_are_echoed_or_made(world: World) -> None:
    given = unique("req")
    echoed = await world.send("GET", world.url(), who=world.admin, headers={"X-Request-Id": given})
    assert echoed.status_code == 200 and echoed.headers["x-request-id"] == given
    refused = await world.send(
        "GET", world.url("/nope-nope"), who=world.admin, headers={"X-Request-Id": given}
    )
    assert expect_error(refused, 404, "WORKFLOW_NOT_FOUND")["requestId"] == given

    made = [
        (await world.send("GET", "/healthz", who=None, headers=headers)).headers["x-request-id"]
        for headers in ({}, {}, {"X-Request-Id": "has spaces"}, {"X-Request-Id": "x" * 65})
    ]
    assert all(re.fullmatch(r"[0-9a-f]{32}", value) for value in made), made
    assert len(set(made)) == len(made)


async def test_an_unexpected_error_is_a_500_that_tells_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret-sql: SELECT * FROM workflows")

    monkeypatch.setattr(workflow_service, "listing", broken)
    response = await world.send("GET", world.url(), who=world.admin)
    assert response.status_code == 500
    error = response.json()["error"]
    assert set(response.json()) == {"error"}
    assert set(error) == {"code", "number", "message", "requestId"}
    assert error["code"] == "INTERNAL_ERROR" and error["requestId"] == response.headers["x-request-id"]
    for leak in ("secret-sql", "SELECT", "Traceback", "RuntimeError", ".py"):
        assert leak not in response.text
    logged = [record for record in caplog.records if record.name == "tenantflow.api"]
    assert (
        error["requestId"] in logged[-1].getMessage() and logged[-1].exc_info is not None
    )  # the operator's side
