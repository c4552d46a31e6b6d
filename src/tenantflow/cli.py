"""``tenantflow`` command line: validate and run workflows, operate the store, serve the API.

Exit codes are a contract other tools rely on: ``validate`` 0 valid / 1 invalid / 2 unreadable;
``run`` 0 success / 1 anything else / 2 unreadable input; operator commands 0 done / 1 refused.

Start-up time is part of the contract too: each command imports what it uses inside its function, so
``validate`` does not pay for SQLAlchemy, Alembic, Rich or the conformance runner (``tests/test_cli.py``
checks).
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

if TYPE_CHECKING:
    from asyncio import AbstractEventLoop

    from rich.console import Console

    from tenantflow.engine.executor import ExecutionEvent
    from tenantflow.engine.validation import ValidationReport
    from tenantflow.settings import Settings
    from tenantflow.store.retention import PruneReport
    from tenantflow.store.tenants import TenantInfo
    from tenantflow.store.unit import Store
    from tenantflow.store.workers import QueueStats, WorkerView

T = TypeVar("T")

app = typer.Typer(
    help="tenantflow: run n8n-style workflows as DAGs.", no_args_is_help=True, add_completion=False
)
tenant_app = typer.Typer(help="Create and list tenants.", no_args_is_help=True)
user_app = typer.Typer(help="Create users in a tenant.", no_args_is_help=True)
key_app = typer.Typer(help="Create and revoke API keys.", no_args_is_help=True)
keyring_app = typer.Typer(help="Secret keyrings for TENANTFLOW_SECRET_KEYS.", no_args_is_help=True)
app.add_typer(tenant_app, name="tenant")
app.add_typer(user_app, name="user")
app.add_typer(key_app, name="key")
app.add_typer(keyring_app, name="keyring")

EXIT_OK, EXIT_FAILED, EXIT_UNREADABLE = 0, 1, 2


@functools.cache
def _console(*, stderr: bool) -> Console:
    """Rich, for tables, spinners and progress bars only: it takes longer to import than a small validate
    takes to run, so lines are written with click's styles instead."""
    from rich.console import Console

    return Console(stderr=stderr, soft_wrap=True)


def out() -> Console:
    return _console(stderr=False)


def err() -> Console:
    return _console(stderr=True)


def _fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """End the command with ``message`` on stderr (never a traceback)."""
    typer.secho(message, fg="red", err=True)
    raise typer.Exit(code)


def _emit_json(data: Any, **kwargs: Any) -> None:
    """Machine-readable output: plain JSON on stdout, never styled or wrapped."""
    typer.echo(json.dumps(data, indent=2, **kwargs))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"cannot read {path}: {exc}", EXIT_UNREADABLE)


def _print_report(report: ValidationReport) -> None:
    for kind, colour, issues in (("error", "red", report.errors), ("warning", "yellow", report.warnings)):
        tag = typer.style(kind, fg=colour)
        for issue in issues:
            typer.echo(f"{tag} {issue.code} at {issue.path}: {issue.message}", err=True)


@app.command("validate")
def validate_command(
    file: Path,
    as_json: Annotated[bool, typer.Option("--json", help="Print the validation report as JSON.")] = False,
) -> None:
    """Validate a workflow file (n8n export or MetaBuilder v3)."""
    from tenantflow.engine.validation import validate
    from tenantflow.nodes import default_registry

    report = validate(_read(file), default_registry())
    if as_json:
        _emit_json(report.to_dict())
    else:
        _print_report(report)
        typer.secho("valid" if report.valid else "invalid", fg="green" if report.valid else "red")
    raise typer.Exit(EXIT_OK if report.valid else EXIT_FAILED)


def _parse_input(value: str | None) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    text = _read(Path(value[1:])) if value.startswith("@") else value
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        _fail(f"--input is not valid JSON: {exc}", EXIT_UNREADABLE)
    rows = data if isinstance(data, list) else [data]
    return [row if isinstance(row, dict) and "json" in row else {"json": row} for row in rows]


def _pairs(values: list[str], option: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for value in values:
        name, sep, raw = value.partition("=")
        if not sep or not name:
            _fail(f"{option} expects NAME=VALUE, got {value!r}", EXIT_UNREADABLE)
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
        mark = {"success": typer.style("✓", fg="green"), "disabled": typer.style("-", dim=True)}.get(
            data["status"], typer.style("✗", fg="red")
        )
        run = f" run {data['runIndex'] + 1}" if data.get("runIndex") else ""
        took = typer.style(f"{data.get('duration') or 0:.1f} ms · {items} items", dim=True)
        typer.echo(f"{mark} {event.node}{run}  {took}", err=True)


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
    files_dir: Annotated[
        Path | None,
        typer.Option("--files-dir", help="The only directory disk nodes may use (default: none)."),
    ] = None,
    allow_host_commands: Annotated[
        bool, typer.Option("--allow-host-commands", help="Let Execute Command run shell commands here.")
    ] = False,
    static_data: Annotated[
        bool,
        typer.Option(
            "--static-data", help="Keep the workflow's static data in FILE.static-data.json next to it."
        ),
    ] = False,
) -> None:
    """Run a workflow file and print its execution record."""
    import asyncio

    from tenantflow.engine.executor import Execution, RunLimits
    from tenantflow.engine.validation import validate
    from tenantflow.nodes import default_registry

    files_root = _files_root(files_dir)
    registry = default_registry()
    report = validate(_read(file), registry)
    if report.definition is None or not report.valid:
        if as_json:
            _emit_json({"status": "invalid", "validation": report.to_dict()})
        else:
            _print_report(report)
        raise typer.Exit(EXIT_FAILED)
    kept = file.with_name(file.name + ".static-data.json") if static_data else None
    execution = Execution(
        report.definition,
        registry=registry,
        input_items=_parse_input(input_),
        variables=_pairs(var or [], "--var"),
        secrets=_pairs(secret or [], "--secret"),
        limits=RunLimits(
            execution_timeout_s=timeout, files_root=files_root, allow_host_commands=allow_host_commands
        ),
        events=None if as_json else _Progress(),
        static_data=_read_static_data(kept) if kept is not None and kept.exists() else None,
    )
    record = asyncio.run(execution.run())
    if kept is not None:
        kept.write_text(json.dumps(execution.static_data, indent=2, default=str) + "\n")
    if as_json:
        _emit_json(record.to_dict(), default=str)
    else:
        _print_summary(record.to_dict())
    raise typer.Exit(EXIT_OK if record.status == "success" else EXIT_FAILED)


def _read_static_data(path: Path) -> dict[str, Any]:
    """The static data a previous ``run --static-data`` left: a JSON object, or a usage error naming it."""
    try:
        data = json.loads(_read(path))
    except json.JSONDecodeError as exc:
        _fail(f"{path} is not JSON: {exc}", EXIT_UNREADABLE)
    if not isinstance(data, dict):
        _fail(f"{path} must hold a JSON object", EXIT_UNREADABLE)
    return data


def _files_root(files_dir: Path | None) -> str | None:
    """The ``--files-dir`` directory as an absolute path; a missing one is a usage error, not a node's."""
    if files_dir is None:
        return None
    if not files_dir.is_dir():
        _fail(f"not a directory: {files_dir}", EXIT_UNREADABLE)
    return str(files_dir.resolve())


def _print_summary(record: dict[str, Any]) -> None:
    status = record["status"]
    shown = typer.style(status, fg="green" if status == "success" else "red")
    typer.echo(f"{shown} in {record['duration']:.1f} ms  (execution {record['id']})")
    if record["error"]:
        error = record["error"]
        code = typer.style(str(error.get("code")), fg="red")
        typer.echo(f"{code} at {error.get('node')}: {error.get('message')}")
    typer.secho(" · ".join(f"{k} {v}" for k, v in record["metrics"].items()), dim=True)
    last = [name for name, state in record["state"].items() if state["status"] != "disabled"]
    if last:
        output = record["state"][last[-1]]["output"]
        typer.echo(f"output of {typer.style(last[-1], bold=True)}:")
        _emit_json([[item.get("json") for item in items] for items in output])


@app.command("nodes")
def nodes_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print every node type with its schemas.")] = False,
) -> None:
    """List the node types this installation can run."""
    from rich.table import Table

    from tenantflow.nodes import default_registry

    registry = default_registry()
    if as_json:
        _emit_json([t.describe() for t in registry])
        return
    table = Table("type", "versions", "description")
    for node_type in registry:
        table.add_row(node_type.type, ", ".join(f"{v:g}" for v in node_type.versions), node_type.description)
    out().print(table)


@app.command("schema")
def schema_command() -> None:
    """Print the canonical workflow JSON Schema."""
    from tenantflow.engine.definition import canonical_json_schema

    typer.echo(json.dumps(canonical_json_schema(), indent=2))


def _settings(**overrides: Any) -> Settings:
    """The settings ``tenantflow serve`` reads (TENANTFLOW_*, .env); options given here win over them."""
    from pydantic import ValidationError

    from tenantflow.settings import Settings

    try:
        return Settings(**{name: value for name, value in overrides.items() if value is not None})
    except ValidationError as error:
        _fail(f"invalid settings: {error}")


def _shown(url: str) -> str:
    """``url`` fit for a message: without its password."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string()
    except ArgumentError:
        return "the configured database"


def _guarded(call: Callable[[], T], doing: str, settings: Settings) -> T:
    """Run ``call``; a refusal, bad configuration or unreachable database ends it with a message, exit 1."""
    from alembic.util import CommandError
    from redis.exceptions import RedisError
    from sqlalchemy.exc import SQLAlchemyError

    from tenantflow.settings import ConfigurationError
    from tenantflow.store.errors import StoreError

    try:
        return call()
    except StoreError as error:
        _fail(f"{error.code.value}: {error.message}" + (f" (at {error.path})" if error.path else ""))
    except ConfigurationError as error:
        _fail(str(error))
    except (OSError, SQLAlchemyError, RedisError, CommandError) as error:
        _fail(f"cannot {doing} {_shown(settings.resolved_database_url)}: {error}")


def _complete(
    work: Coroutine[Any, Any, T],
    doing: str,
    settings: Settings,
    *,
    loop_factory: Callable[[], AbstractEventLoop] | None = None,
) -> T:
    import asyncio

    def run() -> T:
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(work)

    return _guarded(run, doing, settings)


DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLite or PostgreSQL URL; default the server's (TENANTFLOW_DATABASE_URL, else under data/).",
    ),
]


@app.command("migrate")
def migrate_command(database_url: DatabaseUrl = None) -> None:
    """Create or upgrade the store's schema to the newest migration."""
    settings = _settings(database_url=database_url)
    before, after = _complete(_migrate(settings), "migrate", settings)
    if before == after:
        typer.echo(f"schema is current (revision {after})")
    else:
        typer.echo(f"schema upgraded from {before or 'empty'} to revision {after}")


async def _migrate(settings: Settings) -> tuple[str | None, str | None]:
    """The revisions before and after, around the same migration step ``serve`` runs."""
    from tenantflow.services.runtime import migrate

    if settings.is_embedded:
        settings.data_dir.mkdir(parents=True, exist_ok=True)  # the default SQLite file's home
    before = await _revision(settings)
    with err().status("running migrations"):
        await migrate(settings)
    return before, await _revision(settings)


async def _revision(settings: Settings) -> str | None:
    from tenantflow.store.database import Database
    from tenantflow.store.migrate import current_revision

    database = Database(settings.resolved_database_url)
    try:
        return await current_revision(database)
    finally:
        await database.dispose()


@app.command("prune")
def prune_command(
    database_url: DatabaseUrl = None,
    batch_size: Annotated[
        int, typer.Option(min=1, max=100_000, help="Executions deleted per transaction.")
    ] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Apply every tenant's execution retention policy, then give SQLite's freed space back."""
    from rich.table import Table

    settings = _settings(database_url=database_url)
    data = _complete(_prune(settings, batch_size), "prune", settings).to_dict()
    if as_json:
        _emit_json(data)
        return
    table = Table("tenant", "expired", "over cap")
    for tenant_id, counts in data["tenants"].items():
        table.add_row(tenant_id, str(counts["expired"]), str(counts["overCap"]))
    out().print(table)
    typer.echo(f"{data['deleted']} executions deleted in {data['batches']} batches")
    if data["vacuum"] is not None:
        vacuum = data["vacuum"]
        typer.echo(f"SQLite file {vacuum['sizeBefore']:,} → {vacuum['sizeAfter']:,} bytes")


async def _prune(settings: Settings, batch_size: int) -> PruneReport:
    from tenantflow.store.database import Database
    from tenantflow.store.retention import prune

    database = Database(settings.resolved_database_url)
    try:
        with err().status("pruning executions") as status:

            def show(tenant_id: str, deleted: int) -> None:
                status.update(f"pruning executions: {deleted:,} deleted so far (tenant {tenant_id})")

            return await prune(database, batch_size=batch_size, progress=show)
    finally:
        await database.dispose()


@app.command("status")
def status_command(
    database_url: DatabaseUrl = None,
    limit: Annotated[
        int, typer.Option(min=1, max=1000, help="At most this many workers, the most recently seen first.")
    ] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
) -> None:
    """Show the queue (depth, oldest queued, running, lease ages) and the workers, from the database."""
    from datetime import timedelta

    from rich.table import Table

    settings = _settings(database_url=database_url)
    stats, workers, live_within = _complete(_status(settings, limit), "read the queue from", settings)
    live_since = stats.at - timedelta(seconds=live_within)
    if as_json:
        rows = [{**worker.to_dict(), "live": worker.last_seen_at >= live_since} for worker in workers]
        _emit_json({"queue": stats.to_dict(), "liveWithinSeconds": live_within, "workers": rows})
        return
    figures = Table("queue", "now", title=f"at {stats.at:%Y-%m-%d %H:%M:%S} UTC")
    figures.add_row("queued", f"{stats.queued:,}")
    figures.add_row("oldest queued", _seconds(stats.oldest_queued_seconds))
    figures.add_row("running", f"{stats.running:,}")
    figures.add_row("oldest lease", _seconds(stats.oldest_lease_seconds))
    figures.add_row("expired leases", f"{stats.expired_leases:,}")
    figures.add_row("live workers", f"{stats.live_workers} (capacity {stats.capacity}, busy {stats.busy})")
    out().print(figures)
    table = Table("owner", "host", "pid", "queue", "concurrency", "running", "started", "last seen", "state")
    for worker in workers:
        table.add_row(
            *map(
                str, (worker.owner, worker.host, worker.pid, worker.queue, worker.concurrency, worker.running)
            ),
            f"{worker.started_at:%Y-%m-%d %H:%M:%S}",
            _seconds((stats.at - worker.last_seen_at).total_seconds()) + " ago",
            "[green]live[/green]" if worker.last_seen_at >= live_since else "[red]gone[/red]",
        )
    out().print(table)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f} s"


async def _status(settings: Settings, limit: int) -> tuple[QueueStats, list[WorkerView], float]:
    """The queue's figures, the workers' rows and how recently a live one was seen; read, never written,
    so no keyring is needed and the schema stays as it is."""
    from tenantflow.engine.record import utc_now
    from tenantflow.queue.liveness import live_within_seconds
    from tenantflow.store.database import Database
    from tenantflow.store.migrate import current_revision, head_revision
    from tenantflow.store.workers import list_workers, queue_stats

    live_within = live_within_seconds(settings.lease_seconds)
    database = Database(settings.resolved_database_url)
    try:
        revision, head = await current_revision(database), head_revision()
        if revision != head:
            _fail(f"the schema is at revision {revision or 'none'}, not {head}: run `tenantflow migrate`")
        stats = await queue_stats(
            database, utc_now(), lease_seconds=settings.lease_seconds, live_within_seconds=live_within
        )
        return stats, await list_workers(database, limit=limit), live_within
    finally:
        await database.dispose()


def _operate(action: Callable[[Store], Awaitable[T]]) -> T:
    """Run one provisioning use case against the server's database, migrated first so it works before the
    server ever ran."""
    settings = _settings()
    return _complete(_with_store(settings, action), "use", settings)


async def _with_store(settings: Settings, action: Callable[[Store], Awaitable[T]]) -> T:
    from tenantflow.services.runtime import migrate, open_store

    store = await open_store(settings)  # first: a configuration error must stop us before the schema changes
    try:
        await migrate(settings)
        return await action(store)
    finally:
        await store.close()


AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
TenantOption = Annotated[str, typer.Option("--tenant", help="The tenant's id.")]
EmailOption = Annotated[str, typer.Option("--email", help="The user's email address.")]


def _tenant_json(tenant: TenantInfo) -> dict[str, Any]:
    retention = {"days": tenant.retention.days, "maxPerWorkflow": tenant.retention.max_per_workflow}
    return {"id": tenant.id, "name": tenant.name, "retention": retention, "settings": tenant.settings}


@tenant_app.command("create")
def tenant_create_command(
    tenant_id: Annotated[str, typer.Argument(metavar="ID", help="1-64 of a-z, 0-9, '_' and '-'.")],
    name: Annotated[str | None, typer.Option("--name", help="Display name; default the id.")] = None,
    as_json: AsJson = False,
) -> None:
    """Create a tenant."""
    from tenantflow.services.provisioning import create_tenant

    tenant = _operate(lambda store: create_tenant(store, tenant_id, name))
    if as_json:
        _emit_json(_tenant_json(tenant))
    else:
        typer.echo(f"created tenant {tenant.id} ({tenant.name})")


@tenant_app.command("list")
def tenant_list_command(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 100,
    after: Annotated[str | None, typer.Option(help="Only ids after this one (the next page).")] = None,
    as_json: AsJson = False,
) -> None:
    """List tenants by id."""
    from rich.table import Table

    from tenantflow.services.provisioning import list_tenants

    tenants = _operate(lambda store: list_tenants(store, limit, after))
    if as_json:
        _emit_json([_tenant_json(tenant) for tenant in tenants])
        return
    table = Table("id", "name", "retention")
    for tenant in tenants:
        retention = f"{tenant.retention.days} days, {tenant.retention.max_per_workflow:,} per workflow"
        table.add_row(tenant.id, tenant.name, retention)
    out().print(table)


def _password_from_stdin() -> str:
    """All of stdin but a final line break, so both ``echo pw |`` and a file work."""
    password = sys.stdin.read().removesuffix("\n").removesuffix("\r")
    if not password:
        _fail("--password-stdin: stdin held no password")
    return password


@user_app.command("create")
def user_create_command(
    tenant: TenantOption,
    email: EmailOption,
    level: Annotated[int, typer.Option("--level", help="0 public, 1 user, 2 moderator, 3 admin, 4, 5.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read a password from stdin; else API keys only.")
    ] = False,
    display_name: Annotated[str | None, typer.Option("--display-name")] = None,
    as_json: AsJson = False,
) -> None:
    """Create a user in a tenant."""
    from tenantflow.services.provisioning import create_user

    password = _password_from_stdin() if password_stdin else None
    user = _operate(lambda store: create_user(store, tenant, email, level, password, display_name))
    if as_json:
        _emit_json(user.to_dict())
    else:
        granted = f"level {int(user.level)} ({user.level.name.lower()})"
        typer.echo(f"created user {user.id} {user.email} in {tenant}, {granted}")


@key_app.command("create")
def key_create_command(
    tenant: TenantOption,
    email: EmailOption,
    name: Annotated[str, typer.Option("--name", help="What the key is for.")] = "cli",
    level_cap: Annotated[
        int | None, typer.Option("--level-cap", help="Highest level the key acts at; default the user's.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Create an API key for a user and print it, once: only its hash is stored."""
    from tenantflow.services.provisioning import create_api_key

    view, key = _operate(lambda store: create_api_key(store, tenant, email, name, level_cap))
    if as_json:
        _emit_json({**view.to_dict(), "key": key})
        return
    about = f"API key {view.id} for {email}, level cap {int(view.level_cap)}; shown once, keep it now:"
    typer.echo(about, err=True)
    typer.echo(key)


@key_app.command("revoke")
def key_revoke_command(
    key_id: Annotated[str, typer.Argument(metavar="KEY_ID")],
    tenant: TenantOption,
    as_json: AsJson = False,
) -> None:
    """Revoke an API key (revoking it again changes nothing)."""
    from tenantflow.services.provisioning import revoke_api_key

    view = _operate(lambda store: revoke_api_key(store, tenant, key_id))
    if as_json:
        _emit_json(view.to_dict())
    else:
        typer.echo(f"API key {view.id} ({view.prefix}) revoked at {view.revoked_at}")


@keyring_app.command("generate")
def keyring_generate_command() -> None:
    """Print a new TENANTFLOW_SECRET_KEYS value: a keyring holding one fresh key."""
    from tenantflow.store.secrets import Keyring

    typer.echo(Keyring.generate().spec())


@app.command("serve")
def serve_command(
    host: Annotated[str | None, typer.Option(help="Address to listen on; default TENANTFLOW_HOST.")] = None,
    port: Annotated[
        int | None, typer.Option(min=0, max=65535, help="Port to listen on; default TENANTFLOW_PORT.")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Serve the HTTP API with the settings every operator command reads."""
    from tenantflow.api.server import run_server

    settings = _settings(host=host, port=port)
    _guarded(lambda: run_server(settings, workers=workers), "serve", settings)


@app.command("worker")
def worker_command(
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, help="Executions run at once; default TENANTFLOW_WORKER_CONCURRENCY."),
    ] = None,
) -> None:
    """Run executions from the queue (TENANTFLOW_BROKER_URL) until SIGTERM; same settings as serve."""
    import logging

    import uvloop

    from tenantflow.queue.process import run_worker

    settings = _settings(worker_concurrency=concurrency)
    if settings.broker_url is None:
        _fail(
            "the worker needs TENANTFLOW_BROKER_URL (amqp://… or redis://…): without it each API process"
            " runs its own"
        )
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    if logging.getLogger().level > logging.DEBUG:  # Taskiq logs each message at INFO: a line per execution
        logging.getLogger("taskiq.receiver.receiver").setLevel(logging.WARNING)
    run = run_worker(settings, concurrency=settings.worker_concurrency)
    # uvloop, as uvicorn runs the API: a worker's time goes to small socket reads and writes (the
    # database, RabbitMQ, Redis), which asyncio's own loop makes cost more.
    _complete(run, "serve the queue with", settings, loop_factory=uvloop.new_event_loop)


@app.command("conformance")
def conformance_command(
    directory: Annotated[
        Path | None, typer.Argument(help="n8n's node-test workflows (pinData = expected output).")
    ] = None,
    regressions: Annotated[
        Path | None,
        typer.Option("--regressions", help="n8n's regression workflows: workflows/N.json, snapshots/."),
    ] = None,
    realworld: Annotated[
        Path | None, typer.Option("--realworld", help="Real n8n exports to validate (or their workflows/).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per fixture, then a total.")
    ] = False,
    allow_host_commands: Annotated[
        bool,
        typer.Option(
            "--allow-host-commands",
            help="Let the regression workflows' Execute Command run shell commands here (you trust them).",
        ),
    ] = False,
) -> None:
    """Replay n8n's node-test workflows (pinData = expected output), its regression workflows (compared by
    value with the executions n8n recorded) and report pass / fail / unsupported; count the real exports that
    validate. Exits 1 when a fixture or a regression workflow fails (a refused export is only counted).
    Without --allow-host-commands a regression workflow with Execute Command is unsupported."""
    import asyncio

    from rich.progress import Progress

    from tenantflow.conformance import FixtureResult, fixture_files, run_fixture
    from tenantflow.nodes import default_registry
    from tenantflow.regressions import realworld_report, regression_workflows, run_regression

    if directory is None and regressions is None and realworld is None:
        _fail("name a fixture directory, --regressions or --realworld", EXIT_UNREADABLE)
    for folder in (directory, regressions, realworld):
        if folder is not None and not folder.is_dir():
            _fail(f"not a directory: {folder}", EXIT_UNREADABLE)
    registry = default_registry()
    report: dict[str, Any] = {}
    failed = False

    def replay(label: str, jobs: list[Callable[[], Coroutine[Any, Any, FixtureResult]]]) -> None:
        nonlocal failed
        results: list[FixtureResult] = []
        with Progress(console=err(), transient=True, disable=as_json) as progress:
            task = progress.add_task(f"replaying {label}", total=len(jobs))
            for job in jobs:
                results.append(asyncio.run(job()))
                progress.advance(task)
        totals = {s: sum(r.status == s for r in results) for s in ("pass", "fail", "unsupported")}
        failed = failed or totals["fail"] > 0
        if as_json:
            report[label] = {"results": [r.to_dict() for r in results], "totals": totals}
            return
        colours = {"pass": "green", "fail": "red", "unsupported": "yellow"}
        for result in results:
            colour = colours[result.status]
            out().print(f"[{colour}]{result.status:<11}[/{colour}] {result.path}  [dim]{result.reason}[/dim]")
        summary = f"{totals['pass']} passed, {totals['fail']} failed, {totals['unsupported']} unsupported"
        out().print(summary if label == "fixtures" else f"{label}: {summary}")

    if directory is not None:
        files = fixture_files(directory)
        replay("fixtures", [functools.partial(run_fixture, path, registry, directory) for path in files])
        if as_json:
            report.update(report.pop("fixtures"))  # results and totals at the top, as this command always had
    if regressions is not None:
        pairs = regression_workflows(regressions)
        replay_one = functools.partial(run_regression, allow_host_commands=allow_host_commands)
        replay("regressions", [functools.partial(replay_one, w, s, registry, regressions) for w, s in pairs])
    if realworld is not None:
        exports = realworld_report(realworld, registry)
        if as_json:
            report["realworld"] = exports.to_dict()
        else:
            for name, codes in exports.refusals.items():
                verdict = f"[red]refused  [/red] {name}  [dim]{', '.join(codes)}[/dim]"
                out().print(verdict if codes else f"[green]validates[/green] {name}")
            by_code = ", ".join(f"{code} {count}" for code, count in exports.by_code.most_common())
            out().print(
                f"realworld: {len(exports.accepted)} of {len(exports.refusals)} validate "
                f"(UNKNOWN_NODE_TYPE aside); refused by code: {by_code or 'none'}"
            )
    if as_json:
        _emit_json(report)
    raise typer.Exit(EXIT_FAILED if failed else EXIT_OK)
