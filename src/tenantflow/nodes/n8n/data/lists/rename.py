"""Rename Keys: move values to new (lodash path) keys, then rename keys matching regular expressions.

The patterns are JavaScript's (``new RegExp(searchRegex, 'i'?)`` in n8n), matched with a deadline shared by
the whole run: a backtracking pattern on a long key stops with EXPRESSION_LIMIT naming it.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable
from typing import Any

import regex

from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.expressions import (
    UNDEFINED,
    Deadline,
    ExpressionError,
    compile_js_regex,
    js_string,
    js_truthy,
    to_number,
)
from tenantflow.engine.sdk import Item, Items, NodeContext
from tenantflow.nodes.n8n.data.lists.operations import js_keys
from tenantflow.nodes.n8n.data.set import FieldAccess, get_path


def rename_keys(ctx: NodeContext, items: Items) -> Items:
    """Move values to new keys (lodash paths), then rename keys matching regular expressions."""
    output: Items = []
    deadline = Deadline()
    for i, item in enumerate(items):
        source = item.get("json", {})
        data = copy.deepcopy(source)
        access = FieldAccess(True)
        for entry in ctx.param("keys.key", i, []) or []:
            current, new = js_string(entry.get("currentKey", "")), js_string(entry.get("newKey", ""))
            if current == "" or new == "" or current == new:
                continue
            value = get_path(source, current)
            if value is UNDEFINED:
                continue
            access.set(data, new, copy.deepcopy(value))
            access.unset(data, current)
        for replacement in ctx.param("additionalOptions.regexReplacement.replacements", i, []) or []:
            data = _rename_matching(data, replacement, deadline)
        new_item: Item = {"json": data, "pairedItem": {"item": i}}
        if item.get("binary") is not None:
            new_item["binary"] = item["binary"]
        output.append(new_item)
    return output


def _rename_matching(data: dict[str, Any], replacement: dict[str, Any], deadline: Deadline) -> dict[str, Any]:
    options = replacement.get("options") or {}
    source = js_string(replacement.get("searchRegex", ""))
    try:
        pattern = compile_js_regex(source, "i" if js_truthy(options.get("caseInsensitive")) else "")
    except ExpressionError as exc:
        raise NodeError(str(exc), code=ErrorCode.INVALID_PARAMETER) from exc
    target = _js_replacement(js_string(replacement.get("replaceRegex", "")))
    depth = options.get("depth", -1)
    rename = _Renamer(pattern, source, target, deadline)
    rename.within(data, -1 if depth is None else to_number(depth))
    return data


def _js_replacement(template: str) -> Callable[[regex.Match[str]], str]:
    """``String.prototype.replace`` replacement patterns: ``$1``, ``$&``, ``$$``."""

    def expand(match: regex.Match[str]) -> str:
        def one(token: re.Match[str]) -> str:
            text = token.group(0)
            if text == "$$":
                return "$"
            if text == "$&":
                return match.group(0)
            group = int(text[1:])
            return (match.group(group) or "") if group <= (match.re.groups or 0) else text

        return re.sub(r"\$\$|\$&|\$\d{1,2}", one, template)

    return expand


class _Renamer:
    """Renames keys matching one pattern (first match only, as JS without the ``g`` flag)."""

    __slots__ = ("deadline", "pattern", "source", "target")

    def __init__(
        self,
        pattern: regex.Pattern[str],
        source: str,
        target: Callable[[regex.Match[str]], str],
        deadline: Deadline,
    ) -> None:
        self.pattern = pattern
        self.source = source
        self.target = target
        self.deadline = deadline

    def within(self, node: Any, depth: Any) -> None:
        """Rename the keys of ``node`` and of what it holds, descending ``depth`` levels."""
        if isinstance(node, list):
            if depth != 0:
                for child in node:
                    self.within(child, depth - 1)
            return
        if not isinstance(node, dict):
            return
        for key in js_keys(node):
            if key not in node:
                continue
            if isinstance(node[key], dict | list) and depth != 0:
                self.within(node[key], depth - 1)
            new_key = self.deadline.run(self.source, functools.partial(self._renamed, key))
            if new_key != key:
                node[new_key] = node.pop(key)

    def _renamed(self, key: str, seconds: float) -> str:
        return self.pattern.sub(self.target, key, count=1, timeout=seconds)
