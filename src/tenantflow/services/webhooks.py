"""Webhook calls: which workflow a call reaches, whether its caller may, and what the call is answered.

The HTTP route (``api/routes/webhooks.py``) reads the request and writes the response; the decisions are
here, each taking the unit or the finished execution explicitly. Answers follow n8n's Webhook node:
``responseMode`` ``onReceived`` answers at once (``{"message": "Workflow was started"}``, or nothing with
``responseData: noData``), ``lastNode`` with the last node's first item's JSON (``responseData``:
``firstEntryJson`` by default, ``allEntries``, ``noData``), ``responseNode`` with what the Respond to
Webhook node recorded.

``responseNode`` answers, as n8n does, as soon as the first Respond to Webhook node has run, while the run
goes on. The response reaches the route as a ``webhook.response`` progress event on the execution's bus
(n8n's queue mode sends its ``respond-to-webhook`` job message the same way, worker to main), so it is the
same path whether this process or a worker runs the execution. The event carries the response sealed with
the secret keyring (AES-GCM, bound to the tenant and execution): SSE readers see which node answered and
its status code, never a body that may hold a secret the record shows as ``***``. In the queue mode
without Redis the bus does not cross processes, so such a webhook is refused before it runs
(:func:`followable`).

Test webhooks (n8n's ``/webhook-test/``) are windows in ``webhook_tests``: :func:`open_test` makes a
workflow listen for one call, :func:`find_test` finds the window a call reaches, and :func:`claim_test`
deletes it, which only one caller, on any API process, manages.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.record import NodeState, utc_now
from tenantflow.services.events import EXECUTION_FINISHED, WEBHOOK_RESPONSE
from tenantflow.store.audit import Actor
from tenantflow.store.documents import WorkflowView
from tenantflow.store.errors import ConflictError, InvalidRequestError, StoreError
from tenantflow.store.executions import ExecutionView
from tenantflow.store.models import WebhookTest
from tenantflow.store.secrets import Keyring
from tenantflow.store.unit import Store, Unit
from tenantflow.store.webhooks import (
    AUTHENTICATIONS,
    PARAM,
    WebhookRepository,
    credential_secret,
    routes_of,
)

if TYPE_CHECKING:
    from tenantflow.services.executions import ExecutionService, Run

log = logging.getLogger("tenantflow.webhooks")

STARTED: Final = {"message": "Workflow was started"}
RESPOND_TYPES: Final = frozenset({"n8n-nodes-base.respondToWebhook", "respondToWebhook"})
TEST_SECONDS: Final = 120.0  # how long a test webhook listens, as n8n's editor does


@dataclass(frozen=True, slots=True)
class Target:
    """What a call reached: the workflow, its Webhook node and the path's ``:name`` parameters."""

    workflow_id: str
    node: dict[str, Any]
    params: dict[str, str]
    nodes: list[dict[str, Any]] = field(default_factory=list)
    credential: dict[str, Any] | None = None  # what the caller must send, from the node's secret
    # The workflow as the lookup read it, for the run to start from without reading it again.
    workflow: WorkflowView | None = field(default=None, repr=False, compare=False)

    @property
    def parameters(self) -> dict[str, Any]:
        parameters: dict[str, Any] = self.node.get("parameters") or {}
        return parameters

    @property
    def options(self) -> dict[str, Any]:
        options: dict[str, Any] = self.parameters.get("options") or {}
        return options

    @property
    def authentication(self) -> str:
        return str(self.parameters.get("authentication", "none"))

    @property
    def response_mode(self) -> str:
        return str(self.parameters.get("responseMode", "onReceived"))

    @property
    def status_code(self) -> int:
        """``responseCode`` (n8n 1 has it as a parameter, 2 among the options); 200 by default."""
        code = self.options.get("responseCode", self.parameters.get("responseCode", 200))
        if isinstance(code, Mapping):  # n8n 2's ``{values: {responseCode}}``
            code = (code.get("values") or {}).get("responseCode", 200)
        return code if isinstance(code, int) and 100 <= code <= 599 else 200


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer: a status, headers, and a body that is JSON (``json``) or bytes (``content``)."""

    status: int
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str | None = None
    empty: bool = False


class NoAnswer(Exception):
    """The run gave nothing to answer with (it failed, or no item / no Respond to Webhook node ran)."""


async def resolve(unit: Unit, method: str, path: str) -> Target | None:
    """The enabled workflow and Webhook node answering ``method`` at ``path`` in the unit's tenant, with
    the credential its authentication expects; None when no enabled workflow does."""
    found = await WebhookRepository(unit).find(method, path)
    if found is None:
        return None
    view = await unit.workflows.get(found.workflow_id)
    if not view.data.get("enabled"):
        return None  # disabled between the two reads
    return await _target(unit, view, found.node_id, found.params)


async def _target(unit: Unit, view: WorkflowView, node_id: str, params: dict[str, str]) -> Target | None:
    """The Webhook node ``node_id`` of the workflow, with the credential its authentication expects."""
    nodes: list[dict[str, Any]] = list(view.data.get("nodes") or [])
    node = next((n for n in nodes if str(n.get("id") or n.get("name")) == node_id), None)
    if node is None:
        return None  # changed between the two reads
    target = Target(view.id, node, params, nodes, workflow=view)
    kind = AUTHENTICATIONS.get(target.authentication)
    if kind is None:
        return target
    secret = credential_secret(node, kind)
    credential: dict[str, Any] = {}
    try:
        text = (await unit.secrets.values_for([secret])).get(secret or "", "") if secret else ""
        loaded = json.loads(text)
        credential = loaded if isinstance(loaded, dict) else {}
    except (StoreError, ValueError):
        log.warning(
            "webhook of workflow %s: its credential secret %r is missing or not JSON", view.id, secret
        )
    return Target(view.id, node, params, nodes, credential, view)


def admitted(target: Target, headers: Mapping[str, str]) -> bool:
    """Whether the caller sent what the node's authentication asks for (always, for ``none``). A missing
    or malformed credential secret admits nobody."""
    if target.credential is None:
        return True
    if target.authentication == "headerAuth":
        name, value = target.credential.get("name"), target.credential.get("value")
        if not isinstance(name, str) or not isinstance(value, str) or not name:
            return False
        return hmac.compare_digest(headers.get(name.lower(), "").encode(), value.encode())
    user, password = target.credential.get("user"), target.credential.get("password")
    if not isinstance(user, str) or not isinstance(password, str):
        return False
    scheme, _, encoded = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        given = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(given, f"{user}:{password}".encode())


def authenticating_header(target: Target) -> str | None:
    """The request header that carried the caller's credential: kept out of the item and the record."""
    if target.authentication == "headerAuth" and target.credential:
        name = target.credential.get("name")
        return name.lower() if isinstance(name, str) else None
    return "authorization" if target.authentication == "basicAuth" else None


def on_received(target: Target) -> Answer:
    """n8n's immediate answer: ``{"message": "Workflow was started"}``, or no body with ``noData``."""
    if target.parameters.get("responseData") == "noData" or target.options.get("noResponseBody") is True:
        return Answer(target.status_code, empty=True)
    return Answer(target.status_code, STARTED)


async def after_last_node(store: Store, actor: Actor, target: Target, view: ExecutionView) -> Answer:
    """The ``lastNode`` answer from the finished execution: the first output of the node that ended last
    (its first item's JSON, all items', the first item's file, or nothing, as ``responseData`` says)."""
    _check_succeeded(view)
    last: NodeState | None = None
    for state in view.state.values():  # in the order the nodes ran: the last of those that ended last
        if state.end_time is not None and (
            last is None or state.end_time >= (last.end_time or state.end_time)
        ):
            last = state
    if last is None:
        raise NoAnswer("No item to return was found")
    items = last.output[0] if last.output else []
    if target.parameters.get("responseData") == "firstEntryBinary":
        return await _first_file(store, actor, target, view, items)
    data = target.parameters.get("responseData", "firstEntryJson")
    if data == "noData" or target.options.get("noResponseBody") is True:
        return Answer(target.status_code, empty=True)
    if data == "allEntries":
        return Answer(target.status_code, [item.get("json", {}) for item in items])
    if data != "firstEntryJson":
        raise NoAnswer(
            f"responseData {data!r} is not one of firstEntryJson, allEntries, firstEntryBinary, noData"
        )
    if not items:
        raise NoAnswer("No item to return was found")
    body = items[0].get("json", {})
    prop = target.options.get("responsePropertyName")
    if isinstance(prop, str) and prop and isinstance(body, Mapping):
        body = body.get(prop)
    media = target.options.get("responseContentType")
    if isinstance(media, str) and media and isinstance(body, str):
        return Answer(target.status_code, content=body.encode(), media_type=media)
    return Answer(target.status_code, body)


async def _first_file(
    store: Store, actor: Actor, target: Target, view: ExecutionView, items: list[Any]
) -> Answer:
    """``firstEntryBinary``: the bytes of the first item's file under ``options.responseBinaryPropertyName``
    (``data`` by default), with its media type, as n8n answers; read from the execution's stored files."""
    name = target.options.get("responseBinaryPropertyName") or "data"
    entries = items[0].get("binary") if items and isinstance(items[0], Mapping) else None
    entry = entries.get(name) if isinstance(entries, Mapping) else None
    if not isinstance(entry, Mapping) or not isinstance(entry.get("id"), str):
        raise NoAnswer(f"The first item has no binary property {name!r}")
    async with store.unit(actor, read_only=True) as unit:
        stored = await unit.executions.binary(view.id, entry["id"])
    headers = {"X-Content-Type-Options": "nosniff"}
    return Answer(target.status_code, content=stored.data, headers=headers, media_type=stored.mime_type)


# ----- test webhooks: /webhook-test/, one call while a workflow listens ------------------------------------


@dataclass(frozen=True, slots=True)
class TestWindow:
    """A workflow listening for one test call: its version, its routes as ``(method, path)`` with
    ``:name`` segments as the node writes them, and when it stops listening."""

    workflow_id: str
    version: int
    routes: list[tuple[str, str]]
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class TestCall:
    """The window a ``/webhook-test/`` call reached, and the Webhook node that answers it."""

    target: Target
    expires_at: datetime


async def open_test(unit: Unit, workflow_id: str, seconds: float = TEST_SECONDS) -> TestWindow:
    """Listen for one test call to the workflow's Webhook nodes (enabled or not) for ``seconds``,
    replacing a window the workflow had open. Another workflow of the tenant listening on one of the
    same methods and paths is WEBHOOK_PATH_CONFLICT; a workflow without a Webhook node has nothing to
    listen with (WEBHOOK_PATH_INVALID)."""
    view = await unit.workflows.get_for(workflow_id, "workflow.execute")
    keys = routes_of(view.data.get("nodes") or [])
    if not keys:
        raise InvalidRequestError(
            ErrorCode.WEBHOOK_PATH_INVALID, "the workflow has no Webhook node to listen with", path="$.nodes"
        )
    now = utc_now()
    wanted = {(key.method, key.path) for key in keys}
    others = await unit.session.execute(
        select(WebhookTest.workflow_id, WebhookTest.routes).where(
            WebhookTest.workflow_id != view.id, WebhookTest.expires_at > now
        )
    )
    for other in others:
        for method, stored, *_ in other.routes:
            if (method, stored) in wanted:
                raise ConflictError(
                    ErrorCode.WEBHOOK_PATH_CONFLICT,
                    f"another workflow of this tenant listens for a test call to {method} /{stored}",
                    details={"method": method, "path": stored, "workflowId": other.workflow_id},
                )
    await unit.session.execute(
        delete(WebhookTest)
        .where(WebhookTest.workflow_id == view.id)
        .execution_options(synchronize_session=False)
    )
    window = WebhookTest(
        tenant_id=unit.tenant_id,
        workflow_id=view.id,
        version=view.version,
        routes=[[key.method, key.path, key.node_id, key.param_names] for key in keys],
        opened_by=unit.actor.user_id,
        expires_at=now + timedelta(seconds=seconds),
    )
    try:
        async with unit.session.begin_nested():
            unit.session.add(window)
    except IntegrityError:  # the same workflow opened at the same moment elsewhere: that one listens
        raise ConflictError(
            ErrorCode.WEBHOOK_PATH_CONFLICT, "the workflow's test webhook was opened at the same moment"
        ) from None
    routes = [(key.method, _written(key.path, key.param_names)) for key in keys]
    return TestWindow(view.id, view.version, routes, window.expires_at)


async def find_test(unit: Unit, method: str, path: str) -> TestCall | None:
    """The listening workflow whose Webhook node a ``/webhook-test/`` call reaches (exact paths first,
    then the dynamic path with the most literal segments); None when none listens, or the workflow
    changed since it started listening (open the window again)."""
    windows = await unit.session.execute(
        select(
            WebhookTest.workflow_id, WebhookTest.version, WebhookTest.routes, WebhookTest.expires_at
        ).where(WebhookTest.expires_at > utc_now())
    )
    best: tuple[int, Any, str, dict[str, str]] | None = None
    for window in windows:
        for stored_method, stored, node_id, names in window.routes:
            params = _params(stored, names, path) if stored_method == method else None
            literal = len(path.split("/")) - len(params or {})
            if params is not None and (best is None or literal > best[0]):
                best = (literal, window, node_id, params)
    if best is None:
        return None
    _, window, node_id, params = best
    view = await unit.workflows.get(window.workflow_id)
    target = await _target(unit, view, node_id, params) if view.version == window.version else None
    return None if target is None else TestCall(target, window.expires_at)


async def claim_test(unit: Unit, call: TestCall) -> bool:
    """Close the window for this call; False when another call (on any process) closed it first."""
    closed = await unit.session.execute(
        delete(WebhookTest)
        .where(
            WebhookTest.workflow_id == call.target.workflow_id,
            WebhookTest.expires_at == call.expires_at,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(closed, "rowcount", 0) == 1)


def _params(stored: str, names: list[str] | None, path: str) -> dict[str, str] | None:
    """The ``:name`` values of ``path`` when it matches the stored path (``:`` per parameter), else None."""
    expected, given = stored.split("/"), path.split("/")
    if len(expected) != len(given) or any(e not in (PARAM, g) for e, g in zip(expected, given, strict=True)):
        return None
    values = [part for pattern, part in zip(expected, given, strict=True) if pattern == PARAM]
    return dict(zip(names or [], values, strict=False))


def _written(stored: str, names: tuple[str, ...] | None) -> str:
    """A stored path as the node writes it: each ``:`` back to ``:name``."""
    left = iter(names or ())
    return "/".join(f":{next(left)}" if part == PARAM else part for part in stored.split("/"))


def followable(executions: ExecutionService) -> bool:
    """Whether this process hears a Respond to Webhook node wherever the execution runs: inline it runs
    here; in the queue mode only a bus shared by every process (Redis) carries the worker's answer."""
    return executions.dispatch is None or executions.bus.shared


def response_event(
    keyring: Keyring, run: Run, node: str, node_type: str, state: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The ``webhook.response`` event data when ``node``, which just finished in ``state``, is a Respond
    to Webhook node that answered a webhook's run: the node, its status code, and the response sealed
    for the route (only the keyring's holders open it, and only as this tenant's execution's answer)."""
    if node_type not in RESPOND_TYPES or run.summary.trigger_kind != "webhook" or run.execution is None:
        return None
    response = run.execution.node_state(node).get("response")
    if state.get("status") != "success" or not isinstance(response, Mapping):
        return None
    plain = json.dumps(response, separators=(",", ":"), default=str).encode()
    key_id, nonce, ciphertext = keyring.encrypt(plain, _bound_to(run.key))
    return {
        "node": node,
        "statusCode": response.get("statusCode", 200),
        "sealed": {
            "keyId": key_id,
            "nonce": base64.b64encode(nonce).decode(),
            "data": base64.b64encode(ciphertext).decode(),
        },
    }


async def first_response(executions: ExecutionService, key: tuple[str, str], timeout: float) -> Answer | None:
    """The answer of the first Respond to Webhook node of the execution, heard on its bus as soon as
    the node ran; None when the execution ends without one, the bus holds nothing of it, or ``timeout``
    runs out (the caller then reads the execution's end)."""
    tenant_id, execution_id = key
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            async for event in executions.bus.subscribe(tenant_id, execution_id):
                if event.type == WEBHOOK_RESPONSE:
                    return response_answer(_opened(executions.store.keyring, key, event.data))
                if event.type == EXECUTION_FINISHED:
                    break
    return None


def without_response(view: ExecutionView) -> NoAnswer:
    """Why a finished ``responseNode`` execution answered nothing: it failed, or no Respond to Webhook
    node ran."""
    if view.status != "success":
        return NoAnswer("Error in workflow")
    return NoAnswer("No Respond to Webhook node answered the call")


def response_answer(response: Mapping[str, Any]) -> Answer:
    """What a Respond to Webhook node recorded (``{statusCode, headers, body}``, or a file in
    ``binary``) as the HTTP answer; headers that could split the response are left out."""
    status = response.get("statusCode", 200)
    headers = {
        str(name): str(value)
        for name, value in (response.get("headers") or {}).items()
        if str(name).lower() != "content-length" and not _unsafe(str(name)) and not _unsafe(str(value))
    }
    media = headers.pop("content-type", None)
    binary = response.get("binary")
    if isinstance(binary, Mapping):
        content = base64.b64decode(str(binary.get("data") or ""))
        return Answer(status, content=content, headers=headers, media_type=media)
    body = response.get("body")
    if body is None:
        return Answer(status, empty=True, headers=headers, media_type=media)
    if isinstance(body, str):
        return Answer(status, content=body.encode(), headers=headers, media_type=media or "text/plain")
    return Answer(status, body, headers=headers, media_type=media)


def _opened(keyring: Keyring, key: tuple[str, str], data: Mapping[str, Any]) -> Mapping[str, Any]:
    sealed = data["sealed"]
    nonce, ciphertext = base64.b64decode(sealed["nonce"]), base64.b64decode(sealed["data"])
    response: Mapping[str, Any] = json.loads(
        keyring.decrypt(sealed["keyId"], nonce, ciphertext, _bound_to(key))
    )
    return response


def _bound_to(key: tuple[str, str]) -> bytes:
    """The sealed response's associated data: it opens only as this tenant's execution's answer."""
    tenant_id, execution_id = key
    return f"{WEBHOOK_RESPONSE}:{tenant_id}:{execution_id}".encode()


def _check_succeeded(view: ExecutionView) -> None:
    if view.status != "success":
        raise NoAnswer("Error in workflow")


def _unsafe(text: str) -> bool:
    return "\r" in text or "\n" in text or "\0" in text
