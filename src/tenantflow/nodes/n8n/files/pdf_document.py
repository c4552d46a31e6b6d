"""A PDF file's text and properties in the shape of n8n's ``extractDataFromPDF``.

n8n reads PDFs with pdf.js: ``{numpages, numrender, info, metadata, text, version}``, where ``info`` is
pdf.js's document information, ``metadata`` its reading of the XMP packet (absent when the file has none,
as n8n's ``metadata?.getAll()`` gives ``undefined``) and ``text`` the pages' text content joined by n8n's
line rule (see :mod:`pdf_text`). pypdf parses the file; the text rules are pdf.js's.
"""

from __future__ import annotations

import io
import re
from typing import Any, Final

from pypdf.generic import BooleanObject, DictionaryObject, IndirectObject, NameObject, StreamObject

from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.nodes.n8n.files.pdf_fonts import PdfFont
from tenantflow.nodes.n8n.files.pdf_text import FontLoader, join_items, page_items
from tenantflow.nodes.n8n.files.pdf_xmp import xmp_metadata

PDFJS_VERSION: Final = "2.16.105"
"""n8n's ``version`` field is the version of the pdf.js it bundles, a constant of the implementation and
not of the document: n8n 1.x ships pdf.js 2.16.105, whose text-content rules this module follows."""

_INFO_STRINGS = ("Title", "Author", "Subject", "Keywords", "Creator", "Producer", "CreationDate", "ModDate")


def extract_pdf(data: bytes, password: Any, max_pages: Any, join_pages: Any) -> dict[str, Any]:
    """n8n's PDF result: the text of the first ``maxPages`` pages (all when 0 or unset)."""
    from pypdf import PdfReader  # loads (with cryptography) when a node reads a PDF: start-up time
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            reader.decrypt(str(password or ""))
        pages = reader.pages
        limit = int(max_pages or 0)
        load_font = font_loader()
        texts = [
            join_items(page_items(page, load_font))
            for page in pages[: limit if 0 < limit < len(pages) else len(pages)]
        ]
        info = _info(reader, data)
        metadata = _metadata(reader.trailer.get("/Root"))
    except FileNotDecryptedError as exc:
        raise NodeError(
            "The PDF is encrypted: a correct password is needed", code=ErrorCode.INVALID_PARAMETER
        ) from exc
    except (PdfReadError, ValueError, KeyError) as exc:
        raise NodeError(f"The file is not a readable PDF: {exc}", code=ErrorCode.INVALID_PARAMETER) from exc
    result: dict[str, Any] = {"numpages": len(pages), "numrender": len(pages), "info": info}
    if metadata is not None:
        result["metadata"] = metadata
    result["text"] = "\n\n".join(texts) if join_pages is not False else texts
    result["version"] = PDFJS_VERSION
    return result


def font_loader() -> FontLoader:
    """Fonts read once per document, by object, as pdf.js caches them."""
    fonts: dict[Any, PdfFont] = {}

    def load(font: Any, _resources: DictionaryObject) -> PdfFont:
        key = (font.idnum, font.generation) if isinstance(font, IndirectObject) else id(font)
        if key not in fonts:
            resolved = font.get_object() if isinstance(font, IndirectObject) else font
            fonts[key] = PdfFont(resolved if isinstance(resolved, DictionaryObject) else None)
        return fonts[key]

    return load


def _info(reader: Any, data: bytes) -> dict[str, Any]:
    """pdf.js ``documentInfo``: format facts first, then the Info dictionary's valid entries."""
    root = _dict(reader.trailer.get("/Root"))
    acro_form = _dict(root.get("/AcroForm"))
    fields = acro_form.get("/Fields")
    has_fields = isinstance(fields, list) and len(fields) > 0
    xfa = acro_form.get("/XFA")
    has_signatures = bool(int(acro_form.get("/SigFlags", 0) or 0) & 1)
    encrypt = _dict(reader.trailer.get("/Encrypt"))
    language = root.get("/Lang")
    info: dict[str, Any] = {
        "PDFFormatVersion": _format_version(reader.pdf_header, root.get("/Version")),
        "Language": str(language)
        if isinstance(language, str) and not isinstance(language, NameObject)
        else None,
        "EncryptFilterName": str(encrypt.get("/Filter", ""))[1:] or None if encrypt else None,
        "IsLinearized": _linearized(data),
        "IsAcroFormPresent": has_fields and not (has_signatures and _only_signatures(fields, 0)),
        "IsXFAPresent": (isinstance(xfa, list) and len(xfa) > 0)
        or (isinstance(xfa, StreamObject) and bool(xfa.get_data())),
        "IsCollectionPresent": isinstance(root.get("/Collection"), DictionaryObject),
        "IsSignaturesPresent": has_signatures,
    }
    for key, value in _dict(reader.trailer.get("/Info")).items():
        name, value = str(key)[1:], value.get_object() if isinstance(value, IndirectObject) else value
        if name in _INFO_STRINGS or name == "Trapped":
            valid = isinstance(value, NameObject) if name == "Trapped" else _is_string(value)
            if valid:
                info[name] = _info_value(value)
        elif (converted := _info_value(value)) is not None:
            info.setdefault("Custom", {})[name] = converted  # placed where the first custom key comes
    return info


def _is_string(value: Any) -> bool:
    return isinstance(value, str | bytes) and not isinstance(value, NameObject)


def _info_value(value: Any) -> Any:
    """A custom Info value pdf.js passes on: strings, numbers, booleans, and names as ``{"name": …}``."""
    if isinstance(value, NameObject):
        return {"name": str(value)[1:]}
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, str):
        return str(value)
    if isinstance(value, BooleanObject):
        return bool(value)
    if isinstance(value, int | float):
        return int(value) if isinstance(value, int) else float(value)
    return None


def _format_version(header: str, catalog_version: Any) -> str | None:
    """The header's ``%PDF-x.y``, or the catalog's ``/Version`` where that is newer."""
    found = header.removeprefix("%PDF-")
    version = found if re.fullmatch(r"[1-9]\.\d", found) else None
    newer = str(catalog_version)[1:] if isinstance(catalog_version, NameObject) else ""
    if re.fullmatch(r"[1-9]\.\d", newer) and (version is None or newer > version):
        return newer
    return version


def _linearized(data: bytes) -> bool:
    """Whether the first object is a linearization dictionary whose length ``/L`` is the file's."""
    match = re.search(rb"\d+\s+\d+\s+obj\s*<<(.*?)>>", data[:1024], re.DOTALL)
    if match is None or b"/Linearized" not in match.group(1):
        return False
    length = re.search(rb"/L\s+(\d+)", match.group(1))
    return length is not None and int(length.group(1)) == len(data)


def _only_signatures(fields: Any, depth: int) -> bool:
    """pdf.js ``_hasOnlyDocumentSignatures``: every field (through kids) an invisible signature."""
    if not isinstance(fields, list) or depth > 10:
        return False
    for field in fields:
        field = field.get_object() if isinstance(field, IndirectObject) else field
        if not isinstance(field, DictionaryObject):
            return False
        if "/Kids" in field:
            if not _only_signatures(field.get("/Kids"), depth + 1):
                return False
            continue
        rect = field.get("/Rect")
        invisible = isinstance(rect, list) and all(value == 0 for value in rect)
        if field.get("/FT") != "/Sig" or not invisible:
            return False
    return True


def _metadata(root: Any) -> dict[str, Any] | None:
    """The catalog's XMP stream as pdf.js reads it, or ``None`` when there is no usable one."""
    root = _dict(root)
    reference = root.raw_get("/Metadata") if "/Metadata" in root else None
    if not isinstance(reference, IndirectObject):
        return None
    stream = reference.get_object()
    if (
        not isinstance(stream, StreamObject)
        or stream.get("/Type") != "/Metadata"
        or stream.get("/Subtype") != "/XML"
    ):
        return None
    try:
        text = stream.get_data().decode("utf-8")
    except UnicodeDecodeError:
        return None
    return xmp_metadata(text) if text else None


def _dict(value: Any) -> DictionaryObject:
    value = value.get_object() if isinstance(value, IndirectObject) else value
    return value if isinstance(value, DictionaryObject) else DictionaryObject()
