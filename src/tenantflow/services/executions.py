"""Running executions: submit, wait, abort, retry, progress events, shutdown; inline or on workers.

Two modes share one implementation of a run (:meth:`ExecutionService._drive`). Inline (the embedded
default) the API process runs each execution it queues. In the queue mode (``dispatch`` given) it writes
the queued row, publishes ``execution.started`` and hands the id to the broker; a worker that claims the
row runs it with :meth:`ExecutionService.run_claimed`, every write fenced by its lease.

:class:`ExecutionService` is owned by the app's lifespan (``await service.start()`` …
``await service.shutdown()``). Each execution runs the engine as its own asyncio task; everything it
stores goes through one :class:`~tenantflow.services.writer.GroupCommitWriter` (group commit), so a node
checkpoint costs a row in a shared transaction, not a transaction.

Refusals are store errors with codes: WORKFLOW_DISABLED and VALIDATION_STATUS_INVALID (submit and retry),
EXECUTION_FINISHED (abort of a finished execution; retry of a successful one, which has nothing to retry:
as in n8n, only an execution that failed, timed out, was aborted or crashed can be retried),
EXECUTION_IN_PROGRESS (retry of a queued or running one), and the store's own (not found, idempotency).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any, Final, Literal, get_args

from cachetools import LRUCache

from tenantflow import metrics
from tenantflow.engine.definition import WorkflowDefinition, parse_workflow
from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.executor import Execution, ExecutionEvent, RunLimits
from tenantflow.engine.record import ExecutionRecord, LogEntry, Metrics, NodeState, iso, utc_now
from tenantflow.engine.sdk import STATIC_DATA_CALL, Items, WorkflowStarter
from tenantflow.engine.validation import validate
from tenantflow.services import webhooks
from tenantflow.services.error_workflows import start_error_workflow
from tenantflow.services.events import (
    EXECUTION_FINISHED,
    EXECUTION_STARTED,
    NODE_FINISHED,
    NODE_STARTED,
    WEBHOOK_RESPONSE,
    EventBus,
    ProgressEvent,
    node_finished_data,
    replay,
)
from tenantflow.services.inputs import request_data, secret_names, start_items, workflow_loader
from tenantflow.services.writer import GroupCommitWriter
from tenantflow.store.audit import Actor
from tenantflow.store.binaries import metadata_only
from tenantflow.store.documents import WorkflowView
from tenantflow.store.errors import (
    AccessDeniedError,
    ConflictError,
    InvalidRequestError,
    StoreError,
    not_found,
)
from tenantflow.store.executions import (
    ACTIVE_STATUSES,
    FINISHED_STATUSES,
    ExecutionSummary,
    ExecutionView,
    FinishedRun,
    Lease,
    QueuedExecution,
)
from tenantflow.store.unit import Store, Unit
from tenantflow.store.workflows import StaticData

log = logging.getLogger("tenantflow.executions")

TriggerKind = Literal["manual", "api", "schedule", "webhook", "error", "subworkflow"]  # what started it
MAX_DETACHED_DEPTH: Final = 16  # sub-workflows started without waiting, one from the other: a chain's end
SHUTDOWN_MESSAGE: Final = "the server shut down while the execution ran"
_SUMMARY_FIELDS: Final = tuple(item.name for item in fields(ExecutionSummary))
Dispatch = Callable[[str, str], Awaitable[None]]  # (tenant id, execution id) -> sent to the workers


@dataclass(frozen=True, slots=True)
class ExecutionSettings:
    """Knobs of the service. ``limits`` applies to every execution (private addresses refused)."""

    limits: RunLimits = field(default_factory=RunLimits)
    max_batch: int = 256  # executions per group-commit transaction
    abort_wait_seconds: float = 1.0  # how long abort() waits to report the aborted state
    shutdown_grace_seconds: float = 2.0  # aborted executions get this long to record themselves
    poll_seconds: float = 0.25  # wait()/events() on executions this process does not run
    recheck_seconds: float = 5.0  # wait(): the store is read when the bus says nothing for this long
    tenant_limit: int | None = None  # executions of one tenant this process runs at once (inline)
    definition_cache_size: int = 1024


@dataclass(frozen=True, slots=True)
class _Compiled:
    definition: WorkflowDefinition
    secret_names: frozenset[str]
    node_types: dict[str, str]  # node name -> type, for the node-duration metric
    keeps_static_data: bool  # a node asks for $getWorkflowStaticData: read before the run, saved after


@dataclass(frozen=True, slots=True)
class _Plan:
    """Everything one execution runs with, besides its row."""

    workflow_id: str
    version: int
    compiled: _Compiled
    secrets: dict[str, str]
    input: dict[str, Any]  # what the row stores: triggerData, variables, request, trigger
    resume: dict[str, dict[str, Any]] = field(default_factory=dict)
    static: StaticData | None = None  # the workflow's static data, for workflows that keep it


@dataclass(eq=False)
class Run:
    """An execution this process runs; a worker's carries its ``lease``."""

    actor: Actor
    summary: ExecutionSummary
    plan: _Plan
    idempotency_key: str | None
    done: asyncio.Future[ExecutionView]
    execution: Execution | None = None
    abort_reason: str | None = None
    task: asyncio.Task[None] | None = None
    sequence: int = 0
    logs_written: int = 0
    lease: Lease | None = None
    silenced: bool = False  # the lease is lost or given back: the run writes and publishes nothing more

    @property
    def key(self) -> tuple[str, str]:
        return (self.actor.tenant_id, self.summary.id)

    def silence(self) -> None:
        """Stop the run without recording anything: its row now belongs to another worker, or to none."""
        self.silenced = True
        if self.task is not None:
            self.task.cancel()

    def abort(self, reason: str) -> None:
        if self.abort_reason is None:
            self.abort_reason = reason
        if self.execution is not None:
            self.execution.abort(reason)

    def event(self, kind: str, data: dict[str, Any]) -> ProgressEvent:
        self.sequence += 1
        return ProgressEvent(self.sequence, kind, data)


class ExecutionService:
    """The execution use cases the HTTP routes call; see the module docstring."""

    def __init__(
        self,
        store: Store,
        bus: EventBus,
        settings: ExecutionSettings | None = None,
        *,
        dispatch: Dispatch | None = None,
    ) -> None:
        self.store = store
        self.bus = bus
        self.settings = settings or ExecutionSettings()
        self.dispatch = dispatch  # the queue mode: workers run what this process queues
        self._writer = GroupCommitWriter(store, max_batch=self.settings.max_batch)
        self._runs: dict[tuple[str, str], Run] = {}
        self._waiting: dict[str, deque[Run]] = {}  # inline runs a limit holds back, by tenant, oldest first
        self._compiled: LRUCache[tuple[str, str, int], _Compiled] = LRUCache(
            self.settings.definition_cache_size
        )
        self._closing = False

    async def start(self) -> None:
        self._writer.start()

    # ----- use cases ----------------------------------------------------------------------------------
    async def submit(
        self,
        actor: Actor,
        workflow_id: str,
        *,
        trigger_data: Any = None,
        variables: Mapping[str, Any] | None = None,
        request: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        trigger_kind: TriggerKind = "manual",
        trigger_metadata: Mapping[str, Any] | None = None,
        start_node: str | None = None,
        durable: bool = True,
        require_enabled: bool = True,
        workflow: WorkflowView | None = None,
    ) -> ExecutionSummary:
        """Queue an execution of the workflow's current version and start it; a repeated idempotency key
        returns the execution it made first (also when both arrive at once). With ``durable=False`` the run
        starts before its row is committed (see :meth:`_launch`): for a caller that waits for the end.
        ``trigger_metadata`` is stored with the trigger kind (``$execution``'s trigger, the record's input);
        ``require_enabled=False`` runs a disabled workflow too, as n8n runs sub-workflows. ``start_node``
        (a node's name or id) is the trigger that fired, where the run starts; by default the first enabled
        trigger. ``workflow``: the workflow as the caller read it moments ago in the actor's tenant (a
        webhook's lookup), so that it is not read again."""
        if workflow is not None and (workflow.id != workflow_id or workflow.tenant_id != actor.tenant_id):
            raise ValueError(f"workflow {workflow.id!r} is not {workflow_id!r} of tenant {actor.tenant_id!r}")
        if trigger_kind not in get_args(TriggerKind):
            raise InvalidRequestError(
                ErrorCode.INVALID_VALUE,
                f"triggerKind is one of {', '.join(get_args(TriggerKind))}",
                path="$.triggerKind",
            )
        if variables is not None and not isinstance(variables, Mapping):
            raise InvalidRequestError(
                ErrorCode.INVALID_VALUE, "variables must be an object", path="$.variables"
            )
        start_items(trigger_data)  # refuse malformed trigger data before anything is stored
        stored_input = {
            "triggerData": trigger_data,
            "variables": dict(variables or {}),
            "request": request_data(request),
            "trigger": {"kind": trigger_kind, "metadata": dict(trigger_metadata or {})},
        }
        if start_node is not None:
            stored_input["startNode"] = start_node
        plan: _Plan | None = None
        async with self.store.unit(actor, read_only=True) as unit:
            if workflow is None:
                workflow = await unit.workflows.get_for(workflow_id, "workflow.execute")
            if require_enabled:
                _check_enabled(workflow)
            status = workflow.data["validationStatus"]
            if status == "valid":  # the usual case: one unit reads all it needs
                document = workflow.document()
                plan = await self._plan(unit, workflow.id, workflow.version, document, stored_input)
        if plan is None:
            if status == "stale":  # validated under another node registry: validate once now
                async with self.store.unit(actor) as unit:
                    status = "valid" if (await unit.workflows.validate(workflow.id)).valid else "invalid"
            _check_valid(status, workflow)
            async with self.store.unit(actor, read_only=True) as unit:
                document = workflow.document()
                plan = await self._plan(unit, workflow.id, workflow.version, document, stored_input)
        return await self._launch(actor, plan, trigger_kind, idempotency_key, durable=durable)

    async def wait(self, tenant_id: str, execution_id: str, timeout: float) -> ExecutionView | None:
        """The finished execution, or None if it has not ended within ``timeout`` seconds. One that another
        process runs is heard of on the bus, which carries the stored execution the runner just committed
        (at once when the bus crosses processes: Redis); the store is read whenever the bus is silent for
        ``recheck_seconds`` or knows nothing of the execution."""
        run = self._runs.get((tenant_id, execution_id))
        if run is not None:
            try:
                async with asyncio.timeout(timeout):  # not wait_for: its wake-up costs a turn more
                    return await asyncio.shield(run.done)
            except TimeoutError:
                return None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            slot = min(self.settings.recheck_seconds, max(0.0, deadline - loop.time()))
            ended = await self.bus.ending(tenant_id, execution_id, slot)
            if ended is not None:
                return ExecutionView.from_dict(ended.data)
            async with self.store.unit(Actor(tenant_id), read_only=True) as unit:
                view = await unit.executions.get(execution_id)
            remaining = deadline - loop.time()
            if view.status in FINISHED_STATUSES:
                return view
            if remaining <= 0:
                return None
            await asyncio.sleep(min(self.settings.poll_seconds, remaining))

    async def abort(self, actor: Actor, execution_id: str) -> ExecutionSummary:
        """Stop an execution: it ends ``aborted`` even while a node sleeps or awaits I/O. A queued one that
        no process has started is finished as aborted here. A finished one is EXECUTION_FINISHED."""
        async with self.store.unit(actor) as unit:
            summary = await unit.executions.request_abort(execution_id)
        run = self._runs.get((actor.tenant_id, execution_id))
        if run is not None:
            run.abort("aborted by user")
            if run in self._waiting.get(actor.tenant_id, ()):  # held by a limit: it ends at once, aborted
                self._waiting[actor.tenant_id].remove(run)
                self._start(run)
            try:
                view = await asyncio.wait_for(asyncio.shield(run.done), self.settings.abort_wait_seconds)
            except TimeoutError:
                return summary
            return _summary_of(view)
        if summary.status == "queued":
            error = {"message": "aborted before it started", "code": ErrorCode.ABORTED, "node": None}
            return await self._writer.progress(
                actor.tenant_id, execution_id, finish=FinishedRun("aborted", error, Metrics())
            )
        if summary.status == "running":  # on a worker: told at once on a shared bus, else it polls the flag
            await self.bus.request_stop(actor.tenant_id, execution_id)
            ended = await self.wait(actor.tenant_id, execution_id, self.settings.abort_wait_seconds)
            if ended is not None:
                return _summary_of(ended)
        return summary

    async def retry(
        self, actor: Actor, execution_id: str, *, use_current_version: bool = False
    ) -> ExecutionSummary:
        """A new execution (trigger ``retry``) that reuses the outputs of the nodes that succeeded and runs
        the rest: with the workflow version the original ran (n8n's "retry with original workflow") or the
        current one."""
        async with self.store.unit(actor, read_only=True) as unit:
            original = await unit.executions.get(execution_id, include_logs=False)
            _check_retryable(original)
            if original.workflow_id is None:
                raise not_found(ErrorCode.WORKFLOW_NOT_FOUND, "workflow", "(none)")
            workflow = await unit.workflows.get(original.workflow_id)
            _check_enabled(workflow)
            version = original.workflow_version or workflow.version
            if use_current_version or version == workflow.version:
                _check_valid(workflow.data["validationStatus"], workflow)
                version, document = workflow.version, workflow.document()
            else:
                document = (await unit.workflows.get_version(workflow.id, version)).definition
                report = validate(document, self.store.registry)
                _check_valid("valid" if report.valid else "invalid", workflow)
            previous = original.input if isinstance(original.input, dict) else {}
            stored_input = {
                **previous,
                "trigger": {
                    "kind": "retry",
                    "metadata": {"retryOf": original.id, "workflowVersion": version},
                },
            }
            plan = await self._plan(unit, workflow.id, version, document, stored_input)
            resume = await unit.executions.resume_input(original)  # finished nodes, with their files
        return await self._launch(actor, _with_resume(plan, resume), "retry", None)

    async def events(
        self, actor: Actor, execution_id: str, after: int | None = None
    ) -> AsyncIterator[ProgressEvent]:
        """The execution's progress events after ``after``, live while it runs, ending with
        ``execution.finished``; replayed from the store once the bus no longer holds them."""
        async with self.store.unit(actor, read_only=True) as unit:  # the tenant check: not found otherwise
            await unit.executions.get(execution_id, include_nodes=False, include_logs=False)
        last = after
        async for event in self.bus.subscribe(actor.tenant_id, execution_id, after):
            last = event.id
            yield event
            if event.type == EXECUTION_FINISHED:
                return
        view: ExecutionView | None = None
        while view is None:
            view = await self.wait(actor.tenant_id, execution_id, self.settings.poll_seconds * 20)
        for event in replay(view, last):
            yield event

    async def shutdown(self) -> None:
        """Abort every running execution (recorded as aborted, "the server shut down"); those that do not
        end within the grace period are cancelled and recorded as crashed. Then drain the writer."""
        self._closing = True
        for run in list(self._runs.values()):
            run.abort(SHUTDOWN_MESSAGE)
        for held in self._waiting.values():  # those a limit held back end as aborted too, not queued forever
            while held:
                self._start(held.popleft())
        tasks = [run.task for run in self._runs.values() if run.task is not None]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=self.settings.shutdown_grace_seconds)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        await self._writer.close()

    # ----- internals ----------------------------------------------------------------------------------
    async def _plan(
        self,
        unit: Unit,
        workflow_id: str,
        version: int,
        document: dict[str, Any] | None,
        stored_input: dict[str, Any],
    ) -> _Plan:
        """What a run of ``version`` needs; its ``document``, when not given, is read only if this process
        has not compiled that version yet."""
        key = (unit.tenant_id, workflow_id, version)
        compiled = self._compiled.get(key)
        if compiled is None:
            if document is None:
                document = (await unit.workflows.get_version(workflow_id, version)).definition
            definition = parse_workflow(document)
            types = {node.name: node.type for node in definition.nodes}
            keeps = STATIC_DATA_CALL in json.dumps(document.get("nodes"), default=str) or any(
                (found := self.store.registry.get(node.type)) is not None and found.keeps_static_data(node)
                for node in definition.nodes
            )
            compiled = self._compiled[key] = _Compiled(definition, secret_names(document), types, keeps)
        secrets = await unit.secrets.values_for(compiled.secret_names) if compiled.secret_names else {}
        static = await unit.workflows.static_data(workflow_id) if compiled.keeps_static_data else None
        return _Plan(workflow_id, version, compiled, secrets, stored_input, static=static)

    async def _launch(
        self,
        actor: Actor,
        plan: _Plan,
        trigger_kind: str,
        idempotency_key: str | None,
        *,
        durable: bool = True,
    ) -> ExecutionSummary:
        """Queue the row and start the run. ``durable`` returns once the row is committed (a caller about
        to answer 202 needs that); otherwise the run starts while the row is on its way, unless an
        idempotency key must first be checked against the rows already written."""
        if self._closing:
            raise ConflictError(ErrorCode.SERVICE_UNAVAILABLE, "the server is shutting down")
        request = QueuedExecution(
            actor,
            plan.workflow_id,
            plan.version,
            trigger_kind,
            plan.input,
            idempotency_key,
            concurrency_limit=plan.compiled.definition.settings.max_concurrent_executions,
        )
        if self.dispatch is not None:
            return await self._enqueue(request, plan, durable=durable)
        writing = self._writer.create(request, hold=not durable and idempotency_key is None)
        if durable or idempotency_key is not None:
            summary, created = await writing
            if not created:
                return summary
        else:  # run at once: the row, the checkpoints and the end often share one transaction
            writing.add_done_callback(_consume)
            summary = _queued(request)
        run = Run(actor, summary, plan, idempotency_key, asyncio.get_running_loop().create_future())
        await self.bus.publish(actor.tenant_id, summary.id, run.event(EXECUTION_STARTED, _started(summary)))
        if self._admits(run):
            self._start(run)
        else:
            self._runs[run.key] = run
            self._waiting.setdefault(actor.tenant_id, deque()).append(run)
        return summary

    async def _enqueue(self, request: QueuedExecution, plan: _Plan, *, durable: bool) -> ExecutionSummary:
        """The queue mode: the row first (the message is only its id), then the first event, so that
        followers on any process hear of it before a worker does, then the message. A message that cannot
        be sent is not an error here: the row stays queued and a worker's reaper sends it again. A caller
        answered only at the run's end (not ``durable``) goes on once the row is committed, without
        waiting for the cache invalidation (the run's end renews the caches again before it is answered)."""
        summary, created = await self._writer.create(request, early=not durable)
        if not created:
            return summary
        tenant_id = request.actor.tenant_id
        if plan.resume:  # a retry: the nodes it reuses are stored on the new row, where the worker reads them
            await self._writer.progress(tenant_id, summary.id, nodes=_resumed(plan))
        first = ProgressEvent(1, EXECUTION_STARTED, _started(summary))
        await self.bus.publish(tenant_id, summary.id, first)
        assert self.dispatch is not None
        try:
            await self.dispatch(tenant_id, summary.id)
        except Exception:
            log.exception("execution %s stays queued: the broker refused it", summary.id)
        return summary

    async def run_claimed(self, lease: Lease) -> Run:
        """Start the execution a worker has just claimed, from its stored row (the one the claim returned,
        for a fresh run): the version it was queued with, its input, and the nodes that already finished (a
        run taken over is resumed, not repeated).
        Every write carries the lease. The run's ``done`` resolves with the stored end."""
        async with self.store.unit(Actor(lease.tenant_id), read_only=True) as unit:
            view = lease.execution or await unit.executions.get(
                lease.execution_id, include_nodes=lease.nodes_stored, include_logs=False
            )
            if view.workflow_id is None or view.workflow_version is None:
                raise not_found(ErrorCode.WORKFLOW_NOT_FOUND, "workflow", "(none)")
            stored_input = view.input if isinstance(view.input, dict) else {}
            plan = await self._plan(unit, view.workflow_id, view.workflow_version, None, stored_input)
            resume = await unit.executions.resume_input(view)
        actor = Actor(lease.tenant_id, user_id=view.created_by)
        summary = _summary_of(view)
        loop = asyncio.get_running_loop()
        run = Run(actor, summary, _with_resume(plan, resume), view.idempotency_key, loop.create_future())
        run.lease = lease
        run.sequence = _first_sequence(view, len(plan.compiled.definition.nodes), lease.attempt)
        if view.abort_requested:
            run.abort("aborted by user")
        self._start(run)
        return run

    async def give_back(self, run: Run) -> bool:
        """A worker stopping cleanly: end the run without recording an end, store the checkpoints it
        queued, and put the execution back in the queue for another worker to resume. False if the lease
        was lost meanwhile (someone else has the execution)."""
        lease = run.lease
        if lease is None:
            raise ValueError("only a worker's run (one with a lease) is given back")
        run.silence()
        if run.task is not None:
            await asyncio.gather(run.task, return_exceptions=True)
        try:
            await self._writer.progress(lease.tenant_id, lease.execution_id, lease=lease)
            async with self.store.unit(Actor(lease.tenant_id)) as unit:
                return await unit.executions.release(lease)
        except StoreError:
            return False

    def _start(self, run: Run) -> None:
        run.done.add_done_callback(_consume)
        earlier = self._runs.get(run.key)
        if earlier is not None and earlier.lease is not None:  # this worker's lost lease, claimed again
            earlier.silence()
        self._runs[run.key] = run
        run.task = asyncio.create_task(self._drive(run), name=f"execution-{run.summary.id}")

    def _forget(self, run: Run) -> None:
        """Drop ``run`` from the runs of this process, unless a later run of its execution replaced it;
        a slot it held goes to the runs a limit held back."""
        if self._runs.get(run.key) is run:
            del self._runs[run.key]
        if self._waiting:
            self._admit_waiting()

    def _admits(self, run: Run) -> bool:
        """Whether ``run`` may start now in the inline mode: fewer than its workflow's
        ``maxConcurrentExecutions`` of that workflow, and fewer than ``tenant_limit`` of its tenant's
        executions, run in this process (the queue mode counts on every worker: ``claim_next``)."""
        limit = run.plan.compiled.definition.settings.max_concurrent_executions
        tenant_limit = self.settings.tenant_limit
        if self.dispatch is not None or (limit is None and tenant_limit is None):
            return True
        tenant_id = run.actor.tenant_id
        running = [
            other for other in self._runs.values() if other.task is not None and other.key[0] == tenant_id
        ]
        if tenant_limit is not None and len(running) >= tenant_limit:
            return False
        workflow_id = run.plan.workflow_id
        return limit is None or sum(other.plan.workflow_id == workflow_id for other in running) < limit

    def _admit_waiting(self) -> None:
        """Start the held-back runs that the limits now admit: a round at a time, one per tenant, the
        tenants that run the fewest first, each tenant's oldest admitted run (the queue mode's fair turn)."""
        started = True
        while started:
            started = False
            running = Counter(run.key[0] for run in self._runs.values() if run.task is not None)
            for tenant_id in sorted(self._waiting, key=lambda tenant: running[tenant]):
                held = self._waiting[tenant_id]
                admitted = next((run for run in held if self._admits(run)), None)
                if admitted is not None:
                    held.remove(admitted)
                    self._start(admitted)
                    started = True
                if not held:
                    del self._waiting[tenant_id]

    async def _drive(self, run: Run) -> None:
        """Run the engine and record the end, whatever happens: no execution stays ``running`` silently."""
        tenant_id, execution_id = run.key
        record: ExecutionRecord | None = None
        try:
            finish, record = await self._execute(run)
        except asyncio.CancelledError:
            if run.silenced:
                self._forget(run)
                run.done.cancel()
                return
            finish = FinishedRun(
                "crashed", {"message": SHUTDOWN_MESSAGE, "code": ErrorCode.ABORTED, "node": None}
            )
        except Exception as error:  # a bug or a store failure: the execution's error, never lost
            log.exception("execution %s failed outside its nodes", execution_id)
            message = f"{type(error).__name__}: {error}"
            finish = FinishedRun(
                "error", {"message": message, "code": ErrorCode.INTERNAL_ERROR, "node": None}
            )
        if record is None and run.execution is not None:
            record = run.execution.record
        logs = record.logs[run.logs_written :] if record is not None else []
        if finish.metrics is None and record is not None:
            finish = FinishedRun(finish.status, finish.error, record.metrics, finish.finished_at)
        try:
            summary = await self._writer.progress(
                tenant_id, execution_id, logs=logs, finish=finish, lease=run.lease
            )
            view = self._view(run, summary, record)
            # Published before the caller hears of the end: once it has, the bus knows the run ended.
            await self.bus.publish(tenant_id, execution_id, run.event(EXECUTION_FINISHED, view.to_dict()))
            run.done.set_result(view)
            metrics.observe_execution(summary.status)
            await start_error_workflow(self, tenant_id, view)  # never raises
        except Exception as error:
            run.done.set_exception(error)
        finally:
            self._forget(run)
            run.execution = None  # its event callback holds the run: freed now, not by the collector

    async def _execute(self, run: Run) -> tuple[FinishedRun, ExecutionRecord]:
        tenant_id, execution_id = run.key
        plan = run.plan
        execution = Execution(
            plan.compiled.definition,
            registry=self.store.registry,
            execution_id=execution_id,
            input_items=start_items(plan.input.get("triggerData")),
            variables=plan.input.get("variables") or {},
            secrets=plan.secrets,
            context={
                "tenantId": tenant_id,
                "userId": run.actor.user_id,
                "executionId": execution_id,
                "trigger": plan.input.get("trigger") or {},
                "request": plan.input.get("request") or {},
            },
            limits=self.settings.limits,
            events=lambda event: self._on_event(run, event),
            resume=plan.resume,
            workflow_loader=workflow_loader(self.store, run.actor),
            workflow_starter=self._workflow_starter(run),
            start_node=_start_node(plan),
            static_data=plan.static.data if plan.static is not None else None,
        )
        run.execution = execution
        if run.abort_reason is not None:
            execution.abort(run.abort_reason)
        if run.lease is None:  # a worker's claim stamped the start, and its resumed nodes are stored already
            started_at = execution.record.start_time
            self._writer.progress(tenant_id, execution_id, started_at=started_at, nodes=_resumed(plan))
        record = await execution.run()
        if plan.static is not None and execution.static_data != plan.static.data:
            await self._keep_static_data(run, plan.static, execution)
        return FinishedRun(record.status, record.error, record.metrics, record.end_time), record

    def _workflow_starter(self, run: Run) -> WorkflowStarter:
        """How ``run`` starts a stored workflow without waiting for it: as an execution of its own, in the
        run's tenant (another tenant's id reads as not found), queued like any other, so it is recorded,
        survives this one, and runs on whichever worker is free. Chains of them stop at
        :data:`MAX_DETACHED_DEPTH`."""
        trigger = run.plan.input.get("trigger") or {}
        metadata = trigger.get("metadata") if isinstance(trigger, Mapping) else None
        depth = metadata.get("depth", 0) if isinstance(metadata, Mapping) else 0
        depth = (depth if isinstance(depth, int) else 0) + 1

        async def start(source: Any, items: Items) -> str:
            if depth > MAX_DETACHED_DEPTH:
                raise NodeError(
                    f"sub-workflows started without waiting chain deeper than {MAX_DETACHED_DEPTH}",
                    code=ErrorCode.EXECUTION_LIMIT,
                )
            if source.get("source") != "database":
                raise NodeError(
                    "only stored workflows (source: database) or inline JSON can run as sub-workflows here",
                    code=ErrorCode.WORKFLOW_INVALID,
                )
            target = str(source.get("workflowId"))
            try:
                summary = await self.submit(
                    run.actor,
                    target,
                    trigger_data=[item.get("json", {}) for item in items],
                    trigger_kind="subworkflow",
                    trigger_metadata={"parentExecutionId": run.summary.id, "depth": depth},
                    require_enabled=False,
                )
            except AccessDeniedError as error:  # another tenant's id: as not found, as in a waited run
                message = not_found(ErrorCode.WORKFLOW_NOT_FOUND, "workflow", target).message
                raise NodeError(message, code=ErrorCode.WORKFLOW_NOT_FOUND) from error
            except StoreError as error:
                raise NodeError(error.message, code=error.code) from None
            return summary.id

        return start

    async def _keep_static_data(self, run: Run, read: StaticData, execution: Execution) -> None:
        """Save what the run left in the workflow's static data. If another execution saved since this
        one read it, this one's changes are not kept (no overwrite): its log says so."""
        try:
            async with self.store.unit(run.actor) as unit:
                await unit.workflows.save_static_data(
                    run.plan.workflow_id, execution.static_data, expected_version=read.version
                )
        except StoreError as error:
            message = f"the workflow's static data was not saved: {error.message}"
            execution.record.logs.append(LogEntry(utc_now(), "warn", message, None, {"code": error.code}))

    async def _on_event(self, run: Run, event: ExecutionEvent) -> None:
        """Checkpoint finished nodes (with the log lines since the last one) and forward progress."""
        tenant_id, execution_id = run.key
        if event.type == "node.finished" and event.node is not None:
            data = event.data
            node_type = run.plan.compiled.node_types.get(event.node, "unknown")
            metrics.observe_node(node_type, str(data.get("status")), (data.get("duration") or 0.0) / 1000)
            logs = run.execution.record.logs if run.execution is not None else []
            written = self._writer.progress(
                tenant_id,
                execution_id,
                nodes=[(event.node, data["runIndex"], data)],
                logs=logs[run.logs_written :],
                lease=run.lease,
            )
            if run.lease is not None:
                written.add_done_callback(lambda future: _silence_if_lost(run, future))
            run.logs_written = len(logs)
            await self.bus.publish(
                tenant_id, execution_id, run.event(NODE_FINISHED, node_finished_data(event.node, data))
            )
            response = webhooks.response_event(self.store.keyring, run, event.node, node_type, data)
            if response is not None:
                await self.bus.publish(tenant_id, execution_id, run.event(WEBHOOK_RESPONSE, response))
        elif event.type == "node.started":
            payload = {"node": event.node, **event.data}
            await self.bus.publish(tenant_id, execution_id, run.event(NODE_STARTED, payload))

    def _view(self, run: Run, summary: ExecutionSummary, record: ExecutionRecord | None) -> ExecutionView:
        """The stored execution as the store would read it back, built from what this process holds."""
        return ExecutionView(
            **{name: getattr(summary, name) for name in _SUMMARY_FIELDS},
            idempotency_key=run.idempotency_key,
            input=run.plan.input,
            metrics=(record.metrics if record is not None else Metrics()).to_dict(),
            state={name: _as_stored(state) for name, state in record.state.items()}
            if record is not None
            else {},
            logs=list(record.logs) if record is not None else [],
        )


def _start_node(plan: _Plan) -> str | None:
    """The name of the node the stored input says fired (by name, else id, as connections resolve), if the
    version this run executes still has it enabled; else the engine's default start."""
    wanted = plan.input.get("startNode")
    if not isinstance(wanted, str):
        return None
    nodes = [node for node in plan.compiled.definition.nodes if not node.disabled]
    found = next((n for n in nodes if n.name == wanted), None) or next(
        (n for n in nodes if n.id == wanted), None
    )
    return None if found is None else found.name


def _silence_if_lost(run: Run, future: asyncio.Future[ExecutionSummary]) -> None:
    """A checkpoint refused with LEASE_LOST: another worker has the execution now, so this run stops."""
    error = None if future.cancelled() else future.exception()
    if isinstance(error, StoreError) and error.code == ErrorCode.LEASE_LOST:
        run.silence()


EVENTS_PER_NODE_RUN: Final = 3  # node.started, node.finished and, for Respond to Webhook, webhook.response


def _first_sequence(view: ExecutionView, node_count: int, attempt: int) -> int:
    """The event id a worker's run counts on from. The API published ``execution.started`` as 1; a run
    carried on after another worker numbers past every id that one can have published (at most
    :data:`EVENTS_PER_NODE_RUN` per stored node run and per node in flight), so followers, and a bus that
    refuses an id it holds, see the new events rather than nothing until the ids pass the old ones."""
    if attempt == 1 and not view.state:
        return 1
    runs = sum(state.runs for state in view.state.values())
    return 1 + EVENTS_PER_NODE_RUN * (runs + node_count)


def _started(summary: ExecutionSummary) -> dict[str, Any]:
    return {
        "executionId": summary.id,
        "workflowId": summary.workflow_id,
        "workflowVersion": summary.workflow_version,
        "triggerKind": summary.trigger_kind,
        "startTime": iso(utc_now()),
    }


def _as_stored(state: NodeState) -> NodeState:
    """The node state as its checkpoint stores it: times to the millisecond, as the engine's events carry
    them, and files as their metadata, so the view equals what the store reads back."""
    return replace(
        state,
        output=metadata_only(state.output),
        start_time=_to_millis(state.start_time),
        end_time=_to_millis(state.end_time),
    )


def _to_millis(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _resumed(plan: _Plan) -> list[tuple[str, int, dict[str, Any]]]:
    """The checkpoints of the nodes a run reuses, as its own (a retry copies them to its new row)."""
    return [(name, state["runs"] - 1, state) for name, state in plan.resume.items()]


def _with_resume(plan: _Plan, resume: dict[str, dict[str, Any]]) -> _Plan:
    return _Plan(plan.workflow_id, plan.version, plan.compiled, plan.secrets, plan.input, resume)


def _check_enabled(workflow: WorkflowView) -> None:
    if not workflow.data["enabled"]:
        raise ConflictError(
            ErrorCode.WORKFLOW_DISABLED, f"workflow {workflow.id!r} is disabled", details={"id": workflow.id}
        )


def _check_valid(status: str, workflow: WorkflowView) -> None:
    if status != "valid":
        raise ConflictError(
            ErrorCode.VALIDATION_STATUS_INVALID,
            f"workflow {workflow.id!r} is not valid ({status}); fix and save it first",
            details={
                "id": workflow.id,
                "validationStatus": status,
                "errors": workflow.data["validationErrors"],
            },
        )


def _check_retryable(execution: ExecutionView) -> None:
    if execution.status in ACTIVE_STATUSES:
        raise ConflictError(
            ErrorCode.EXECUTION_IN_PROGRESS,
            f"execution {execution.id!r} is still {execution.status}",
            details={"id": execution.id, "status": execution.status},
        )
    if execution.status == "success":
        raise ConflictError(
            ErrorCode.EXECUTION_FINISHED,
            f"execution {execution.id!r} succeeded; only a failed, timed-out, aborted or crashed one is"
            " retried",
            details={"id": execution.id, "status": execution.status},
        )


def _summary_of(view: ExecutionView) -> ExecutionSummary:
    return ExecutionSummary(**{name: getattr(view, name) for name in _SUMMARY_FIELDS})


def _queued(request: QueuedExecution) -> ExecutionSummary:
    """The summary the store will write for ``request``."""
    return ExecutionSummary(
        id=request.id,
        workflow_id=request.workflow_id,
        workflow_version=request.workflow_version,
        status="queued",
        trigger_kind=request.trigger_kind,
        attempt=1,
        abort_requested=False,
        created_by=request.actor.user_id,
        created_at=utc_now(),
        started_at=None,
        finished_at=None,
        duration_ms=None,
        error=None,
    )


def _consume(future: asyncio.Future[Any]) -> None:
    """Mark a run's failure as seen: it is logged where it happened, and ``wait`` re-raises it."""
    if not future.cancelled():
        future.exception()
