"""n8n's disk nodes: Read/Write Files from Disk, and the legacy Read Binary File, Read Binary Files, Write
Binary File and Read PDF.

The disk is the host's, so these nodes touch only the directory the operator names
(``RunLimits.files_root``: ``tenantflow run --files-dir``, the service's files directory); with none they
are refused (HOST_ACCESS_DENIED). A relative path is taken from that directory; an absolute one must be
under it, so that a workflow written for n8n with ``/tmp/x.png`` runs where the directory is ``/tmp``.
Either way the path must still be inside once ``..`` and symlinks are resolved, or it is refused.

A glob sees only the files directory: where its ``..`` or absolute path leads out of it, it matches
nothing there, which in n8n (fast-glob, then a read check per match) is what a pattern that finds no file
gives: no items (Read/Write Files from Disk 1.1: "No file(s) found"). Nothing outside is read, and a glob's
directory outside is not listed. A match inside that is a symlink leading out is refused, as n8n refuses
to read it. A glob matches at most
:data:`MAX_GLOB_FILES` files, and a file at most ``binary.MAX_FILE_BYTES``. Items name files by the path
the workflow gave, never by the host's real path.
"""

from __future__ import annotations

import asyncio
import os
import posixpath
import re
from collections.abc import Mapping
from glob import iglob
from typing import Any, ClassVar, Final

from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.sdk import Item, Items, NodeContext, NodeType
from tenantflow.nodes.n8n.core import BOOLEAN, STRING, first_input, object_schema, one_of
from tenantflow.nodes.n8n.files.binary import (
    MAX_FILE_BYTES,
    binary_bytes,
    prepare_binary,
    too_large,
)
from tenantflow.nodes.n8n.files.pdf import extract_pdf

MAX_GLOB_FILES: Final = 1000
"""Most files one file selector may read: a pattern such as ``**/*`` must not load a whole tree."""

_MAGIC = re.compile(r"[*?\[]")
_OPTIONS = {"type": "object"}


class FilesRoot:
    """The host's files directory as one node run sees it: resolves and checks every path it is given."""

    def __init__(self, ctx: NodeContext) -> None:
        if ctx.files_root is None:
            raise NodeError(
                "This deployment allows no disk access: the operator enables it with a files directory",
                code=ErrorCode.HOST_ACCESS_DENIED,
                description="TENANTFLOW_FILES_DIR for the service, tenantflow run --files-dir DIR; "
                "nodes then read and write only inside that directory",
            )
        self.root = os.path.realpath(ctx.files_root)

    def contains(self, path: str) -> bool:
        """Whether ``path`` names a place inside the root (``..`` taken literally; symlinks not followed)."""
        return self._within(os.path.normpath(os.path.join(self.root, path)))

    def _within(self, path: str) -> bool:
        return path == self.root or path.startswith(self.root.rstrip(os.sep) + os.sep)

    def resolve(self, path: str) -> str:
        """The real path of ``path``; refused when it leads outside the root (``..``, a symlink)."""
        real = os.path.realpath(os.path.join(self.root, path))
        if not self._within(real):
            raise NodeError(
                f'The path "{path}" is outside the files directory this deployment allows',
                code=ErrorCode.HOST_ACCESS_DENIED,
                description="Paths are relative to the host's files directory; an absolute path must be "
                "under it, and symlinks must not lead out of it",
            )
        return real

    async def glob(self, selector: str) -> list[tuple[str, str]]:
        """Files matching ``selector``; a walk of a large tree must not hold up the event loop."""
        return await asyncio.to_thread(self._glob, selector)

    def _glob(self, selector: str) -> list[tuple[str, str]]:
        """Files matching ``selector`` as (the path to report, the real path), sorted; fast-glob's rules as
        far as Python's glob has them (``*``, ``**``, ``?``, ``[...]``; no dotfiles, files only)."""
        parts = selector.split("/")
        fixed = next((i for i, part in enumerate(parts) if _MAGIC.search(part)), len(parts))
        base = "/".join(parts[:fixed]) or ("/" if selector.startswith("/") else ".")
        if fixed < len(parts) and not self.contains(base):
            return []
        real_base = self.resolve(base)
        if fixed == len(parts):
            return [(selector, real_base)] if os.path.isfile(real_base) else []
        pattern = "/".join(parts[fixed:])
        found: list[tuple[str, str]] = []
        for match in iglob(pattern, root_dir=real_base, recursive=True):
            shown = posixpath.join(base, match) if fixed else match
            if not self.contains(shown):  # a ``..`` after a wildcard: a match outside is not seen
                continue
            real = self.resolve(shown)
            if not os.path.isfile(real):
                continue
            if len(found) == MAX_GLOB_FILES:
                raise NodeError(
                    f'"{selector}" matches more than {MAX_GLOB_FILES:,} files',
                    code=ErrorCode.LIMIT_EXCEEDED,
                    description="Narrow the file selector",
                )
            found.append((shown, real))
        return sorted(found)

    async def read(self, path: str, real: str | None = None) -> dict[str, Any]:
        """n8n's ``prepareBinaryData`` of the file at ``path``: its metadata and base64 data."""
        data = await asyncio.to_thread(_read, path, real or self.resolve(path))
        return prepare_binary(data, path)

    async def write(self, path: str, data: bytes, append: bool) -> None:
        await asyncio.to_thread(_write, path, self.resolve(path), data, append)


def _os_error(path: str, exc: OSError) -> NodeError:
    """An OS error naming the workflow's path (the real one would show the host's layout)."""
    reason = exc.strerror or type(exc).__name__
    return NodeError(f'{reason}: "{path}"', code=ErrorCode.NODE_EXECUTION_FAILED)


def _read(path: str, real: str) -> bytes:
    try:
        descriptor = os.open(real, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise _os_error(path, exc) from exc
    with os.fdopen(descriptor, "rb") as file:
        size = os.fstat(descriptor).st_size
        if size > MAX_FILE_BYTES:
            raise too_large(size)
        try:
            return file.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise _os_error(path, exc) from exc


def _write(path: str, real: str, data: bytes, append: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_APPEND if append else os.O_TRUNC)
    try:
        descriptor = os.open(real, flags, 0o666)
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
    except OSError as exc:
        raise _os_error(path, exc) from exc


def _options(ctx: NodeContext, index: int) -> dict[str, Any]:
    options = ctx.param("options", index, {})
    return options if isinstance(options, dict) else {}


async def _write_item(ctx: NodeContext, item: Item, index: int, append: bool, files: FilesRoot) -> Item:
    """n8n's write: the item's file to ``fileName``; the item goes on with ``json.fileName`` set."""
    name = str(ctx.param("dataPropertyName", index, "data"))
    file_name = str(ctx.param("fileName", index, ""))
    data = binary_bytes(item, name, index)
    await files.write(file_name, data, append)
    out: Item = {"json": {**item.get("json", {}), "fileName": file_name}, "pairedItem": {"item": index}}
    if item.get("binary") is not None:
        out["binary"] = dict(item["binary"])
    return out


class ReadBinaryFile(NodeType):
    """``Read Binary File`` (legacy): the file at ``filePath`` into each item's ``dataPropertyName``."""

    type = "n8n-nodes-base.readBinaryFile"
    display_name = "Read Binary File"
    description = "Reads a binary file from the host's files directory"
    aliases = ("readBinaryFile",)
    parameters_schema: ClassVar[Mapping[str, Any]] = object_schema(
        {"filePath": STRING, "dataPropertyName": STRING}
    )

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        files = FilesRoot(ctx)
        out: Items = []
        for index, item in enumerate(first_input(inputs)):
            path = str(ctx.param("filePath", index, ""))
            name = str(ctx.param("dataPropertyName", index, "data"))
            binary = {**(item.get("binary") or {}), name: await files.read(path)}
            out.append({"json": item.get("json", {}), "binary": binary, "pairedItem": {"item": index}})
        return [out]


class ReadBinaryFiles(NodeType):
    """``Read Binary Files`` (legacy): one item per file the ``fileSelector`` glob matches."""

    type = "n8n-nodes-base.readBinaryFiles"
    display_name = "Read Binary Files"
    description = "Reads binary files from the host's files directory"
    aliases = ("readBinaryFiles",)
    parameters_schema: ClassVar[Mapping[str, Any]] = object_schema(
        {"fileSelector": STRING, "dataPropertyName": STRING}
    )

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        files = FilesRoot(ctx)
        name = str(ctx.param("dataPropertyName", 0, "data"))
        out: Items = []
        for path, real in await files.glob(str(ctx.param("fileSelector", 0, ""))):
            meta = await files.read(path, real)
            out.append({"json": {}, "binary": {name: meta}, "pairedItem": {"item": 0}})
        return [out]


class WriteBinaryFile(NodeType):
    """``Write Binary File`` (legacy): each item's binary ``dataPropertyName`` to ``fileName``."""

    type = "n8n-nodes-base.writeBinaryFile"
    display_name = "Write Binary File"
    description = "Writes a binary file to the host's files directory"
    aliases = ("writeBinaryFile",)
    parameters_schema: ClassVar[Mapping[str, Any]] = object_schema(
        {"fileName": STRING, "dataPropertyName": STRING, "options": _OPTIONS}
    )

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        files = FilesRoot(ctx)
        append = _options(ctx, 0).get("append") is True  # n8n reads this option of item 0 only
        items = first_input(inputs)
        return [[await _write_item(ctx, item, i, append, files) for i, item in enumerate(items)]]


class ReadWriteFile(NodeType):
    """``Read/Write Files from Disk``: read the files a glob matches, or write each item's file."""

    type = "n8n-nodes-base.readWriteFile"
    versions = (1, 1.1)
    display_name = "Read/Write Files from Disk"
    description = "Read or write files in the host's files directory"
    aliases = ("readWriteFile",)
    parameters_schema: ClassVar[Mapping[str, Any]] = object_schema(
        {
            "operation": one_of("read", "write"),
            "fileSelector": STRING,
            "fileName": STRING,
            "dataPropertyName": STRING,
            "options": _OPTIONS,
        }
    )

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        files = FilesRoot(ctx)
        items = first_input(inputs)
        operation = ctx.param("operation", 0, "read")
        if operation == "write":
            return [
                [
                    await _write_item(ctx, item, i, _options(ctx, i).get("append") is True, files)
                    for i, item in enumerate(items)
                ]
            ]
        if operation != "read":
            raise NodeError(f'The operation "{operation}" is not supported', code=ErrorCode.INVALID_PARAMETER)
        return [[out for index in range(len(items)) for out in await self._read(ctx, index, files)]]

    async def _read(self, ctx: NodeContext, index: int, files: FilesRoot) -> Items:
        selector = str(ctx.param("fileSelector", index, ""))
        options = _options(ctx, index)
        name = str(options.get("dataPropertyName") or "data")
        matches = await files.glob(selector)
        if not matches and ctx.node.type_version > 1:
            raise NodeError(
                "No file(s) found",
                code=ErrorCode.NODE_EXECUTION_FAILED,
                description=f'No file matching the selector "{selector}" found',
            )
        out: Items = []
        for path, real in matches:
            meta = await files.read(path, real)
            for key in ("fileName", "fileExtension", "mimeType"):
                if options.get(key) is not None:
                    meta[key] = str(options[key])
            fields = ("mimeType", "fileType", "fileName", "fileExtension", "fileSize")
            json = {key: meta[key] for key in fields if key in meta}
            out.append({"json": json, "binary": {name: meta}, "pairedItem": {"item": index}})
        return out


class ReadPDF(NodeType):
    """``Read PDF`` (legacy): each item's PDF text as Extract From File's pdf operation gives it; the item's
    files go on unchanged. Needs no disk: it reads item binary data."""

    cpu_only = True
    type = "n8n-nodes-base.readPDF"
    display_name = "Read PDF"
    description = "Reads a PDF and extracts its content"
    aliases = ("readPDF",)
    parameters_schema: ClassVar[Mapping[str, Any]] = object_schema(
        {"binaryPropertyName": STRING, "encrypted": BOOLEAN, "password": STRING}
    )

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        out: Items = []
        for index, item in enumerate(first_input(inputs)):
            name = str(ctx.param("binaryPropertyName", index, "data"))
            password = ctx.param("password", index, "") if ctx.param("encrypted", index, False) else None
            json = extract_pdf(binary_bytes(item, name, index), password, None, True)
            out.append({"json": json, "binary": item.get("binary") or {}, "pairedItem": {"item": index}})
        return [out]


NODE_TYPES: list[type[NodeType]] = [ReadBinaryFile, ReadBinaryFiles, WriteBinaryFile, ReadWriteFile, ReadPDF]
