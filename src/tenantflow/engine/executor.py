"""The DAG executor: runs a workflow's nodes concurrently in dependency order and keeps the record.

Scheduling is Kahn's algorithm over connections. A node becomes ready once every incoming connection has
*resolved*: fired (carried items) or pruned (its output was empty, or its source never ran). Several
connections into one input run the node **once**, items concatenated in connection order. A node whose
inputs are all pruned does not run and prunes its own outputs in turn. Any cycle is legal, as in n8n's v1
order: when a back edge into a loop head (a loop node, or any node a cycle returns to) fires, the head
runs again on the items it carried, with a higher run index, and its region (everything after it) is
re-armed to run again on the head's latest output, once the region's current pass has finished. While a
loop node (``splitInBatches``) is still looping, its exit connections are held open rather than pruned.
``maxNodeExecutions`` stops a loop that never ends.

The executor is host-agnostic: events go to an async callback (the store checkpoints ``node.finished``;
the live-progress stream forwards them), and ``resume`` seeds the run with nodes that already finished.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any, TypedDict, Unpack

from tenantflow.engine.budget import MAX_SUBWORKFLOW_DEPTH, SharedBudget
from tenantflow.engine.context import NodeRunContext
from tenantflow.engine.definition import (
    NodeDefinition,
    WorkflowDefinition,
    parse_workflow,
)
from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.expressions import ExpressionError, ExpressionLimits
from tenantflow.engine.graph import ERROR, MAIN, Edge, Graph, cached_graph
from tenantflow.engine.heap import FULL_COLLECTIONS, HELD_ITEMS
from tenantflow.engine.outputs import DataMeter, normalise_outputs, normalise_outputs_paced
from tenantflow.engine.pacing import PACED_ITEMS, SLICE_SECONDS, Pacer, chunks, is_large
from tenantflow.engine.pairing import PairedItems, Source, stamp_inputs, stamp_inputs_paced
from tenantflow.engine.proxy import ScopeInputs
from tenantflow.engine.record import ExecutionRecord, ExecutionStatus, LogEntry, NodeState, utc_now
from tenantflow.engine.redaction import Redactor
from tenantflow.engine.retry import NO_RETRY, is_retryable, retry_delay
from tenantflow.engine.sdk import (
    Item,
    Items,
    LogLevel,
    NodeRegistry,
    NodeType,
    WorkflowLoader,
    WorkflowStarter,
)
from tenantflow.engine.validation import validate

EventSink = Callable[["ExecutionEvent"], Awaitable[None]]


@dataclass(frozen=True)
class ExecutionEvent:
    """Lifecycle event: execution.started, node.started, node.finished or execution.finished."""

    type: str
    execution_id: str
    node: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunLimits:
    """Host-imposed limits and permissions; ``None`` fields fall back to the workflow's own settings."""

    max_node_executions: int | None = None
    max_concurrency: int | None = None
    execution_timeout_s: float | None = None
    expressions: ExpressionLimits = field(default_factory=ExpressionLimits)
    allow_private_network: bool = False
    allow_host_commands: bool = False  # n8n's Execute Command runs a shell on the host: off unless allowed
    files_root: str | None = None  # the host directory file nodes may read and write; None: no disk access
    max_binary_bytes: int | None = None  # binary file data one execution may add; None: the default cap
    # Ceilings on the workflow's executionLimits.maxMemoryMb / maxDataSizeMb (bytes); None: the workflow's
    max_memory_bytes: int | None = None
    max_data_bytes: int | None = None


class ExecutionOptions(TypedDict, total=False):
    """Everything a host may pass to one execution besides the definition and the node registry."""

    input_items: Items | None  # items for the start nodes (default: one empty item)
    variables: Mapping[str, Any] | None  # the execution's variable scope ($vars)
    secrets: Mapping[str, str] | None  # $secrets; their values are masked in everything recorded
    context: Mapping[str, Any] | None  # $context: tenant, user, request ...
    env: Mapping[str, str] | None  # $env: only what the host allow-lists
    limits: RunLimits | None
    events: EventSink | None
    resume: Mapping[str, Mapping[str, Any]] | None  # finished node states of an earlier run
    workflow_loader: WorkflowLoader | None  # resolves sub-workflow references
    workflow_starter: WorkflowStarter | None  # starts a referenced workflow as an execution of its own
    execution_id: str | None
    start_node: str | None  # the trigger that fired (default: the first enabled trigger)
    static_data: Mapping[str, Any] | None  # the workflow's static data as the last execution left it


class _Stop(Exception):
    """Raised inside the scheduler to end the execution with a status other than success."""

    def __init__(self, status: ExecutionStatus, error: dict[str, Any]) -> None:
        super().__init__(error.get("message", status))
        self.status = status
        self.error = error


_FIRED = 1
_PRUNED = 2


class Execution:
    """One run of one workflow. Create it, ``await run()``, call ``abort()`` from elsewhere to stop it."""

    # The scheduler reads these several times per node: slot reads are CPython's cheapest, and a plain
    # instance with this many attributes loses its fast attribute path (~6% of a noOp node's cost).
    __slots__ = (
        "_active",
        "_binary_bytes",
        "_binary_seen",
        "_completions",
        "_dispatched",
        "_done",
        "_edge_items",
        "_edge_state",
        "_holding",
        "_inline",
        "_large_items",
        "_last_finished",
        "_legacy_order",
        "_loop_restarts",
        "_looping",
        "_main_task",
        "_max_held",
        "_max_output",
        "_meter",
        "_node_states",
        "_parents_to_force",
        "_queued",
        "_ready",
        "_resume",
        "_running",
        "_runs",
        "_sources",
        "_start_node",
        "_stop",
        "_unresolved",
        "budget",
        "context",
        "definition",
        "depth",
        "env",
        "events",
        "graph",
        "id",
        "input_items",
        "limits",
        "nodes",
        "record",
        "redactor",
        "registry",
        "secrets",
        "static_scopes",
        "variables",
        "workflow_loader",
        "workflow_starter",
    )

    def __init__(
        self,
        definition: WorkflowDefinition | Mapping[str, Any],
        *,
        registry: NodeRegistry,
        depth: int = 0,
        budget: SharedBudget | None = None,
        **options: Unpack[ExecutionOptions],
    ) -> None:
        input_items = options.get("input_items")
        secrets = options.get("secrets") or {}
        resume = options.get("resume") or {}
        self.definition = (
            definition if isinstance(definition, WorkflowDefinition) else parse_workflow(dict(definition))
        )
        self.registry = registry
        self.id = options.get("execution_id") or str(uuid.uuid4())
        self.limits = options.get("limits") or RunLimits()
        self.input_items = input_items if input_items is not None else [{"json": {}}]
        self.secrets = dict(secrets)
        self.context = dict(options.get("context") or {})
        self.env = dict(options.get("env") or {})
        self.events = options.get("events")
        self.workflow_loader = options.get("workflow_loader")
        self.workflow_starter = options.get("workflow_starter")
        self.depth = depth
        self.budget = budget  # a sub-execution's is its parent's; the top execution's is made when it runs
        self.redactor = Redactor(self.secrets.values())
        self.graph: Graph = cached_graph(self.definition, registry)
        self.nodes = self.graph.nodes
        self.variables = self._initial_variables(options.get("variables") or {})
        # n8n's workflow static data ({"global": {...}, "node:<name>": {...}}), which nodes change in place
        # through their context; the host reads :attr:`static_data` after the run and keeps it.
        self.static_scopes: dict[str, Any] = copy.deepcopy(dict(options.get("static_data") or {}))
        self.record = ExecutionRecord(
            id=self.id, workflow_id=self.definition.id, status="running", start_time=utc_now()
        )
        self._start_node = options.get("start_node")
        self._resume = {k: NodeState.from_dict(dict(v)) for k, v in resume.items()}
        self._edge_state: dict[Edge, int] = {}
        self._edge_items: dict[Edge, Items] = {}
        self._done: set[str] = set()
        self._running: dict[asyncio.Task[_Outcome], str] = {}
        self._runs: dict[str, list[list[Items]]] = {}
        self._node_states: dict[str, dict[str, Any]] = {}
        self._looping: set[str] = set()
        self._meter = DataMeter()
        self._max_held = _ceiling(self.definition.limits.max_memory_mb, self.limits.max_memory_bytes)
        self._max_output = _ceiling(self.definition.limits.max_data_mb, self.limits.max_data_bytes)
        self._stop: _Stop | None = None
        self._ready: deque[tuple[str, list[Items], tuple[Source, ...]]] = deque()
        self._sources: dict[tuple[str, int], tuple[Source, ...]] = {}
        self._queued: set[str] = set()
        self._active: set[str] = set()
        self._loop_restarts: dict[str, tuple[list[Items], tuple[Source, ...]]] = {}
        self._parents_to_force: set[str] = set()
        self._unresolved = dict(self.graph.in_degree)
        self._legacy_order = self.definition.settings.execution_order == "v0"
        self._main_task: asyncio.Task[Any] | None = None
        self._completions: asyncio.Queue[asyncio.Task[_Outcome]] = asyncio.Queue()
        self._inline: asyncio.Task[Any] | None = None
        self._dispatched = 0
        self._last_finished: str | None = None
        self._binary_bytes = 0
        self._binary_seen: set[int] = set()
        self._large_items = 0  # items of the large outputs kept so far
        self._holding = False  # whether this execution holds full collections off (see .heap)

    # ------------------------------------------------------------------ public API

    @property
    def static_data(self) -> dict[str, Any]:
        """The workflow's static data after the run, for the next execution (scopes left empty dropped)."""
        return {scope: data for scope, data in self.static_scopes.items() if data}

    def abort(self, reason: str = "aborted by user") -> None:
        """Stop the execution: running nodes are cancelled, nothing new starts, status becomes ``aborted``."""
        self._halt(_Stop("aborted", {"message": reason, "code": ErrorCode.ABORTED, "node": None}))

    async def run(self) -> ExecutionRecord:
        self._main_task = asyncio.current_task()
        await self._emit("execution.started", None, {"workflowId": self.definition.id})
        budget = self._shared_budget()
        timer = None
        if budget.timeout_s:  # a sub-execution's timer: what is left of the top execution's time
            timer = asyncio.get_running_loop().call_later(
                budget.remaining_s() or 0.0, self._on_timeout, budget.timeout_s
            )
        try:
            self._check_variables()
            await self._schedule()
        except _Stop as stop:
            if self._stop is None:
                self._stop = stop
        except asyncio.CancelledError:
            if self._stop is None or self._main_task is None:  # cancelled from outside: not ours to swallow
                raise
            self._main_task.uncancel()
        finally:
            if timer is not None:
                timer.cancel()
            if self._holding:
                FULL_COLLECTIONS.release()
            await self._cancel_running()
        if self._stop is None:
            self.record.status = "success"
        else:
            self.record.status = self._stop.status
            self.record.error = self.redactor.redact(self._stop.error)
        self.record.end_time = utc_now()
        state = self.record.state
        if list(state) != self.graph.names:  # put in document order, unless every node ran in that order
            ordered = sorted(state, key=self.graph.position.__getitem__)
            self.record.state = dict(zip(ordered, map(state.__getitem__, ordered), strict=True))
        await self._emit(
            "execution.finished", None, {"status": self.record.status, "error": self.record.error}
        )
        return self.record

    # ------------------------------------------------------------------ set-up

    def _initial_variables(self, given: Mapping[str, Any]) -> dict[str, Any]:
        values = {name: var.default_value for name, var in self.definition.variables.items()}
        values.update(given)
        return values

    def _check_variables(self) -> None:
        for name, var in self.definition.variables.items():
            value = self.variables.get(name)
            if var.required and value is None:
                raise _Stop(
                    "error",
                    {
                        "message": f"required variable '{name}' was not supplied",
                        "code": ErrorCode.MISSING_VARIABLE,
                    },
                )
            if value is not None and not _matches_type(value, var.type):
                raise _Stop(
                    "error",
                    {
                        "message": f"variable '{name}' must be of type {var.type}",
                        "code": ErrorCode.INVALID_VARIABLE_TYPE,
                    },
                )

    def _on_timeout(self, seconds: float) -> None:
        message = f"execution exceeded its timeout of {seconds:g} s"
        self._halt(_Stop("timeout", {"message": message, "code": ErrorCode.EXECUTION_TIMEOUT, "node": None}))

    def _halt(self, stop: _Stop) -> None:
        if self._stop is None:
            self._stop = stop
        for task in self._running:
            task.cancel()
        if self._inline is not None:
            self._inline.cancel()

    # ------------------------------------------------------------------ scheduling

    async def _schedule(self) -> None:
        self._initial_ready()
        max_concurrency = self.limits.max_concurrency or self.definition.settings.max_concurrency
        limit = self.limits.max_node_executions or self.definition.limits.max_node_executions
        # Node runs one after another in this task share the loop too: it yields once a slice is used up
        # (the clock read inline, not through a Pacer: this runs for every node).
        until = perf_counter() + SLICE_SECONDS
        while (self._ready or self._running) and self._stop is None:
            if self._ready and (
                (not self._running and len(self._ready) == 1) or self._runs_inline(self._ready[0][0])
            ):
                name, inputs, sources = self._take(limit)
                self._inline = self._main_task
                try:
                    outcome = await self._run_node(name, inputs, sources)
                finally:
                    self._inline = None
                if outcome.large:
                    await self._pass_large(outcome)
                else:
                    self._measure(outcome)
                if self.events is not None:
                    await self._emit_finished(outcome)
                self._after(outcome)
                if perf_counter() >= until:
                    await asyncio.sleep(0)
                    until = perf_counter() + SLICE_SECONDS
                continue
            if self._ready and len(self._running) < max_concurrency:
                name, inputs, sources = self._take(limit)
                task = asyncio.create_task(self._run_node(name, inputs, sources))
                task.add_done_callback(self._completions.put_nowait)
                self._running[task] = name
                self._active.add(name)
                continue
            task = await self._completions.get()
            self._active.discard(self._running.pop(task))
            if not task.cancelled():
                outcome = task.result()
                if outcome.large:
                    await self._pass_large(outcome)
                else:
                    self._measure(outcome)
                if self.events is not None:
                    await self._emit_finished(outcome)
                self._after(outcome)

    def _runs_inline(self, name: str) -> bool:
        """Run in the scheduler's own task (no Task to create, schedule and wait for) when nothing could
        overlap anyway: the node is the only work left (checked by the caller), or it never awaits I/O."""
        return name in self.graph.inline

    def _take(self, limit: int) -> tuple[str, list[Items], tuple[Source, ...]]:
        name, inputs, sources = self._ready.popleft()
        self._queued.discard(name)
        if self._dispatched >= limit:
            message = f"more than {limit} node executions; stopping a runaway loop"
            raise _Stop("error", {"message": message, "code": ErrorCode.EXECUTION_LIMIT, "node": name})
        refused = self.budget.spend() if self.budget is not None else None  # the tree's, sub-runs included
        if refused is not None:
            raise _Stop(refused.status, {"message": refused.message, "code": refused.code, "node": name})
        self._dispatched += 1
        return name, inputs, sources

    def _enqueue(self, name: str, inputs: list[Items], sources: tuple[Source, ...] = ()) -> None:
        """Queue a run of ``name``; ``sources`` says where its input items came from (none: the host's)."""
        self._queued.add(name)
        self._ready.append((name, inputs, sources))

    def _initial_ready(self) -> None:
        starts = self._starts()
        # Only start nodes and unfed nodes have anything to do here: a start node that is fed (one the host
        # named) is not among the unfed, and then every node is looked at.
        fed_start = any(self.graph.forward_in.get(name) for name in starts)
        for name in self.graph.names if fed_start else self.graph.unfed:
            if name in self._resume:
                continue
            if name in starts:
                self._enqueue(name, [list(self.input_items)])
            elif not self.graph.forward_in[name]:
                self._skip(name)
        restored = [name for name in self.graph.order if name in self._resume] if self._resume else []
        for name in restored:  # all of them first, so their outputs do not re-queue one another
            self.record.state[name] = self._resume[name]
            self._runs[name] = [self._resume[name].output]
            self._done.add(name)
        for name in restored:
            self._fire_outputs(name, self._resume[name].output, error_output=None)
        self._settle()

    def _starts(self) -> set[str]:
        if self._start_node is not None:
            return {self._start_node}
        triggers = [n for n in self.graph.start_nodes if (t := self._type_of(n)) is not None and t.is_trigger]
        return {triggers[0]} if triggers else set(self.graph.start_nodes)

    async def _emit_finished(self, outcome: _Outcome) -> None:
        state = {**outcome.state.to_dict(), "output": []}
        state["runs"] = len(self._runs.get(outcome.name, [])) + 1
        data = self.redactor.redact({"runIndex": outcome.run_index, **state})
        data["output"] = self._redacted(outcome)  # redacted once (a large output: already, paced)
        assert self.events is not None
        await self.events(ExecutionEvent("node.finished", self.id, outcome.name, data))

    def _hold_collections(self, lists: list[Items]) -> None:
        """Count a large input or output's items; from :data:`HELD_ITEMS` on, hold full garbage
        collections off until this execution ends (see :mod:`.heap`). Before the pass over them: it
        allocates, and the items were often just built (a full collection would walk them now)."""
        self._large_items += sum(map(len, lists))
        if self._large_items >= HELD_ITEMS and not self._holding:
            self._holding = True
            FULL_COLLECTIONS.hold()

    def _redacted(self, outcome: _Outcome) -> list[Items]:
        return self.redactor.redact(outcome.outputs) if outcome.redacted is None else outcome.redacted

    async def _pass_large(self, outcome: _Outcome) -> None:
        """What :meth:`_measure` does with an output, for a large one: measured (its new files found on the
        way) and redacted a chunk of items at a time, yielding to the event loop between slices (a
        200,000-item output took half a second to measure in one go)."""
        self._hold_collections(outcome.outputs)
        self._judge(outcome, await self._meter.measure_paced(outcome.outputs, self._max_output))
        if self._meter.files and outcome.outputs:  # items with files the execution had not met
            self._count_binary(outcome)
        if self.secrets:
            pacer = Pacer()
            redacted: list[Items] = []
            for output in outcome.outputs:
                kept: Items = []
                for start, stop in chunks(len(output)):
                    kept += self.redactor.redact(output[start:stop])
                    await pacer.step()
                redacted.append(kept)
            outcome.redacted = redacted

    def _after(self, outcome: _Outcome) -> None:
        """Record a finished run and route its outputs (plain code: the hot path creates no coroutine)."""
        name = outcome.name
        self._record_run(outcome)
        if outcome.stop is not None:
            raise outcome.stop
        self._done.add(name)
        self._last_finished = name
        self._fire_outputs(name, outcome.outputs, error_output=outcome.error_output)
        if self._loop_restarts or self._parents_to_force:
            self._settle()

    def _count_binary(self, outcome: _Outcome) -> None:
        """Add the decoded size of files the node's outputs hold that no earlier output held, and stop the
        execution over the cap. A file is known by its base64 text's identity: passing an item (or a copy of
        it) on shares that string, so a file travelling through 100 nodes counts once, and every counted
        string stays alive in the recorded runs, so its id cannot be reused."""
        seen, added = self._binary_seen, 0
        for output in outcome.outputs:
            for item in output:
                files = item.get("binary")
                if not isinstance(files, dict):
                    continue
                for entry in files.values():
                    data = entry.get("data") if isinstance(entry, dict) else None
                    if isinstance(data, str) and id(data) not in seen:
                        seen.add(id(data))
                        added += decoded_size(data)
        self._binary_bytes += added
        cap = self.limits.max_binary_bytes or DEFAULT_MAX_BINARY_BYTES
        if added and self._binary_bytes > cap and outcome.stop is None:
            message = (
                f"the execution's binary data ({self._binary_bytes} bytes) exceeds its limit of {cap} bytes"
            )
            error = {"message": message, "code": ErrorCode.BINARY_LIMIT, "node": outcome.name}
            outcome.state.status = "error"
            outcome.state.error = error
            self._log("error", message, outcome.name, {"code": ErrorCode.BINARY_LIMIT})
            outcome.stop = _Stop("error", error)

    def _measure(self, outcome: _Outcome) -> None:
        """Count a run's outputs against the item-data budgets before anything serialises them (the
        event, the record). Over either, the node fails, its outputs are dropped and the execution stops."""
        meter, tree = self._meter, self.budget
        size = meter.measure(outcome.outputs, self._max_output)
        new = meter.new
        if (  # the usual case, inline (meter.keep() and the tree's count without a call)
            tree is not None
            and size <= self._max_output
            and tree.held_bytes + new <= tree.max_held_bytes
            and meter.held + new <= self._max_held
        ):
            outcome.size = size
            meter.held += new
            tree.held_bytes += new
        else:
            self._judge(outcome, size)
        if meter.files and outcome.outputs:  # items with files the execution had not met (see DataMeter)
            self._count_binary(outcome)

    def _judge(self, outcome: _Outcome, size: int) -> None:
        """Keep a run's outputs measured at ``size``, or fail the node over a budget: one run's output, what
        this execution holds, what its execution tree holds (sub-executions included, see :mod:`.budget`)."""
        outcome.size = size
        name, tree, new = outcome.name, self._shared_budget(), self._meter.new
        if size > self._max_output:
            message = (
                f"node '{name}' output more than {self._max_output} bytes of item data, over the limit of "
                f"{_mib(self._max_output)} for one node run (executionLimits.maxDataSizeMb)"
            )
        elif self._meter.held + self._meter.new > self._max_held:
            message = (
                f"node '{name}' output would bring the item data the execution holds to "
                f"{self._meter.held + self._meter.new} bytes, over its limit of {_mib(self._max_held)} "
                "(executionLimits.maxMemoryMb)"
            )
        elif tree.held_bytes + new > tree.max_held_bytes:
            message = (
                f"node '{name}' output would bring the item data its execution and the executions around it"
                f" hold to {tree.held_bytes + new} bytes, over the limit of {_mib(tree.max_held_bytes)} for"
                " the whole tree of sub-workflows (the top execution's executionLimits.maxMemoryMb)"
            )
        else:
            self._meter.keep()
            tree.held_bytes += new
            return
        error = {"message": message, "code": ErrorCode.EXECUTION_LIMIT, "node": name}
        outcome.outputs = []
        outcome.state.status = "error"
        outcome.state.error = error
        self._log("error", message, name, {"code": ErrorCode.EXECUTION_LIMIT})
        if outcome.stop is None:
            outcome.stop = _Stop("error", error)

    def _record_run(self, outcome: _Outcome) -> None:
        name, state, metrics = outcome.name, outcome.state, self.record.metrics
        runs = self._runs.setdefault(name, [])
        runs.append(outcome.outputs)
        state.runs = len(runs)
        state.output = self._redacted(outcome) if self.secrets else outcome.outputs
        self.record.state[name] = state
        if state.status == "disabled":
            return
        metrics.nodes_executed += 1
        if state.status == "success":
            metrics.success_nodes += 1
        else:
            metrics.failed_nodes += 1
        if state.attempts > 1:
            metrics.retried_nodes += 1
            metrics.total_retries += state.attempts - 1
        metrics.data_processed += outcome.size
        metrics.peak_memory = self._meter.held

    def _resolve_edge(self, edge: Edge, items: Items | None) -> None:
        back = edge in self.graph.back_edges
        if not back and edge not in self._edge_state:
            self._unresolved[edge.target] -= 1
        if items:
            self._edge_state[edge] = _FIRED
            self._edge_items[edge] = items
        else:
            self._edge_state[edge] = _PRUNED
            self._edge_items.pop(edge, None)
        if back:
            self._check_loop(edge.target)
        else:
            self._check_ready(edge, items)

    def _check_ready(self, edge: Edge, items: Items | None) -> None:
        """Run or skip the target of ``edge`` once every connection into it has resolved, ``items`` those of
        ``edge``, the last to resolve."""
        name = edge.target
        # The counter first: a 1,000-way fan-in is checked 1,000 times but scanned once.
        if self._unresolved[name] or name in self._done or name in self._queued or name in self._active:
            return
        if name in self.graph.single_feed:  # one connection into the only input: the last alone decides
            if items:
                self._enqueue(name, [list(items)], ((edge, len(self._runs[edge.source]) - 1),))
            else:
                self._skip(name)
            return
        incoming = self.graph.forward_in[name]
        fired = _FIRED in map(self._edge_state.__getitem__, incoming)
        upstream_failed = name in self.graph.skip_on_fail and any(
            self._status(e.source) == "error" for e in incoming
        )
        if (not fired and not self._forced(incoming)) or upstream_failed:
            self._skip(name)
        elif (
            self._legacy_order
            and self.graph.multi_input[name]
            and (starved := self._starved_parents(incoming))
        ):
            self._parents_to_force.update(starved)  # run them first; their outputs re-check this node
        else:
            self._enqueue(name, *self._gather(name, incoming))

    def _starved_parents(self, incoming: list[Edge]) -> set[str]:
        """n8n v0: a multi-input node forces parents that never ran, so every input gets data.

        Only asked for v0 workflows' multi-input nodes.

        Such a parent was pruned because its own parent emitted nothing towards it; n8n runs it anyway
        with one empty item. v1 runs the node with the inputs it has instead.
        """
        fed = {e.input for e in incoming if self._edge_state[e] == _FIRED or e.source in self._runs}
        return {
            e.source
            for e in incoming
            if e.input not in fed and e.source not in self._runs and self._reached_or_root(e.source)
        }

    def _reached_or_root(self, name: str) -> bool:
        """A parent n8n would force: one whose own parent ran, or a root the start node did not reach."""
        parents = self.graph.forward_in[name]
        return not parents or any(p.source in self._runs for p in parents)

    def _force_parents(self) -> None:
        while self._parents_to_force:
            name = self._parents_to_force.pop()
            if name in self._runs or name in self._queued or name in self._active:
                continue
            self._done.discard(name)
            self._enqueue(name, [[{"json": {}}]])

    def _status(self, name: str) -> str | None:
        state = self.record.state.get(name)
        return None if state is None else state.status

    def _forced(self, incoming: list[Edge]) -> bool:
        """n8n v0 follows a connection into input index > 0 even when the parent output was empty."""
        return self._legacy_order and any(e.input > 0 and e.source in self._runs for e in incoming)

    def _gather(self, name: str, edges: list[Edge]) -> tuple[list[Items], tuple[Source, ...]]:
        """One item list per input, and the connections that filled them with the runs that sent the items;
        edges arrive in document order, so fan-in keeps connection order."""
        fired = [edge for edge in edges if self._edge_state.get(edge) == _FIRED]
        runs = self._runs
        sources = tuple([(edge, len(runs[edge.source]) - 1) for edge in fired])
        inputs: list[Items] = [[] for _ in range(self.graph.input_counts[name])]
        for edge in fired:
            inputs[edge.input].extend(self._edge_items[edge])
        return inputs, sources

    def _check_loop(self, loop: str) -> None:
        """All back edges into ``loop`` resolved: re-run it if any carried items, else the loop is over."""
        backs = [e for e in self.graph.incoming.get(loop, []) if e in self.graph.back_edges]
        if any(e not in self._edge_state for e in backs):
            return
        fired = [e for e in backs if self._edge_state[e] == _FIRED]
        if fired:
            inputs, sources = self._gather(loop, fired)
            pending = self._loop_restarts.get(loop)
            if pending is not None:  # fired again before the last pass ended: nothing it sent is lost
                inputs = [[*before, *now] for before, now in zip(pending[0], inputs, strict=True)]
                sources = (*pending[1], *sources)
            self._loop_restarts[loop] = inputs, sources
        else:
            self._finish_loop(loop)

    def _settle(self) -> None:
        """Work deferred until a cascade of edge resolutions has finished."""
        self._restart_loops()
        self._force_parents()

    def _restart_loops(self) -> None:
        """Re-arm loops whose back edges fired, once the cascade that fired them has settled and no node of
        the loop's region is still queued or running: re-arming under a running branch would lose its
        pass. The latest loop first; a loop that restarts keeps any loop around it waiting."""
        if not self._loop_restarts:  # the usual case, after every node of every run
            return
        busy = self._queued | self._active
        for loop in reversed(list(self._loop_restarts)):
            if loop not in busy and busy.isdisjoint(self.graph.regions.get(loop, ())):
                inputs, sources = self._loop_restarts.pop(loop)
                self._rearm(loop)
                self._enqueue(loop, inputs, sources)
                busy.add(loop)

    def _rearm(self, loop: str) -> None:
        """Forget the loop region's previous pass so its nodes can run again on the next batch."""
        region = self.graph.regions.get(loop, frozenset())
        for edge in self.graph.edges:
            inside_source = edge.source == loop or edge.source in region
            if inside_source and (edge.target in region or edge.target == loop):
                if self._edge_state.pop(edge, None) is not None and edge not in self.graph.back_edges:
                    self._unresolved[edge.target] += 1
                self._edge_items.pop(edge, None)
        self._done.difference_update(region)
        self._done.discard(loop)

    def _finish_loop(self, loop: str) -> None:
        """The loop will not run again: prune every connection it or its region still holds open."""
        self._looping.discard(loop)
        region = self.graph.regions.get(loop, frozenset())
        for edge in self.graph.edges:
            from_region = edge.source == loop or (edge.source in region and edge.source in self._done)
            if from_region and edge not in self._edge_state:
                self._resolve_edge(edge, None)

    def _skip(self, name: str) -> None:
        self._done.add(name)
        for edge in self.graph.outgoing.get(name, []):
            self._resolve_edge(edge, None)

    def _fire_outputs(self, name: str, outputs: list[Items], *, error_output: int | None) -> None:
        edge = self.graph.single_out.get(name)
        if edge is not None and not self._looping:  # the common case
            self._resolve_edge(edge, outputs[edge.output] if edge.output < len(outputs) else None)
            return
        loop_outputs = self.graph.loop_outputs.get(name, _NO_OUTPUTS)
        if loop_outputs:
            if any(outputs[i] for i in loop_outputs if i < len(outputs)):
                self._looping.add(name)
            else:
                self._looping.discard(name)
        edges = self.graph.outgoing.get(name, ())
        fired: list[tuple[Edge, Items]] = []
        pruned: list[Edge] = []
        for edge in edges:
            index = edge.output if edge.port == MAIN else (error_output if edge.port == ERROR else None)
            items = outputs[index] if index is not None and 0 <= index < len(outputs) else []
            if items:
                fired.append((edge, items))
            elif not self._looping or not self._held_open(name, edge, loop_outputs):
                pruned.append(edge)
        # Fire before pruning: a prune can end a loop, which must not close exits that are firing now.
        for edge, items in fired:
            self._resolve_edge(edge, items)
        for edge in pruned:
            self._resolve_edge(edge, None)

    def _held_open(self, name: str, edge: Edge, loop_outputs: frozenset[int]) -> bool:
        """Empty exits of a loop that is still looping (or of its region) wait for the loop to end."""
        if name in self._looping and edge.output not in loop_outputs:
            return True
        for loop in self._looping:
            region = self.graph.regions.get(loop, frozenset())
            if name in region and edge.target not in region and edge.target != loop:
                return True
        return False

    def _type_of(self, name: str) -> NodeType | None:
        return self.graph.types.get(name)

    async def _emit(self, event_type: str, node: str | None, data: dict[str, Any]) -> None:
        if self.events is not None:
            await self.events(ExecutionEvent(event_type, self.id, node, self.redactor.redact(data)))

    async def _cancel_running(self) -> None:
        for task in self._running:
            task.cancel()
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        self._running.clear()

    # ------------------------------------------------------------------ running one node

    async def _run_node(self, name: str, inputs: list[Items], sources: tuple[Source, ...]) -> _Outcome:
        node = self.nodes[name]
        run_index = len(self._runs.get(name, ()))
        self._sources[name, run_index] = sources
        if (len(inputs) != 1 or len(inputs[0]) >= PACED_ITEMS) and is_large(inputs):  # inline: every node
            self._hold_collections(inputs)
            inputs = await stamp_inputs_paced(inputs)
        else:
            inputs = stamp_inputs(inputs)
        state = NodeState("success", [], start_time=utc_now())
        if self.events is not None:
            await self._emit(
                "node.started", name, {"runIndex": run_index, "inputItems": [len(i) for i in inputs]}
            )
        plain = name in self.graph.plain  # then none of the options below applies
        if not plain and node.disabled:
            state.status = "disabled"
            state.end_time = utc_now()
            return _Outcome(name, run_index, [inputs[0] if inputs else []], state)
        node_type = self.graph.types[name]
        if node_type is None:
            error = NodeError(f"unknown node type '{node.type}'", code=ErrorCode.UNKNOWN_NODE_TYPE)
            return self._failed(name, run_index, inputs, state, error)
        if not plain and node.execute_once:
            inputs = [items[:1] for items in inputs]
        ctx = NodeRunContext(self, node, inputs, run_index)
        while True:
            try:
                if plain or node.timeout_ms is None:
                    result = await node_type.run(ctx, inputs)
                else:
                    async with asyncio.timeout(node.timeout_ms / 1000):
                        result = await node_type.run(ctx, inputs)
                large = (  # the usual single short list told inline: this runs for every node
                    type(result) is list
                    and (len(result) != 1 or type(result[0]) is not list or len(result[0]) >= PACED_ITEMS)
                    and is_large(result)
                )
                outputs = await normalise_outputs_paced(result) if large else normalise_outputs(result)
                break
            except Exception as exc:  # whatever a node raises fails that node, never the executor
                error = _as_node_error(exc, node)
                policy = node.retry or self.definition.retry or NO_RETRY
                if state.attempts >= policy.max_attempts or not is_retryable(policy, error):
                    return self._failed(name, run_index, inputs, state, error)
                self._log("warn", f"attempt {state.attempts} failed, retrying: {error.message}", name)
                await asyncio.sleep(retry_delay(policy, state.attempts))
                state.attempts += 1
        if not plain and node.always_output_data and not any(outputs):
            outputs = [[{"json": {}}], *outputs[1:]]
        state.end_time = utc_now()
        return _Outcome(name, run_index, outputs, state, large)

    def _failed(
        self, name: str, run_index: int, inputs: list[Items], state: NodeState, error: NodeError
    ) -> _Outcome:
        node = self.nodes[name]
        state.status = "error"
        state.error = self.redactor.redact({**error.to_dict(), "node": name})
        state.end_time = utc_now()
        self._log("error", error.message, name, {"code": error.code})
        if node.continue_on_fail and node.on_error == "stopWorkflow":  # n8n: input passes through unchanged
            return _Outcome(name, run_index, [inputs[0] if inputs else []], state)
        if node.on_error == "stopWorkflow":
            stop = _Stop("error", {"message": error.message, "code": error.code, "node": name})
            return _Outcome(name, run_index, [], state, stop=stop)
        carried = [
            {**item, "json": {**item.get("json", {}), "error": error.message}}
            for item in (inputs[0] if inputs and inputs[0] else [{"json": {}}])
        ]
        if node.on_error == "continueRegularOutput":
            return _Outcome(name, run_index, [carried], state)
        node_type = self._type_of(name)
        regular = (node_type.output_count(node) if node_type is not None else None) or 1
        outputs: list[Items] = [[] for _ in range(regular)]
        outputs.append(carried)
        return _Outcome(name, run_index, outputs, state, error_output=regular)

    def _log(
        self, level: LogLevel, message: str, node: str | None = None, data: dict[str, Any] | None = None
    ) -> None:
        self.record.logs.append(
            LogEntry(utc_now(), level, self.redactor.redact(message), node, self.redactor.redact(data))
        )

    # ------------------------------------------------------------------ helpers for the node context

    def scope_inputs(self, node: NodeDefinition, inputs: list[Items], run_index: int) -> ScopeInputs:
        parents = self.graph.incoming.get(node.name)
        return ScopeInputs(
            run_data=self,
            node=node,
            inputs=inputs,
            run_index=run_index,
            execution_id=self.id,
            variables=self.variables,
            context=self.context,
            secrets=self.secrets,
            env=self.env,
            timezone=self.definition.settings.timezone,
            previous_node=parents[0].source if parents else None,
        )

    def runs_of(self, name: str) -> list[list[Items]]:
        return self._runs.get(name, [])

    def sources_of(self, name: str, run: int) -> tuple[Source, ...]:
        found = self._sources.get((name, run))
        if found is None and run == 0 and name in self._resume:  # a resumed run: fed as the graph says
            found = tuple(
                (edge, 0) for edge in self.graph.forward_in.get(name, []) if edge.source in self._resume
            )
        return found or ()

    def status_of(self, name: str) -> str | None:
        return self._status(name)

    def error_of(self, name: str) -> dict[str, Any] | None:
        state = self.record.state.get(name)
        return None if state is None else state.error

    def node_state(self, name: str) -> dict[str, Any]:
        return self._node_states.setdefault(name, {})

    @property
    def workflow(self) -> WorkflowDefinition:
        return self.definition

    def _shared_budget(self) -> SharedBudget:
        """The budget this execution and its sub-executions spend: made from this execution's own limits
        (host first, then the workflow's) unless a parent handed its own down."""
        if self.budget is None:
            self.budget = SharedBudget(
                self.limits.max_node_executions or self.definition.limits.max_node_executions,
                self.limits.execution_timeout_s or self.definition.settings.execution_timeout_s,
                self._max_held,
            )
        return self.budget

    async def run_subworkflow(self, source: Any, items: Items) -> list[Items]:
        """Run a sub-workflow on ``items`` inside this execution's budget (see :mod:`.budget`); its node
        runs count in this execution's metrics."""
        budget = self._shared_budget()
        if self.depth >= MAX_SUBWORKFLOW_DEPTH:
            raise NodeError(
                f"sub-workflows nest deeper than {MAX_SUBWORKFLOW_DEPTH} levels"
                " (a workflow that runs itself never stops by itself)",
                code=ErrorCode.EXECUTION_LIMIT,
            )
        refused = budget.overrun()
        if refused is not None:
            raise NodeError(refused.message, code=refused.code)
        definition = await self._load(source)
        child = Execution(
            definition,
            registry=self.registry,
            input_items=items,
            secrets=self.secrets,
            context=self.context,
            env=self.env,
            limits=self.limits,
            workflow_loader=self.workflow_loader,
            workflow_starter=self.workflow_starter,
            depth=self.depth + 1,
            budget=budget,
        )
        handed = [items]  # alive while the child's meter remembers it
        handed_bytes = await child._meter.measure_kept(handed)  # the caller's: the tree holds them already
        try:
            record = await child.run()
        finally:  # a sub-execution cancelled with this one still ran what it ran
            # what it added is dropped with it; what it returns is counted again as this node's output
            budget.release(child._meter.held - handed_bytes)
            metrics, spent = self.record.metrics, child.record.metrics
            metrics.api_calls_made += spent.api_calls_made
            metrics.nodes_executed += spent.nodes_executed
            metrics.success_nodes += spent.success_nodes
            metrics.failed_nodes += spent.failed_nodes
        if record.status != "success":
            error = record.error or {}
            if error.get("code") in _BUDGET_CODES:  # the tree's budget ran out: said as it is, at every level
                raise NodeError(error["message"], code=error["code"], details=error)
            message = error.get("message", record.status)
            raise NodeError(
                f"sub-workflow failed: {message}", code=ErrorCode.SUBWORKFLOW_FAILED, details=record.error
            )
        return await child.returned_items()

    async def returned_items(self) -> list[Items]:
        """The last node's outputs, as a sub-run hands them back: each item paired with the item of this
        run's own input it derives from, which is the calling node's input; unpaired when that cannot be
        told, for the caller to pair as n8n does. The sub-run's own pointers mean nothing to the caller.
        Following pointers back costs microseconds per item: a large output yields between slices."""
        last = self._last_finished
        if last is None:
            return []
        run = len(self._runs[last]) - 1
        paired, starts, pacer = PairedItems(self), self._starts(), Pacer()
        returned: list[Items] = []
        for output, items in enumerate(self._runs[last][run]):
            handed: Items = []
            for index, item in enumerate(items):
                if pacer.due():
                    await pacer.pause()
                handed.append(self._caller_paired(paired, starts, last, run, output, index, item))
            returned.append(handed)
        return returned

    @staticmethod
    def _caller_paired(
        paired: PairedItems, starts: set[str], last: str, run: int, output: int, index: int, item: Item
    ) -> Item:
        returned = {key: value for key, value in item.items() if key != "pairedItem"}
        for start in sorted(starts):
            try:
                origin = paired.origin(start, last, run, output, index).get("pairedItem")
            except ExpressionError:
                continue
            if isinstance(origin, dict) and isinstance(origin.get("item"), int) and not origin.get("input"):
                returned["pairedItem"] = {"item": origin["item"]}
                break
        return returned

    async def _load(self, source: Any) -> WorkflowDefinition:
        """An inline workflow (JSON text or a document) goes through the validator stored workflows go
        through, limits included; a reference goes to the host's loader."""
        if isinstance(source, str) or (isinstance(source, dict) and "nodes" in source):
            report = validate(source, self.registry)
            if report.definition is None or not report.valid:
                first = report.errors[0]
                raise NodeError(
                    f"sub-workflow is invalid: {first.path}: {first.message}"
                    + (f" (and {len(report.errors) - 1} more)" if len(report.errors) > 1 else ""),
                    code=ErrorCode.WORKFLOW_INVALID,
                    details={"errors": [issue.to_dict() for issue in report.errors]},
                )
            return report.definition
        if self.workflow_loader is None:
            raise NodeError(
                "no workflow loader is configured for sub-workflow references",
                code=ErrorCode.WORKFLOW_INVALID,
            )
        return await self.workflow_loader(source)

    @property
    def last_finished(self) -> str | None:
        return self._last_finished


def _as_node_error(exc: Exception, node: NodeDefinition) -> NodeError:
    """Any failure inside a node as a NodeError with a code: a timeout is retryable, a bad expression not."""
    if isinstance(exc, NodeError):
        return exc
    if isinstance(exc, TimeoutError):
        return NodeError(f"node timed out after {node.timeout_ms} ms", code=ErrorCode.TIMEOUT, retryable=True)
    if isinstance(exc, ExpressionError):
        return NodeError(exc.message, code=exc.code, description=exc.expression, retryable=False)
    return NodeError(f"{type(exc).__name__}: {exc}", code=ErrorCode.NODE_EXECUTION_FAILED)


_BUDGET_CODES = frozenset({ErrorCode.EXECUTION_LIMIT, ErrorCode.EXECUTION_TIMEOUT})
DEFAULT_MAX_BINARY_BYTES = 256 * 1024 * 1024
"""Binary file data (decoded) one execution may add when the host sets no ``max_binary_bytes``."""


def _ceiling(workflow_mb: int, host_bytes: int | None) -> int:
    """A workflow's item-data limit in bytes, never above the host's."""
    limit = workflow_mb * 1024 * 1024
    return limit if host_bytes is None else min(limit, host_bytes)


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):g} MiB"


def decoded_size(data: str) -> int:
    """Bytes the base64 text ``data`` decodes to, told from its length and padding: no decoding, no copy."""
    return len(data) * 3 // 4 - data.endswith("=") - data.endswith("==")


_NO_OUTPUTS: frozenset[int] = frozenset()


@dataclass(slots=True)
class _Outcome:
    name: str
    run_index: int
    outputs: list[Items]
    state: NodeState
    large: bool = False  # outputs of PACED_ITEMS items or more: walked paced
    stop: _Stop | None = None
    error_output: int | None = None
    size: int = 0  # the outputs' serialised size, once measured
    redacted: list[Items] | None = None  # a large output redacted (paced), when there are secrets


def _matches_type(value: Any, declared: str) -> bool:
    checks: dict[str, Callable[[Any], bool]] = {
        "string": lambda v: isinstance(v, str),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "array": lambda v: isinstance(v, list),
        "object": lambda v: isinstance(v, dict),
        "date": lambda v: isinstance(v, str),
    }
    check = checks.get(declared)
    return True if check is None else check(value)


async def execute(
    definition: WorkflowDefinition | Mapping[str, Any],
    *,
    registry: NodeRegistry,
    **options: Unpack[ExecutionOptions],
) -> ExecutionRecord:
    """Run ``definition`` to completion and return its record (see :class:`Execution` for aborting)."""
    return await Execution(definition, registry=registry, **options).run()
