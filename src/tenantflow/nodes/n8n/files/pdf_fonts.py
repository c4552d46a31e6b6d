"""PDF fonts read the way pdf.js 2.16 reads them for text content, so that Read PDF gives n8n's text.

For each character code: its Unicode text (ToUnicode first, then the font's encoding through the Adobe
glyph list and pdf.js's glyph-name rules, then the code itself as a character) and its advance width.
Simple fonts (Type1, TrueType, Type3) and composite Type0 fonts with Identity or embedded CMaps are read;
predefined CJK CMaps other than Identity are taken as two-byte codes, and vertical writing as horizontal.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from pypdf._codecs import _mac_encoding, _std_encoding, _symbol_encoding, _win_encoding, _zapfding_encoding
from pypdf._codecs.adobe_glyphs import adobe_glyphs
from pypdf._codecs.core_font_metrics import CORE_FONT_METRICS
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, StreamObject

JS_WHITESPACE = frozenset(
    "\t\n\v\f\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff" + "".join(map(chr, range(0x2000, 0x200B)))
)
"""What JavaScript's ``\\s`` matches: pdf.js calls a glyph whitespace by it (Python's isspace differs)."""

_NORMALIZE = re.compile(
    "[\u00a0\u00b5\u037e\u0eb3\u2000-\u200a\u202f\u2126\ufb00-\ufb04\ufb06\ufb20-\ufb36\ufb38-\ufb3c"
    "\ufb3e\ufb40-\ufb41\ufb43-\ufb44\ufb46-\ufba1\ufba4-\ufba9\ufbae-\ufbb1\ufbd3-\ufbdc\ufbde-\ufbe7"
    "\ufbea-\ufbf8\ufbfc-\ufbfd\ufc00-\ufc5d\ufc64-\ufcf1\ufcf5-\ufd3d\ufd88\ufdf4\ufdfa-\ufdfb\ufe71"
    "\ufe77\ufe79\ufe7b\ufe7d]+"
)
"""The characters pdf.js replaces by their NFKC form in text content: ligatures, micro sign, odd spaces."""

_FIXES = {
    "/WinAnsiEncoding": {
        0x7F: "•",
        0x81: "•",
        0x8D: "•",
        0x8F: "•",
        0x90: "•",
        0x9D: "•",
        0xA0: " ",
        0xAD: "-",
    },
    "/MacRomanEncoding": {0xCA: " ", 0xDB: "¤", 0xF0: "\xf0"},
}
"""Where pdf.js's glyph-named encodings differ from Python's code pages (bullet, space and hyphen names)."""

_CORE_ALIASES = (
    ("courier", "Courier"),
    ("times", "Times"),
    ("symbol", "Symbol"),
    ("dingbats", "ZapfDingbats"),
)


@dataclass(frozen=True, slots=True)
class Glyph:
    """One shown character code: its text as pdf.js writes it, advance in glyph space, and pdf.js's
    character classes (of the text before normalising)."""

    text: str
    width: float
    is_whitespace: bool
    is_diacritic: bool
    is_format_mark: bool


def _encoding_table(name: str) -> list[str]:
    table = {
        "/WinAnsiEncoding": _win_encoding,
        "/MacRomanEncoding": _mac_encoding,
        "/StandardEncoding": _std_encoding,
        "/Symbol": _symbol_encoding,
        "/ZapfDingbats": _zapfding_encoding,
    }[name]
    return [_FIXES.get(name, {}).get(code, char) for code, char in enumerate(table)]


def _named_glyph(name: str) -> str | None:
    """The glyph list's text for ``name`` (pypdf's ``a<n>`` fill-ins are not glyph names pdf.js knows)."""
    if re.fullmatch(r"a\d+", name) or name == ".notdef":
        return None
    return adobe_glyphs.get("/" + name)


def _hex(text: str) -> int | None:
    return int(text, 16) if text and re.fullmatch(r"[0-9A-Fa-f]+", text) else None


def _uni_name(name: str) -> int | None:
    """``uniXXXX`` / ``uXXXX[XX]`` names in upper-case hexadecimal, as pdf.js recovers them."""
    if len(name) == 7 and name.startswith("uni"):
        digits = name[3:]
    elif 5 <= len(name) <= 7:
        digits = name[1:]
    else:
        return None
    return _hex(digits) if digits == digits.upper() else None


class _NeedsHex(Exception):
    """A ``Cdd`` glyph name that is hexadecimal: pdf.js then reads every such name as hexadecimal."""


def _parsed_name(name: str, hex_c_names: bool) -> int | None:
    first, rest = name[:1], name[1:]
    if (first == "G" and len(name) == 3) or (first == "g" and len(name) == 5):
        return _hex(rest)
    if first in ("C", "c") and 3 <= len(name) <= 4:
        if hex_c_names:
            return _hex(rest)
        if rest.isdigit():
            return int(rest)
        if _hex(rest) is not None:
            raise _NeedsHex
        return None
    return _uni_name(name) if first == "u" else None


def _names_to_unicode(
    base: list[str], base_name: str | None, differences: dict[int, str], hex_c_names: bool = False
) -> dict[int, str]:
    """pdf.js ``_simpleFontToUnicode``: the encoding's glyph names as text, by code."""
    result = {code: char for code, char in enumerate(base) if char != "\x00"}
    for code, name in differences.items():
        named = _named_glyph(name)
        if named is not None:
            result[code] = named
            continue
        if name in ("f_h", "f_t", "T_h"):
            result[code] = name.replace("_", "")
            continue
        try:
            parsed = _parsed_name(name, hex_c_names)
        except _NeedsHex:
            return _names_to_unicode(base, base_name, differences, hex_c_names=True)
        result.pop(code, None)
        if parsed is not None and 0 < parsed <= 0x10FFFF:
            result[code] = _encoding_table(base_name)[code] if base_name and parsed == code else chr(parsed)
    return result


def _utf16(data: bytes) -> str:
    """A ToUnicode target as pdf.js decodes it: UTF-16BE units, an odd last byte as a unit's high byte."""
    units = [(data[k] << 8) | (data[k + 1] if k + 1 < len(data) else 0) for k in range(0, len(data), 2)]
    points: list[int] = []
    index = 0
    while index < len(units):
        unit = units[index]
        if unit & 0xF800 == 0xD800 and index + 1 < len(units):
            points.append(((unit & 0x3FF) << 10) + (units[index + 1] & 0x3FF) + 0x10000)
            index += 2
            continue
        points.append(unit)
        index += 1
    return "".join(map(chr, points))


_Token = bytes | int | str
_CMAP_TOKEN = re.compile(rb"<([0-9A-Fa-f\s]*)>|\[|\]|(-?\d+)|([A-Za-z]+)")


def _cmap_tokens(data: bytes) -> Iterator[_Token]:
    """Hex strings (as bytes), integers and keywords of a CMap; the rest (names, comments) is skipped."""
    for match in _CMAP_TOKEN.finditer(data):
        hexa, number, word = match.groups()
        if hexa is not None:
            digits = re.sub(rb"\s", b"", hexa)
            yield bytes.fromhex((digits + b"0" * (len(digits) % 2)).decode())
        elif number is not None:
            yield int(number)
        elif word is not None:
            yield word.decode()
        else:
            yield match.group().decode()


class CMap:
    """The parts of a CMap that text needs: codespace ranges, code→CID and code→Unicode mappings."""

    def __init__(self, data: bytes) -> None:
        self.codespace: list[list[tuple[int, int]]] = [[], [], [], []]
        self.cids: dict[int, int] = {}
        self.unicode: dict[int, str] = {}
        section: str | None = None
        body: list[_Token] = []
        for token in _cmap_tokens(data):
            if isinstance(token, str) and token.startswith("begin"):
                section, body = token[5:], []
            elif isinstance(token, str) and token.startswith("end") and section is not None:
                self._section(section, body)
                section = None
            elif section is not None:
                body.append(token)

    def _section(self, kind: str, body: list[_Token]) -> None:
        if kind == "bfrange":
            self._bfrange(body)
            return
        width = 3 if kind == "cidrange" else 2
        for at in range(0, len(body) - width + 1, width):
            first, second = body[at], body[at + 1]
            if not isinstance(first, bytes):
                continue
            if kind == "codespacerange" and isinstance(second, bytes) and 1 <= len(first) <= 4:
                self.codespace[len(first) - 1].append((_int(first), _int(second)))
            elif kind == "cidrange" and isinstance(second, bytes) and isinstance(cid := body[at + 2], int):
                low, high = _int(first), _int(second)
                if high - low < 1 << 24:
                    self.cids.update((code, cid + code - low) for code in range(low, high + 1))
            elif kind == "cidchar" and isinstance(second, int):
                self.cids[_int(first)] = second
            elif kind == "bfchar" and isinstance(second, bytes):
                self.unicode[_int(first)] = _utf16(second)

    def _bfrange(self, body: list[_Token]) -> None:
        """Rows ``<lo> <hi> <target>``, the target's last byte counting up (pdf.js ``mapBfRange``), or
        ``<lo> <hi> [<t1> <t2> …]``."""
        index = 0
        while index + 2 < len(body):
            low, high, target = body[index], body[index + 1], body[index + 2]
            index += 3
            if not isinstance(low, bytes) or not isinstance(high, bytes):
                continue
            code = _int(low)
            if target == "[":
                while index < len(body) and body[index] != "]":
                    if isinstance(value := body[index], bytes):
                        self.unicode[code] = _utf16(value)
                    code += 1
                    index += 1
                index += 1
            elif isinstance(target, bytes) and target and _int(high) - code < 1 << 24:
                for each in range(code, _int(high) + 1):
                    self.unicode[each] = _utf16(target)
                    target = _next_target(target)

    def read_code(self, data: bytes, offset: int) -> tuple[int, int]:
        """pdf.js ``readCharCode``: the shortest code (1-4 bytes) inside a codespace range, else byte 0."""
        code = 0
        for length, ranges in enumerate(self.codespace, start=1):
            if offset + length > len(data):
                break
            code = (code << 8) | data[offset + length - 1]
            if any(low <= code <= high for low, high in ranges):
                return code, length
        return 0, 1


def _next_target(target: bytes) -> bytes:
    """The next ``bfrange`` target: the last byte plus one, carrying once into the byte before."""
    if target[-1] < 0xFF:
        return target[:-1] + bytes([target[-1] + 1])
    carried = (target[-2] + 1) & 0xFF if len(target) > 1 else 0
    return target[:-2] + bytes([carried, 0])


def _int(data: bytes) -> int:
    return int.from_bytes(data, "big")


def _identity_cmap() -> CMap:
    cmap = CMap(b"")
    cmap.codespace[1].append((0, 0xFFFF))
    return cmap


def _number(value: Any, default: float = 0.0) -> float:
    return float(value) if isinstance(value, int | float) else default


def _resolved(value: Any) -> Any:
    return value.get_object() if value is not None and hasattr(value, "get_object") else value


@cache
def _categories(text: str) -> tuple[bool, bool, bool]:
    """pdf.js ``getCharUnicodeCategory``: ``^(\\s)|(\\p{Mn})|(\\p{Cf})$`` (whitespace, diacritic, mark)."""
    if text[:1] in JS_WHITESPACE:
        return True, False, False
    if any(unicodedata.category(char) == "Mn" for char in text):
        return False, True, False
    return False, False, bool(text) and unicodedata.category(text[-1]) == "Cf"


def _written(text: str) -> str:
    """A glyph's text as pdf.js puts it in an item: NFKC where pdf.js normalises (``fi`` ligature to
    ``fi``, micro sign to mu), and a several-character right-to-left text reversed."""
    text = _NORMALIZE.sub(lambda match: unicodedata.normalize("NFKC", match.group()), text)
    if len(text) > 1 and any(unicodedata.bidirectional(char) in ("R", "AL") for char in text):
        return text[::-1]
    return text


class PdfFont:
    """One font resource: splits shown strings into codes and gives each code's :class:`Glyph`."""

    def __init__(self, font: DictionaryObject | None) -> None:
        font = font if font is not None else _fallback_font()
        self.name = str(font.get("/BaseFont", ""))
        self.composite = font.get("/Subtype") == "/Type0"
        matrix = _resolved(font.get("/FontMatrix"))
        self.scale_x = _number(matrix[0], 0.001) if font.get("/Subtype") == "/Type3" and matrix else 0.001
        self._glyphs: dict[int, Glyph] = {}
        if self.composite:
            self._init_composite(font)
        else:
            self._init_simple(font)

    def _init_simple(self, font: DictionaryObject) -> None:
        self._cmap: CMap | None = None
        descriptor = _resolved(font.get("/FontDescriptor")) or DictionaryObject()
        table, base_name, differences = _encoding(font, descriptor)
        by_names = _names_to_unicode(_encoding_table(table), base_name, differences)
        to_unicode = _to_unicode(font)
        builtin = _builtin_encoding(descriptor, table)
        if to_unicode is not None:
            built = {code: text for code, text in builtin.items() if to_unicode(code) is None}
            self._unicode: Callable[[int], str | None] = lambda code: (
                to_unicode(code)
                or built.get(code)
                or (by_names.get(code) if base_name or differences else None)
            )
        else:
            has_encoding = bool(base_name or differences)
            # pdf.js adjustToUnicode: the built-in encoding fills what the /Encoding does not say
            built = {
                code: text
                for code, text in builtin.items()
                if not has_encoding or (differences and code not in differences)
            }
            self._unicode = {**by_names, **built}.get
        widths = _resolved(font.get("/Widths"))
        if isinstance(widths, ArrayObject):
            first = int(_number(font.get("/FirstChar")))
            self._widths = {
                first + i: _number(_resolved(w)) for i, w in enumerate(widths) if _resolved(w) is not None
            }
            self._default_width = _number(descriptor.get("/MissingWidth"))
        else:
            metrics = _core_metrics(self.name)
            self._widths = {
                code: metrics.get(char, 0) for code in range(256) if (char := by_names.get(code)) in metrics
            }
            self._default_width = 600.0 if "courier" in self.name.lower() else 0.0

    def _init_composite(self, font: DictionaryObject) -> None:
        descendants = _resolved(font.get("/DescendantFonts"))
        child = _resolved(descendants[0]) if isinstance(descendants, ArrayObject) and descendants else None
        child = child if isinstance(child, DictionaryObject) else DictionaryObject()
        encoding = _resolved(font.get("/Encoding"))
        self._cmap = CMap(encoding.get_data()) if isinstance(encoding, StreamObject) else _identity_cmap()
        to_unicode = _to_unicode(font)
        self._unicode = to_unicode or _identity_unicode
        self._default_width = _number(child.get("/DW"), 1000.0)
        self._widths = _cid_widths(_resolved(child.get("/W")))

    def glyphs(self, data: bytes) -> list[Glyph]:
        """The glyphs a shown string draws: one per byte, or per CMap code for composite fonts."""
        if self._cmap is None:
            return [self.glyph(byte) for byte in data]
        out: list[Glyph] = []
        offset = 0
        while offset < len(data):
            code, length = self._cmap.read_code(data, offset)
            offset += length
            out.append(self.glyph(code))
        return out

    def glyph(self, code: int) -> Glyph:
        glyph = self._glyphs.get(code)
        if glyph is None:
            width_code = self._cmap.cids.get(code, code) if self._cmap is not None else code
            text = self._unicode(code) or chr(code)
            width = self._widths.get(width_code, self._default_width)
            glyph = Glyph(_written(text), width, *_categories(text))
            self._glyphs[code] = glyph
        return glyph


def _fallback_font() -> DictionaryObject:
    """What pdf.js draws with when a font resource is missing: WinAnsi text with Helvetica's widths."""
    font = DictionaryObject()
    font[NameObject("/BaseFont")] = NameObject("/PDFJS-FallbackFont")
    font[NameObject("/Encoding")] = NameObject("/WinAnsiEncoding")
    return font


def _encoding(font: DictionaryObject, descriptor: DictionaryObject) -> tuple[str, str | None, dict[int, str]]:
    """pdf.js ``extractDataStructures``: the default encoding's name (the named base encoding, or one by
    font kind), the named base encoding (``None`` when there is none), and the differences."""
    encoding = _resolved(font.get("/Encoding"))
    base_name: str | None = None
    differences: dict[int, str] = {}
    if isinstance(encoding, DictionaryObject):
        base_name = (
            str(encoding.get("/BaseEncoding")) if isinstance(encoding.get("/BaseEncoding"), str) else None
        )
        code = 0
        for entry in _resolved(encoding.get("/Differences")) or []:
            entry = _resolved(entry)
            if isinstance(entry, int):
                code = entry
            elif isinstance(entry, NameObject):
                differences[code] = entry[1:]
                code += 1
    elif isinstance(encoding, NameObject):
        base_name = str(encoding)
    if base_name not in ("/MacRomanEncoding", "/WinAnsiEncoding"):
        base_name = None
    if base_name:
        return base_name, base_name, differences
    flags = int(_number(descriptor.get("/Flags")))
    name = str(font.get("/BaseFont", ""))
    table = (
        "/WinAnsiEncoding" if font.get("/Subtype") == "/TrueType" and not flags & 32 else "/StandardEncoding"
    )
    if flags & 4:
        table = "/MacRomanEncoding"
        if (
            "/FontFile" not in descriptor
            and "/FontFile2" not in descriptor
            and "/FontFile3" not in descriptor
        ):
            table = (
                "/Symbol"
                if "symbol" in name.lower()
                else "/ZapfDingbats"
                if "dingbats" in name.lower()
                else table
            )
    return table, None, differences


def _builtin_encoding(descriptor: DictionaryObject, default: str) -> dict[int, str]:
    """An embedded Type1 program's own encoding, as text by code, as pdf.js's Type1 parser reads it from
    the clear-text header; nothing when it is the font's default encoding anyway. (CFF programs'
    encodings are not read.)"""
    program = _resolved(descriptor.get("/FontFile"))
    if not isinstance(program, StreamObject):
        return {}
    clear = program.get_data().split(b"eexec")[0]
    found = re.search(rb"/Encoding\s+(\S+)", clear)
    if found is None:
        return {}
    if found.group(1) == b"StandardEncoding":
        if default == "/StandardEncoding":
            return {}
        return {
            code: char for code, char in enumerate(_std_encoding) if char != chr(code) or 0x20 < code < 0x7F
        }
    end = re.compile(rb"\sdef\b").search(clear, found.end())
    entries = re.findall(
        rb"dup\s+(\d+)\s*/([^\s/\[\]{}()<>]+)\s+put", clear[found.end() : end.start() if end else None]
    )
    texts: dict[int, str] = {}
    for code, name in entries:
        glyph = name.decode("latin-1")
        text = _named_glyph(glyph)
        if text is None and (parsed := _uni_name(glyph)) is not None:
            text = chr(parsed)
        if text is not None and int(code) < 256:
            texts[int(code)] = text
    return texts


def _to_unicode(font: DictionaryObject) -> Callable[[int], str | None] | None:
    """The font's ``/ToUnicode`` as a lookup; ``None`` when it has none (or an empty one)."""
    stream = _resolved(font.get("/ToUnicode"))
    if isinstance(stream, StreamObject):
        mapping = CMap(stream.get_data()).unicode
        return mapping.get if mapping else None
    if isinstance(stream, NameObject) and stream.startswith("/Identity"):
        return _identity_unicode
    return None


def _identity_unicode(code: int) -> str | None:
    return chr(code) if code < 0x10000 else None


def _core_metrics(name: str) -> dict[str, float]:
    """Widths of the standard font pdf.js measures a font without ``/Widths`` by."""
    lowered = name.lower()
    family = next((core for key, core in _CORE_ALIASES if key in lowered), "Helvetica")
    if family in ("Symbol", "ZapfDingbats"):
        return CORE_FONT_METRICS[family].character_widths
    bold, italic = "bold" in lowered, "italic" in lowered or "oblique" in lowered
    suffix = {"Times": ("-Roman", "-Bold", "-Italic", "-BoldItalic")}.get(
        family, ("", "-Bold", "-Oblique", "-BoldOblique")
    )[bold + 2 * italic]
    return CORE_FONT_METRICS[family + suffix].character_widths


def _cid_widths(array: Any) -> dict[int, float]:
    """A descendant font's ``/W``: ``c [w1 w2 …]`` and ``cfirst clast w`` runs."""
    widths: dict[int, float] = {}
    items = [_resolved(item) for item in array] if isinstance(array, ArrayObject) else []
    index = 0
    while index + 1 < len(items):
        first, second = items[index], items[index + 1]
        if isinstance(second, ArrayObject):
            widths.update((int(first) + i, _number(_resolved(w))) for i, w in enumerate(second))
            index += 2
        elif index + 2 < len(items) and isinstance(first, int) and isinstance(second, int):
            if second - first < 1 << 16:
                widths.update((cid, _number(items[index + 2])) for cid in range(first, second + 1))
            index += 3
        else:
            break
    return widths
