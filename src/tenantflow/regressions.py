"""Replays n8n's regression workflows against the executions n8n recorded, and counts the real exports that
validate: the two corpora besides the node-test fixtures that say how close tenantflow is to n8n.

Regression workflows (``n8n-io/test-workflows``: ``workflows/N.json`` and ``snapshots/N-snapshot.json``, see
that folder's README): n8n's CI compares a fresh run with the snapshot by keys only; here every run of
every node in the snapshot's ``runData`` is compared by value: its ``source``, and per output each item's
``json`` (after n8n's ``--shallow`` rewrite, which the snapshots went through), ``binary`` content and type,
and ``pairedItem``. A node we ran that n8n did not is a difference too. What varies from run to run is left
out or compared by shape, each with its reason below.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import re
import tempfile
from collections import Counter
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tenantflow.conformance import (
    FixtureResult,
    as_n8n_instance_would,
    first_difference,
    missing_node_types,
    path_step,
)
from tenantflow.engine.definition import DefinitionError
from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.executor import Execution, RunLimits
from tenantflow.engine.graph import MAIN
from tenantflow.engine.sdk import Item, Items, NodeRegistry
from tenantflow.engine.validation import validate

# Binary metadata that says what the data is. Left out: ``directory`` (where n8n's CI kept the file),
# ``fileSize`` (a formatted string such as "27 B" whose format changed between releases; ``data`` already
# fixes the size) and any storage ``id`` (n8n's binary-data store, per run).
BINARY_FIELDS = ("data", "mimeType", "fileName", "fileExtension", "fileType")

# Workflow values that embed the moment of the run, compared by shape: every match of the pattern, on
# either side, becomes the placeholder.
VARYING: dict[str, tuple[re.Pattern[str], str]] = {
    # Set names the file `filename{{Date.now()}}`; Read Binary File reports that name back.
    "103.json": (re.compile(r"filename\d{13}"), "filename<Date.now()>"),
}

READS_FILE = {"n8n-nodes-base.readBinaryFile": "filePath"}
WRITES_FILE = {"n8n-nodes-base.writeBinaryFile": "fileName"}
READS_GLOB = {"n8n-nodes-base.readBinaryFiles": "fileSelector"}

# The files directory the replay grants the disk nodes. n8n's CI copies its fixtures to /tmp and the
# workflows name /tmp paths literally; the nodes take an absolute path only under their directory, so a
# fresh directory could stand in for /tmp only if the workflows were rewritten. What a workflow writes there
# stays, as in n8n's CI; so do the fixtures the replay restores from a snapshot (:func:`recorded_files`).
FILES_ROOT = "/tmp"
# Execute Command runs a shell on the host: the replay allows it only when the operator says so
# (``tenantflow conformance --allow-host-commands``), since any --regressions folder replays.
HOST_COMMAND = "n8n-nodes-base.executeCommand"


def regression_workflows(root: Path) -> Iterator[tuple[Path, Path]]:
    """Each ``workflows/N.json`` under ``root`` that has ``snapshots/N-snapshot.json``, by workflow id."""
    paths = sorted((root / "workflows").glob("*.json"), key=lambda p: (len(p.stem), p.stem))
    for workflow in paths:
        snapshot = root / "snapshots" / f"{workflow.stem}-snapshot.json"
        if snapshot.is_file():
            yield workflow, snapshot


def shallow(data: dict[str, Any]) -> dict[str, Any]:
    """n8n's ``executeBatch --shallow``, which every snapshot went through: one level deep, an array becomes
    ``["json array"]``, anything else JavaScript calls an object (``null`` too) ``{"object": true}``."""
    return {
        key: ["json array"]
        if isinstance(value, list | tuple)
        else value
        if isinstance(value, str | int | float)
        else {"object": True}
        for key, value in data.items()
    }


def missing_local_files(document: dict[str, Any], restored: Collection[str] = ()) -> list[str]:
    """Files a node reads by a literal path that the workflow does not write first, the replay does not
    restore from the snapshot and this machine lacks (n8n's CI copies its fixtures to ``/tmp`` first)."""
    nodes = document.get("nodes", [])
    read = {_literal(n, READS_FILE) for n in nodes} - _written(document) - {None} - set(restored)
    return sorted(path for path in read if path is not None and not Path(path).exists())


def recorded_files(document: dict[str, Any], run_data: dict[str, Any], root: str) -> dict[str, bytes]:
    """The files the workflow's read nodes found on n8n's disk, by path, from their recorded outputs (a
    snapshot keeps binary ``data`` in full, with ``directory`` and ``fileName``): the fixtures n8n's CI
    copied in. Only for nodes that name a literal path or glob (an expression may name another file in
    this run), inside ``root``, and not written by the workflow itself (that is what its run checks)."""
    real_root = os.path.realpath(root)
    written = {os.path.normpath(path) for path in _written(document) if path is not None}
    files: dict[str, bytes] = {}
    for node in document.get("nodes", []):
        if _literal(node, READS_FILE) is None and _literal(node, READS_GLOB) is None:
            continue
        for meta in _recorded_binaries(run_data.get(node.get("name"), [])):
            path = _recorded_path(meta)
            if path is not None and path not in written and _inside(path, real_root):
                with contextlib.suppress(binascii.Error):
                    files[path] = base64.b64decode(meta["data"])
    return files


def _recorded_binaries(runs: list[dict[str, Any]]) -> Iterator[Any]:
    """The binary metadata of every item a node's recorded runs output."""
    for run in runs:
        for items in (run.get("data") or {}).get("main") or []:
            for item in items or []:
                yield from (item.get("binary") or {}).values()


def restore_files(files: dict[str, bytes]) -> None:
    """Put each recorded file in place (atomically: another replay may read it meanwhile)."""
    for path, data in files.items():
        target = Path(path)
        if target.is_file() and target.read_bytes() == data:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        os.replace(temporary, target)


def _recorded_path(meta: Any) -> str | None:
    if not isinstance(meta, dict) or not isinstance(meta.get("data"), str):
        return None
    directory, name = meta.get("directory"), meta.get("fileName")
    if not isinstance(directory, str) or not isinstance(name, str) or not os.path.isabs(directory):
        return None
    return os.path.normpath(os.path.join(directory, name))


def _written(document: dict[str, Any]) -> set[str | None]:
    return {_literal(node, WRITES_FILE) for node in document.get("nodes", [])}


def _inside(path: str, real_root: str) -> bool:
    real = os.path.realpath(os.path.join(real_root, path))
    return os.path.commonpath([real, real_root]) == real_root


def paths_outside(document: dict[str, Any], root: str) -> list[str]:
    """Literal paths of the disk nodes that lead out of ``root``, which the nodes refuse (a glob there
    matches nothing, as one that finds no file does in n8n)."""
    real_root = os.path.realpath(root)
    nodes = document.get("nodes", [])
    literals = {_literal(n, table) for n in nodes for table in (READS_FILE, WRITES_FILE)}
    outside = []
    for path in literals - {None}:
        if not _inside(str(path), real_root):
            outside.append(str(path))
    return sorted(outside)


def _literal(node: dict[str, Any], parameter_of: dict[str, str]) -> str | None:
    parameter = parameter_of.get(node.get("type", ""))
    value = (node.get("parameters") or {}).get(parameter) if parameter else None
    return value if isinstance(value, str) and not value.startswith("=") else None


async def run_regression(
    workflow: Path,
    snapshot: Path,
    registry: NodeRegistry,
    root: Path | None = None,
    *,
    allow_host_commands: bool = False,
) -> FixtureResult:
    """Run one regression workflow and compare it with n8n's snapshot; ``checked`` counts the node runs
    found equal (those that finished, when the run stopped early). Execute Command runs only with
    ``allow_host_commands``: the operator trusts these workflows with a shell."""
    name = str(workflow.relative_to(root / "workflows")) if root is not None else str(workflow)
    try:
        document = json.loads(workflow.read_text(encoding="utf-8"))
        recorded = json.loads(snapshot.read_text(encoding="utf-8"))["data"]["resultData"]["runData"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        return FixtureResult(name, "fail", f"unreadable: {exc!r}")
    missing = missing_node_types(document, registry)
    if missing:
        return FixtureResult(name, "unsupported", "node types not implemented: " + ", ".join(missing))
    restored = recorded_files(document, recorded, FILES_ROOT)
    absent = missing_local_files(document, restored)
    if absent:
        return FixtureResult(name, "unsupported", "reads files this machine lacks: " + ", ".join(absent))
    outside = paths_outside(document, FILES_ROOT)
    if outside:
        reason = f"names paths outside the replay's files directory {FILES_ROOT}: " + ", ".join(outside)
        return FixtureResult(name, "unsupported", reason)
    if not allow_host_commands and any(n.get("type") == HOST_COMMAND for n in document.get("nodes", [])):
        reason = "runs shell commands (Execute Command): replay with --allow-host-commands to allow them"
        return FixtureResult(name, "unsupported", reason)
    try:
        restore_files(restored)
    except OSError as exc:
        return FixtureResult(name, "unsupported", f"cannot restore the files it reads: {exc}")
    try:
        limits = RunLimits(files_root=FILES_ROOT, allow_host_commands=allow_host_commands)
        execution = Execution(as_n8n_instance_would(document), registry=registry, limits=limits)
    except DefinitionError as exc:
        return FixtureResult(name, "fail", f"definition rejected: {exc}")
    record = await execution.run()
    expected = {node: [_recorded_run(run) for run in runs] for node, runs in recorded.items()}
    actual = {node: _our_runs(execution, node) for node in execution.nodes if execution.runs_of(node)}
    if name in VARYING:
        pattern, placeholder = VARYING[name]
        expected, actual = _mask(expected, pattern, placeholder), _mask(actual, pattern, placeholder)
    if record.status == "success":
        difference = compare_run_data(expected, actual)
        if difference is not None:
            return FixtureResult(name, "fail", difference)
        return FixtureResult(name, "pass", checked=sum(len(runs) for runs in expected.values()))
    # A stopped run: a difference in a node that finished is reported first, since it may be the cause.
    error = record.error or {}
    failed = error.get("node")
    ended = f"run ended {record.status}" + (f" at {failed}" if failed else "") + f": {error.get('message')}"
    finished = {node: runs for node, runs in actual.items() if node != failed}
    compared = {node: runs for node, runs in expected.items() if node in finished}
    difference = compare_run_data(compared, finished)
    if difference is not None:
        return FixtureResult(name, "fail", f"{difference}; then the {ended}")
    return FixtureResult(name, "fail", ended, checked=sum(len(runs) for runs in compared.values()))


def compare_run_data(expected: dict[str, list[Any]], actual: dict[str, list[Any]]) -> str | None:
    """The first difference between two comparable ``runData`` maps, in the order n8n ran the nodes."""
    for node, runs in expected.items():
        path = path_step("runData", node)
        if node not in actual:
            return f"{path}: did not run"
        found = first_difference(runs, actual[node], path)
        if found is not None:
            return found
    extra = [node for node in actual if node not in expected]
    return f"{path_step('runData', extra[0])}: ran, but n8n did not run it" if extra else None


def _recorded_run(run: dict[str, Any]) -> dict[str, Any]:
    """A snapshot run reduced to what is compared; its items are already shallow."""
    outputs = [[_comparable_item(item) for item in items or []] for items in run["data"]["main"]]
    return {
        "source": [_source(entry) for entry in run.get("source") or []],
        "data": {"main": _without_trailing_empties(outputs)},
    }


def _our_runs(execution: Execution, node: str) -> list[dict[str, Any]]:
    """Our runs of ``node`` in the snapshot's shape, shallow-rewritten and with n8n's paired-item fill."""
    runs = []
    for run, outputs in enumerate(execution.runs_of(node)):
        sources = sorted(execution.sources_of(node, run), key=lambda source: source[0].input)
        sizes = _input_sizes(execution, node, run)
        filled = [_pair_as_n8n(items, sizes, len(outputs)) for items in outputs]
        comparable = [
            [_comparable_item({**i, "json": shallow(i["json"])}) for i in items] for items in filled
        ]
        runs.append(
            {
                "source": [
                    _source({"previousNode": e.source, "previousNodeOutput": e.output, "previousNodeRun": r})
                    for e, r in sources
                ],
                "data": {"main": _without_trailing_empties(comparable)},
            }
        )
    return runs


def _input_sizes(execution: Execution, node: str, run: int) -> list[int]:
    """Items per input of one run; a start node gets the execution's input items."""
    sources = execution.sources_of(node, run)
    if not sources:
        return [len(execution.input_items)]
    sizes: Counter[int] = Counter()
    for edge, source_run in sources:
        outputs = execution.runs_of(edge.source)[source_run]
        index = edge.output if edge.port == MAIN else -1  # a failed node's items: its last output
        sizes[edge.input] += len(outputs[index]) if -len(outputs) <= index < len(outputs) else 0
    return [sizes[slot] for slot in range(max(sizes) + 1)]


def _pair_as_n8n(items: Items, input_sizes: list[int], output_count: int) -> Items:
    """n8n's ``assignPairedItems``, which runs before n8n saves a run: an item without ``pairedItem`` gets
    input item 0 when one item came in, its own index when one output is as long as the only input; else
    it and the rest of the run stay unpaired."""
    filled: Items = []
    for index, item in enumerate(items):
        if "pairedItem" in item:
            filled.append(item)
        elif input_sizes == [1]:
            filled.append({**item, "pairedItem": {"item": 0}})
        elif output_count == 1 and input_sizes == [len(items)]:
            filled.append({**item, "pairedItem": {"item": index}})
        else:
            return filled + items[index:]
    return filled


def _comparable_item(item: Item) -> Item:
    """An item as compared: ``index`` (the legacy Function node's position stamp, an n8n artefact) is left
    out, ``binary`` keeps :data:`BINARY_FIELDS` and an empty one counts as none, ``input: 0`` is implied."""
    comparable = {key: value for key, value in item.items() if key not in ("index", "binary", "pairedItem")}
    binary = {
        prop: {key: meta[key] for key in BINARY_FIELDS if key in meta}
        for prop, meta in (item.get("binary") or {}).items()
    }
    if binary:
        comparable["binary"] = binary
    if "pairedItem" in item:
        comparable["pairedItem"] = _paired(item["pairedItem"])
    return comparable


def _paired(value: Any) -> Any:
    if isinstance(value, list):
        return [_paired(entry) for entry in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return {"item": value}
    if isinstance(value, dict) and not value.get("input"):
        return {key: entry for key, entry in value.items() if key != "input"}
    return value


def _source(entry: dict[str, Any] | None) -> dict[str, Any] | None:
    """n8n leaves output 0 and run 0 out of a source; so do we, on both sides."""
    return None if entry is None else {key: value for key, value in entry.items() if value}


def _without_trailing_empties(outputs: list[list[Item]]) -> list[list[Item]]:
    """n8n stores an output that produced nothing as ``null`` or ``[]``, or not at all when it is the last."""
    end = len(outputs)
    while end and not outputs[end - 1]:
        end -= 1
    return outputs[:end]


def _mask(value: Any, pattern: re.Pattern[str], placeholder: str) -> Any:
    if isinstance(value, str):
        return pattern.sub(placeholder, value)
    if isinstance(value, dict):
        return {key: _mask(entry, pattern, placeholder) for key, entry in value.items()}
    if isinstance(value, list):
        return [_mask(entry, pattern, placeholder) for entry in value]
    return value


@dataclass(frozen=True)
class RealworldReport:
    """Real n8n exports: per file, the validation error codes other than UNKNOWN_NODE_TYPE (a node type
    tenantflow lacks is expected, and is not what a migrating user should be refused for)."""

    refusals: dict[str, list[str]]

    @property
    def accepted(self) -> set[str]:
        return {name for name, codes in self.refusals.items() if not codes}

    @property
    def by_code(self) -> Counter[str]:
        return Counter(code for codes in self.refusals.values() for code in codes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": len(self.refusals),
            "validate": len(self.accepted),
            "byCode": dict(self.by_code.most_common()),
            "refusals": {name: codes for name, codes in self.refusals.items() if codes},
        }


def realworld_report(root: Path, registry: NodeRegistry) -> RealworldReport:
    """Validate every export under ``root`` (or its ``workflows`` folder)."""
    folder = root / "workflows" if (root / "workflows").is_dir() else root
    refusals: dict[str, list[str]] = {}
    for path in sorted(folder.glob("*.json")):
        try:
            report = validate(json.loads(path.read_text(encoding="utf-8")), registry)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            refusals[path.name] = ["UNREADABLE"]
            continue
        codes = {issue.code for issue in report.errors if issue.code != ErrorCode.UNKNOWN_NODE_TYPE}
        refusals[path.name] = sorted(codes)
    return RealworldReport(refusals)
