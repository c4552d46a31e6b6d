"""Text of a PDF file, in the shape of n8n's ``extractDataFromPDF`` (pdf.js there, pypdf here)."""

from __future__ import annotations

import io
from typing import Any

from tenantflow.engine.errors import ErrorCode, NodeError


def extract_pdf(data: bytes, password: Any, max_pages: Any, join_pages: Any) -> dict[str, Any]:
    """``numpages``, ``numrender``, ``info`` and the ``text`` of the first ``maxPages`` pages (all when 0)."""
    from pypdf import PdfReader  # loads (with cryptography) when a node reads a PDF: start-up time
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            reader.decrypt(str(password or ""))
        pages = reader.pages
        limit = int(max_pages or 0)
        texts = [page.extract_text() for page in pages[: limit if 0 < limit < len(pages) else len(pages)]]
        info: dict[str, Any] = {"PDFFormatVersion": reader.pdf_header.removeprefix("%PDF-")}
        for key, value in (reader.metadata or {}).items():
            info[str(key).lstrip("/")] = str(value)
    except FileNotDecryptedError as exc:
        raise NodeError(
            "The PDF is encrypted: a correct password is needed", code=ErrorCode.INVALID_PARAMETER
        ) from exc
    except (PdfReadError, ValueError, KeyError) as exc:
        raise NodeError(f"The file is not a readable PDF: {exc}", code=ErrorCode.INVALID_PARAMETER) from exc
    return {
        "numpages": len(pages),
        "numrender": len(pages),
        "info": info,
        "text": "\n\n".join(texts) if join_pages is not False else texts,
    }
