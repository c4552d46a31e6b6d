"""A page's text as n8n's Read PDF gives it: pdf.js 2.16's ``getTextContent`` items, joined by n8n's rule.

pdf.js walks the content stream glyph by glyph and cuts the text into items: a glyph continues the
current item when it follows the previous one closely on the same baseline; a gap of 0.1-0.6 em becomes
a space inside the item, a wider one (or a step back) ends the item with a separate ``" "`` item, and a
move off the line ends it as a line end. Whitespace glyphs are not kept as such: a space is written
before the next glyph when whitespace preceded it. n8n then joins the items' strings, starting a new
line whenever an item's baseline (``transform[5]``) differs from the previous item's. The arithmetic
follows pdf.js operation for operation, so that equal baselines compare equal as they do there.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from pypdf import PageObject
from pypdf.errors import PdfReadError
from pypdf.generic import ArrayObject, ContentStream, DictionaryObject, IndirectObject, StreamObject

from tenantflow.nodes.n8n.files.pdf_fonts import Glyph, PdfFont

Matrix = tuple[float, float, float, float, float, float]
IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
MAX_FORM_DEPTH = 16
"""Nested form XObjects followed at most: a form that draws itself must not recurse forever."""

TRACKING_SPACE_FACTOR = 0.1
NOT_A_SPACE_FACTOR = 0.03
NEGATIVE_SPACE_FACTOR = -0.2
SPACE_IN_FLOW_MIN_FACTOR = 0.1
SPACE_IN_FLOW_MAX_FACTOR = 0.6
"""pdf.js 2.16's gap thresholds, in multiples of the font size."""


def transform(m1: Matrix, m2: Matrix) -> Matrix:
    """pdf.js ``Util.transform``: ``m2`` then ``m1``, in pdf.js's order of operations."""
    return (
        m1[0] * m2[0] + m1[2] * m2[1],
        m1[1] * m2[0] + m1[3] * m2[1],
        m1[0] * m2[2] + m1[2] * m2[3],
        m1[1] * m2[2] + m1[3] * m2[3],
        m1[0] * m2[4] + m1[2] * m2[5] + m1[4],
        m1[1] * m2[4] + m1[3] * m2[5] + m1[5],
    )


def _translate(m: Matrix, x: float, y: float) -> Matrix:
    return (m[0], m[1], m[2], m[3], m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5])


@dataclass(frozen=True, slots=True)
class TextItem:
    """One ``getTextContent`` item: its string and the text-space-to-page matrix it starts at."""

    str: str
    transform: Matrix
    has_eol: bool = False


@dataclass(slots=True)
class _State:
    """pdf.js ``TextState``: saved with ``q`` and restored with ``Q`` along with the CTM."""

    ctm: Matrix = IDENTITY
    font: PdfFont | None = None
    font_key: Any = None
    font_size: float = 0.0
    h_scale: float = 1.0
    leading: float = 0.0
    char_spacing: float = 0.0
    word_spacing: float = 0.0
    rise: float = 0.0
    text_matrix: Matrix = IDENTITY
    line_matrix: Matrix = IDENTITY


@dataclass(slots=True)
class _Chunk:
    """pdf.js ``textContentItem``: the item being built, and what the last glyph left behind."""

    initialized: bool = False
    str: list[str] = field(default_factory=list)
    width: float = 0.0
    height: float = 0.0
    advance_scale: float = 0.0
    tracking_min: float = math.inf
    not_a_space: float = -math.inf
    negative_max: float = -math.inf
    flow_min: float = 0.0
    flow_max: float = 0.0
    prev: Matrix | None = None
    transform: Matrix = IDENTITY
    has_eol: bool = False


FontLoader = Callable[[Any, DictionaryObject], PdfFont]


def page_items(page: PageObject, load_font: FontLoader) -> list[TextItem]:
    """pdf.js ``getTextContent`` of one page (combined items, no marked content)."""
    box = [float(v) for v in page.mediabox]
    crop = [float(v) for v in page.cropbox]
    view = _intersect(crop, box) or box
    items: list[TextItem] = []
    contents = page.get_contents()
    if contents is not None:
        resources = _dict(page.get("/Resources"))
        _Run(items, view, load_font).run(contents, resources, _State(), 0)
    return items


def join_items(items: list[TextItem]) -> str:
    """n8n's ``parseText``: the strings in order, a newline before each whose baseline is not the last's."""
    parts: list[str] = []
    last_y: float | None = None
    for item in items:
        y = item.transform[5]
        same = last_y is None or last_y == y or last_y == 0 or math.isnan(last_y)
        parts.append(item.str if same else "\n" + item.str)
        last_y = y
    return "".join(parts)


def _intersect(a: list[float], b: list[float]) -> list[float] | None:
    a = [min(a[0], a[2]), min(a[1], a[3]), max(a[0], a[2]), max(a[1], a[3])]
    b = [min(b[0], b[2]), min(b[1], b[3]), max(b[0], b[2]), max(b[1], b[3])]
    box = [max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])]
    return box if box[0] < box[2] and box[1] < box[3] else None


def _dict(value: Any) -> DictionaryObject:
    value = value.get_object() if isinstance(value, IndirectObject) else value
    return value if isinstance(value, DictionaryObject) else DictionaryObject()


def _num(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def _matrix(values: list[Any]) -> Matrix:
    a, b, c, d, e, f = map(_num, values)
    return (a, b, c, d, e, f)


def _raw(value: Any) -> bytes:
    """A shown string's bytes (pypdf decodes text strings; their original bytes are what the font reads)."""
    if isinstance(value, bytes):
        return bytes(value)
    original = getattr(value, "original_bytes", None)
    return bytes(original) if original is not None else str(value).encode("latin-1", "replace")


class _Run:
    """One content stream's walk (a page, or a form XObject inside it) adding to the page's items."""

    def __init__(self, items: list[TextItem], view: list[float], load_font: FontLoader) -> None:
        self.items = items
        self.view = view
        self.load_font = load_font
        self.chunk = _Chunk()
        self.last_chars = [" ", " "]
        self.last_pos = 0
        self.state = _State()

    def run(self, stream: Any, resources: DictionaryObject, state: _State, depth: int) -> None:
        self.state = state
        # pdf.js (ignoreErrors) keeps the text read before a broken operator and stops the stream there.
        with contextlib.suppress(PdfReadError, ValueError, TypeError, KeyError, IndexError):
            self._walk(stream, resources, depth)
        self.flush()

    def _walk(self, stream: Any, resources: DictionaryObject, depth: int) -> None:
        saved: list[_State] = []
        operations = (
            stream.operations if isinstance(stream, ContentStream) else ContentStream(stream, None).operations
        )
        for operands, operator in operations:
            if operator == b"q":
                saved.append(replace(self.state))
            elif operator == b"Q":
                if saved:
                    self.state = saved.pop()
            elif operator == b"cm" and len(operands) == 6:
                self.state.ctm = transform(self.state.ctm, _matrix(operands))
            elif operator == b"Do":
                self.flush()
                self._form(operands, resources, depth)
            else:
                self._text_operator(operator, operands, resources)

    def _text_operator(self, operator: bytes, operands: list[Any], resources: DictionaryObject) -> None:
        state = self.state
        args = [_num(value) for value in operands]
        if operator == b"Tf" and len(operands) == 2:
            if state.font is not None and operands[0] == state.font_key and args[1] == state.font_size:
                return
            self.flush()
            state.font_key, state.font_size = operands[0], args[1]
            font = _dict(resources.get("/Font")).get(operands[0])
            state.font = self.load_font(font, resources)
        elif operator == b"gs" and operands:
            gstate = _dict(_dict(resources.get("/ExtGState")).get(operands[0]))
            font = gstate.get("/Font")
            if isinstance(font, ArrayObject) and len(font) == 2:
                self.flush()
                state.font_key, state.font_size = None, _num(font[1])
                state.font = self.load_font(font[0], resources)
        elif operator == b"Ts" and args:
            state.rise = args[0]
        elif operator == b"Tz" and args:
            state.h_scale = args[0] / 100
        elif operator == b"TL" and args:
            state.leading = args[0]
        elif operator in (b"Td", b"TD") and len(args) == 2:
            if operator == b"TD":
                state.leading = -args[1]
            state.line_matrix = _translate(state.line_matrix, args[0], args[1])
            state.text_matrix = state.line_matrix
        elif operator == b"T*":
            self._carriage_return()
        elif operator == b"Tm" and len(args) == 6:
            state.text_matrix = state.line_matrix = _matrix(operands)
            self._update_advance_scale()
        elif operator == b"Tc" and args:
            state.char_spacing = args[0]
        elif operator == b"Tw" and args:
            state.word_spacing = args[0]
        elif operator == b"BT":
            state.text_matrix = state.line_matrix = IDENTITY
        else:
            self._show_operator(operator, operands, args)

    def _show_operator(self, operator: bytes, operands: list[Any], args: list[float]) -> None:
        if operator not in (b"Tj", b"TJ", b"'", b'"') or not operands or self.state.font is None:
            return  # pdf.js skips text shown before any font is set
        if operator == b"TJ":
            self._show_spaced(operands[0])
            return
        if operator == b'"' and len(operands) == 3:
            self.state.word_spacing, self.state.char_spacing = args[0], args[1]
        if operator in (b"'", b'"'):
            self._carriage_return()
        self._build(_raw(operands[-1]), 0.0)

    def _carriage_return(self) -> None:
        state = self.state
        state.line_matrix = _translate(state.line_matrix, 0, -state.leading)
        state.text_matrix = state.line_matrix

    def _show_spaced(self, elements: Any) -> None:
        """``TJ``: strings run together; a non-zero number ends a run and spaces its last glyph."""
        if not isinstance(elements, list) or not elements:
            return
        space_factor = -self.state.font_size / 1000
        buffer: list[bytes] = []
        for element in elements[:-1]:
            if isinstance(element, int | float) and not isinstance(element, bool):
                if element != 0:
                    self._build(b"".join(buffer), float(element) * space_factor)
                    buffer.clear()
            elif isinstance(element, str | bytes):
                buffer.append(_raw(element))
        if isinstance(elements[-1], str | bytes):
            buffer.append(_raw(elements[-1]))
        if buffer:
            self._build(b"".join(buffer), 0.0)

    def _current_transform(self) -> Matrix:
        """CTM × text matrix × (size·scale, 0, 0, size, 0, rise): the zero terms of pdf.js's product are
        left out, which changes no finite result (``x·0 + y`` is ``y`` exactly)."""
        state = self.state
        t, width, size = state.text_matrix, state.font_size * state.h_scale, state.font_size
        text = (
            t[0] * width,
            t[1] * width,
            t[2] * size,
            t[3] * size,
            t[2] * state.rise + t[4],
            t[3] * state.rise + t[5],
        )
        return transform(state.ctm, text)

    def _advance(self, x: float) -> None:
        self.state.text_matrix = _translate(self.state.text_matrix, x, 0)

    def _build(self, chars: bytes, extra_spacing: float) -> None:
        """pdf.js ``buildTextContentItem`` for horizontal text."""
        state = self.state
        assert state.font is not None
        if not chars:
            spacing = state.char_spacing + extra_spacing
            if spacing:
                self._advance(spacing * state.h_scale)
            return
        glyphs = state.font.glyphs(chars)
        scale = state.font.scale_x * state.font_size
        for index, glyph in enumerate(glyphs):
            if glyph.is_format_mark:
                continue
            spacing = state.char_spacing + (extra_spacing if index + 1 == len(glyphs) else 0)
            scaled = glyph.width * scale
            if glyph.is_whitespace:
                spacing += scaled + state.word_spacing
                self._advance(spacing * state.h_scale)
                self._save_last_char(" ")
                continue
            if not self._compare_with_last_position():
                continue
            self._glyph(glyph, 0.0 if glyph.is_diacritic else scaled * state.h_scale)
            if spacing:
                self._advance(spacing * state.h_scale)

    def _glyph(self, glyph: Glyph, scaled: float) -> None:
        chunk = self._ensure_chunk()
        self._advance(scaled)
        chunk.width += scaled
        if scaled:
            chunk.prev = self._current_transform()
        if self._save_last_char(glyph.text):
            chunk.str.append(" ")
        chunk.str.append(glyph.text)

    def _ensure_chunk(self) -> _Chunk:
        chunk = self.chunk
        if chunk.initialized:
            return chunk
        state = self.state
        trm = chunk.transform = self._current_transform()
        chunk.width = 0.0
        chunk.height = math.hypot(trm[2], trm[3])
        chunk.advance_scale = math.hypot(state.ctm[0], state.ctm[1]) * math.hypot(
            state.line_matrix[0], state.line_matrix[1]
        )
        size = state.font_size
        chunk.tracking_min = size * TRACKING_SPACE_FACTOR
        chunk.not_a_space = size * NOT_A_SPACE_FACTOR
        chunk.negative_max = size * NEGATIVE_SPACE_FACTOR
        chunk.flow_min = size * SPACE_IN_FLOW_MIN_FACTOR
        chunk.flow_max = size * SPACE_IN_FLOW_MAX_FACTOR
        chunk.has_eol = False
        chunk.initialized = True
        return chunk

    def _update_advance_scale(self) -> None:
        chunk = self.chunk
        if not chunk.initialized:
            return
        state = self.state
        factor = math.hypot(state.ctm[0], state.ctm[1]) * math.hypot(
            state.line_matrix[0], state.line_matrix[1]
        )
        if factor != chunk.advance_scale:
            chunk.width = 0.0
            chunk.advance_scale = factor

    def _compare_with_last_position(self) -> bool:
        """Whether the next glyph is drawn inside the page, after settling how it joins the last one."""
        current = self._current_transform()
        x, y = current[4], current[5]
        view = self.view
        if x - view[0] < 0 or x - view[0] > view[2] or y - view[1] < 0 or y - view[1] > view[3]:
            return False
        chunk = self.chunk
        if chunk.prev is None:
            return True
        last_x, last_y = chunk.prev[4], chunk.prev[5]
        if last_x == x and last_y == y:
            return True
        x, y, last_x, last_y = _unrotated(current, chunk.prev, x, y, last_x, last_y)
        advance_x = (
            (x - last_x) / chunk.advance_scale if chunk.advance_scale else math.copysign(math.inf, x - last_x)
        )
        advance_y = y - last_y
        orientation = float(math.copysign(1, chunk.width)) if chunk.width else 0.0
        if advance_x < orientation * chunk.negative_max:
            if abs(advance_y) > 0.5 * chunk.height:
                self._append_eol()
            else:
                self._reset_last_chars()
                self.flush()
            return True
        if abs(advance_y) > chunk.height:
            self._append_eol()
            return True
        if advance_x <= orientation * chunk.not_a_space:
            self._reset_last_chars()
        if advance_x <= orientation * chunk.tracking_min:
            chunk.width += advance_x
        elif not self._add_fake_spaces(advance_x, chunk.prev, orientation):
            if not chunk.str:
                self._reset_last_chars()
                self.items.append(TextItem(" ", chunk.prev))
            else:
                chunk.width += advance_x
        return True

    def _add_fake_spaces(self, width: float, prev: Matrix, orientation: float) -> bool:
        chunk = self.chunk
        if orientation * chunk.flow_min <= width <= orientation * chunk.flow_max:
            if chunk.initialized:
                self._reset_last_chars()
                chunk.str.append(" ")
            return False
        self.flush()
        self._reset_last_chars()
        self.items.append(TextItem(" ", prev))
        return True

    def _append_eol(self) -> None:
        self._reset_last_chars()
        if self.chunk.initialized:
            self.chunk.has_eol = True
            self.flush()
        else:
            self.items.append(TextItem("", self._current_transform(), has_eol=True))

    def flush(self) -> None:
        chunk = self.chunk
        if not chunk.initialized:
            return
        self.items.append(TextItem("".join(chunk.str), chunk.transform, chunk.has_eol))
        chunk.initialized = False
        chunk.str.clear()

    def _save_last_char(self, char: str) -> bool:
        """pdf.js ``saveLastChar``: true when the previous glyph was whitespace and the one before was not."""
        next_pos = (self.last_pos + 1) % 2
        spaced = self.last_chars[self.last_pos] != " " and self.last_chars[next_pos] == " "
        self.last_chars[self.last_pos] = char
        self.last_pos = next_pos
        return spaced

    def _reset_last_chars(self) -> None:
        self.last_chars = [" ", " "]
        self.last_pos = 0

    def _form(self, operands: list[Any], resources: DictionaryObject, depth: int) -> None:
        """``Do`` of a form XObject: its text, in a walk of its own, with the form's matrix applied."""
        if not operands or depth >= MAX_FORM_DEPTH:
            return
        form = _dict(resources.get("/XObject")).get(operands[0])
        form = form.get_object() if isinstance(form, IndirectObject) else form
        if not isinstance(form, StreamObject) or form.get("/Subtype") != "/Form":
            return
        state = replace(self.state)
        matrix = form.get("/Matrix")
        if isinstance(matrix, ArrayObject) and len(matrix) == 6:
            state.ctm = transform(state.ctm, _matrix(matrix))
        inner = _Run(self.items, self.view, self.load_font)
        inner.run(form, _dict(form.get("/Resources")) or resources, state, depth + 1)


def _unrotated(
    current: Matrix, prev: Matrix, x: float, y: float, last_x: float, last_y: float
) -> tuple[float, float, float, float]:
    """Positions turned back to a left-to-right baseline, as pdf.js compares them."""
    if current[0] and current[1] == 0 and current[2] == 0:
        return (x, y, last_x, last_y) if current[0] > 0 else (-x, -y, -last_x, -last_y)
    if current[1] and current[0] == 0 and current[3] == 0:
        return (y, x, last_y, last_x) if current[1] > 0 else (-y, -x, -last_y, -last_x)
    x, y = _inverse_rotation(x, y, current)
    last_x, last_y = _inverse_rotation(last_x, last_y, prev)
    return x, y, last_x, last_y


def _inverse_rotation(x: float, y: float, matrix: Matrix) -> tuple[float, float]:
    scale = math.hypot(matrix[0], matrix[1])
    if not scale:
        return x, y
    return (matrix[0] * x + matrix[1] * y) / scale, (matrix[2] * x + matrix[3] * y) / scale
