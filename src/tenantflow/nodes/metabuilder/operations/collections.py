"""MetaBuilder's ``list.*`` (22) and ``dict.*`` (16) operations.

Inputs are never mutated: n8n hands a node parameters that may be shared with other items, so every op
that changes a list or object works on a copy. Callback ops evaluate their expression per element through
:class:`~tenantflow.nodes.metabuilder.operations.core.Callback`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from functools import cmp_to_key
from typing import Any

from tenantflow.engine.errors import ErrorCode
from tenantflow.engine.expressions import UNDEFINED, js_truthy
from tenantflow.engine.expressions.operators import less
from tenantflow.nodes.n8n.data.set import get_path

from .core import (
    ANY,
    ARRAY,
    EXPRESSION,
    NUM,
    OBJECT,
    STR,
    Args,
    Op,
    Param,
    callback,
    element_names,
    entry_names,
    enum,
    fail,
    integer,
    is_nullish,
    p,
    require_list,
    text,
)
from .logic import same_value_zero

# --- list ----------------------------------------------------------------------------------------------


def _array(a: Args) -> list[Any]:
    """The ``array`` parameter; MetaBuilder treats a non-array as empty."""
    value = a["array"]
    return value if isinstance(value, list) else []


def _keyed(a: Args) -> Callable[[Any, int], Any]:
    """Element → its sort/group key: ``key`` as a template per element, as a field path, or the element."""
    template = a.callback("key")
    if template.is_template:
        return lambda item, index: template(element_names(item, index))
    if is_nullish(a["key"]) or a["key"] == "":
        return lambda item, index: item
    path = text(a["key"])
    return lambda item, index: get_path(item, path) if isinstance(item, dict | list) else UNDEFINED


def _matcher(a: Args) -> Callable[[Any, int], bool]:
    """Per-element test: the ``condition`` expression, or the Python plugins' ``key``/``value`` equality."""
    condition = a.callback("condition")
    if condition.given:
        return lambda item, index: condition.test(element_names(item, index))
    key, wanted = text(a["key"]), a["value"]
    if is_nullish(a["key"]):
        return lambda item, index: js_truthy(item)
    return lambda item, index: isinstance(item, dict) and same_value_zero(get_path(item, key), wanted)


def list_concat(a: Args) -> dict[str, Any]:
    result: list[Any] = []
    for part in require_list(a["arrays"], "arrays"):
        result.extend(part if isinstance(part, list) else [part])
    return {"result": result}


def list_length(a: Args) -> dict[str, Any]:
    return {"result": len(_array(a))}


def list_slice(a: Args) -> dict[str, Any]:
    array = _array(a)
    return {"result": array[integer(a["start"], 0) : integer(a["end"], len(array))]}


def list_find(a: Args) -> dict[str, Any]:
    """The first match or null; ``found`` (the Python plugin's extra) tells a null element from no match."""
    test = _matcher(a)
    found = next((item for index, item in enumerate(_array(a)) if test(item, index)), UNDEFINED)
    return {"result": None if found is UNDEFINED else found, "found": found is not UNDEFINED}


def list_find_index(a: Args) -> dict[str, Any]:
    test = _matcher(a)
    return {"result": next((index for index, item in enumerate(_array(a)) if test(item, index)), -1)}


def list_filter(a: Args) -> dict[str, Any]:
    test = _matcher(a)
    return {"result": [item for index, item in enumerate(_array(a)) if test(item, index)]}


def list_map(a: Args) -> dict[str, Any]:
    transform = a.callback("transform")
    return {"result": [transform.value(element_names(item, i)) for i, item in enumerate(_array(a))]}


def list_reduce(a: Args) -> dict[str, Any]:
    reducer = a.callback("reducer")
    accumulator = a["initial"]
    for index, item in enumerate(_array(a)):
        accumulator = reducer.value({"$acc": accumulator, "acc": accumulator, **element_names(item, index)})
    return {"result": accumulator}


def list_every(a: Args) -> dict[str, Any]:
    test = _matcher(a)
    return {"result": all(test(item, index) for index, item in enumerate(_array(a)))}


def list_some(a: Args) -> dict[str, Any]:
    test = _matcher(a)
    return {"result": any(test(item, index) for index, item in enumerate(_array(a)))}


def _compare(x: Any, y: Any) -> int:
    """MetaBuilder's comparator: ``<`` then ``>``, else equal (undefined keys sort as equal)."""
    return -1 if less(x, y) else 1 if less(y, x) else 0


def list_sort(a: Args) -> dict[str, Any]:
    """A stable sorted copy; ``desc`` (or the Python plugin's ``reverse``) inverts the comparator."""
    key = _keyed(a)
    keyed = [(key(item, index), item) for index, item in enumerate(_array(a))]
    descending = a["order"] == "desc" or js_truthy(a["reverse"])
    sign = -1 if descending else 1

    def order(x: tuple[Any, Any], y: tuple[Any, Any]) -> int:
        return sign * _compare(x[0], y[0])

    keyed.sort(key=cmp_to_key(order))
    return {"result": [item for _, item in keyed]}


def list_reverse(a: Args) -> dict[str, Any]:
    return {"result": _array(a)[::-1]}


def _identity(value: Any) -> str:
    """A hashable identity for ``Set``-style uniqueness: 1 and "1" differ, equal JSON objects match."""
    return json.dumps([type(value).__name__, value], sort_keys=True, default=str)


def list_unique(a: Args) -> dict[str, Any]:
    key, seen, result = _keyed(a), set(), []
    for index, item in enumerate(_array(a)):
        identity = _identity(key(item, index))
        if identity not in seen:
            seen.add(identity)
            result.append(item)
    return {"result": result}


def _flat(items: list[Any], depth: int) -> list[Any]:
    result: list[Any] = []
    for item in items:
        result.extend(_flat(item, depth - 1) if isinstance(item, list) and depth > 0 else [item])
    return result


def list_flatten(a: Args) -> dict[str, Any]:
    return {"result": _flat(_array(a), integer(a["depth"], 1))}


def list_push(a: Args) -> dict[str, Any]:
    return {"result": [*_array(a), a["value"]]}


def list_pop(a: Args) -> dict[str, Any]:
    array = _array(a)
    return {"result": array[:-1], "removed": array[-1] if array else None}


def list_shift(a: Args) -> dict[str, Any]:
    array = _array(a)
    return {"result": array[1:], "removed": array[0] if array else None}


def list_unshift(a: Args) -> dict[str, Any]:
    return {"result": [a["value"], *_array(a)]}


def list_includes(a: Args) -> dict[str, Any]:
    return {"result": any(same_value_zero(item, a["value"]) for item in _array(a))}


def list_index_of(a: Args) -> dict[str, Any]:
    hits = (i for i, item in enumerate(_array(a)) if same_value_zero(item, a["value"]))
    return {"result": next(hits, -1)}


def list_at(a: Args) -> dict[str, Any]:
    array, index = _array(a), integer(a["index"], 0)
    return {"result": array[index] if -len(array) <= index < len(array) else None}


def list_group_by(a: Args) -> dict[str, Any]:
    key, groups = _keyed(a), dict[str, list[Any]]()
    for index, item in enumerate(_array(a)):
        value = key(item, index)
        groups.setdefault("undefined" if is_nullish(value) else text(value), []).append(item)
    return {"result": groups}


_ARRAY = p("array", ARRAY, [], "items", "list")
_VALUE = p("value", ANY)
_KEY = Param("key", EXPRESSION)
_CONDITION = (_ARRAY, callback("condition"), p("key", STR), _VALUE)

LIST_OPS = (
    Op("list.concat", list_concat, (p("arrays", ARRAY, [], "lists"),)),
    Op("list.length", list_length, (_ARRAY,)),
    Op("list.slice", list_slice, (_ARRAY, p("start", NUM, 0), p("end", NUM))),
    Op("list.find", list_find, _CONDITION),
    Op("list.findIndex", list_find_index, _CONDITION, ("list.find_index",)),
    Op("list.filter", list_filter, _CONDITION),
    Op("list.map", list_map, (_ARRAY, callback("transform"))),
    Op("list.reduce", list_reduce, (_ARRAY, callback("reducer"), p("initial", ANY, None))),
    Op("list.every", list_every, _CONDITION),
    Op("list.some", list_some, _CONDITION),
    Op(
        "list.sort",
        list_sort,
        (_ARRAY, _KEY, p("order", enum("asc", "desc"), "asc"), p("reverse", ANY, False)),
    ),
    Op("list.reverse", list_reverse, (_ARRAY,)),
    Op("list.unique", list_unique, (_ARRAY, _KEY)),
    Op("list.flatten", list_flatten, (_ARRAY, p("depth", NUM, 1))),
    Op("list.push", list_push, (_ARRAY, _VALUE)),
    Op("list.pop", list_pop, (_ARRAY,)),
    Op("list.shift", list_shift, (_ARRAY,)),
    Op("list.unshift", list_unshift, (_ARRAY, _VALUE)),
    Op("list.includes", list_includes, (_ARRAY, _VALUE)),
    Op("list.indexOf", list_index_of, (_ARRAY, _VALUE), ("list.index_of",)),
    Op("list.at", list_at, (_ARRAY, p("index", NUM, 0))),
    Op("list.groupBy", list_group_by, (_ARRAY, _KEY), ("list.group_by",)),
)

# --- dict ----------------------------------------------------------------------------------------------

FORBIDDEN_KEYS = frozenset({"__proto__", "constructor", "prototype"})


def guard(key: Any) -> str:
    """A key safe to write: the prototype-polluting ones are refused (MetaBuilder's guard)."""
    name = text(key)
    if name in FORBIDDEN_KEYS:
        raise fail(f"Prototype-polluting key '{name}' is not allowed", ErrorCode.PROTOTYPE_POLLUTION)
    return name


def _object(a: Args) -> dict[str, Any]:
    value = a["object"]
    return value if isinstance(value, dict) else {}


def _objects(a: Args) -> list[dict[str, Any]]:
    return [value for value in require_list(a["objects"], "objects") if isinstance(value, dict)]


def _keys(a: Args) -> list[str]:
    return [text(key) for key in require_list(a["keys"], "keys")]


def dict_get(a: Args) -> dict[str, Any]:
    value = get_path(_object(a), text(a["path"]))
    return {"result": a["default"] if is_nullish(value) else value}


def dict_set(a: Args) -> dict[str, Any]:
    """A deep copy with ``value`` at the dotted ``path``; missing or non-object intermediates become {}."""
    *parents, last = [guard(part) for part in text(a["path"]).split(".")]
    result = copy.deepcopy(_object(a))
    node = result
    for part in parents:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[last] = a["value"]
    return {"result": result}


def dict_delete(a: Args) -> dict[str, Any]:
    key = guard(a["key"])
    return {"result": {k: v for k, v in _object(a).items() if k != key}}


def dict_keys(a: Args) -> dict[str, Any]:
    return {"result": list(_object(a))}


def dict_values(a: Args) -> dict[str, Any]:
    return {"result": list(_object(a).values())}


def dict_entries(a: Args) -> dict[str, Any]:
    return {"result": [[k, v] for k, v in _object(a).items()]}


def dict_from_entries(a: Args) -> dict[str, Any]:
    entries = require_list(a["entries"], "entries")
    return {
        "result": {guard(e[0]): e[1] if len(e) > 1 else None for e in entries if isinstance(e, list) and e}
    }


def dict_merge(a: Args) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for value in _objects(a):
        result.update(value)
    return {"result": result}


def deep_merge(target: dict[str, Any], source: dict[str, Any]) -> dict[str, Any]:
    """Objects merge key by key; anything else (arrays included) replaces."""
    merged = dict(target)
    for key, value in source.items():
        both = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = deep_merge(merged[key], value) if both else copy.deepcopy(value)
    return merged


def dict_deep_merge(a: Args) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for value in _objects(a):
        result = deep_merge(result, value)
    return {"result": result}


def dict_pick(a: Args) -> dict[str, Any]:
    source = _object(a)
    keys = [guard(key) for key in _keys(a)]
    return {"result": {key: source[key] for key in keys if key in source}}


def dict_omit(a: Args) -> dict[str, Any]:
    dropped = set(_keys(a))
    return {"result": {k: v for k, v in _object(a).items() if k not in dropped}}


def dict_has(a: Args) -> dict[str, Any]:
    return {"result": text(a["key"]) in _object(a)}


def dict_size(a: Args) -> dict[str, Any]:
    return {"result": len(_object(a))}


def dict_invert(a: Args) -> dict[str, Any]:
    return {"result": {guard(value): key for key, value in _object(a).items()}}


def dict_map_values(a: Args) -> dict[str, Any]:
    transform = a.callback("transform")
    return {"result": {k: transform.value(entry_names(k, v)) for k, v in _object(a).items()}}


def dict_filter_entries(a: Args) -> dict[str, Any]:
    condition = a.callback("condition")
    return {"result": {k: v for k, v in _object(a).items() if condition.test(entry_names(k, v))}}


_OBJECT = p("object", OBJECT, {}, "dict", "obj")
_KEY_NAME = p("key", STR, "", "name", "path")
_OBJECTS = p("objects", ARRAY, [], "dicts")
_KEY_LIST = p("keys", ARRAY, [])

DICT_OPS = (
    Op("dict.get", dict_get, (_OBJECT, p("path", STR, "", "key", "name"), p("default", ANY))),
    Op("dict.set", dict_set, (_OBJECT, p("path", STR, "", "key", "name"), _VALUE)),
    Op("dict.delete", dict_delete, (_OBJECT, _KEY_NAME)),
    Op("dict.keys", dict_keys, (_OBJECT,)),
    Op("dict.values", dict_values, (_OBJECT,)),
    Op("dict.entries", dict_entries, (_OBJECT,), ("dict.items",)),
    Op("dict.fromEntries", dict_from_entries, (p("entries", ARRAY, []),), ("dict.from_entries",)),
    Op("dict.merge", dict_merge, (_OBJECTS,)),
    Op("dict.deepMerge", dict_deep_merge, (_OBJECTS,), ("dict.deep_merge",)),
    Op("dict.pick", dict_pick, (_OBJECT, _KEY_LIST)),
    Op("dict.omit", dict_omit, (_OBJECT, _KEY_LIST)),
    Op("dict.has", dict_has, (_OBJECT, _KEY_NAME)),
    Op("dict.size", dict_size, (_OBJECT,)),
    Op("dict.invert", dict_invert, (_OBJECT,)),
    Op("dict.mapValues", dict_map_values, (_OBJECT, callback("transform")), ("dict.map_values",)),
    Op("dict.filterEntries", dict_filter_entries, (_OBJECT, callback("condition")), ("dict.filter_entries",)),
)
