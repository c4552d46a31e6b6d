"""PDFs written byte by byte for the PDF tests: every position, width and object number is known."""

from __future__ import annotations

HELVETICA = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"


def document(objects: list[bytes], trailer: bytes = b"") -> bytes:
    """A PDF of ``objects`` (object 1 the catalog) with a correct cross-reference table."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R %s >>\n" % (len(objects) + 1, trailer)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def stream(data: bytes, entries: bytes = b"") -> bytes:
    """A stream object's text, its ``/Length`` right."""
    return b"<< /Length %d %s >>\nstream\n" % (len(data), entries) + data + b"\nendstream"


def pdf(*pages: bytes, font: bytes = HELVETICA, catalog: bytes = b"", extra: tuple[bytes, ...] = ()) -> bytes:
    """Pages drawing ``pages`` (content streams) with ``font`` as /F1 and a form XObject (showing "in form"
    at its origin) as /X1. Objects: catalog, pages, then page and content per page, font, form, ``extra``."""
    count = len(pages)
    font_number = 3 + 2 * count
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R %s >>" % catalog,
        b"<< /Type /Pages /Kids [%s] /Count %d >>"
        % (b" ".join(b"%d 0 R" % (3 + 2 * i) for i in range(count)), count),
    ]
    for index, content in enumerate(pages):
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
            b"/Resources << /Font << /F1 %d 0 R >> /XObject << /X1 %d 0 R >> >> >>"
            % (4 + 2 * index, font_number, font_number + 1)
        )
        objects.append(stream(content))
    objects.append(font)
    objects.append(stream(b"BT /F1 10 Tf 0 0 Td (in form) Tj ET", b"/Subtype /Form /BBox [0 0 200 200]"))
    return document([*objects, *extra])
