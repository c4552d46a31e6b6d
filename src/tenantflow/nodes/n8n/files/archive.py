"""n8n's Compression node: item files into zip, gzip or tar archives, and archives back into files.

Archives are untrusted input, so decompressing is bounded: an item's archives together may unpack to at
most ``binary.MAX_FILE_BYTES`` and hold at most :data:`MAX_ARCHIVE_ENTRIES` entries, counted while the data
is inflated chunk by chunk (never from the sizes headers claim). Like n8n's fflate, zip entries must be
stored or deflated. Names inside archives (``../x``, ``/etc/y``) only name the files; nothing is written to
disk. The work runs in a thread so a large archive does not hold up the event loop.
"""

from __future__ import annotations

import asyncio
import copy
import gzip
import io
import posixpath
import tarfile
import time
import zipfile
import zlib
from collections.abc import Mapping
from typing import Any, ClassVar, Final

from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.sdk import Item, Items, NodeContext, NodeType
from tenantflow.nodes.n8n.core import STRING, first_input, object_schema, one_of
from tenantflow.nodes.n8n.files.binary import MAX_FILE_BYTES, binary_bytes, binary_property, prepare_binary

MAX_ARCHIVE_ENTRIES: Final = 10_000
"""Most entries one item's archives may hold: each becomes a binary property of the output item."""

_CHUNK = 1 << 16
_ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_ALREADY_COMPRESSED = frozenset(
    {"7z", "aifc", "bz2", "doc", "docx", "gif", "gz", "heic", "heif", "jpg", "jpeg", "mov", "mp3", "mp4"}
    | {"pdf", "png", "ppt", "pptx", "rar", "webm", "webp", "xls", "xlsx", "zip"}
)
"""Extensions n8n stores in a zip without compressing them again."""

_UNPACK_ERRORS = (
    zipfile.BadZipFile,
    tarfile.TarError,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    RuntimeError,
)


class _Budget:
    """What an item's archives may still unpack to: bytes and entries."""

    def __init__(self) -> None:
        self.bytes = MAX_FILE_BYTES
        self.entries = MAX_ARCHIVE_ENTRIES

    def spend(self, size: int) -> None:
        self.bytes -= size
        if self.bytes < 0:
            raise NodeError(
                "The decompressed output exceeds the maximum allowed size of "
                f"{round(MAX_FILE_BYTES / (1024 * 1024))} MB",
                code=ErrorCode.LIMIT_EXCEEDED,
                description="An archive (or all of an item's archives together) may unpack to at most that",
            )

    def entry(self, count: int = 1) -> None:
        self.entries -= count
        if self.entries < 0:
            raise NodeError(
                f"The archive contains more than {MAX_ARCHIVE_ENTRIES} entries", code=ErrorCode.LIMIT_EXCEEDED
            )


def _unreadable(kind: str, exc: BaseException) -> NodeError:
    return NodeError(
        f"The {kind} archive could not be read",
        code=ErrorCode.INVALID_PARAMETER,
        description=str(exc) or None,
    )


# --- decompressing -----------------------------------------------------------------------------------------


def gunzip(data: bytes, budget: _Budget) -> bytes:
    """Every gzip member of ``data``, inflated at most a chunk at a time so the budget stops a bomb early."""
    out = bytearray()
    rest = data
    while True:
        inflater = zlib.decompressobj(wbits=31)
        pending = rest
        while not inflater.eof:
            piece = inflater.decompress(pending, _CHUNK)
            budget.spend(len(piece))
            out += piece
            pending = inflater.unconsumed_tail
            if not pending and not piece:
                raise zlib.error("the gzip data ends early")
        rest = inflater.unused_data
        if not rest.startswith(b"\x1f\x8b"):  # trailing bytes that are not another member are ignored
            return bytes(out)


def _unzip(data: bytes, budget: _Budget) -> dict[str, bytes]:
    # Each central-directory entry starts with this signature: counting them bounds what zipfile would list
    # before it lists it (a small archive can declare a million entries).
    budget.entry(data.count(b"PK\x01\x02"))
    files: dict[str, bytes] = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            if info.filename.endswith("/"):
                continue
            if info.compress_type not in _ZIP_METHODS:
                raise NodeError(
                    f'The zip entry "{info.filename}" uses a compression method that is not supported',
                    code=ErrorCode.INVALID_PARAMETER,
                    description="Zip entries must be stored or deflated",
                )
            files[_zip_name(info)] = _read_entry(archive, info, budget)
    return files


def _zip_name(info: zipfile.ZipInfo) -> str:
    """The entry's name as fflate reads it: UTF-8 when flagged, else Latin-1 (zipfile assumes CP437)."""
    if info.flag_bits & 0x800:
        return info.filename
    return info.filename.encode("cp437").decode("latin-1")


def _read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: _Budget) -> bytes:
    out = bytearray()
    with archive.open(info) as entry:
        while piece := entry.read(_CHUNK):
            budget.spend(len(piece))
            out += piece
    return bytes(out)


def _untar(data: bytes, compressed: bool, budget: _Budget) -> dict[str, bytes]:
    """Regular files of a tar archive; entries that are absolute or climb out with ``..`` are skipped, as
    n8n skips them. The whole (inflated) tar counts against the budget, so its files cannot exceed it."""
    raw = gunzip(data, budget) if compressed else data
    if not compressed:
        budget.spend(len(raw))
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as archive:
        for member in archive:
            budget.entry()
            if not member.isreg() or _escapes_root(member.name):
                continue
            extracted = archive.extractfile(member)
            files[member.name] = extracted.read() if extracted is not None else b""
    return files


def _escapes_root(name: str) -> bool:
    normal = posixpath.normpath(name.rstrip("/"))
    return name.startswith("/") or normal == ".." or normal.startswith("../")


def _decompress(meta: Mapping[str, Any], data: bytes, name: str, budget: _Budget) -> dict[str, bytes] | bytes:
    """The files of a zip or tar archive, or a gzip file's content, chosen by the file's extension."""
    extension = str(meta.get("fileExtension") or "").lower()
    if not extension:
        raise NodeError(f"File extension not found for binary data {name}", code=ErrorCode.INVALID_PARAMETER)
    file_name = str(meta.get("fileName") or "").lower()
    is_tar = extension in ("tar", "tgz") or file_name.endswith(".tar.gz")
    kind = (
        "tar" if is_tar else "zip" if extension == "zip" else "gzip" if extension in ("gz", "gzip") else None
    )
    if kind is None:
        raise NodeError(
            f'Unsupported archive format ".{extension}" for binary data {name}',
            code=ErrorCode.INVALID_PARAMETER,
            description="The Decompress operation supports the following formats: "
            "zip, gzip, tar, tar.gz and tgz",
        )
    try:
        if kind == "tar":
            return _untar(data, data.startswith(b"\x1f\x8b"), budget)
        return _unzip(data, budget) if kind == "zip" else gunzip(data, budget)
    except _UNPACK_ERRORS as exc:
        raise _unreadable(kind, exc) from exc


def _gunzipped_file(data: bytes, file_name: str | None) -> dict[str, Any]:
    """n8n names a gunzipped file by the archive's name up to its first dot, plus the extension before
    ``.gz`` or else the one its content's type has."""
    base = (file_name or "file").split(".")[0]
    inner = file_name.replace(".gz", "", 1).split(".") if file_name and file_name.endswith(".gz") else []
    if len(inner) > 1:
        meta = prepare_binary(data, f"{base}.{inner[-1]}")
        meta["fileExtension"] = inner[-1]
        return meta
    meta = prepare_binary(data, base)
    if meta.get("fileExtension"):
        meta["fileName"] = f"{base}.{meta['fileExtension']}"
    return meta


def unpack_item(archives: list[tuple[str, dict[str, Any], bytes]], prefix: str) -> dict[str, Any]:
    """The output binary of one item: each archive's files as ``<prefix><n>`` (zip and tar files numbered
    across the item, a gzip file by its archive's position), skipping macOS ``__MACOSX`` copies."""
    budget = _Budget()
    binary: dict[str, Any] = {}
    counter = 0
    for index, (name, meta, data) in enumerate(archives):
        unpacked = _decompress(meta, data, name, budget)
        if isinstance(unpacked, bytes):
            binary[f"{prefix}{index}"] = _gunzipped_file(unpacked, meta.get("fileName"))
            continue
        for key, content in unpacked.items():
            if "__MACOSX" not in key:
                binary[f"{prefix}{counter}"] = prepare_binary(content, key)
                counter += 1
    return binary


# --- compressing -------------------------------------------------------------------------------------------


def zip_files(files: list[tuple[dict[str, Any], bytes]]) -> bytes:
    """One zip of the files, keyed by file name (a later file of the same name wins, as in n8n)."""
    entries: dict[str, tuple[dict[str, Any], bytes]] = {}
    for meta, data in files:
        entries[str(meta.get("fileName") or "file")] = (meta, data)
    out = io.BytesIO()
    stamp = time.localtime()[:6]
    with zipfile.ZipFile(out, "w") as archive:
        for name, (meta, data) in entries.items():
            stored = meta.get("fileExtension") in _ALREADY_COMPRESSED
            method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            archive.writestr(zipfile.ZipInfo(name, stamp), data, compress_type=method, compresslevel=6)
    return out.getvalue()


def tar_files(files: list[tuple[dict[str, Any], bytes]], compressed: bool) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz" if compressed else "w") as archive:
        for meta, data in files:
            info = tarfile.TarInfo(str(meta.get("fileName") or "file"))
            info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _archive_meta(data: bytes, file_name: str) -> dict[str, Any]:
    """``prepare_binary`` of an archive; a ``.gz``/``.tgz`` name is gzip (Python's table would give the
    type of what is inside, as it reads ``.gz`` as an encoding)."""
    gzipped = file_name.lower().endswith((".gz", ".tgz"))
    return prepare_binary(data, file_name, "application/gzip" if gzipped else None)


def gzip_files(files: list[tuple[dict[str, Any], bytes]], paths: list[tuple[str, str]]) -> dict[str, Any]:
    """Each file gzipped on its own, into the (field, file name) ``paths`` gives it."""
    return {
        field: _archive_meta(gzip.compress(data, compresslevel=6), path)
        for (field, path), (_, data) in zip(paths, files, strict=True)
    }


def pack_files(
    output_format: str, files: list[tuple[dict[str, Any], bytes]], file_name: str
) -> dict[str, Any]:
    data = zip_files(files) if output_format == "zip" else tar_files(files, output_format == "targz")
    return _archive_meta(data, file_name)


# --- the node ----------------------------------------------------------------------------------------------

_SCHEMA = object_schema(
    {
        "operation": one_of("compress", "decompress"),
        "binaryPropertyName": STRING,
        "outputFormat": one_of("", "gzip", "tar", "targz", "zip"),
        "fileName": STRING,
        "binaryPropertyOutput": STRING,
        "outputPrefix": STRING,
    }
)


def _names(value: Any) -> list[str]:
    return [name.strip() for name in str(value).split(",")]


class Compression(NodeType):
    """``Compression``: compress item files to zip, gzip, tar or tar.gz, or decompress such archives."""

    type = "n8n-nodes-base.compression"
    versions = (1, 1.1)
    display_name = "Compression"
    description = "Compress and decompress files"
    aliases = ("compression",)
    parameters_schema: ClassVar[Mapping[str, Any]] = _SCHEMA

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        items = first_input(inputs)
        operation = ctx.param("operation", 0, "decompress")
        out: Items = []
        for index, item in enumerate(items):
            if operation == "decompress":
                out.append(await self._decompress(ctx, item, index))
            elif operation == "compress":
                out.extend(await self._compress(ctx, item, index))
            else:
                raise NodeError(
                    f'The operation "{operation}" is not supported', code=ErrorCode.INVALID_PARAMETER
                )
        return [out]

    async def _decompress(self, ctx: NodeContext, item: Item, index: int) -> Item:
        archives = [
            (name, binary_property(item, name, index), binary_bytes(item, name, index))
            for name in _names(ctx.param("binaryPropertyName", 0, "data"))
        ]
        prefix = str(ctx.param("outputPrefix", 0, "file_"))
        binary = await asyncio.to_thread(unpack_item, archives, prefix)
        return {"json": item.get("json", {}), "binary": binary, "pairedItem": {"item": index}}

    async def _compress(self, ctx: NodeContext, item: Item, index: int) -> Items:
        """n8n's compress: v1 reads the field list, zip name and output field from item 0, v1.1 per item."""
        newer = ctx.node.type_version > 1
        own = index if newer else 0
        names = _names(ctx.param("binaryPropertyName", own, "data"))
        files = [
            (copy.deepcopy(binary_property(item, n, index)), binary_bytes(item, n, index)) for n in names
        ]
        output_format = ctx.param("outputFormat", 0, "zip" if newer else "")
        if output_format == "gzip":
            paths = [
                self._gzip_path(ctx, meta, position, index, newer) for position, (meta, _) in enumerate(files)
            ]
            binary = await asyncio.to_thread(gzip_files, files, paths)
        elif output_format in ("zip", "tar", "targz"):
            file_name = str(ctx.param("fileName", own, ""))
            field = str(ctx.param("binaryPropertyOutput", own, "data"))
            binary = {field: await asyncio.to_thread(pack_files, output_format, files, file_name)}
        elif output_format == "":
            return []  # n8n v1 without an output format outputs nothing
        else:
            raise NodeError(
                f'The output format "{output_format}" is not supported', code=ErrorCode.INVALID_PARAMETER
            )
        return [{"json": item.get("json", {}), "binary": binary, "pairedItem": {"item": index}}]

    def _gzip_path(
        self, ctx: NodeContext, meta: dict[str, Any], position: int, index: int, newer: bool
    ) -> tuple[str, str]:
        """Where file ``position`` goes gzipped, and its name: v1 ``<outputPrefix><n>``, ``<name>.gzip``;
        v1.1 ``<binaryPropertyOutput>``, ``...1`` ..., ``<fileName or name>.<extension>.gz``."""
        base = str(meta.get("fileName") or "file").split(".")[0]
        if not newer:
            return f"{ctx.param('outputPrefix', 0, 'data')}{position}", f"{base}.gzip"
        field = str(ctx.param("binaryPropertyOutput", index, "data")) + (str(position) if position else "")
        chosen = str(ctx.param("fileName", index, ""))
        base = chosen.replace(".gz", "", 1).replace(".gzip", "", 1) if chosen else base
        extension = f".{str(meta['fileExtension']).lower()}" if meta.get("fileExtension") else ""
        return field, f"{base}{extension}.gz"


NODE_TYPES: list[type[NodeType]] = [Compression]
