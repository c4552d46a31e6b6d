"""Rename Keys: move values to new (lodash path) keys, then rename keys matching regular expressions."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from tenantflow.engine.errors import ErrorCode, NodeError
from tenantflow.engine.expressions import UNDEFINED, js_string, js_truthy, to_number
from tenantflow.engine.sdk import Item, Items, NodeContext
from tenantflow.nodes.n8n.data.lists.operations import js_keys
from tenantflow.nodes.n8n.data.set import FieldAccess, get_path


def rename_keys(ctx: NodeContext, items: Items) -> Items:
    """Move values to new keys (lodash paths), then rename keys matching regular expressions."""
    output: Items = []
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
            data = _rename_matching(data, replacement)
        new_item: Item = {"json": data, "pairedItem": {"item": i}}
        if item.get("binary") is not None:
            new_item["binary"] = item["binary"]
        output.append(new_item)
    return output


def _rename_matching(data: dict[str, Any], replacement: dict[str, Any]) -> dict[str, Any]:
    options = replacement.get("options") or {}
    flags = re.IGNORECASE if js_truthy(options.get("caseInsensitive")) else 0
    try:
        pattern = re.compile(js_string(replacement.get("searchRegex", "")), flags)
    except re.error as exc:
        raise NodeError(f"Invalid regular expression: {exc}", code=ErrorCode.INVALID_PARAMETER) from exc
    target = _js_replacement(js_string(replacement.get("replaceRegex", "")))
    depth = options.get("depth", -1)
    _rename_in(data, pattern, target, -1 if depth is None else to_number(depth))
    return data


def _js_replacement(template: str) -> Callable[[re.Match[str]], str]:
    """``String.prototype.replace`` replacement patterns: ``$1``, ``$&``, ``$$``."""

    def expand(match: re.Match[str]) -> str:
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


def _rename_in(
    node: Any, pattern: re.Pattern[str], target: Callable[[re.Match[str]], str], depth: Any
) -> None:
    """Rename matching keys (first match only, as JS without the ``g`` flag), descending ``depth`` levels."""
    if isinstance(node, list):
        if depth != 0:
            for child in node:
                _rename_in(child, pattern, target, depth - 1)
        return
    if not isinstance(node, dict):
        return
    for key in js_keys(node):
        if key not in node:
            continue
        if isinstance(node[key], dict | list) and depth != 0:
            _rename_in(node[key], pattern, target, depth - 1)
        if pattern.search(key):
            new_key = pattern.sub(target, key, count=1)
            if new_key != key:
                node[new_key] = node.pop(key)
