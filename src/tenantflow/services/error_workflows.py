"""Error workflows, as n8n has them: a failed execution starts the workflow ``settings.errorWorkflow`` names.

The named workflow must be one of the same tenant's. It runs as an execution of trigger kind ``error`` whose
one start item is the failed execution's summary, as n8n's Error Trigger receives it::

    {"execution": {"id", "url", "retryOf"?, "error", "lastNodeExecuted", "mode"},
     "workflow": {"id", "name"}}

``url`` is the API path of the failed execution's record (n8n links its editor; there is no public base URL
here), ``retryOf`` is only there when the failed execution was a retry, ``error`` is the execution's stored
error (``message``, ``code``, ``node``…; no stack), ``lastNodeExecuted`` the failing node, else the last node
that ran (as in n8n, the node a timeout or crash stopped is not one), and ``mode`` the trigger kind in n8n's
words (a schedule's run is n8n's ``trigger``). ``settings.errorWorkflow`` is read from the workflow version
the failed execution ran.

What fires it (n8n's ``executeErrorWorkflow`` and its lifecycle hooks):

- an end ``error``, ``timeout`` or ``crashed``; not ``success``, nor ``aborted`` (someone chose to stop it);
- every trigger kind except ``manual`` (n8n skips manual runs: whoever ran it by hand sees the failure) and
  ``error``: an error workflow that fails never starts an error workflow, its own or another's. n8n only
  refuses the first (a workflow that names itself); two error workflows naming each other would loop.

What does not run, with nothing started: the settings name no workflow of this tenant (another tenant's id
reads as not found, ``WORKFLOW_NOT_FOUND``), a value that is not an id (``INVALID_VALUE``), a disabled one
(``WORKFLOW_DISABLED``), one that is not valid (``VALIDATION_STATUS_INVALID``), one without an enabled
Error Trigger (``WORKFLOW_NOT_EXECUTABLE``; the run starts at its first Error Trigger, whatever triggers come
before it), or the service is shutting down (``SERVICE_UNAVAILABLE``). Each is noted
in the tenant's audit log as ``execution.errorWorkflow`` on the failed execution, with its code; a started
error workflow is noted there too (``outcome: ok``, ``details: {errorWorkflowId, executionId}``). A failed
execution starts its error workflow at most once (an idempotency key made from its id).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.sdk import NodeRegistry
from tenantflow.nodes.n8n.triggers import ERROR_TRIGGER
from tenantflow.store.audit import Actor
from tenantflow.store.errors import ConflictError, InvalidRequestError, NotFoundError, StoreError
from tenantflow.store.executions import ExecutionSummary, ExecutionView
from tenantflow.store.identity import Level
from tenantflow.store.unit import Store, Unit

if TYPE_CHECKING:
    from tenantflow.services.executions import ExecutionService

log = logging.getLogger("tenantflow.executions")

FAILED_STATUSES: Final = frozenset({"error", "timeout", "crashed"})
QUIET_KINDS: Final = frozenset({"manual", "error"})  # runs whose failure starts no error workflow
OPERATION: Final = "execution.errorWorkflow"
_N8N_MODES: Final = {"schedule": "trigger"}  # trigger kinds n8n names otherwise; the rest keep their name


def starts_error_workflow(failed: ExecutionSummary) -> bool:
    """Whether this end calls for the error workflow its workflow names (see the module docstring)."""
    return (
        failed.status in FAILED_STATUSES
        and failed.trigger_kind not in QUIET_KINDS
        and failed.workflow_id is not None
    )


async def start_error_workflow(service: ExecutionService, tenant_id: str, failed: ExecutionView) -> None:
    """Start the error workflow of an execution whose end was just stored, if it has one and its end calls
    for it. Never raises: the failed execution is recorded already, and this is its epilogue."""
    if not starts_error_workflow(failed):
        return
    actor = Actor(tenant_id, user_id=None, level=Level.USER)
    try:
        await _start(service, actor, failed)
    except Exception:
        log.exception("execution %s: its error workflow could not be started", failed.id)


async def _start(service: ExecutionService, actor: Actor, failed: ExecutionView) -> None:
    async with service.store.unit(actor, read_only=True) as unit:
        named = await _named(unit, failed)
    if named is None:
        return
    target, workflow_name = named
    try:
        start = await _check_target(service.store, actor, target)
        summary = await service.submit(
            actor,
            target,
            trigger_data=error_item(actor.tenant_id, failed, workflow_name),
            trigger_kind="error",
            start_node=start,
            idempotency_key=f"error-workflow:{failed.id}",
        )
    except StoreError as error:
        log.warning("execution %s: error workflow %r not run: %s", failed.id, target, error.message)
        await _note(service.store, actor, failed.id, _refusal(target, error))
        return
    await _note(service.store, actor, failed.id, {"errorWorkflowId": target, "executionId": summary.id})


async def _named(unit: Unit, failed: ExecutionView) -> tuple[Any, str] | None:
    """The ``settings.errorWorkflow`` of the workflow version the execution ran, and the workflow's name;
    None when it names none (or the workflow is gone, and its settings with it)."""
    assert failed.workflow_id is not None
    try:
        workflow = await unit.workflows.get(failed.workflow_id)
        document = workflow.document()
        if failed.workflow_version not in (None, workflow.version):
            document = (await unit.workflows.get_version(workflow.id, failed.workflow_version)).definition
    except NotFoundError:
        return None
    settings = document.get("settings")
    target = settings.get("errorWorkflow") if isinstance(settings, Mapping) else None
    return None if target in (None, "") else (target, str(document.get("name") or workflow.name))


async def _check_target(store: Store, actor: Actor, target: Any) -> str:
    """The Error Trigger the run starts from; refuse what ``submit`` would not: a value that is no id, an
    id this tenant does not have (another tenant's reads as not found, as a plain read does everywhere), a
    workflow without an enabled Error Trigger. Enabled and valid are ``submit``'s own checks."""
    if not isinstance(target, str):
        raise InvalidRequestError(
            ErrorCode.INVALID_VALUE,
            "settings.errorWorkflow must be a workflow id",
            path="$.settings.errorWorkflow",
        )
    async with store.unit(actor, read_only=True) as unit:
        document = (await unit.workflows.get(target)).document()
    start = _error_trigger(document, store.registry)
    if start is None:
        raise ConflictError(
            ErrorCode.WORKFLOW_NOT_EXECUTABLE,
            f"workflow {target!r} has no enabled Error Trigger to start from",
            details={"id": target},
        )
    return start


def _error_trigger(document: Mapping[str, Any], registry: NodeRegistry) -> str | None:
    """The name of the first enabled Error Trigger of ``document``, whatever triggers come before it."""
    for node in document.get("nodes") or []:
        if not isinstance(node, Mapping) or node.get("disabled") is True:
            continue
        found = registry.get(str(node.get("type")))
        if found is not None and found.type == ERROR_TRIGGER:
            return str(node.get("name"))
    return None


def error_item(tenant_id: str, failed: ExecutionView, workflow_name: str) -> dict[str, Any]:
    """The Error Trigger's item for ``failed``, in n8n's shape (see the module docstring)."""
    trigger = failed.input.get("trigger") if isinstance(failed.input, Mapping) else None
    metadata = trigger.get("metadata") if isinstance(trigger, Mapping) else None
    retry_of = metadata.get("retryOf") if isinstance(metadata, Mapping) else None
    execution: dict[str, Any] = {
        "id": failed.id,
        "url": f"/api/v1/{tenant_id}/executions/{failed.id}",
        "error": failed.error or {},
        "lastNodeExecuted": _last_node(failed),
        "mode": _N8N_MODES.get(failed.trigger_kind, failed.trigger_kind),
    }
    if retry_of is not None:
        execution["retryOf"] = retry_of
    return {"execution": execution, "workflow": {"id": failed.workflow_id, "name": workflow_name}}


def _last_node(failed: ExecutionView) -> str | None:
    """The node the error names, else the one whose run started last among those that ended (a timeout
    or a crash names no node, and the node it stopped has no state)."""
    node = (failed.error or {}).get("node")
    if isinstance(node, str):
        return node
    started = [(state.start_time, name) for name, state in failed.state.items() if state.start_time]
    return max(started)[1] if started else None


def _refusal(target: Any, error: StoreError) -> StoreError:
    """The refusal as the failed execution's audit row reads it: which error workflow did not run, and why."""
    return StoreError(error.code, f"error workflow {target!r} was not run: {error.message}")


async def _note(store: Store, actor: Actor, execution_id: str, outcome: StoreError | dict[str, Any]) -> None:
    """Record on the failed execution, in the tenant's audit log, what became of its error workflow: the
    refusal, or the execution it started."""
    async with store.unit(actor) as unit:
        if isinstance(outcome, StoreError):
            unit.audit.failed(OPERATION, "execution", execution_id, outcome)
        else:
            unit.audit.ok(OPERATION, "execution", execution_id, outcome)
