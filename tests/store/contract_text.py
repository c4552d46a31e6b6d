"""NUL characters: refused in what users write, kept (as U+FFFD) in what executions record.

PostgreSQL cannot store a NUL in text or JSONB; SQLite can. Both backends must behave the same way.
"""

from __future__ import annotations

import pytest

from tenantflow.engine.errors import ErrorCode
from tenantflow.store.audit import Actor
from tenantflow.store.errors import InvalidRequestError
from tenantflow.store.tenants import Tenants
from tenantflow.store.unit import Store
from tests.store.factories import chain_document


class TextContract:
    @pytest.mark.parametrize(
        ("extra", "path"),
        [
            ({"name": "bad\x00name"}, "$.name"),
            ({"description": "a\x00b"}, "$.description"),
            ({"settings": {"timezone": "UTC\x00"}}, "$.settings.timezone"),
            ({"pinData": {"Start": [{"json": {"k\x00": 1}}]}}, "$.pinData.Start[0].json"),
        ],
    )
    async def test_store_text_with_nul_is_refused_with_its_path(
        self, store: Store, actor_a: Actor, extra: dict[str, object], path: str
    ) -> None:
        with pytest.raises(InvalidRequestError) as caught:
            async with store.unit(actor_a) as unit:
                await unit.workflows.create(chain_document("nul") | extra)
        assert (caught.value.code, caught.value.path) == (ErrorCode.INVALID_VALUE, path)
        async with store.unit(actor_a) as unit:
            assert (await unit.workflows.list()).total == 0
            with pytest.raises(InvalidRequestError) as filtered:
                await unit.workflows.list({"name": "x\x00"})
            assert filtered.value.path == "$.filter.name"
            with pytest.raises(InvalidRequestError):
                await unit.executions.create(None, idempotency_key="k\x00")

    async def test_execution_output_and_logs_with_nul_are_kept_as_replacement_characters(
        self, store: Store, actor_a: Actor
    ) -> None:
        async with store.unit(actor_a) as unit:
            execution = await unit.executions.create(None, input=[{"json": {"raw": "in\x00put"}}])
            await unit.executions.start(execution.id)
            await unit.executions.append_node(
                execution.id,
                "Fetch",
                {"status": "success", "output": [[{"json": {"body": "a\x00b", "k\x00": 1}}]]},
                run_index=0,
            )
            await unit.executions.append_logs(execution.id, [{"message": "got \x00", "data": {"x": "\x00"}}])
            await unit.executions.finish(execution.id, status="error", error={"message": "bad \x00 byte"})
        async with store.unit(actor_a, read_only=True) as unit:
            saved = (await unit.executions.get(execution.id)).to_dict()
        assert saved["input"] == [{"json": {"raw": "in\ufffdput"}}]
        assert saved["state"]["Fetch"]["output"] == [[{"json": {"body": "a\ufffdb", "k\ufffd": 1}}]]
        assert saved["logs"][0]["message"] == "got \ufffd" and saved["logs"][0]["data"] == {"x": "\ufffd"}
        assert saved["error"] == {"message": "bad \ufffd byte"}

    async def test_store_text_columns_refuse_what_postgres_could_not_hold(
        self, store: Store, actor_a: Actor
    ) -> None:
        async with store.unit(actor_a) as unit:
            for attempt, path in (
                (
                    lambda: unit.users.create("a@example.com", level=1, display_name="x" * 256),
                    "$.displayName",
                ),
                (lambda: unit.users.create("a\x00@example.com", level=1), "$.email"),
                (lambda: Tenants(store.database).create("nul-tenant", "bad\x00name"), "$.name"),
                (lambda: unit.workflows.acquire_lock("any", owner="o\x00"), "$.owner"),
            ):
                with pytest.raises(InvalidRequestError) as caught:
                    await attempt()
                assert (caught.value.code, caught.value.path) == (ErrorCode.INVALID_VALUE, path)
