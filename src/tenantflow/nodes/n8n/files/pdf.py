"""The PDF reading the file nodes use, loaded on first use.

:mod:`.pdf_document` imports pypdf (with cryptography) and the pdf.js text rules at import time; the node
modules import this one, so commands that never read a PDF (``tenantflow validate``) do not pay for them.
"""

from __future__ import annotations

from typing import Any


def extract_pdf(data: bytes, password: Any, max_pages: Any, join_pages: Any) -> dict[str, Any]:
    """n8n's PDF result: see :func:`tenantflow.nodes.n8n.files.pdf_document.extract_pdf`."""
    from tenantflow.nodes.n8n.files import pdf_document

    return pdf_document.extract_pdf(data, password, max_pages, join_pages)
