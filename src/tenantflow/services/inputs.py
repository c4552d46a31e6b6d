"""What one execution is given: start items, ``$context``, the secrets it names, its sub-workflow loader.

The API's execute body (the seed's): ``triggerData`` becomes the start items (an object is one item, a
list is one item per element), ``variables`` the ``$vars``, ``request`` (method, headers, query, body)
``$context.request``. Credentials in the request's headers (``Authorization``, cookies, API keys) are the
caller's to the API, not data for the workflow: they are dropped before the workflow or the store sees them.

A request may also carry ``rawBody``, the body's bytes as base64 text (its type is the ``content-type``
header): a webhook route passes it, with the request, as the Webhook node's item, and the node turns it into
binary data as n8n does (a file upload, a form's files, the ``rawBody`` option).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

from tenantflow.engine.definition import WorkflowDefinition, parse_workflow
from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.sdk import Items, WorkflowLoader
from tenantflow.store.audit import Actor
from tenantflow.store.errors import InvalidRequestError, NotFoundError
from tenantflow.store.unit import Store

CREDENTIAL_HEADERS: Final = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})
# ``$secrets.NAME``, ``$secrets["NAME"]`` and ``$secrets['NAME']`` anywhere in a string of the document.
_SECRET_REFERENCE = re.compile(r"""\$secrets\s*(?:\??\.\s*([A-Za-z_][\w-]*)|\[\s*(["'])(.+?)\2\s*\])""")


def start_items(trigger_data: Any) -> Items:
    """The start nodes' items: one empty item by default, as a manual run in n8n."""
    if trigger_data is None:
        return [{"json": {}}]
    if isinstance(trigger_data, Mapping):
        return [{"json": dict(trigger_data)}]
    if isinstance(trigger_data, list):
        for index, value in enumerate(trigger_data):
            if not isinstance(value, Mapping):
                raise InvalidRequestError(
                    ErrorCode.INVALID_VALUE, "each item must be an object", path=f"$.triggerData[{index}]"
                )
        return [{"json": dict(value)} for value in trigger_data]
    raise InvalidRequestError(
        ErrorCode.INVALID_VALUE, "triggerData must be an object or a list of objects", path="$.triggerData"
    )


def request_data(request: Mapping[str, Any] | None) -> dict[str, Any]:
    """The request as ``$context.request`` shows it, without the caller's credentials."""
    if request is None:
        return {}
    headers = request.get("headers") or {}
    data = {
        "method": request.get("method"),
        "headers": {name: value for name, value in headers.items() if name.lower() not in CREDENTIAL_HEADERS},
        "query": request.get("query") or {},
        "body": request.get("body"),
    }
    if isinstance(raw := request.get("rawBody"), str):
        data["rawBody"] = raw
    return data


def secret_names(document: Any) -> frozenset[str]:
    """Every secret name the document's strings reference."""
    names: set[str] = set()
    for text in _strings(document):
        if "$secrets" in text:
            names.update(match.group(1) or match.group(3) for match in _SECRET_REFERENCE.finditer(text))
    return frozenset(names)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def workflow_loader(store: Store, actor: Actor) -> WorkflowLoader:
    """Resolves ``executeWorkflow`` references by id through ``actor``'s tenant only: another tenant's id
    reads as not found there, as it does everywhere else."""

    async def load(source: Any) -> WorkflowDefinition:
        if not isinstance(source, Mapping) or source.get("source") != "database":
            raise NodeError(
                "only stored workflows (source: database) or inline JSON can run as sub-workflows here",
                code=ErrorCode.WORKFLOW_INVALID,
            )
        try:
            async with store.unit(actor, read_only=True) as unit:
                view = await unit.workflows.get(str(source.get("workflowId")))
        except NotFoundError as error:
            raise NodeError(error.message, code=ErrorCode.WORKFLOW_NOT_FOUND) from None
        return parse_workflow(view.document())

    return load
