"""Node outputs as the executor keeps them: well-formed item lists, and their serialised size."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from json.encoder import encode_basestring_ascii
from typing import Any

from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.pacing import Pacer, chunks, is_large
from tenantflow.engine.sdk import Item, Items


def normalise_outputs(result: Any) -> list[Items]:
    """Accept what nodes return (lists of item lists) and make every item a ``{"json": {...}}`` dict.

    Well-formed outputs (the common case) are returned as they are, without copying.
    """
    if result is None:
        return []
    if not isinstance(result, list):
        raise NodeError("node returned outputs that are not a list", code=ErrorCode.NODE_EXECUTION_FAILED)
    for index, output in enumerate(result):
        if isinstance(output, list):
            # A plain loop rather than a helper or all(): this runs for every output of every node.
            for item in output:
                if type(item) is not dict or type(item.get("json")) is not dict:
                    break
            else:
                continue  # well-formed
        result[index] = [as_item(item) for item in output or []]
    return result


async def normalise_outputs_paced(result: list[Any]) -> list[Items]:
    """:func:`normalise_outputs` for a large result (see :func:`~tenantflow.engine.pacing.is_large`), a chunk
    of items at a time, yielding to the event loop between slices."""
    pacer = Pacer()
    for index, output in enumerate(result):
        if type(output) is not list:
            result[index] = normalise_outputs([output])[0]
            continue
        fixed: Items = []
        whole = True
        for start, stop in chunks(len(output)):
            part = output[start:stop]
            normalised = normalise_outputs([part])[0]
            whole = whole and normalised is part
            fixed += normalised
            await pacer.step()
        if not whole:
            result[index] = fixed
    return result


def as_item(item: Any) -> Item:
    if not isinstance(item, dict):
        raise NodeError("node returned an item that is not an object", code=ErrorCode.NODE_EXECUTION_FAILED)
    return item if isinstance(item.get("json"), dict) else {"json": item}


_LONG = 256  # characters from which a string's encoded size is remembered by identity
_CHUNK = 1 << 20  # characters encoded at a time to measure a long string (bounded scratch memory)


class DataMeter:
    """The serialised size of node outputs (compact JSON, non-ASCII escaped, other values as ``str``), as
    peakMemory and dataProcessed count them, measured without writing the text.

    Every reference is counted at its full size (an output holding one 10 MB string a thousand times is
    10 GB when recorded), but each container and long string is measured once: its size is remembered by
    identity, which stays unique because every output measured stays alive in the execution's runs (and
    nodes never change items they were given). A measurement stops as soon as it is over its limit.

    :attr:`held` is the size of the distinct data measured and kept so far: what the execution's outputs
    hold, an item passed on by a hundred nodes counted once. :attr:`new` is what the last measurement
    would add to it, once :meth:`keep` is called. :attr:`files` tells whether it met an item with a
    ``binary`` key that no earlier measurement had met (then the caller counts the files: see
    ``Execution._count_binary``), so outputs without files cost one key lookup per new item.
    """

    __slots__ = ("_known", "_limit", "_reused", "_spent", "files", "held", "new")

    def __init__(self) -> None:
        self._known: dict[int, int] = {}
        self._limit = 0
        self._spent = 0
        self._reused = 0
        self.held = 0
        self.new = 0
        self.files = False

    def measure(self, outputs: list[Items], limit: int) -> int:
        """Size of ``outputs``; a result over ``limit`` means the count stopped there.

        The usual shape, a list of branches of item dicts, is walked here with the items and their members
        inline (a method call per branch, item and member cost more than the measuring; a node run's output
        is measured once, however small); anything unusual inside goes the general way. Every branch and
        dict is measured once and remembered (the outer list is new with every run: it is not)."""
        self._limit, self._spent, self._reused, self.new = limit, 0, 0, 0  # as _start(), without a call
        self.files = False
        known = self._known
        try:
            if type(outputs) is not list:
                self._value(outputs)
            else:
                spent = len(outputs) + 1 if outputs else 2
                for branch in outputs:
                    reused = known.get(id(branch))
                    if reused is not None:
                        self._reused += reused
                        spent += reused
                    elif type(branch) is list:
                        start = spent
                        spent = self._items(branch, spent + (len(branch) + 1 if branch else 2))
                        known[id(branch)] = spent - start
                    else:  # not the usual shape: measured the general way
                        self._spent = spent
                        self._value(branch)
                        spent = self._spent
                self._spent = spent
        except _OverLimit:
            return self._spent
        except RecursionError:
            raise _too_deep() from None
        self.new = self._spent - self._reused
        return self._spent

    async def measure_paced(self, outputs: list[Items], limit: int) -> int:
        """:meth:`measure` for a large output (see :func:`~tenantflow.engine.pacing.is_large`), a chunk of
        items at a time, yielding to the event loop between slices. The outputs stay alive and unchanged
        meanwhile (the caller holds them), so the sizes remembered by identity stay right."""
        self._start(limit)
        pacer = Pacer()
        try:
            self._spent += len(outputs) + 1 if outputs else 2
            for branch in outputs:
                if self._known_size(branch):
                    continue
                if type(branch) is not list:
                    self._value(branch)
                    continue
                start = self._spent
                spent = start + (len(branch) + 1 if branch else 2)
                for low, high in chunks(len(branch)):
                    spent = self._items(branch[low:high], spent)
                    await pacer.step()
                self._known[id(branch)] = spent - start
                self._spent = spent
        except _OverLimit:
            return self._spent
        except RecursionError:
            raise _too_deep() from None
        return self._end()

    async def measure_kept(self, outputs: list[Items]) -> int:
        """Measure ``outputs`` without a limit (paced when large) and keep them: the data an execution is
        handed rather than produces. The caller keeps ``outputs`` alive as long as this meter."""
        if is_large(outputs):
            await self.measure_paced(outputs, 1 << 62)
        else:
            self.measure(outputs, 1 << 62)
        self.keep()
        return self.held

    def _start(self, limit: int) -> None:
        self._limit, self._spent, self._reused, self.new = limit, 0, 0, 0
        self.files = False

    def _end(self) -> int:
        self.new = self._spent - self._reused
        return self._spent

    def _items(self, items: list[Any], spent: int) -> int:
        """Add the sizes of a branch's ``items`` to ``spent`` (stopping once over the limit), each item dict
        measured here and remembered, with its members that are dicts (``json``, ``pairedItem``) walked in an
        inner loop that measures scalars itself: a method call per item or member cost more than the
        measuring. Anything else goes the general way. ``spent`` is kept in a local (see :meth:`measure`)."""
        known, limit = self._known, self._limit
        for item in items:
            size = known.get(id(item))
            if size is not None:
                self._reused += size
            elif type(item) is dict:
                if "binary" in item:
                    self.files = True
                size = 2 * len(item) + 1 if item else 2
                for key, value in item.items():
                    size += len(_ESCAPE(key)) if type(key) is str else _key_size(key)
                    member = known.get(id(value))
                    if member is not None:
                        self._reused += member
                        size += member
                        continue
                    if type(value) is dict:
                        member = 2 * len(value) + 1 if value else 2  # braces, colons, commas
                        for name, leaf in value.items():
                            member += len(_ESCAPE(name)) if type(name) is str else _key_size(name)
                            kind = type(leaf)
                            if kind is str and len(leaf) < _LONG:
                                member += len(_ESCAPE(leaf))
                            elif kind is int:
                                member += len(repr(leaf))
                            elif leaf is None or leaf is True:
                                member += 4
                            elif leaf is False:
                                member += 5
                            else:  # a container, long string or float: the general way, from here
                                self._spent = spent + size + member
                                self._value(leaf)
                                member = self._spent - spent - size
                        known[id(value)] = member
                        size += member
                        continue
                    self._spent = spent + size  # not a dict: measured the general way
                    self._value(value)
                    size = self._spent - spent
                known[id(item)] = size
            else:
                self._spent = spent
                self._value(item)
                size = self._spent - spent
            spent += size
            if spent > limit:
                self._spent = spent
                raise _OverLimit
        return spent

    def keep(self) -> None:
        """The outputs last measured stay (else the caller drops them, and stops measuring: their sizes
        are remembered by the identity of objects that may then be freed)."""
        self.held += self.new

    def _add(self, size: int) -> None:
        self._spent += size
        if self._spent > self._limit:
            raise _OverLimit

    def _known_size(self, value: Any) -> bool:
        size = self._known.get(id(value))
        if size is None:
            return False
        self._reused += size
        self._add(size)
        return True

    def _value(self, value: Any) -> None:
        t = type(value)
        if t is str:
            self._string(value)
        elif t is dict:
            self._dict(value)
        elif t is list or t is tuple:
            self._list(value)
        elif t is int:
            self._spent += len(repr(value))
        elif t is float:
            self._spent += _float_size(value)
        elif value is None or value is True:
            self._spent += 4
        elif value is False:
            self._spent += 5
        else:
            self._other(value)

    def _other(self, value: Any) -> None:
        """Subclasses as the C encoder sees them (a StrEnum is a string); anything else as ``str()``."""
        if isinstance(value, str):
            self._string(str.__str__(value))
        elif isinstance(value, dict):
            self._dict(value)
        elif isinstance(value, list | tuple):
            self._list(value)
        elif isinstance(value, int):
            self._spent += len(int.__repr__(value))
        elif isinstance(value, float):
            self._spent += _float_size(value)
        else:
            self._string(str(value))

    def _string(self, text: str) -> None:
        if len(text) < _LONG:
            self._spent += len(_ESCAPE(text))
            return
        if self._known_size(text):
            return
        size = len(text) + 2 if text.isascii() and _PLAIN.fullmatch(text) else _encoded_size(text)
        self._known[id(text)] = size
        self._add(size)

    def _dict(self, value: dict[Any, Any]) -> None:
        if (size := self._known.get(id(value))) is not None:  # as _known_size(), without a call
            self._reused += size
            self._add(size)
            return
        start = self._spent
        spent = start + (2 * len(value) + 1 if value else 2)  # braces, colons, commas
        for key in value:
            spent += len(_ESCAPE(key)) if type(key) is str else _key_size(key)
        self._members(value.values(), start, spent, value)

    def _list(self, value: list[Any] | tuple[Any, ...]) -> None:
        if (size := self._known.get(id(value))) is not None:
            self._reused += size
            self._add(size)
            return
        start = self._spent
        self._members(value, start, start + (len(value) + 1 if value else 2), value)  # brackets, commas

    def _members(self, members: Iterable[Any], start: int, spent: int, container: Any) -> None:
        """Add a container's values (``spent`` already counts its own punctuation and keys) and remember
        its size. The common leaves inline: a method call per value would double the cost of a flat item."""
        for item in members:
            t = type(item)
            if t is str and len(item) < _LONG:
                spent += len(_ESCAPE(item))
            elif t is int:
                spent += len(repr(item))
            else:
                self._spent = spent
                if t is dict:
                    self._dict(item)
                elif t is list:
                    self._list(item)
                else:
                    self._value(item)
                spent = self._spent
        self._spent = spent
        self._known[id(container)] = spent - start
        if spent > self._limit:
            raise _OverLimit


class _OverLimit(Exception):
    """A measurement went over its limit (caught inside :meth:`DataMeter.measure`)."""


def _too_deep() -> NodeError:
    return NodeError("node output is nested too deeply to record", code=ErrorCode.NODE_EXECUTION_FAILED)


_ESCAPE = encode_basestring_ascii
_PLAIN = re.compile(r"[^\\\"\x00-\x1f]*")  # ASCII text the encoder writes as it is


def _encoded_size(text: str) -> int:
    """Length of ``text`` as a JSON string literal, encoded a chunk at a time."""
    return 2 + sum(len(_ESCAPE(text[i : i + _CHUNK])) - 2 for i in range(0, len(text), _CHUNK))


def _float_size(value: float) -> int:
    """``NaN``, ``Infinity`` and ``-Infinity`` as the encoder writes them, else the shortest repr."""
    if value != value:
        return 3
    if value in (math.inf, -math.inf):
        return 8 if value > 0 else 9
    return len(float.__repr__(value))


def _key_size(key: Any) -> int:
    """A non-string key as the encoder writes it: a float, int, bool or null turned into quoted text."""
    if key is True or key is False or key is None:
        return {True: 6, False: 7, None: 6}[key]
    if isinstance(key, float):
        return len(float.__repr__(key)) + 2
    if isinstance(key, int):
        return len(int.__repr__(key)) + 2
    return len(_ESCAPE(str(key)))
