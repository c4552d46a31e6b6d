"""The Code node (JavaScript in a sandboxed V8 isolate, Python in a seccomp-confined process), each run in a
child process.

Every run gets a fresh process with a fresh isolate, forked by the sandbox server
(:mod:`tenantflow.nodes.n8n.code.sandbox`, driven through :mod:`tenantflow.nodes.n8n.code.server`): a script
that loops forever, exhausts its heap or crashes V8 takes down only that process, and nothing it sets on
``globalThis`` survives into another run or execution. Items and context go in as JSON and the result
comes back as JSON; the isolate has no ``require``, ``process``, ``fetch``, modules or Python callbacks
(``setTimeout`` exists, and counts against the run's time limit).
Results are validated and normalised with n8n's rules and messages (``Code doesn't return items properly``,
``A 'json' property isn't an object [item 0]``), so workflows that rely on them behave as in n8n.

Python (``language: python``/``pythonNative``) runs through its own runner,
:mod:`tenantflow.nodes.n8n.code.python_sandbox`, with n8n's ``_input``/``_json``/``_('Name')`` names; its
results go through the same validation.

:func:`run_js_comparator_sort` exposes the same sandbox to the Sort node's ``type: code`` comparator.
"""

from __future__ import annotations

import json
import re
import signal
from dataclasses import dataclass
from typing import Any

from tenantflow.engine.definition import NodeDefinition, WorkflowDefinition
from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.expressions import ExpressionError
from tenantflow.engine.sdk import STATIC_DATA_CALL, Item, Items, NodeContext, NodeType
from tenantflow.nodes.n8n.code.server import PYTHON_SERVER, SERVER, Bounds, Outcome, SandboxServer, bounds
from tenantflow.nodes.n8n.core import first_input, object_schema, one_of

CODE_ERROR = ErrorCode.CODE_ERROR
FUNCTION_MODE = "function"
"""All-items mode of the legacy Function node, whose script gets whole items numbered by ``index``."""
FUNCTION_ITEM_MODE = "functionItem"
"""Per-item mode in which ``item`` is the item's json (the legacy Function Item node)."""
N8N_ITEM_KEYS = frozenset({"json", "binary", "pairedItem", "error", "index"})
"""Top-level keys n8n accepts on a returned item; ``index`` is what the legacy Function nodes add."""
_NODE_REFERENCE = re.compile(r"""\$\(\s*(['"`])((?:(?!\1).)+)\1\s*\)""")
_LEGACY_REFERENCE = re.compile(r"""\$node\s*(?:\[\s*(['"`])((?:(?!\1).)+)\1\s*\]|\.\s*([A-Za-z_$][\w$]*))""")
_ANY_REFERENCE = re.compile(r"\$node\b|\$\(")
_PY_NODE_REFERENCE = re.compile(r"""(?<![\w.])_\(\s*(['"])((?:(?!\1).)+)\1\s*\)""")
_RETURN_ARRAY = "Please return an array of objects, one for each item you would like to output."
_STARTUP_GRACE_SECONDS = 5.0
"""Time allowed on top of the script timeout for starting the job's process and V8 (and, the first time,
the fork server)."""
_SLOT_WAIT_SECONDS = 300.0
"""How long a job waits for a free sandbox beyond the caps (:mod:`tenantflow.nodes.n8n.code.slots`) before it
fails; the execution's own timeout ends the wait sooner."""
MAX_LOG_LINES = 100
"""Console lines kept from one run (the sandboxes keep no more either)."""


@dataclass(frozen=True)
class Language:
    """How scripts of one language run: their sandbox server, and how they name other nodes (the nodes
    named get their outputs sent along): ``$('Name')``/``$node`` in JavaScript, ``_('Name')`` in Python."""

    server: SandboxServer
    node_reference: re.Pattern[str]
    legacy_reference: re.Pattern[str]
    any_reference: re.Pattern[str]

    @property
    def paired_reference(self) -> re.Pattern[str]:
        return re.compile(self.node_reference.pattern + r"\s*\.\s*(?:item|itemMatching|pairedItem)\b")


JAVASCRIPT = Language(SERVER, _NODE_REFERENCE, _LEGACY_REFERENCE, _ANY_REFERENCE)
PYTHON = Language(PYTHON_SERVER, _PY_NODE_REFERENCE, re.compile("(?!)"), re.compile(r"(?<![\w.])_\("))
_LANGUAGES = {"javaScript": JAVASCRIPT, "python": PYTHON, "pythonNative": PYTHON}
_CODE_PARAMETER = {"javaScript": "jsCode", "python": "pythonCode", "pythonNative": "pythonCode"}


@dataclass(frozen=True)
class SandboxLimits:
    """Per-run bounds: wall time of the script in seconds and V8 heap size in MiB."""

    timeout: float = 5.0
    max_memory_mb: int = 128


@dataclass(frozen=True)
class SandboxJob:
    mode: str
    code: str
    data: dict[str, Any]


async def run_sandbox(
    job: SandboxJob, limits: SandboxLimits, server: SandboxServer = SERVER, execution: str | None = None
) -> dict[str, Any]:
    """Run ``job`` in a new sandbox process once one of ``execution``'s and the process's sandbox slots is
    free; returns the reply, raising NodeError for limits and crashes."""
    group = bounds()
    payload = {
        "mode": job.mode,
        "code": job.code,
        "data": job.data,
        "timeout": limits.timeout,
        "maxMemoryMb": limits.max_memory_mb,
        "maxReplyBytes": group.max_reply_bytes,
    }
    try:
        async with group.slots.slot(execution, _SLOT_WAIT_SECONDS):
            outcome = await _run_in_slot(server, payload, limits)
    except TimeoutError:
        raise _no_slot_error(group) from None
    if outcome.oversize:
        raise _reply_size_error(group.max_reply_bytes)
    return _parse_reply(outcome, limits, sent_static_data=job.data.get("staticData") is not None)


async def _run_in_slot(server: SandboxServer, payload: dict[str, Any], limits: SandboxLimits) -> Outcome:
    try:
        outcome = await server.run(payload, limits.timeout + _STARTUP_GRACE_SECONDS)
    except TimeoutError:
        raise _timeout_error(limits) from None
    except OSError as exc:
        raise NodeError("The code sandbox could not be started", description=str(exc)) from exc
    if outcome.status is None:  # the sandbox server itself went away; the next run starts a new one
        raise NodeError("The code sandbox stopped before the script finished", retryable=True)
    return outcome


def _parse_reply(outcome: Outcome, limits: SandboxLimits, sent_static_data: bool) -> dict[str, Any]:
    """The child's JSON reply; a child that died without one hit a hard limit (V8 aborts on heap OOM,
    the kernel stops it with SIGXCPU past its CPU-time ceiling).

    What the child wrote is the script's to shape (a Python script can write its reply pipe), so only what
    a reply may hold is kept: at most 100 log lines, static data only when it was sent."""
    try:
        reply = json.loads(outcome.reply) if outcome.reply else None
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        reply = None
    if not isinstance(reply, dict) and outcome.status == -signal.SIGXCPU:
        raise _timeout_error(limits)
    if not isinstance(reply, dict):
        detail = f"The sandbox process ended without a result (exit status {outcome.status})"
        raise _memory_error(limits, detail)
    error = reply.get("error")
    if isinstance(error, dict) and error.get("kind") == "timeout":
        raise _timeout_error(limits)
    if isinstance(error, dict) and error.get("kind") == "memory":
        raise _memory_error(limits, "The script allocated more memory than allowed")
    if isinstance(error, dict) and error.get("kind") == "size":
        raise _reply_size_error(bounds().max_reply_bytes)
    logs = reply.get("logs")
    kept: dict[str, Any] = {
        "ok": reply.get("ok"),
        "logs": logs[:MAX_LOG_LINES] if isinstance(logs, list) else [],
    }
    if isinstance(error, dict):
        kept["error"] = error
    if sent_static_data and "staticData" in reply:
        kept["staticData"] = reply["staticData"]
    return kept


def _reply_size_error(max_bytes: int) -> NodeError:
    return NodeError(
        f"The Code node's result is larger than the {max_bytes // 2**20} MB limit",
        code=ErrorCode.LIMIT_EXCEEDED,
        description="Counted once serialised, every reference to a value in full: return less data, or "
        "split the work over several items or runs.",
        retryable=False,
    )


def _no_slot_error(group: Bounds) -> NodeError:
    per_process, per_execution = group.slots.per_process, group.slots.per_execution
    return NodeError(
        f"No code sandbox became free within {_SLOT_WAIT_SECONDS:g} seconds",
        code=ErrorCode.TIMEOUT,
        description=f"At most {per_execution} Code nodes of one execution, and {per_process} in this "
        "process, run at once; the others wait their turn.",
        retryable=True,
    )


def _timeout_error(limits: SandboxLimits) -> NodeError:
    return NodeError(
        f"Code execution timed out after {limits.timeout:g} seconds",
        code=ErrorCode.TIMEOUT,
        description="Check the code for infinite loops or very long computations.",
        retryable=False,
    )


def _memory_error(limits: SandboxLimits, detail: str) -> NodeError:
    return NodeError(
        f"Code execution exceeded the memory limit of {limits.max_memory_mb} MB",
        code=ErrorCode.LIMIT_EXCEEDED,
        description=detail,
        retryable=False,
    )


def _script_error(error: dict[str, Any]) -> NodeError:
    """A JavaScript exception as n8n words it (``ReferenceError: x is not defined [item 0]``)."""
    name = str(error.get("name") or "Error")
    message = str(error.get("message") or "")
    text = message if message.startswith(name) or name == "Error" else f"{name}: {message}"
    return _validation_error(text, error.get("itemIndex"), description=error.get("stack") or None)


def _validation_error(message: str, item_index: Any = None, description: str | None = None) -> NodeError:
    suffix = f" [item {item_index}]" if isinstance(item_index, int) else ""
    return NodeError(f"{message}{suffix}", code=CODE_ERROR, description=description, retryable=False)


def _log_console(ctx: NodeContext, reply: dict[str, Any]) -> None:
    for entry in reply["logs"]:
        if isinstance(entry, list) and len(entry) == 2:
            level, line = entry
            ctx.log(
                level if level in ("debug", "info", "warn", "error") else "info", str(line), source="console"
            )


# --- result validation: n8n's JavaScriptSandbox rules ------------------------------------------------------


def normalize_all_items(result: Any) -> Items:
    """``runOnceForAllItems``: an array of items or of plain objects (a single object is wrapped)."""
    if not isinstance(result, dict | list):
        raise _validation_error(
            "Code doesn't return items properly",
            description=_RETURN_ARRAY,
        )
    if isinstance(result, list):
        strict_keys = any(isinstance(entry, dict) and N8N_ITEM_KEYS & entry.keys() for entry in result)
        for index, entry in enumerate(result):
            if not isinstance(entry, dict):
                raise _validation_error(
                    "Code doesn't return items properly",
                    description=_RETURN_ARRAY,
                )
            if strict_keys:
                _check_top_level_keys(entry, index)
    items = _normalize_items(result)
    for index, item in enumerate(items):
        _check_json(item, index)
    return items


def normalize_each_item(result: Any, index: int) -> Item | None:
    """``runOnceForEachItem``: one object per input item; ``null``/``undefined`` drops the item."""
    if result is None:
        return None
    if isinstance(result, list):
        first = (
            "An empty array was returned."
            if not result
            else f"An array of {_js_type(result[0])}s was returned."
        )
        raise _validation_error(
            "Code doesn't return a single object",
            index,
            description=f"{first} To output multiple items, use the 'Run Once for All Items' mode.",
        )
    if not isinstance(result, dict):
        raise _validation_error(
            "Code doesn't return an object",
            index,
            description=f"Please return an object representing the output item. ('{result}' was returned)",
        )
    [item] = _normalize_items([result])
    _check_json(item, index)
    _check_top_level_keys(item, index)
    output: Item = {"json": item["json"], "pairedItem": {"item": index}}
    if "binary" in item:
        output["binary"] = item["binary"]
    return output


def _normalize_items(result: dict[str, Any] | list[Any]) -> Items:
    """n8n's ``normalizeItems``: wrap plain objects in ``{json}``, leave items alone, refuse a mix."""
    if isinstance(result, dict):
        result = [result] if result.get("json") else [{"json": result}]
    with_json = [isinstance(entry, dict) and "json" in entry for entry in result]
    if all(with_json):
        return list(result)
    if any(with_json):
        raise _validation_error("Inconsistent item format")
    if all(isinstance(entry, dict) and "binary" in entry for entry in result):
        return [{"json": {}, "binary": entry["binary"]} for entry in result]
    return [{"json": entry} for entry in result]


def _check_json(item: Item, index: int) -> None:
    if not isinstance(item.get("json"), dict):
        raise _validation_error("A 'json' property isn't an object", index)


def _check_top_level_keys(item: dict[str, Any], index: int) -> None:
    for key in item:
        if key not in N8N_ITEM_KEYS:
            raise _validation_error(
                f"Unknown top-level item key: {key}",
                index,
                description="Access the properties of an item under `.json`, e.g. `item.json`",
            )


def _js_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "undefined" if value is None else "object"


# --- the node ----------------------------------------------------------------------------------------------


class _ScriptNode(NodeType):
    """Shared by the Code node and the legacy Function nodes: one sandbox run per node run."""

    def __init__(self, limits: SandboxLimits | None = None) -> None:
        self.limits = limits or SandboxLimits()

    async def run_script(
        self, ctx: NodeContext, mode: str, code: str, items: Items, language: Language = JAVASCRIPT
    ) -> Any:
        """Run ``code`` over ``items``; the script's result (``None`` for ``undefined``) or a NodeError."""
        job = SandboxJob(mode, code, _job_data(ctx, mode, code, items, language))
        reply = await run_sandbox(job, self.limits, language.server, ctx.execution_id)
        _log_console(ctx, reply)
        if isinstance(reply.get("error"), dict):
            raise _script_error(reply["error"])
        _keep_static_data(ctx, reply.get("staticData"))
        return reply["ok"]


class CodeNode(_ScriptNode):
    """n8n's Code node, JavaScript or Python, both modes, with the legacy ``items``/``item`` names kept."""

    type = "n8n-nodes-base.code"
    versions = (1, 2)
    display_name = "Code"
    description = "Runs custom JavaScript or Python in a sandbox, once for all items or once for each item."
    aliases = ("code",)
    parameters_schema = object_schema(
        {
            "mode": one_of("runOnceForAllItems", "runOnceForEachItem"),
            "language": one_of(*_LANGUAGES),
            "jsCode": {"type": "string"},
            "pythonCode": {"type": "string"},
        }
    )

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        language = ctx.raw_param("language", "javaScript")
        if language not in _LANGUAGES:
            raise NodeError(f"Language {language!r} is not supported", code=ErrorCode.INVALID_PARAMETER)
        mode = str(ctx.raw_param("mode", "runOnceForAllItems"))
        code = str(ctx.raw_param(_CODE_PARAMETER[language], ""))
        result = await self.run_script(ctx, mode, code, first_input(inputs), _LANGUAGES[language])
        if mode == "runOnceForEachItem":
            outputs = [normalize_each_item(entry, index) for index, entry in enumerate(result or [])]
            return [[item for item in outputs if item is not None]]
        return [normalize_all_items(result)]


class FunctionNode(_ScriptNode):
    """The legacy Function node (before Code): ``functionCode`` over ``items``, returning items.

    As in n8n, the script gets copies of the input items numbered by ``index`` (an artefact n8n's output
    keeps), may reassign ``items``, and reads other nodes through ``$node["Name"]``. Its
    ``getWorkflowStaticData`` is the workflow's static data, which the host keeps between executions."""

    type = "n8n-nodes-base.function"
    display_name = "Function"
    description = "Legacy: runs JavaScript once over all items. Superseded by the Code node."
    aliases = ("function",)
    parameters_schema = object_schema({"functionCode": {"type": "string"}})

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        code = str(ctx.raw_param("functionCode", ""))
        source = first_input(inputs)
        result = await self.run_script(ctx, FUNCTION_MODE, code, source)
        if not isinstance(result, dict | list):
            raise _validation_error("Always an Array of items has to be returned!")
        items = _normalize_items(result)
        for item in items:
            if not isinstance(item.get("json"), dict):
                raise _validation_error("The json-property has to be an object!")
            if "binary" in item and not isinstance(item["binary"], dict):
                raise _validation_error("The binary-property has to be an object!")
        return [_pair_unpaired(items, len(source))]


def _pair_unpaired(items: Items, input_count: int) -> Items:
    """n8n's fallback for output items that name no input item: with a single input item every item
    derives from it, with as many items out as in each derives from the one at its position, otherwise
    they stay unpaired. Items the script passed through keep the pairing they came in with."""
    if input_count != 1 and len(items) != input_count:
        return items
    return [
        item if "pairedItem" in item else {**item, "pairedItem": {"item": 0 if input_count == 1 else index}}
        for index, item in enumerate(items)
    ]


class FunctionItemNode(_ScriptNode):
    """The legacy Function Item node: ``functionCode`` per item, ``item`` is the item's json (reassignable),
    ``getBinaryData()``/``setBinaryData(data)`` read and replace the item's binary."""

    type = "n8n-nodes-base.functionItem"
    display_name = "Function Item"
    description = "Legacy: runs JavaScript once per item. Superseded by the Code node."
    aliases = ("functionItem",)
    parameters_schema = object_schema({"functionCode": {"type": "string"}})

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        items = first_input(inputs)
        results = await self.run_script(
            ctx, FUNCTION_ITEM_MODE, str(ctx.raw_param("functionCode", "")), items
        )
        output: Items = []
        for index, result in enumerate(results or []):
            value = result.get("json") if isinstance(result, dict) else None
            if not isinstance(value, dict):
                raise _validation_error("No data got returned. Always an object has to be returned!", index)
            new_item: Item = {"json": value, "pairedItem": {"item": index}}
            if result.get("binary"):
                new_item["binary"] = result["binary"]
            output.append(new_item)
        return [output]


def _job_data(
    ctx: NodeContext, mode: str, code: str, items: Items, language: Language = JAVASCRIPT
) -> dict[str, Any]:
    """What the script may see, as plain JSON: items, run index, variables and referenced nodes' runs."""
    workflow = ctx.workflow
    return {
        "mode": mode,
        "items": [_script_item(item, index, mode) for index, item in enumerate(items)],
        "runIndex": ctx.run_index,
        "vars": ctx.variables,
        "params": ctx.node.parameters,
        "workflow": {"id": workflow.id, "name": workflow.name, "active": workflow.active},
        "execution": {"id": ctx.execution_id, "mode": "manual"},
        "nodeNames": [node.name for node in workflow.nodes],
        "nodes": {
            node.name: _node_record(ctx, node, code) for node in _referenced_nodes(workflow, code, language)
        },
        "pairedItems": _paired_items(ctx, code, len(items), language),
        # Only scripts that ask for it get (and give back) the workflow's static data.
        "staticData": (
            {"global": ctx.static_data("global"), "node": ctx.static_data("node")}
            if STATIC_DATA_CALL in code
            else None
        ),
    }


def _keep_static_data(ctx: NodeContext, returned: Any) -> None:
    """What the script left in ``$getWorkflowStaticData``, back into the execution's static data."""
    if not isinstance(returned, dict):
        return
    for scope in ("global", "node"):
        if isinstance(data := returned.get(scope), dict):
            kept = ctx.static_data(scope)
            kept.clear()
            kept.update(data)


def _json_safe_item(item: Item) -> Item:
    """An item as the script sees it: ``json`` and ``binary`` (metadata) only."""
    safe: Item = {"json": item.get("json", {})}
    if "binary" in item:
        safe["binary"] = item["binary"]
    return safe


def _script_item(item: Item, index: int, mode: str) -> Item:
    """An input item for the script; the Function node's keep their pairing and get their position."""
    safe = _json_safe_item(item)
    if mode == FUNCTION_MODE:
        if "pairedItem" in item:
            safe["pairedItem"] = item["pairedItem"]
        safe["index"] = index
    return safe


def _referenced_nodes(workflow: WorkflowDefinition, code: str, language: Language) -> list[NodeDefinition]:
    """Nodes the code names as ``$('Name')``, ``$node["Name"]`` or ``$node.Name`` (``_('Name')`` in Python);
    every node when it computes a name (``$node[`Crypto${i}`]``), since the sandbox cannot ask for more once
    it runs."""
    named = [match.group(2) for match in language.node_reference.finditer(code)]
    named += [match.group(2) or match.group(3) for match in language.legacy_reference.finditer(code)]
    literal = [name for name in named if "${" not in name]
    if len(literal) < len(language.any_reference.findall(code)):
        return list(workflow.nodes)
    wanted = set(literal)
    return [node for node in workflow.nodes if node.name in wanted]


def _node_record(ctx: NodeContext, node: NodeDefinition, code: str) -> dict[str, Any]:
    """One referenced node as the script's ``$()`` and ``$node`` read it, through the expression engine:
    every run's outputs (``runs[run][branch]``) and the branch read when none is named (``defaults``),
    its parameters with their expressions resolved, its context. No ``runs`` when it has not run."""
    name = json.dumps(node.name)
    record: dict[str, Any] = {}
    if "param" in code:
        record["parameter"] = {key: _resolved(ctx, value) for key, value in node.parameters.items()}
    try:
        if "context" in code:
            record["context"] = ctx.evaluate(f"={{{{ $node[{name}].context }}}}")
        if not ctx.evaluate(f"={{{{ $({name}).isExecuted }}}}"):
            return record
        last_run = int(ctx.evaluate(f"={{{{ $node[{name}].runIndex }}}}"))
        branches = max(len(ctx.workflow.connections.get(node.name, {}).get("main", [])), 1)
        runs = [
            [
                [_json_safe_item(item) for item in ctx.evaluate(f"={{{{ $({name}).all({branch}, {run}) }}}}")]
                for branch in range(branches)
            ]
            for run in range(last_run + 1)
        ]
    except (NodeError, ExpressionError):
        return record
    record["runs"] = runs
    record["defaults"] = [_default_branch(ctx, node.name, outputs) for outputs in runs]
    return record


def _resolved(ctx: NodeContext, value: Any) -> Any:
    """A parameter of another node as n8n's ``$node[...].parameter`` gives it: expressions resolved (for the
    running node's current item), the value as written where that fails."""
    try:
        return ctx.evaluate(value)
    except (NodeError, ExpressionError):
        return value


def _default_branch(ctx: NodeContext, name: str, outputs: list[Items]) -> int:
    """The output ``$('Name').all()`` reads, as expressions do: the one feeding this node, else the first
    that has items."""
    for index, targets in enumerate(ctx.workflow.connections.get(name, {}).get("main", [])):
        if any(target["node"] == ctx.node.name for target in targets or []):
            return index
    return next((index for index, items in enumerate(outputs) if items), 0)


def _paired_items(
    ctx: NodeContext, code: str, count: int, language: Language
) -> dict[str, list[dict[str, Any]]]:
    """For nodes the code reads item by item (``$('Name').item``, ``.itemMatching(i)``): the item each input
    item pairs with, resolved by the engine as for expressions, or ``{"error": message}`` where it cannot be.
    The script's ``.item`` and ``.itemMatching(i)`` read these."""
    paired: dict[str, list[dict[str, Any]]] = {}
    for name in dict.fromkeys(match.group(2) for match in language.paired_reference.finditer(code)):
        expression = "={{ $(" + json.dumps(name) + ").item }}"
        entries: list[dict[str, Any]] = []
        for index in range(count):
            try:
                entries.append({"item": _json_safe_item(ctx.evaluate(expression, index))})
            except (NodeError, ExpressionError) as exc:
                entries.append({"error": str(exc)})
        paired[name] = entries
    return paired


async def run_js_comparator_sort(items: Items, code: str, limits: SandboxLimits | None = None) -> Items:
    """Sort ``items`` with a JavaScript comparator body over ``a`` and ``b`` (n8n Sort ``type: code``).

    The comparator only sees each item's ``json``/``binary``; the original items are reordered, so
    ``pairedItem`` and anything else on them is kept.
    """
    data = {"mode": "sort", "items": [_json_safe_item(item) for item in items]}
    reply = await run_sandbox(SandboxJob("sort", code, data), limits or SandboxLimits())
    if isinstance(reply.get("error"), dict):
        raise _script_error(reply["error"])
    return [items[index] for index in reply["ok"]]


NODE_TYPES: list[type[NodeType]] = [CodeNode, FunctionNode, FunctionItemNode]
