"""n8n's binary item data: ``{data: <base64>, mimeType, fileType, fileExtension, fileName, fileSize}``.

What n8n's ``prepareBinaryData`` and ``assertBinaryData`` do, with a cap on the decoded size so one item
cannot make a node hold an unbounded file in memory, and iconv-lite's encoding names mapped to Python's.
"""

from __future__ import annotations

import base64
import codecs
import mimetypes
import posixpath
import re
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.expressions.values import js_num, number_to_string
from tenantflow.engine.sdk import Item

MAX_FILE_BYTES = 64 * 1024 * 1024
"""Largest file (decoded) a file node reads or creates."""

_MIME = mimetypes.MimeTypes()  # Python's built-in table only: the host's mime.types must not change output
for _type, _ext in (
    ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".xlsx"),
    ("application/vnd.oasis.opendocument.spreadsheet", ".ods"),
    ("application/rtf", ".rtf"),
    ("text/calendar", ".ics"),
    ("text/markdown", ".md"),
):
    _MIME.add_type(_type, _ext)

_UNITS = ("B", "kB", "MB", "GB", "TB", "PB")
_BASE64_JUNK = re.compile(r"[^A-Za-z0-9+/]")


def pretty_bytes(size: int) -> str:
    """The ``pretty-bytes`` text n8n stores as ``fileSize``: ``"61 B"``, ``"1.24 kB"``."""
    if size < 1:
        return f"{size} B"
    exponent = min((len(str(size)) - 1) // 3, len(_UNITS) - 1)
    value = js_num(float(f"{size / 1000**exponent:.3g}"))
    return f"{number_to_string(value)} {_UNITS[exponent]}"


def file_type(mime_type: str) -> str | None:
    """n8n's ``fileTypeFromMimeType``."""
    for prefix, kind in (
        ("application/json", "json"),
        ("text/html", "html"),
        ("image/", "image"),
        ("audio/", "audio"),
        ("video/", "video"),
        ("text/", "text"),
        ("application/javascript", "text"),
        ("application/pdf", "pdf"),
    ):
        if mime_type.startswith(prefix):
            return kind
    return None


def too_large(size: int) -> NodeError:
    return NodeError(
        f"The file is too large ({pretty_bytes(size)}); the limit is {pretty_bytes(MAX_FILE_BYTES)}",
        code=ErrorCode.LIMIT_EXCEEDED,
    )


def decode_base64(text: str) -> bytes:
    """Node's lenient ``Buffer.from(text, 'base64')``: URL-safe letters, whitespace and bad padding pass."""
    if len(text) * 3 // 4 > MAX_FILE_BYTES:
        raise too_large(len(text) * 3 // 4)
    clean = _BASE64_JUNK.sub("", text.replace("-", "+").replace("_", "/").split("=", 1)[0])
    if len(clean) % 4 == 1:
        clean = clean[:-1]
    return base64.b64decode(clean + "=" * (-len(clean) % 4))


def prepare_binary(data: bytes, file_name: str | None = None, mime_type: str | None = None) -> dict[str, Any]:
    """n8n's ``prepareBinaryData``: MIME type from the argument, the file name or the bytes' signature."""
    if len(data) > MAX_FILE_BYTES:
        raise too_large(len(data))
    extension: str | None = None
    if not mime_type and file_name:
        mime_type = _MIME.guess_type(file_name, strict=False)[0]
    if not mime_type:
        import filetype  # type: ignore[import-untyped]  # 16 ms to import: only when the bytes must tell

        kind = filetype.guess(data)
        if kind is not None:
            mime_type, extension = kind.mime, kind.extension
    if not extension and mime_type:
        guessed = _MIME.guess_extension(mime_type, strict=False)
        extension = guessed[1:] if guessed else None
    mime_type = mime_type or "text/plain"
    meta: dict[str, Any] = {"mimeType": mime_type}
    if (kind_name := file_type(mime_type)) is not None:
        meta["fileType"] = kind_name
    if extension:
        meta["fileExtension"] = extension
    if file_name:
        directory, base = posixpath.split(file_name.split("?", 1)[0])
        if directory:
            meta["directory"] = directory
        meta["fileName"] = base
        if suffix := posixpath.splitext(base)[1][1:]:
            meta["fileExtension"] = suffix
    meta["data"] = base64.b64encode(data).decode("ascii")
    meta["fileSize"] = pretty_bytes(len(data))
    return meta


def name_file(meta: dict[str, Any]) -> dict[str, Any]:
    """Newer nodes name an unnamed file ``file.<extension>`` (``createBinaryFromJson``)."""
    if not meta.get("fileName"):
        meta["fileName"] = f"file.{meta['fileExtension']}" if meta.get("fileExtension") else "file"
    return meta


def binary_property(item: Item, name: str, index: int) -> dict[str, Any]:
    """n8n's ``assertBinaryData``: the item's binary property ``name`` or the error n8n gives."""
    binary = item.get("binary")
    if not isinstance(binary, dict):
        raise NodeError(
            f"This operation expects the node's input data to contain a binary file '{name}', "
            f"but none was found [item {index}]",
            code=ErrorCode.INVALID_PARAMETER,
            description="Make sure that the previous node outputs a binary file",
        )
    meta = binary.get(name)
    if not isinstance(meta, dict) or not isinstance(meta.get("data"), str):
        raise NodeError(
            f"The item has no binary field '{name}' [item {index}]",
            code=ErrorCode.INVALID_PARAMETER,
            description="Check that the parameter where you specified the input binary field name is "
            "correct, and that it matches a field in the binary input",
        )
    return meta


def binary_bytes(item: Item, name: str, index: int) -> bytes:
    return decode_base64(binary_property(item, name, index)["data"])


# --- iconv-lite encodings ---------------------------------------------------------------------------------

_ICONV_ALIASES = {
    "ucs2": "utf-16-le",
    "utf16le": "utf-16-le",
    "utf16be": "utf-16-be",
    "binary": "latin-1",
    "cesu8": "utf-8",
    "shiftjis": "shift_jis",
    "eucjp": "euc_jp",
    "euckr": "euc_kr",
}
_ICONV_FAMILIES = re.compile(r"(windows|iso8859|koi8|mac|cp)-?_?(\w+)")


def codec(encoding: Any) -> str:
    """The Python codec for an iconv-lite encoding name (``utf8``, ``windows1252``, ``ucs2`` ...)."""
    name = str(encoding or "utf8").lower()
    compact = name.replace("-", "").replace("_", "")
    candidates = [_ICONV_ALIASES.get(compact, name)]
    if family := _ICONV_FAMILIES.fullmatch(compact):
        prefix = {"windows": "cp", "iso8859": "iso8859_", "koi8": "koi8_", "mac": "mac_"}
        candidates.append(prefix.get(family[1], family[1]) + family[2])
    for candidate in candidates:
        try:
            return codecs.lookup(candidate).name
        except LookupError:
            continue
    raise NodeError(f'Encoding "{encoding}" is not supported', code=ErrorCode.INVALID_PARAMETER)


def decode_text(data: bytes, encoding: Any, strip_bom: Any = True) -> str:
    """``iconv.decode``: invalid bytes become U+FFFD; a BOM goes unless ``stripBOM`` is false."""
    text = data.decode(codec(encoding), errors="replace")
    if strip_bom is not False and text.startswith("\ufeff"):
        return text[1:]
    return text


def encode_text(text: str, encoding: Any, add_bom: Any = False) -> bytes:
    """``iconv.encode``: characters the encoding lacks become ``?``; ``addBOM`` for Unicode encodings."""
    name = codec(encoding)
    if add_bom is True and name.startswith("utf") and name != "utf-16":
        text = "\ufeff" + text
    return text.encode(name, errors="replace")


# --- HTTP bodies --------------------------------------------------------------------------------------------


def copy_binary(data: bytes, file_name: str | None, mime_type: str | None) -> dict[str, Any]:
    """n8n's ``copyBinaryFile``: a given MIME type is taken as it is, and then only the file name gives the
    extension (without one, the bytes' signature gives both)."""
    meta = prepare_binary(data, file_name, mime_type)
    if mime_type and not posixpath.splitext(meta.get("fileName", ""))[1]:
        meta.pop("fileExtension", None)
    return meta


def _header(value: str, name: str) -> Message:
    message = Message()
    message[name] = value
    return message


def media_type(content_type: str | None) -> str | None:
    """The ``type/subtype`` of a Content-Type header, lower-case, without parameters."""
    return _header(content_type, "content-type").get_content_type() if content_type else None


def disposition_filename(disposition: str | None) -> str | None:
    """The file name a Content-Disposition header gives (``filename*`` in RFC 2231 form included)."""
    return _header(disposition, "content-disposition").get_filename() if disposition else None


FormFile = tuple[str, str, str | None, bytes]
"""One file of a form: its field name, file name, MIME type (None when the part names none) and bytes."""


def form_data(body: bytes, content_type: str) -> tuple[dict[str, Any], list[FormFile]]:
    """A ``multipart/form-data`` body's fields and files, in body order. A name given several times holds a
    list, once its value alone, as n8n's form parser leaves them."""
    head = b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n"
    document = BytesParser(policy=HTTP).parsebytes(head + body)
    fields: dict[str, list[str]] = {}
    files: list[FormFile] = []
    for part in document.iter_parts() if document.is_multipart() else ():
        name = str(part.get_param("name", "", header="content-disposition"))
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        file_name = part.get_filename()
        if file_name is not None:
            files.append((name, file_name, part.get_content_type() if "content-type" in part else None, data))
        else:
            fields.setdefault(name, []).append(_field_text(data, part.get_content_charset("utf-8")))
    return {name: values[0] if len(values) == 1 else values for name, values in fields.items()}, files


def _field_text(data: bytes, charset: str) -> str:
    """A form field's text in the charset its part names; an unknown charset is read as UTF-8."""
    try:
        return data.decode(charset, "replace")
    except LookupError:
        return data.decode("utf-8", "replace")
