"""Execution binaries contract: files leave the checkpointed outputs for ``execution_binaries``, on every
write path, once per execution; reads show metadata; bytes come back by id, and for a retry, inline.

A mixin of :class:`tests.store.contract_executions.ExecutionStoreContract`, so it runs on both backends.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.record import Metrics
from tenantflow.store.audit import Actor
from tenantflow.store.errors import NotFoundError
from tenantflow.store.executions import ExecutionProgress, FinishedRun, QueuedExecution
from tenantflow.store.models import ExecutionBinary
from tenantflow.store.retention import prune
from tenantflow.store.unit import Store
from tests.store.factories import engine_events, insert_workflow_row

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
REPORT = b'{"total": 42}'
PHOTO = bytes(range(256)) * 4


def file_entry(content: bytes, name: str, mime: str) -> dict[str, Any]:
    """An n8n binary entry as a node makes it, bytes inline."""
    return {
        "data": base64.b64encode(content).decode(),
        "mimeType": mime,
        "fileName": name,
        "fileExtension": name.rsplit(".", 1)[-1],
        "fileSize": f"{len(content)} B",
    }


def stored_id(content: bytes) -> str:
    return "tfbin:" + hashlib.sha256(content).hexdigest()


def metadata(entry: dict[str, Any], content: bytes) -> dict[str, Any]:
    return {**{k: v for k, v in entry.items() if k != "data"}, "id": stored_id(content)}


def state(output: list[dict[str, Any]], status: str = "success") -> dict[str, Any]:
    return {"status": status, "output": [output], "attempts": 1, "error": None, "startTime": T0.isoformat()}


async def stored_files(store: Store, actor: Actor, execution_id: str) -> dict[str, tuple[str | None, int]]:
    """The execution's rows in ``execution_binaries``: binary id -> (mime type, size)."""
    async with store.unit(actor, read_only=True) as unit:
        rows = await unit.session.execute(
            select(ExecutionBinary.binary_id, ExecutionBinary.mime_type, ExecutionBinary.size).where(
                ExecutionBinary.execution_id == execution_id
            )
        )
        return {row.binary_id: (row.mime_type, row.size) for row in rows}


class BinaryStoreContract:
    async def test_binary_checkpoint_stores_each_file_once_and_reads_show_metadata(
        self, store: Store, actor_a: Actor
    ) -> None:
        report = file_entry(REPORT, "report.json", "application/json")
        photo = file_entry(PHOTO, "photo.png", "image/png")
        made: list[dict[str, Any]] = [{"json": {"n": 1}, "binary": {"data": report}}, {"json": {"n": 2}}]
        passed_on = [{"json": {}, "binary": {"data": report, "picture": photo}}]
        kept = json.dumps(made)
        async with store.unit(actor_a) as unit:
            created = await unit.executions.create()
            await unit.executions.append_node(created.id, "Make", state(made), run_index=0)
            await unit.executions.append_node(created.id, "Pass", state(passed_on), run_index=0)
            await unit.executions.append_node(created.id, "Pass", state(passed_on), run_index=0)  # again
        assert json.dumps(made) == kept  # the engine's items are left as they were
        async with store.unit(actor_a, read_only=True) as unit:
            shown = (await unit.executions.get(created.id)).to_dict()
        assert shown["state"]["Make"]["output"] == [
            [{"json": {"n": 1}, "binary": {"data": metadata(report, REPORT)}}, {"json": {"n": 2}}]
        ]
        assert shown["state"]["Pass"]["output"] == [
            [{"json": {}, "binary": {"data": metadata(report, REPORT), "picture": metadata(photo, PHOTO)}}]
        ]
        assert photo["data"] not in json.dumps(shown)
        assert await stored_files(store, actor_a, created.id) == {
            stored_id(REPORT)[6:]: ("application/json", len(REPORT)),
            stored_id(PHOTO)[6:]: ("image/png", len(PHOTO)),
        }
        async with store.unit(actor_a, read_only=True) as unit:
            by_prefixed = await unit.executions.binary(created.id, stored_id(PHOTO))
            by_hash = await unit.executions.binary(created.id, stored_id(REPORT)[6:])
        assert (by_prefixed.data, by_prefixed.mime_type, by_prefixed.file_name) == (
            PHOTO,
            "image/png",
            "photo.png",
        )
        assert (by_hash.data, by_hash.file_name) == (REPORT, "report.json")

    async def test_binary_outputs_without_files_are_stored_as_given(
        self, store: Store, actor_a: Actor
    ) -> None:
        """No file: no copy, no file row. Data that is not base64 has no bytes to store: it stays inline."""
        odd = {"data": "not base64!", "mimeType": "text/plain"}
        output: list[dict[str, Any]] = [
            {"json": {"a": 1}},
            {"json": {}, "binary": {"data": odd}},
            {"json": {}, "binary": None},
        ]
        async with store.unit(actor_a) as unit:
            created = await unit.executions.create()
            await unit.executions.append_node(created.id, "A", state(output), run_index=0)
        async with store.unit(actor_a, read_only=True) as unit:
            shown = (await unit.executions.get(created.id)).to_dict()
        assert shown["state"]["A"]["output"] == [output]
        assert await stored_files(store, actor_a, created.id) == {}

    async def test_binary_write_batch_stores_files_of_runs_that_ended_and_of_running_rows(
        self, store: Store, actor_a: Actor
    ) -> None:
        """The group-commit paths (on PostgreSQL, ended runs go in one statement): each execution keeps its
        own copy of a file two of them made; progress of a row written before stores its files too."""
        async with store.unit(actor_a) as unit:
            workflow_id = await insert_workflow_row(unit)
            earlier = await unit.executions.create(workflow_id)
        entry = file_entry(PHOTO, "photo.png", "image/png")
        output = [{"json": {}, "binary": {"data": entry}}]
        requests = [QueuedExecution(actor_a, workflow_id, 1) for _ in range(2)]
        finish = FinishedRun("success", None, Metrics(nodes_executed=1), T0 + timedelta(seconds=1))
        ended = [ExecutionProgress(r.id, T0, [("Make", 0, state(output))], finish=finish) for r in requests]
        async with store.unit(actor_a) as unit:
            await unit.executions.write_batch(requests, ended)
        async with store.unit(actor_a) as unit:
            await unit.executions.write_batch(
                [], [ExecutionProgress(earlier.id, T0, [("Make", 0, state(output))])]
            )
        for execution_id in (*(r.id for r in requests), earlier.id):
            assert await stored_files(store, actor_a, execution_id) == {
                stored_id(PHOTO)[6:]: ("image/png", 1024)
            }
            async with store.unit(actor_a, read_only=True) as unit:
                shown = (await unit.executions.get(execution_id)).to_dict()
                assert (await unit.executions.binary(execution_id, stored_id(PHOTO))).data == PHOTO
            assert shown["state"]["Make"]["output"] == [
                [{"json": {}, "binary": {"data": metadata(entry, PHOTO)}}]
            ]

    async def test_binary_with_files_puts_the_bytes_back_in_one_query(
        self, store: Store, actor_a: Actor
    ) -> None:
        report = file_entry(REPORT, "report.json", "application/json")
        async with store.unit(actor_a) as unit:
            created = await unit.executions.create()
            for name in ("Make", "Pass"):
                await unit.executions.append_node(
                    created.id, name, state([{"json": {}, "binary": {"data": report}}]), run_index=0
                )
            await unit.executions.append_node(created.id, "Plain", state([{"json": {"x": 1}}]), run_index=0)
        async with store.unit(actor_a, read_only=True) as unit:
            states = {
                name: node.to_dict() for name, node in (await unit.executions.get(created.id)).state.items()
            }
            with engine_events(store, "before_cursor_execute", "execution_binaries") as seen:
                inlined = await unit.executions.with_files(created.id, states)
                plain = await unit.executions.with_files(created.id, {"Plain": states["Plain"]})
        assert len(seen) == 1
        assert inlined["Make"]["output"] == [[{"json": {}, "binary": {"data": report}}]]
        make, passed = (inlined[name]["output"][0][0]["binary"]["data"]["data"] for name in ("Make", "Pass"))
        assert make is passed  # one text per file: the engine's binary cap counts it once
        assert inlined["Plain"] == states["Plain"] and plain == {"Plain": states["Plain"]}

    async def test_binary_of_another_tenant_or_unknown_is_not_found(
        self, store: Store, actor_a: Actor, actor_b: Actor
    ) -> None:
        async with store.unit(actor_a) as unit:
            theirs = await unit.executions.create()
            output = [{"json": {}, "binary": {"data": file_entry(REPORT, "r.json", "application/json")}}]
            await unit.executions.append_node(theirs.id, "Make", state(output), run_index=0)
        async with store.unit(actor_b) as unit:
            mine = await unit.executions.create()
        cases = [
            (actor_b, theirs.id, stored_id(REPORT), f"execution {theirs.id!r} not found"),  # A's, read by B
            (actor_b, mine.id, stored_id(REPORT), "binary data"),  # B's execution never held A's file
            (actor_a, "no-such-execution", stored_id(REPORT), "'no-such-execution' not found"),
            (actor_a, theirs.id, stored_id(PHOTO), "binary data"),  # A's execution, a file it has not
        ]
        for actor, execution_id, binary_id, message in cases:
            with pytest.raises(NotFoundError) as caught:
                async with store.unit(actor, read_only=True) as unit:
                    await unit.executions.binary(execution_id, binary_id)
            assert caught.value.code == ErrorCode.EXECUTION_NOT_FOUND and message in caught.value.message

    async def test_binary_rows_go_with_their_execution(self, store: Store, actor_a: Actor) -> None:
        """Retention deletes executions by id; their files go with them (ON DELETE CASCADE)."""
        async with store.unit(actor_a) as unit:
            old = await unit.executions.create()
            output = [{"json": {}, "binary": {"data": file_entry(PHOTO, "p.png", "image/png")}}]
            await unit.executions.append_node(old.id, "Make", state(output), run_index=0)
            await unit.executions.finish(old.id, status="success", finished_at=T0)
            kept = await unit.executions.create()
            await unit.executions.append_node(kept.id, "Make", state(output), run_index=0)
        await prune(store.database, now=datetime.now(UTC) + timedelta(days=365), tenants=[actor_a.tenant_id])
        async with store.unit(actor_a, read_only=True) as unit:
            owners = await unit.session.scalars(
                select(ExecutionBinary.execution_id).group_by(ExecutionBinary.execution_id)
            )
            assert list(owners) == [kept.id]  # the running one is never pruned
            total = await unit.session.scalar(select(func.count()).select_from(ExecutionBinary))
        assert total == 1
