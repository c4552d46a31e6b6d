"""``tenantflow`` command line: validate, run, list node types, print the schema, replay conformance fixtures.

Exit codes are a contract other tools rely on: ``validate`` 0 valid / 1 invalid / 2 unreadable;
``run`` 0 success / 1 anything else / 2 unreadable input.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from tenantflow.conformance import FixtureResult, fixture_files, run_fixture
from tenantflow.engine.definition import canonical_json_schema
from tenantflow.engine.executor import ExecutionEvent, RunLimits, execute
from tenantflow.engine.validation import ValidationReport, validate
from tenantflow.nodes import default_registry
from tenantflow.store.database import DEFAULT_URL, Database
from tenantflow.store.migrate import current_revision, upgrade
from tenantflow.store.retention import PruneReport, prune

app = typer.Typer(
    help="tenantflow: run n8n-style workflows as DAGs.", no_args_is_help=True, add_completion=False
)
out = Console(soft_wrap=True)
err = Console(stderr=True)

EXIT_OK, EXIT_FAILED, EXIT_UNREADABLE = 0, 1, 2


def _emit_json(data: Any, **kwargs: Any) -> None:
    """Machine-readable output: plain JSON on stdout, never styled or wrapped."""
    typer.echo(json.dumps(data, indent=2, **kwargs))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        err.print(f"[red]cannot read {path}: {exc}[/red]")
        raise typer.Exit(EXIT_UNREADABLE) from exc


def _print_report(report: ValidationReport) -> None:
    for issue in report.errors:
        err.print(f"[red]error[/red] {issue.code} at {issue.path}: {issue.message}")
    for issue in report.warnings:
        err.print(f"[yellow]warning[/yellow] {issue.code} at {issue.path}: {issue.message}")


@app.command("validate")
def validate_command(
    file: Path,
    as_json: Annotated[bool, typer.Option("--json", help="Print the validation report as JSON.")] = False,
) -> None:
    """Validate a workflow file (n8n export or MetaBuilder v3)."""
    report = validate(_read(file), default_registry())
    if as_json:
        _emit_json(report.to_dict())
    else:
        _print_report(report)
        out.print("[green]valid[/green]" if report.valid else "[red]invalid[/red]")
    raise typer.Exit(EXIT_OK if report.valid else EXIT_FAILED)


def _parse_input(value: str | None) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    text = _read(Path(value[1:])) if value.startswith("@") else value
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        err.print(f"[red]--input is not valid JSON: {exc}[/red]")
        raise typer.Exit(EXIT_UNREADABLE) from exc
    rows = data if isinstance(data, list) else [data]
    return [row if isinstance(row, dict) and "json" in row else {"json": row} for row in rows]


def _pairs(values: list[str], option: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for value in values:
        name, sep, raw = value.partition("=")
        if not sep or not name:
            err.print(f"[red]{option} expects NAME=VALUE, got {value!r}[/red]")
            raise typer.Exit(EXIT_UNREADABLE)
        try:
            result[name] = json.loads(raw) if option == "--var" else raw
        except json.JSONDecodeError:
            result[name] = raw
    return result


class _Progress:
    """Prints one line per finished node as the execution goes."""

    async def __call__(self, event: ExecutionEvent) -> None:
        if event.type != "node.finished":
            return
        data = event.data
        items = sum(len(o) for o in data.get("output") or [])
        mark = {"success": "[green]✓[/green]", "disabled": "[dim]-[/dim]"}.get(data["status"], "[red]✗[/red]")
        run = f" run {data['runIndex'] + 1}" if data.get("runIndex") else ""
        err.print(f"{mark} {event.node}{run}  [dim]{data.get('duration') or 0:.1f} ms · {items} items[/dim]")


@app.command("run")
def run_command(
    file: Path,
    input_: Annotated[str | None, typer.Option("--input", help="Input items: JSON or @file.")] = None,
    var: Annotated[
        list[str] | None, typer.Option("--var", help="Variable NAME=VALUE (VALUE may be JSON).")
    ] = None,
    secret: Annotated[list[str] | None, typer.Option("--secret", help="Secret NAME=VALUE.")] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", help="Execution timeout in seconds.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the execution record as JSON.")] = False,
) -> None:
    """Run a workflow file and print its execution record."""
    registry = default_registry()
    report = validate(_read(file), registry)
    if report.definition is None or not report.valid:
        if as_json:
            _emit_json({"status": "invalid", "validation": report.to_dict()})
        else:
            _print_report(report)
        raise typer.Exit(EXIT_FAILED)
    record = asyncio.run(
        execute(
            report.definition,
            registry=registry,
            input_items=_parse_input(input_),
            variables=_pairs(var or [], "--var"),
            secrets=_pairs(secret or [], "--secret"),
            limits=RunLimits(execution_timeout_s=timeout),
            events=None if as_json else _Progress(),
        )
    )
    if as_json:
        _emit_json(record.to_dict(), default=str)
    else:
        _print_summary(record.to_dict())
    raise typer.Exit(EXIT_OK if record.status == "success" else EXIT_FAILED)


def _print_summary(record: dict[str, Any]) -> None:
    status = record["status"]
    colour = "green" if status == "success" else "red"
    out.print(f"[{colour}]{status}[/{colour}] in {record['duration']:.1f} ms  (execution {record['id']})")
    if record["error"]:
        error = record["error"]
        out.print(f"[red]{error.get('code')}[/red] at {error.get('node')}: {error.get('message')}")
    metrics = " · ".join(f"{k} {v}" for k, v in record["metrics"].items())
    out.print(f"[dim]{metrics}[/dim]")
    last = [name for name, state in record["state"].items() if state["status"] != "disabled"]
    if last:
        output = record["state"][last[-1]]["output"]
        out.print(f"output of [bold]{last[-1]}[/bold]:")
        _emit_json([[item.get("json") for item in items] for items in output])


@app.command("nodes")
def nodes_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print every node type with its schemas.")] = False,
) -> None:
    """List the node types this installation can run."""
    registry = default_registry()
    if as_json:
        _emit_json([t.describe() for t in registry])
        return
    table = Table("type", "versions", "description")
    for node_type in registry:
        table.add_row(node_type.type, ", ".join(f"{v:g}" for v in node_type.versions), node_type.description)
    out.print(table)


@app.command("schema")
def schema_command() -> None:
    """Print the canonical workflow JSON Schema."""
    typer.echo(json.dumps(canonical_json_schema(), indent=2))


DatabaseUrl = Annotated[
    str,
    typer.Option(
        "--database-url",
        envvar="TENANTFLOW_DATABASE_URL",
        help="SQLite or PostgreSQL URL; the embedded default is a tenantflow.db file here.",
    ),
]


@app.command("migrate")
def migrate_command(
    database_url: DatabaseUrl = DEFAULT_URL,
) -> None:
    """Create or upgrade the store's schema to the newest migration."""
    try:
        before, after = asyncio.run(_migrate(database_url))
    except (OSError, SQLAlchemyError, ArgumentError) as exc:
        err.print(f"[red]cannot migrate {make_url(database_url).render_as_string()}: {exc}[/red]")
        raise typer.Exit(EXIT_FAILED) from exc
    if before == after:
        out.print(f"schema is current (revision {after})")
    else:
        out.print(f"schema upgraded from {before or 'empty'} to revision {after}")


async def _migrate(database_url: str) -> tuple[str | None, str | None]:
    database = Database(database_url)
    try:
        before = await current_revision(database)
        with err.status("running migrations"):
            await upgrade(database)
        return before, await current_revision(database)
    finally:
        await database.dispose()


@app.command("prune")
def prune_command(
    database_url: DatabaseUrl = DEFAULT_URL,
    batch_size: Annotated[
        int, typer.Option(min=1, max=100_000, help="Executions deleted per transaction.")
    ] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Apply every tenant's execution retention policy, then give SQLite's freed space back."""
    try:
        report = asyncio.run(_prune(database_url, batch_size))
    except (OSError, SQLAlchemyError, ArgumentError) as exc:
        err.print(f"[red]cannot prune {make_url(database_url).render_as_string()}: {exc}[/red]")
        raise typer.Exit(EXIT_FAILED) from exc
    data = report.to_dict()
    if as_json:
        _emit_json(data)
        return
    table = Table("tenant", "expired", "over cap")
    for tenant_id, counts in data["tenants"].items():
        table.add_row(tenant_id, str(counts["expired"]), str(counts["overCap"]))
    out.print(table)
    out.print(f"{data['deleted']} executions deleted in {data['batches']} batches")
    if data["vacuum"] is not None:
        vacuum = data["vacuum"]
        out.print(f"SQLite file {vacuum['sizeBefore']:,} → {vacuum['sizeAfter']:,} bytes")


async def _prune(database_url: str, batch_size: int) -> PruneReport:
    database = Database(database_url)
    try:
        with err.status("pruning executions") as status:

            def show(tenant_id: str, deleted: int) -> None:
                status.update(f"pruning executions: {deleted:,} deleted so far (tenant {tenant_id})")

            return await prune(database, batch_size=batch_size, progress=show)
    finally:
        await database.dispose()


@app.command("conformance")
def conformance_command(
    directory: Path,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per fixture, then a total.")
    ] = False,
) -> None:
    """Replay n8n's node-test workflows (pinData = expected output) and report pass / fail / unsupported."""
    if not directory.is_dir():
        err.print(f"[red]not a directory: {directory}[/red]")
        raise typer.Exit(EXIT_UNREADABLE)
    registry = default_registry()
    files = list(fixture_files(directory))
    results: list[FixtureResult] = []
    with Progress(console=err, transient=True, disable=as_json) as progress:
        task = progress.add_task("replaying fixtures", total=len(files))
        for path in files:
            results.append(asyncio.run(run_fixture(path, registry, directory)))
            progress.advance(task)
    totals = {status: sum(r.status == status for r in results) for status in ("pass", "fail", "unsupported")}
    if as_json:
        _emit_json({"results": [r.to_dict() for r in results], "totals": totals})
    else:
        colours = {"pass": "green", "fail": "red", "unsupported": "yellow"}
        for result in results:
            colour = colours[result.status]
            out.print(f"[{colour}]{result.status:<11}[/{colour}] {result.path}  [dim]{result.reason}[/dim]")
        out.print(f"{totals['pass']} passed, {totals['fail']} failed, {totals['unsupported']} unsupported")
    raise typer.Exit(EXIT_OK if totals["fail"] == 0 else EXIT_FAILED)
