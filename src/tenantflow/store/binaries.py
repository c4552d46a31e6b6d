"""Binary data of executions: the files node outputs carry (n8n's ``binary`` entries), kept out of the
checkpointed outputs.

During a run, items carry each file's bytes inline, as base64 ``data`` (n8n's default mode). When a node
run is checkpointed, :func:`split` replaces each such entry with the same entry without ``data`` plus
``id: "tfbin:<sha256 of the bytes>"`` (as n8n's filesystem and S3 modes put an ``id`` where the bytes were),
and the bytes go to ``execution_binaries`` in the same transaction, once per execution however many nodes
pass the file on. So reads, lists, events and exports show metadata, never bytes; :func:`read` serves the
bytes by id, and :func:`rehydrate` puts them back into the outputs a retry reuses.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from tenantflow.store.models import ExecutionBinary
from tenantflow.store.text import scrubbed

PREFIX: Final = "tfbin:"
_TEXT_LIMIT: Final = 255  # the mime type and file name columns' width

Output = list[list[dict[str, Any]]]
Files = dict[tuple[str, str], dict[str, Any]]
"""Rows of ``execution_binaries`` to write, by ``(execution id, binary id)``: one per file per execution."""

_INSERTS: dict[str, Any] = {}  # dialect name -> the statement insert_files sends


@dataclass(frozen=True, slots=True)
class StoredBinary:
    """One stored file: what ``GET …/executions/{id}/binary/{binaryId}`` answers with."""

    binary_id: str
    mime_type: str | None
    file_name: str | None
    data: bytes


def has_files(output: Output) -> bool:
    """Whether any item of ``output`` has a ``binary`` key: the whole cost of outputs without files."""
    for items in output:
        for item in items:
            if "binary" in item:
                return True
    return False


def split(output: Output, execution_id: str, files: Files) -> Output:
    """``output`` with every inline file replaced by its metadata and ``tfbin:`` id, its bytes added to
    ``files``. Items without files are shared, not copied; ``output`` itself is left as it was (the engine
    still runs with it). Data that is not base64 stays inline: there are no bytes to store it as."""
    if not has_files(output):
        return output
    ids: dict[str, str] = {}  # base64 text -> binary id: a file passed on shares its text
    return [[_item(item, execution_id, files, ids) for item in items] for items in output]


def metadata_only(output: Output) -> Output:
    """``output`` as its checkpoint stores it (:func:`split`, the bytes dropped): what a host that holds
    the run's items shows, so it shows what the store reads back."""
    return split(output, "", {})


def _item(item: Any, execution_id: str, files: Files, ids: dict[str, str]) -> Any:
    entries = item.get("binary") if isinstance(item, dict) else None
    if not isinstance(entries, dict):
        return item
    changed = {
        key: stored
        for key, entry in entries.items()
        if (stored := _entry(entry, execution_id, files, ids)) is not entry
    }
    return {**item, "binary": {**entries, **changed}} if changed else item


def _entry(entry: Any, execution_id: str, files: Files, ids: dict[str, str]) -> Any:
    data = entry.get("data") if isinstance(entry, dict) else None
    if not isinstance(data, str):
        return entry
    binary_id = ids.get(data)
    if binary_id is None:
        try:
            content = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            return entry
        binary_id = ids[data] = hashlib.sha256(content).hexdigest()
        files.setdefault(
            (execution_id, binary_id),
            {
                "execution_id": execution_id,
                "binary_id": binary_id,
                "mime_type": _text(entry.get("mimeType")),
                "file_name": _text(entry.get("fileName")),
                "size": len(content),
                "data": content,
            },
        )
    metadata = {key: value for key, value in entry.items() if key != "data"}
    metadata["id"] = PREFIX + binary_id
    return metadata


def _text(value: Any) -> str | None:
    return scrubbed(value[:_TEXT_LIMIT]) if isinstance(value, str) else None


async def insert_files(session: AsyncSession, dialect: str, rows: list[dict[str, Any]]) -> None:
    """Write file rows (each with the session's ``tenant_id``); a file the execution already stored (an
    earlier node's output, a checkpoint written again) is left as it is."""
    if not rows:
        return
    statement = _INSERTS.get(dialect)
    if statement is None:
        table = ExecutionBinary.__table__
        insert_ = (postgresql if dialect == "postgresql" else sqlite).insert(table)
        # A table statement, as the node upsert: the guard checks every row's tenant_id.
        statement = _INSERTS[dialect] = insert_.on_conflict_do_nothing().execution_options(
            tenant_filtered=True
        )
    await session.execute(statement, rows)


async def read(session: AsyncSession, execution_id: str, binary_id: str) -> StoredBinary | None:
    """One file of one execution of the session's tenant; ``binary_id`` with or without ``tfbin:``."""
    binary_id = binary_id.removeprefix(PREFIX)
    row = (
        await session.execute(
            select(ExecutionBinary.mime_type, ExecutionBinary.file_name, ExecutionBinary.data).where(
                ExecutionBinary.execution_id == execution_id, ExecutionBinary.binary_id == binary_id
            )
        )
    ).one_or_none()
    return None if row is None else StoredBinary(binary_id, row.mime_type, row.file_name, row.data)


async def rehydrate(
    session: AsyncSession, execution_id: str, states: Mapping[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Node states (``NodeState.to_dict()``) whose stored files have their base64 ``data`` back, read in
    one query for the execution, so the nodes a retry runs get the files the reused outputs carried. A
    file that is gone stays metadata only."""
    wanted = {
        binary_id
        for state in states.values()
        for entry in _entries(state.get("output") or [])
        if (binary_id := _stored_id(entry)) is not None
    }
    if not wanted:
        return dict(states)
    found = await session.execute(
        select(ExecutionBinary.binary_id, ExecutionBinary.data).where(
            ExecutionBinary.execution_id == execution_id, ExecutionBinary.binary_id.in_(sorted(wanted))
        )
    )
    # One string per file: the engine counts a file once per distinct text (see its binary cap).
    texts = {binary_id: base64.b64encode(data).decode("ascii") for binary_id, data in found}
    return {
        name: {**state, "output": _inlined(state.get("output") or [], texts)}
        for name, state in states.items()
    }


def _entries(output: Output) -> list[dict[str, Any]]:
    return [
        entry
        for items in output
        for item in items
        if isinstance(item, dict) and isinstance(entries := item.get("binary"), dict)
        for entry in entries.values()
        if isinstance(entry, dict)
    ]


def _stored_id(entry: dict[str, Any]) -> str | None:
    ident = entry.get("id")
    if "data" in entry or not isinstance(ident, str) or not ident.startswith(PREFIX):
        return None
    return ident.removeprefix(PREFIX)


def _inlined(output: Output, texts: Mapping[str, str]) -> Output:
    if not has_files(output):
        return output
    return [[_inlined_item(item, texts) for item in items] for items in output]


def _inlined_item(item: Any, texts: Mapping[str, str]) -> Any:
    entries = item.get("binary") if isinstance(item, dict) else None
    if not isinstance(entries, dict):
        return item
    inlined = {}
    for key, entry in entries.items():
        binary_id = _stored_id(entry) if isinstance(entry, dict) else None
        text = texts.get(binary_id) if binary_id is not None else None
        if text is None:
            inlined[key] = entry
            continue
        inlined[key] = {**{name: value for name, value in entry.items() if name != "id"}, "data": text}
    return {**item, "binary": inlined}
