"""What a backend cannot store: refused in what users write, kept (NUL as U+FFFD) in what executions record.

PostgreSQL cannot store a NUL or a non-finite number in text or JSONB; SQLite can, and then cannot read the
row back. Both backends must behave the same way.
"""

from __future__ import annotations

import pytest

from tenantflow.engine.errors import ErrorCode
from tenantflow.store.audit import Actor
from tenantflow.store.errors import InvalidRequestError
from tenantflow.store.tenants import Tenants
from tenantflow.store.unit import Store
from tests.store.factories import chain_document

_START = chain_document("start", length=1)["nodes"][0]


def _nested(depth: int) -> list[object]:
    value: list[object] = []
    for _ in range(depth):
        value = [value]
    return value


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

    @pytest.mark.parametrize(
        ("extra", "path", "why"),
        [
            ({"nodes": [{**_START, "position": [float("inf"), 0]}]}, "$.nodes[0].position[0]", "finite"),
            ({"settings": {"limit": float("nan")}}, "$.settings.limit", "finite"),
            ({"meta": {"x": _nested(70)}}, "$.meta.x" + "[0]" * 62, "nesting"),
        ],
    )
    async def test_store_refuses_numbers_json_has_not_and_runaway_nesting(
        self, store: Store, actor_a: Actor, extra: dict[str, object], path: str, why: str
    ) -> None:
        """1e400 parses to infinity: SQLite would store a row nobody can read back, PostgreSQL refuses it;
        300 levels of lists would exhaust the serialiser's stack. Both are refused with their path."""
        with pytest.raises(InvalidRequestError) as caught:
            async with store.unit(actor_a) as unit:
                await unit.workflows.create(chain_document("unstorable") | extra)
        assert (caught.value.code, caught.value.path) == (ErrorCode.INVALID_VALUE, path)
        assert why in caught.value.message
        async with store.unit(actor_a) as unit:
            assert (await unit.workflows.list()).total == 0

    async def test_an_invalid_draft_is_stored_disabled(self, store: Store, actor_a: Actor) -> None:
        document = chain_document("draft") | {"active": True}
        document["nodes"][1]["type"] = "n8n-nodes-base.noSuchNode"
        async with store.unit(actor_a) as unit:
            draft = await unit.workflows.create(document, allow_invalid=True)
        assert (draft.data["validationStatus"], draft.data["enabled"]) == ("invalid", False)

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

    async def test_execution_output_json_has_no_fast_form_for_is_kept_as_json_writes_it(
        self, store: Store, actor_a: Actor
    ) -> None:
        """orjson writes records, the standard library what orjson refuses: nothing that could be stored
        before is lost (an integer beyond 64 bits exactly, a number key as its text); NaN is null."""
        output = {"big": 2**70, "keys": {1: "one"}, "nan": float("nan"), "text": "é ✓"}
        async with store.unit(actor_a) as unit:
            execution = await unit.executions.create(None)
            await unit.executions.start(execution.id)
            await unit.executions.append_node(
                execution.id, "Code", {"status": "success", "output": [[{"json": output}]]}, run_index=0
            )
            await unit.executions.finish(execution.id, status="success")
        async with store.unit(actor_a, read_only=True) as unit:
            saved = (await unit.executions.get(execution.id)).to_dict()
        assert saved["state"]["Code"]["output"] == [
            [{"json": {"big": 2**70, "keys": {"1": "one"}, "nan": None, "text": "é ✓"}}]
        ]

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
