"""Webhook routes: which enabled workflow answers a tenant's ``/webhook/{tenant}/{path}`` for a method.

The rows follow the workflow writes in the same unit of work: :class:`WorkflowRepository` calls
:meth:`WebhookRepository.sync` after storing a created or changed row and :meth:`WebhookRepository.forget`
before deleting one, so enable, disable, update, import, restore and the bulk operations all pass here. A
disabled workflow has no routes. Two enabled workflows claiming one method and path is WEBHOOK_PATH_CONFLICT
(409): the check names the holder, and the primary key refuses the loser of a race, so the unit rolls back
with nothing half-written.

Paths follow n8n: the node's ``path`` parameter without its outer slashes; a ``:name`` segment matches any
one segment and hands it to the item's ``params``. Exact paths win over dynamic ones, and among dynamic ones
the route with the most literal segments wins. (n8n prefixes a dynamic path with the node's webhookId;
here it is registered as written.)
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import delete, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tenantflow.engine.errors import ErrorCode
from tenantflow.nodes.n8n.triggers import listened_methods
from tenantflow.store.errors import ConflictError, InvalidRequestError
from tenantflow.store.models import WebhookRoute, Workflow
from tenantflow.store.secrets import SECRET_NAME
from tenantflow.store.text import NUL

if TYPE_CHECKING:
    from tenantflow.store.unit import Unit

WEBHOOK_TYPES: Final = frozenset({"n8n-nodes-base.webhook", "webhook"})
METHODS: Final = frozenset({"DELETE", "GET", "HEAD", "PATCH", "POST", "PUT"})
MAX_PATH: Final = 512
AUTHENTICATIONS: Final = {"none": None, "headerAuth": "httpHeaderAuth", "basicAuth": "httpBasicAuth"}
"""The node's ``authentication`` values served, each with the credential type whose name is the secret
holding what callers must send (``jwtAuth`` is refused when the workflow is enabled)."""
PARAM: Final = ":"


@dataclass(frozen=True, slots=True)
class RouteKey:
    """One route a Webhook node claims: a method and the path as stored (``:`` for each parameter)."""

    method: str
    path: str
    node_id: str
    param_names: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class FoundRoute:
    """The route a request reached: the workflow and node that answer it and the path's parameters."""

    workflow_id: str
    node_id: str
    params: dict[str, str]


def normalized(path: str) -> str:
    """A request or node path as routes compare them: no outer slashes, no empty segments."""
    return "/".join(part for part in path.split("/") if part)


def routes_of(nodes: Iterable[Any]) -> builtins.list[RouteKey]:
    """Every route the workflow's enabled Webhook nodes claim; a path or authentication the service
    cannot serve is refused here, when the workflow is enabled, rather than at the first request."""
    keys: builtins.list[RouteKey] = []
    for index, node in enumerate(nodes):
        if not isinstance(node, Mapping) or node.get("type") not in WEBHOOK_TYPES or node.get("disabled"):
            continue
        parameters = node.get("parameters") or {}
        where = f"$.nodes[{index}].parameters"
        path, names = _path(parameters.get("path", node.get("webhookId")), f"{where}.path")
        _check_authentication(node, parameters, index)
        methods = listened_methods(parameters)
        for method in methods if isinstance(methods, list) else [methods]:
            if not isinstance(method, str) or method.upper() not in METHODS:
                raise InvalidRequestError(
                    ErrorCode.WEBHOOK_PATH_INVALID,
                    f"a webhook listens to {', '.join(sorted(METHODS))}, not {method!r}",
                    path=f"{where}.httpMethod",
                )
            keys.append(RouteKey(method.upper(), path, str(node.get("id") or node.get("name")), names))
    return keys


class WebhookRepository:
    """The routes of the unit's tenant. Never commits: the unit does."""

    def __init__(self, unit: Unit) -> None:
        self.unit = unit

    @property
    def session(self) -> AsyncSession:
        return self.unit.session

    async def sync(self, row: Workflow) -> None:
        """Make the workflow's routes what its stored row says: its Webhook nodes' if enabled, none if not."""
        await self.forget(row.id)
        if not row.enabled:
            return
        keys = routes_of(row.nodes or [])
        if not keys:
            return
        _check_distinct(keys)
        pairs = [(key.method, key.path) for key in keys]
        holder = (
            await self.session.execute(
                select(WebhookRoute.method, WebhookRoute.path, WebhookRoute.workflow_id)
                .where(tuple_(WebhookRoute.method, WebhookRoute.path).in_(pairs))
                .limit(1)
            )
        ).first()
        if holder is not None:
            raise _conflict(holder.method, holder.path, holder.workflow_id)
        rows = [
            WebhookRoute(
                tenant_id=self.unit.tenant_id,
                method=key.method,
                path=key.path,
                workflow_id=row.id,
                node_id=key.node_id,
                segments=len(key.path.split("/")),
                param_names=list(key.param_names) if key.param_names is not None else None,
            )
            for key in keys
        ]
        try:
            async with self.session.begin_nested():
                self.session.add_all(rows)
        except IntegrityError as exc:  # another unit enabled a claimant since the check
            raise _conflict(keys[0].method, keys[0].path, None, own=False) from exc

    async def forget(self, workflow_id: str) -> None:
        """Drop the workflow's routes (it is being disabled, changed or deleted)."""
        await self.session.execute(
            delete(WebhookRoute)
            .where(WebhookRoute.workflow_id == workflow_id)
            .execution_options(synchronize_session=False)
        )

    async def find(self, method: str, path: str) -> FoundRoute | None:
        """The enabled workflow answering ``method`` at ``path`` (normalized), exact paths first; from the
        store's hot tier when it was asked a moment ago."""
        found = await self.unit.cache.find_route(
            self.unit.tenant_id, method, path, lambda: self._find(method, path)
        )
        return None if found is None else replace(found, params=dict(found.params))

    async def _find(self, method: str, path: str) -> FoundRoute | None:
        enabled = (Workflow.id == WebhookRoute.workflow_id) & Workflow.enabled.is_(True)
        exact = (
            await self.session.execute(
                select(WebhookRoute.workflow_id, WebhookRoute.node_id)
                .join(Workflow, enabled)
                .where(WebhookRoute.method == method, WebhookRoute.path == path)
            )
        ).first()
        if exact is not None:
            return FoundRoute(exact.workflow_id, exact.node_id, {})
        parts = path.split("/")
        candidates = await self.session.execute(
            select(
                WebhookRoute.workflow_id, WebhookRoute.node_id, WebhookRoute.path, WebhookRoute.param_names
            )
            .join(Workflow, enabled)
            .where(
                WebhookRoute.method == method,
                WebhookRoute.segments == len(parts),
                WebhookRoute.param_names.is_not(None),
            )
        )
        best: tuple[int, FoundRoute] | None = None
        for candidate in candidates:
            params = _match(candidate.path.split("/"), candidate.param_names or [], parts)
            if params is None:
                continue
            literal = len(parts) - len(params)
            if best is None or literal > best[0]:
                best = (literal, FoundRoute(candidate.workflow_id, candidate.node_id, params))
        return None if best is None else best[1]

    async def list(self, workflow_id: str) -> builtins.list[tuple[str, str]]:
        """The workflow's routes as (method, path), sorted."""
        rows = await self.session.execute(
            select(WebhookRoute.method, WebhookRoute.path)
            .where(WebhookRoute.workflow_id == workflow_id)
            .order_by(WebhookRoute.path, WebhookRoute.method)
        )
        return [(row.method, row.path) for row in rows]


def _path(value: Any, where: str) -> tuple[str, tuple[str, ...] | None]:
    """The stored form of a node's path and its parameter names (None for an exact path)."""
    if not isinstance(value, str) or value.startswith("="):
        raise InvalidRequestError(
            ErrorCode.WEBHOOK_PATH_INVALID, "a webhook's path is a fixed text, not an expression", path=where
        )
    path = normalized(value)
    if not path or len(path) > MAX_PATH or NUL in path or "?" in path or "#" in path:
        raise InvalidRequestError(
            ErrorCode.WEBHOOK_PATH_INVALID,
            f"a webhook's path is 1-{MAX_PATH} characters without NUL, '?' or '#'",
            path=where,
        )
    parts = path.split("/")
    names = tuple(part[1:] for part in parts if part.startswith(PARAM))
    if not names:
        return path, None
    if any(not name for name in names) or len(set(names)) != len(names):
        raise InvalidRequestError(
            ErrorCode.WEBHOOK_PATH_INVALID,
            "each ':name' segment of a webhook's path needs a name of its own",
            path=where,
        )
    return "/".join(PARAM if part.startswith(PARAM) else part for part in parts), names


def _check_authentication(node: Mapping[str, Any], parameters: Mapping[str, Any], index: int) -> None:
    method = parameters.get("authentication", "none")
    if method not in AUTHENTICATIONS:
        raise InvalidRequestError(
            ErrorCode.WEBHOOK_AUTH_UNSUPPORTED,
            f"webhook authentication {method!r} is not served; use none, headerAuth or basicAuth",
            path=f"$.nodes[{index}].parameters.authentication",
        )
    kind = AUTHENTICATIONS[method]
    if kind is not None and credential_secret(node, kind) is None:
        raise InvalidRequestError(
            ErrorCode.WEBHOOK_AUTH_UNSUPPORTED,
            f"{method} needs credentials.{kind}.name: the name of a secret of this tenant",
            path=f"$.nodes[{index}].credentials.{kind}",
        )


def credential_secret(node: Mapping[str, Any], kind: str) -> str | None:
    """The secret named by the node's credential of ``kind`` (n8n's ``{id, name}``), if it is one."""
    credential = (node.get("credentials") or {}).get(kind)
    name = credential.get("name") if isinstance(credential, Mapping) else credential
    return name if isinstance(name, str) and SECRET_NAME.match(name) else None


def _check_distinct(keys: builtins.list[RouteKey]) -> None:
    seen: set[tuple[str, str]] = set()
    for key in keys:
        if (key.method, key.path) in seen:
            raise _conflict(key.method, key.path, None, own=True)
        seen.add((key.method, key.path))


def _match(
    pattern: builtins.list[str], names: builtins.list[str], parts: builtins.list[str]
) -> dict[str, str] | None:
    params: dict[str, str] = {}
    names_left = iter(names)
    for expected, given in zip(pattern, parts, strict=True):
        if expected == PARAM:
            params[next(names_left)] = given
        elif expected != given:
            return None
    return params


def _conflict(method: str, path: str, holder: str | None, *, own: bool = False) -> ConflictError:
    """``holder``: the workflow serving it, when known; ``own``: two nodes of the workflow itself."""
    taken = "another Webhook node of this workflow" if own else "another workflow of this tenant"
    return ConflictError(
        ErrorCode.WEBHOOK_PATH_CONFLICT,
        f"{method} /{path} is already served by {taken}; one method and path run one workflow",
        path="$.nodes",
        details={"method": method, "path": path, **({"workflowId": holder} if holder else {})},
    )
