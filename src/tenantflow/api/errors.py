"""The route boundary: failures become ``{"error": {code, number, message, path?, details?, requestId}}``.

Domain errors (store errors, validation reports) turn into HTTP statuses here and nowhere else, through one
table. Anything unexpected is a 500 that carries the request id, which the log line carries too; no
traceback, SQL or secret reaches a response.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tenantflow.engine.definition import extend
from tenantflow.engine.errors import ErrorCode, error_number
from tenantflow.store.errors import (
    AccessDeniedError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    StoreError,
    WorkflowValidationError,
)

log = logging.getLogger("tenantflow.api")

# Store error classes → status; the codes below override their class where the seed asks for another.
_CLASS_STATUS: tuple[tuple[type[StoreError], int], ...] = (
    (NotFoundError, 404),
    (AccessDeniedError, 403),
    (ConflictError, 409),
    (WorkflowValidationError, 422),
    (InvalidRequestError, 422),
)
_CODE_STATUS: dict[ErrorCode, int] = {
    ErrorCode.WORKFLOW_LOCKED: 423,
    ErrorCode.LOCK_ACQUISITION_FAILED: 423,
    ErrorCode.INVALID_PAGINATION: 400,
    ErrorCode.INVALID_CURSOR: 400,
    ErrorCode.INVALID_FILTER: 400,
    ErrorCode.INVALID_SORT: 400,
    ErrorCode.FIELD_NOT_SEARCHABLE: 400,
    ErrorCode.INVALID_SEARCH_QUERY: 400,
    ErrorCode.SECRET_KEY_UNAVAILABLE: 500,
    ErrorCode.TENANT_NOT_FOUND: 404,
}
_HTTP_CODES: dict[int, ErrorCode] = {
    404: ErrorCode.ROUTE_NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
}


class ApiError(Exception):
    """A refusal decided at the HTTP layer itself (authentication, level, tenant, rate limit, body)."""

    def __init__(
        self,
        status: int,
        code: ErrorCode,
        message: str,
        *,
        path: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.path = path
        self.details = details
        self.headers = headers


def request_id(request: Request) -> str | None:
    value = getattr(request.state, "request_id", None)
    return value if isinstance(value, str) else None


def error_body(
    request: Request,
    code: ErrorCode,
    message: str,
    *,
    path: str | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code.value, "number": error_number(code), "message": message}
    if path is not None:
        error["path"] = path
    if details:
        error["details"] = details
    error["requestId"] = request_id(request)
    return {"error": error}


def respond(request: Request, error: ApiError) -> JSONResponse:
    body = error_body(request, error.code, error.message, path=error.path, details=error.details)
    return JSONResponse(body, status_code=error.status, headers=error.headers)


def status_of(error: StoreError) -> int:
    if error.code in _CODE_STATUS:
        return _CODE_STATUS[error.code]
    for kind, status in _CLASS_STATUS:
        if isinstance(error, kind):
            return status
    return 400


def _is_json(request: Request) -> bool:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


_UNKNOWN: Any = object()


def json_path(location: Sequence[int | str], body: Any = _UNKNOWN) -> str:
    """``("body", "nodes", 0, "type")`` → ``$.nodes[0].type``; query/path/header keep their part.

    Given the body, the names pydantic adds for a union's members (a discriminator's tag such as
    ``createMany``, or ``str`` / ``dict[str,any]``) are left out: they are not keys of the request, so
    ``$.createMany.items[1].category`` is reported as ``$.items[1].category``.
    """
    where, *rest = location if location else ("body",)
    text = "$" if where == "body" else str(where)
    node = body if where == "body" else _UNKNOWN
    for index, part in enumerate(rest):
        if isinstance(part, int):
            text = extend(text, part)
            node = node[part] if isinstance(node, list) and -len(node) <= part < len(node) else _UNKNOWN
            continue
        if node is not _UNKNOWN and (
            not isinstance(node, dict) or (part not in node and index + 1 < len(rest))
        ):
            continue  # a union member's name, not a key of the body
        text = extend(text, part)  # the engine's rendering: validation paths and these read alike
        node = node.get(part, _UNKNOWN) if isinstance(node, dict) else _UNKNOWN
    return text


async def _store_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StoreError)
    return respond(
        request, ApiError(status_of(error), error.code, error.message, path=error.path, details=error.details)
    )


async def _api_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    return respond(request, error)


def _location(problem: Mapping[str, Any]) -> tuple[int | str, ...]:
    """Where a pydantic error points; an unknown or missing discriminator tag points at its field."""
    location = tuple(problem.get("loc", ()))
    if problem.get("type") in ("union_tag_invalid", "union_tag_not_found"):
        field = str((problem.get("ctx") or {}).get("discriminator", "")).strip("'")
        if field:
            location += (field,)
    return location


async def _invalid_request(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = error.errors()
    if any(problem.get("type") == "json_invalid" for problem in problems):
        problem = next(p for p in problems if p.get("type") == "json_invalid")
        context = problem.get("ctx") or {}
        message = f"the body is not valid JSON: {context.get('error', 'parse error')}"
        return respond(request, ApiError(400, ErrorCode.MALFORMED_JSON, message, path="$"))
    issues = [
        {"path": json_path(_location(problem), error.body), "message": problem.get("msg", "invalid")}
        for problem in problems
    ]
    first = issues[0] if issues else {"path": "$", "message": "invalid request"}
    in_body = any(problem.get("loc", ("body",))[:1] == ("body",) for problem in problems)
    if in_body and not _is_json(request):
        return respond(
            request,
            ApiError(415, ErrorCode.UNSUPPORTED_MEDIA_TYPE, "send the body as application/json", path="$"),
        )
    return respond(
        request,
        ApiError(
            422 if in_body else 400,
            ErrorCode.INVALID_REQUEST,
            f"{first['message']} at {first['path']}",
            path=first["path"],
            details={"errors": issues} if len(issues) > 1 else None,
        ),
    )


# What FastAPI answers when reading the JSON body fails other than by a syntax error: nesting deeper than
# the parser's recursion limit, an integer of more digits than Python converts.
_UNPARSABLE_BODY = "There was an error parsing the body"


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 400 and error.detail == _UNPARSABLE_BODY:
        message = "the body cannot be read as JSON (nested too deeply, or a number too long)"
        return respond(request, ApiError(400, ErrorCode.MALFORMED_JSON, message, path="$"))
    code = _HTTP_CODES.get(error.status_code, ErrorCode.INVALID_REQUEST)
    message = error.detail if isinstance(error.detail, str) else json.dumps(error.detail)
    headers = dict(error.headers) if error.headers else None
    return respond(request, ApiError(error.status_code, code, message, headers=headers))


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    log.exception("unhandled error in request %s", request_id(request))  # the id the client was given
    message = "internal error; quote the request id when reporting it"
    # Starlette answers this one outside the request-id middleware, so the header is set here.
    rid = request_id(request)
    headers = {"X-Request-Id": rid} if rid else None
    return respond(request, ApiError(500, ErrorCode.INTERNAL_ERROR, message, headers=headers))


def install(app: FastAPI) -> None:
    """Register the one exception table every route shares."""
    app.add_exception_handler(StoreError, _store_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
