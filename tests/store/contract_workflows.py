"""Workflow operations, as every backend must implement them (seed document 003)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.sdk import NodeRegistry
from tenantflow.store.audit import Actor
from tenantflow.store.documents import EXPORT_FORMAT
from tenantflow.store.errors import (
    AccessDeniedError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    WorkflowValidationError,
)
from tenantflow.store.models import Workflow, WorkflowStaticData, WorkflowVersion
from tenantflow.store.unit import Store
from tenantflow.store.workflows import ConflictPolicy, StaticData
from tests.store.factories import audit_log, chain_document

pytestmark = pytest.mark.anyio


def invalid_document(name: str) -> dict[str, Any]:
    """A workflow validation refuses: Step 2 connects to a node that does not exist."""
    document = chain_document(name, 3)
    document["connections"]["Step 2"] = {"main": [[{"node": "Ghost", "type": "main", "index": 0}]]}
    return document


class WorkflowStoreContract:
    async def test_store_create_and_get_every_seed_field(self, store: Store, actor_a: Actor) -> None:
        document = chain_document("billing", 3) | {
            "description": "monthly invoices",
            "tags": [{"id": "1", "name": "finance"}, "ops"],
            "settings": {"executionOrder": "v1"},
            "pinData": {"Start": [{"json": {"a": 1}}]},
        }
        async with store.unit(actor_a) as unit:
            created = await unit.workflows.create(document)
        async with store.unit(actor_a) as unit:
            data = (await unit.workflows.get(created.id)).to_dict()
        assert data["tenantId"] == actor_a.tenant_id
        assert data["name"] == "billing" and data["description"] == "monthly invoices"
        assert data["version"] == 1 and data["enabled"] is False
        assert data["tags"] == ["finance", "ops"]
        assert data["settings"] == {"executionOrder": "v1"}
        assert data["meta"] == {"pinData": {"Start": [{"json": {"a": 1}}]}}
        assert isinstance(data["nodes"], list) and isinstance(data["connections"], dict)
        assert data["validationStatus"] == "valid" and data["validationErrors"] == []
        assert data["createdBy"] == data["updatedBy"] == actor_a.user_id
        assert data["executionCount"] == 0 and data["lastExecutedAt"] is None
        assert data["isLocked"] is False and data["lockedBy"] is None
        for field in ("averageExecutionTime", "lastExecutionStatus", "category", "variables", "createdAt"):
            assert field in data

    async def test_store_static_data_is_kept_per_workflow_with_optimistic_saves(
        self, store: Store, actor_a: Actor, actor_b: Actor
    ) -> None:
        async with store.unit(actor_a) as unit:
            workflow_id = (await unit.workflows.create(chain_document("static"))).id
            assert await unit.workflows.static_data(workflow_id) == StaticData({}, 0)
            saved = await unit.workflows.save_static_data(
                workflow_id, {"global": {"n": 1}}, expected_version=0
            )
        assert saved == StaticData({"global": {"n": 1}}, 1)
        async with store.unit(actor_a) as unit:
            assert await unit.workflows.static_data(workflow_id) == saved
            await unit.workflows.save_static_data(workflow_id, {"global": {"n": 2}}, expected_version=1)
        for stale in (0, 1):  # a run that read before the last save does not overwrite it
            with pytest.raises(ConflictError) as caught:
                async with store.unit(actor_a) as unit:
                    await unit.workflows.save_static_data(workflow_id, {"lost": True}, expected_version=stale)
            assert caught.value.code is ErrorCode.VERSION_CONFLICT
        with pytest.raises(InvalidRequestError) as refused:
            async with store.unit(actor_a) as unit:
                await unit.workflows.save_static_data(
                    workflow_id, {"global": {"k": "a\x00"}}, expected_version=2
                )
        assert refused.value.path == "$.global.k"
        async with store.unit(actor_b) as unit:  # another tenant neither reads nor writes it
            assert await unit.workflows.static_data(workflow_id) == StaticData({}, 0)
        with pytest.raises(AccessDeniedError):
            async with store.unit(actor_b) as unit:
                await unit.workflows.save_static_data(workflow_id, {"mine": 1}, expected_version=0)
        async with store.unit(actor_a) as unit:
            assert (await unit.workflows.static_data(workflow_id)).data == {"global": {"n": 2}}
            await unit.workflows.delete(workflow_id)
            assert await unit.session.scalar(select(func.count()).select_from(WorkflowStaticData)) == 0

    async def test_store_keeps_the_ids_import_gives_nodes_without_one(
        self, store: Store, actor_a: Actor
    ) -> None:
        """n8n exports may carry nodes without an id: validation derives one, the store keeps it, and a
        rename (which would derive another) leaves it as it is."""
        document = chain_document("no-ids", 2)
        for node in document["nodes"]:
            del node["id"]
        async with store.unit(actor_a) as unit:
            created = await unit.workflows.create(document)
        ids = [node["id"] for node in created.data["nodes"]]
        assert all(ids) and len(set(ids)) == 2
        async with store.unit(actor_a) as unit:
            renamed = await unit.workflows.update(created.id, {"name": "renamed"})
        assert [node["id"] for node in renamed.data["nodes"]] == ids

    async def test_store_unit_answered_by_the_cache_opens_no_session(
        self, store: Store, actor_a: Actor
    ) -> None:
        """A read the hot cache answers costs no session, connection or transaction; a unit that does
        nothing opens none either, and a write still commits."""
        async with store.unit(actor_a) as unit:
            created = await unit.workflows.create(chain_document("cached"))
        async with store.unit(actor_a, read_only=True) as unit:
            await unit.workflows.get(created.id)  # loads and fills the cache
            assert unit.opened
        async with store.unit(actor_a, read_only=True) as unit:
            assert (await unit.workflows.get(created.id)).id == created.id
            assert not unit.opened
        async with store.unit(actor_a) as unit:
            assert not unit.opened
        async with store.unit(actor_a, read_only=True) as unit:
            assert [view.id for view in (await unit.workflows.list()).items] == [created.id]

    async def test_store_json_columns_are_json_not_strings(self, store: Store, actor_a: Actor) -> None:
        async with store.unit(actor_a) as unit:
            created = await unit.workflows.create(chain_document("json-check"))
            row = await unit.session.get(Workflow, created.id)
            assert row is not None and isinstance(row.nodes, list) and isinstance(row.connections, dict)

    async def test_store_invalid_workflow_is_refused_and_nothing_written(
        self, store: Store, actor_a: Actor
    ) -> None:
        with pytest.raises(WorkflowValidationError) as caught:
            async with store.unit(actor_a) as unit:
                await unit.workflows.create(invalid_document("cyclic"))
        assert caught.value.code is ErrorCode.WORKFLOW_INVALID
        assert caught.value.details["errors"][0]["code"] == "UNKNOWN_CONNECTION_TARGET"
        assert caught.value.path is not None and caught.value.path.startswith("$")
        shown = caught.value.to_dict()
        assert list(shown) == ["code", "number", "message", "path", "details"]
        assert shown["number"] == 4600 and shown["details"]["errors"][0]["seedClass"] == {
            "code": "INVALID_EDGES",
            "number": 4221,
        }
        async with store.unit(actor_a) as unit:
            assert (await unit.workflows.list()).total == 0
            assert list(await unit.session.scalars(select(WorkflowVersion))) == []
        entries = await audit_log(store, actor_a.tenant_id)
        assert [(e.operation, e.outcome, e.error_code) for e in entries] == [
            ("workflow.create", "error", "WORKFLOW_INVALID")
        ]

    @pytest.mark.parametrize(
        ("document", "path"),
        [
            ({"name": "x", "nodes": "nope"}, "$.nodes"),
            ({"nodes": []}, "$.name"),
            ({"name": "x" * 300, "nodes": []}, "$.name"),
            ({"name": "x", "nodes": [], "tags": [1]}, "$.tags[0]"),
        ],
    )
    async def test_store_unreadable_document_never_written(
        self, store: Store, actor_a: Actor, document: dict[str, Any], path: str
    ) -> None:
        with pytest.raises((WorkflowValidationError, InvalidRequestError)) as caught:
            async with store.unit(actor_a) as unit:
                await unit.workflows.create(document, allow_invalid=True)
        assert caught.value.path is not None and caught.value.path.startswith(path)
        async with store.unit(actor_a) as unit:
            assert (await unit.workflows.list()).total == 0

    async def test_store_draft_can_be_saved_invalid_but_not_enabled(
        self, store: Store, actor_a: Actor
    ) -> None:
        async with store.unit(actor_a) as unit:
            draft = await unit.workflows.create(invalid_document("draft"), allow_invalid=True)
        assert draft.data["validationStatus"] == "invalid"
        assert draft.data["validationErrors"][0]["code"] == "UNKNOWN_CONNECTION_TARGET"
        with pytest.raises(WorkflowValidationError):
            async with store.unit(actor_a) as unit:
                await unit.workflows.set_enabled(draft.id, True)

    async def test_store_validation_status_goes_stale_after_node_type_change(
        self, store: Store, actor_a: Actor
    ) -> None:
        async with store.unit(actor_a) as unit:
            created = await unit.workflows.create(chain_document("stale"))
        original = store.registry
        store.registry = NodeRegistry()
        for node_type in original:
            if node_type.type != "n8n-nodes-base.noOp":
                store.registry.register(node_type)
        try:
            async with store.unit(actor_a) as unit:
                assert (await unit.workflows.find_first({"name": "stale"})) is not None
                view = await unit.workflows.find_first({"name": "stale"})
                assert view is not None and view.data["validationStatus"] == "stale"
                report = await unit.workflows.validate(created.id)
                same_unit = await unit.workflows.find_first({"name": "stale"})
                assert same_unit is not None and same_unit.data["validationStatus"] == "invalid"
                assert same_unit.version == 1
            assert not report.valid and report.errors[0].code == "UNKNOWN_NODE_TYPE"
            async with store.unit(actor_a) as unit:
                after = await unit.workflows.find_first({"name": "stale"})
                assert after is not None and after.data["validationStatus"] == "invalid"
        finally:
            store.registry = original

    async def test_store_duplicate_name_conflicts_per_tenant_only(
        self, store: Store, actor_a: Actor, actor_b: Actor
    ) -> None:
        async with store.unit(actor_a) as unit:
            await unit.workflows.create(chain_document("same"))
        with pytest.raises(ConflictError) as caught:
            async with store.unit(actor_a) as unit:
                await unit.workflows.create(chain_document("same"))
        assert caught.value.code is ErrorCode.DUPLICATE_WORKFLOW_NAME and caught.value.path == "$.name"
        async with store.unit(actor_b) as unit:
            await unit.workflows.create(chain_document("same"))

    async def test_store_update_versions_and_snapshots(self, store: Store, actor_a: Actor) -> None:
        async with store.unit(actor_a) as unit:
            created = await unit.workflows.create(chain_document("versioned"), message="first")
        async with store.unit(actor_a) as unit:
            second = await unit.workflows.update(created.id, {"description": "v2"}, message="second")
            unchanged = await unit.workflows.update(created.id, {"description": "v2"})
        assert second.version == 2 and unchanged.version == 2
        async with store.unit(actor_a) as unit:
            versions = await unit.workflows.versions(created.id)
            assert [(v.version, v.message) for v in versions] == [(2, "second"), (1, "first")]
            assert versions[0].definition["description"] == "v2"
            restored = await unit.workflows.restore(created.id, 1)
        assert restored.version == 3 and restored.data["description"] is None
        async with store.unit(actor_a) as unit:
            assert (await unit.workflows.get_version(created.id, 3)).message == "restored version 1"
            with pytest.raises(NotFoundError) as caught:
                await unit.workflows.get_version(created.id, 99)
            assert caught.value.code is ErrorCode.VERSION_NOT_FOUND
            older = await unit.workflows.versions(created.id, limit=1, before=3)
            assert [v.version for v in older] == [2]
            for bad in (0, 2**40):
                with pytest.raises(InvalidRequestError):
                    await unit.workflows.get_version(created.id, bad)
                with pytest.raises(InvalidRequestError):
                    await unit.workflows.versions(created.id, before=bad)
            with pytest.raises(InvalidRequestError):
                await unit.workflows.acquire_lock(created.id, owner="x" * 256)

    async def test_store_update_with_stale_expected_version_conflicts(
        self, store: Store, actor_a: Actor
    ) -> None:
        async with store.unit(actor_a) as unit:
            created = await unit.workflows.create(chain_document("optimistic"))
            await unit.workflows.update(created.id, {"description": "b"}, expected_version=1)
        with pytest.raises(ConflictError) as caught:
            async with store.unit(actor_a) as unit:
                await unit.workflows.update(created.id, {"description": "c"}, expected_version=1)
        assert caught.value.code is ErrorCode.VERSION_CONFLICT
        assert caught.value.details == {"currentVersion": 2}

    async def test_store_update_refuses_unknown_fields(self, store: Store, actor_a: Actor) -> None:
        async with store.unit(actor_a) as unit:
            created = await unit.workflows.create(chain_document("patch"))
            with pytest.raises(InvalidRequestError) as caught:
                await unit.workflows.update(created.id, {"executionCount": 5})
        assert caught.value.path == "$.patch.executionCount"

    async def test_store_delete(self, store: Store, actor_a: Actor) -> None:
        async with store.unit(actor_a) as unit:
            created = await unit.workflows.create(chain_document("doomed"))
        async with store.unit(actor_a) as unit:
            await unit.workflows.delete(created.id)
        async with store.unit(actor_a) as unit:
            with pytest.raises(NotFoundError):
                await unit.workflows.get(created.id)
            assert list(await unit.session.scalars(select(WorkflowVersion))) == []

    async def test_store_list_filter_sort_page(self, store: Store, actor_a: Actor) -> None:
        async with store.unit(actor_a) as unit:
            for index in range(7):
                document = chain_document(f"flow-{index}") | {
                    "category": "even" if index % 2 == 0 else "odd",
                    "tags": ["all", f"t{index}"],
                }
                await unit.workflows.create(document)
        async with store.unit(actor_a) as unit:
            page = await unit.workflows.list({"category": "even"}, sort="name", page=1, limit=3)
            assert [v.name for v in page.items] == ["flow-0", "flow-2", "flow-4"]
            assert page.total == 4 and page.has_more
            last = await unit.workflows.list({"category": "even"}, sort="name", page=2, limit=3)
            assert [v.name for v in last.items] == ["flow-6"] and not last.has_more
            tagged = await unit.workflows.list({"tags": ["t1", "t3"]}, sort="-name")
            assert [v.name for v in tagged.items] == ["flow-3", "flow-1"]
            named = await unit.workflows.list({"name": {"contains": "w-5"}})
            assert [v.name for v in named.items] == ["flow-5"]
            literal = await unit.workflows.list({"name": {"contains": "%"}})
            assert literal.total == 0
            assert page.to_dict(lambda v: v.id)["hasMore"] is True

    @pytest.mark.parametrize(
        ("kwargs", "code", "path"),
        [
            ({"filter": {"password": "x"}}, ErrorCode.INVALID_FILTER, "$.filter.password"),
            ({"filter": {"enabled": "yes"}}, ErrorCode.INVALID_FILTER, "$.filter.enabled"),
            ({"filter": {"updatedAfter": "yesterday"}}, ErrorCode.INVALID_FILTER, "$.filter.updatedAfter"),
            ({"sort": "nodes"}, ErrorCode.INVALID_SORT, "$.sort"),
            ({"limit": 1000}, ErrorCode.INVALID_PAGINATION, "$.limit"),
            ({"page": 0}, ErrorCode.INVALID_PAGINATION, "$.page"),
        ],
    )
    async def test_store_list_rejects_bad_arguments_with_path(
        self, store: Store, actor_a: Actor, kwargs: dict[str, Any], code: ErrorCode, path: str
    ) -> None:
        async with store.unit(actor_a) as unit:
            with pytest.raises(InvalidRequestError) as caught:
                await unit.workflows.list(**kwargs)
        assert caught.value.code is code and caught.value.path == path

    async def test_store_find_first_and_find_by_field(self, store: Store, actor_a: Actor) -> None:
        async with store.unit(actor_a) as unit:
            await unit.workflows.create(chain_document("alpha") | {"category": "sales"})
            await unit.workflows.create(chain_document("beta") | {"category": "sales"})
        async with store.unit(actor_a) as unit:
            first = await unit.workflows.find_first({"category": "sales"}, sort="name")
            assert first is not None and first.name == "alpha"
            assert await unit.workflows.find_first({"category": "none"}) is None
            found = await unit.workflows.find_by_field("category", "sales")
            assert sorted(v.name for v in found) == ["alpha", "beta"]
            with pytest.raises(InvalidRequestError) as caught:
                await unit.workflows.find_by_field("nodes", "x")
        assert caught.value.code is ErrorCode.FIELD_NOT_SEARCHABLE

    async def test_store_search_is_ranked_and_safe(self, store: Store, actor_a: Actor) -> None:
        async with store.unit(actor_a) as unit:
            await unit.workflows.create(chain_document("invoice sender") | {"description": "emails invoices"})
            await unit.workflows.create(
                chain_document("report") | {"description": "mentions an invoice once"}
            )
            await unit.workflows.create(chain_document("unrelated"))
        async with store.unit(actor_a) as unit:
            hits = await unit.workflows.search("invoice")
            assert [v.name for v in hits] == ["invoice sender", "report"]
            assert [v.name for v in await unit.workflows.search('invo" * (')] == ["invoice sender", "report"]
            renamed = hits[1]
            await unit.workflows.update(renamed.id, {"description": "nothing here"})
            assert [v.name for v in await unit.workflows.search("invoice")] == ["invoice sender"]
            with pytest.raises(InvalidRequestError) as caught:
                await unit.workflows.search("  !!! ")
        assert caught.value.code is ErrorCode.INVALID_SEARCH_QUERY

    async def test_store_upsert_by_name(self, store: Store, actor_a: Actor) -> None:
        async with store.unit(actor_a) as unit:
            first, created = await unit.workflows.upsert(chain_document("upserted"))
            second, created_again = await unit.workflows.upsert(chain_document("upserted", 3))
        assert created and not created_again
        assert second.id == first.id and second.version == 2 and len(second.data["nodes"]) == 3

    async def test_store_create_many_is_all_or_nothing(self, store: Store, actor_a: Actor) -> None:
        with pytest.raises(WorkflowValidationError) as caught:
            async with store.unit(actor_a) as unit:
                await unit.workflows.create_many(
                    [chain_document("ok-1"), invalid_document("bad"), chain_document("ok-2")]
                )
        assert caught.value.path is not None and caught.value.path.startswith("$[1]")
        async with store.unit(actor_a) as unit:
            assert (await unit.workflows.list()).total == 0
            created = await unit.workflows.create_many([chain_document("ok-1"), chain_document("ok-2")])
        assert [v.name for v in created] == ["ok-1", "ok-2"]
        async with store.unit(actor_a) as unit:
            with pytest.raises(InvalidRequestError) as too_many:
                await unit.workflows.create_many([chain_document(f"n{i}") for i in range(101)])
        assert too_many.value.code is ErrorCode.BULK_LIMIT_EXCEEDED

    async def test_store_update_many_and_delete_many(self, store: Store, actor_a: Actor) -> None:
        async with store.unit(actor_a) as unit:
            for index in range(4):
                await unit.workflows.create(
                    chain_document(f"bulk-{index}") | {"category": "a" if index < 3 else "b"}
                )
        async with store.unit(actor_a) as unit:
            assert await unit.workflows.update_many({"category": "a"}, {"description": "bulk"}) == 3
        async with store.unit(actor_a) as unit:
            described = await unit.workflows.list({"category": "a"})
            assert {v.data["description"] for v in described.items} == {"bulk"}
            assert {v.version for v in described.items} == {2}
            assert await unit.workflows.delete_many({"category": "a"}) == 3
        async with store.unit(actor_a) as unit:
            assert [v.name for v in (await unit.workflows.list()).items] == ["bulk-3"]
            with pytest.raises(InvalidRequestError):
                await unit.workflows.update_many(None, {"name": "clash"})

    async def test_store_set_enabled(self, store: Store, actor_a: Actor) -> None:
        async with store.unit(actor_a) as unit:
            created = await unit.workflows.create(chain_document("toggle"))
            enabled = await unit.workflows.set_enabled(created.id, True)
            assert enabled.data["enabled"] is True
            disabled = await unit.workflows.set_enabled(created.id, False)
        assert disabled.data["enabled"] is False and disabled.version == 3

    async def test_store_clone(self, store: Store, actor_a: Actor) -> None:
        async with store.unit(actor_a) as unit:
            source = await unit.workflows.create(chain_document("original") | {"active": True})
            copy = await unit.workflows.clone(source.id)
            second = await unit.workflows.clone(source.id)
            named = await unit.workflows.clone(source.id, name="renamed")
        assert (
            copy.name == "original (copy)" and second.name == "original (copy) 2" and named.name == "renamed"
        )
        assert copy.id != source.id and copy.version == 1 and copy.data["enabled"] is False
        assert copy.data["nodes"] == source.data["nodes"]

    async def test_store_export_import_round_trip(self, store: Store, actor_a: Actor, actor_b: Actor) -> None:
        async with store.unit(actor_a) as unit:
            source = await unit.workflows.create(chain_document("exported") | {"tags": ["x"]})
            exported = await unit.workflows.export(source.id)
        assert exported["formatVersion"] == EXPORT_FORMAT and exported["validationReport"]["valid"] is True
        assert exported["workflow"]["nodes"] == source.data["nodes"] and "exportedAt" in exported
        async with store.unit(actor_b) as unit:
            imported = await unit.workflows.import_(exported)
        assert imported.tenant_id == actor_b.tenant_id and imported.name == "exported"
        assert imported.data["tags"] == ["x"]
        async with store.unit(actor_a) as unit:
            renamed = await unit.workflows.import_(exported, on_conflict="rename")
            replaced = await unit.workflows.import_(exported, on_conflict="replace")
            with pytest.raises(ConflictError):
                await unit.workflows.import_(exported)
        assert renamed.name == "exported 2" and replaced.id == source.id

    async def test_store_import_accepts_n8n_and_rejects_garbage(self, store: Store, actor_a: Actor) -> None:
        n8n = chain_document("from n8n") | {"active": False, "versionId": "abc", "id": "12"}
        async with store.unit(actor_a) as unit:
            imported = await unit.workflows.import_(n8n)
            assert imported.name == "from n8n" and imported.id != "12"
            with pytest.raises(InvalidRequestError) as unknown:
                await unit.workflows.import_({"formatVersion": "other/9", "workflow": {}})
            with pytest.raises(InvalidRequestError) as bare:
                await unit.workflows.import_({"hello": "world"})
        assert unknown.value.path == "$.formatVersion" and bare.value.code is ErrorCode.INVALID_EXPORT_FORMAT

    async def test_store_import_of_an_invalid_workflow_is_import_validation_failed(
        self, store: Store, actor_a: Actor
    ) -> None:
        async with store.unit(actor_a) as unit:
            await unit.workflows.create(chain_document("replaced"))
        attempts: list[tuple[dict[str, Any], ConflictPolicy]] = [
            ({"formatVersion": EXPORT_FORMAT, "workflow": invalid_document("enveloped")}, "error"),
            (invalid_document("bare"), "error"),
            (invalid_document("replaced"), "replace"),
        ]
        for payload, policy in attempts:
            with pytest.raises(WorkflowValidationError) as caught:
                async with store.unit(actor_a) as unit:
                    await unit.workflows.import_(payload, on_conflict=policy)
            assert (caught.value.code, caught.value.number) == (ErrorCode.IMPORT_VALIDATION_FAILED, 4252)
            [issue] = caught.value.details["errors"]
            assert (issue["code"], issue["number"], issue["path"]) == (
                "UNKNOWN_CONNECTION_TARGET",
                4610,
                "connections['Step 2'].main[0][0].node",
            )
            assert caught.value.path == "$.connections['Step 2'].main[0][0].node"
        refusals = [(e.operation, e.error_code) for e in await audit_log(store, actor_a.tenant_id)][1:]
        assert refusals == [("workflow.import", "IMPORT_VALIDATION_FAILED")] * 3
        async with store.unit(actor_a) as unit:
            assert [view.version for view in (await unit.workflows.list()).items] == [1]

    async def test_store_execution_stats(self, store: Store, actor_a: Actor) -> None:
        async with store.unit(actor_a) as unit:
            workflow = await unit.workflows.create(chain_document("stats"))
            for status in ("success", "success", "error"):
                execution = await unit.executions.create(workflow.id)
                await unit.executions.start(execution.id)
                await unit.executions.finish(execution.id, status=status)
            await unit.executions.create(workflow.id)
        async with store.unit(actor_a) as unit:
            stats = await unit.workflows.get_execution_stats("24h", workflow_id=workflow.id)
            tenant_wide = await unit.workflows.get_execution_stats("1h")
            with pytest.raises(InvalidRequestError):
                await unit.workflows.get_execution_stats("forever")
        assert stats["total"] == 4 and stats["byStatus"] == {"success": 2, "error": 1, "queued": 1}
        async with store.unit(actor_a) as unit:  # the cached stats go when an execution is added
            await unit.executions.create(workflow.id)
        async with store.unit(actor_a) as unit:
            again = await unit.workflows.get_execution_stats("24h", workflow_id=workflow.id)
            assert again["byStatus"]["queued"] == 2
            assert (await unit.workflows.get_execution_stats("1h"))["total"] == 5
        assert stats["successRate"] == pytest.approx(2 / 3, abs=1e-4)
        assert tenant_wide["total"] == 4

    async def test_store_writes_are_audited(self, store: Store, actor_a: Actor) -> None:
        async with store.unit(actor_a) as unit:
            created = await unit.workflows.create(chain_document("audited"))
            await unit.workflows.update(created.id, {"description": "d"})
            await unit.workflows.delete(created.id)
        entries = await audit_log(store, actor_a.tenant_id)
        assert [(e.operation, e.outcome) for e in entries] == [
            ("workflow.create", "ok"),
            ("workflow.update", "ok"),
            ("workflow.delete", "ok"),
        ]
        assert {(e.user_id, e.request_id, e.ip, e.target_id) for e in entries} == {
            (actor_a.user_id, actor_a.request_id, actor_a.ip, created.id)
        }
