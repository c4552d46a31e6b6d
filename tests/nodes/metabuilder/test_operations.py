"""MetaBuilder's function-style operations, each run through the real executor (tests/nodes/harness.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tenantflow.engine.executor import execute
from tenantflow.engine.validation import validate
from tenantflow.nodes.metabuilder.operations import NODE_TYPES, OPERATIONS
from tests.nodes.harness import REGISTRY, run_node, workflow

ITEM = {"n": 5, "xs": [3, 1, 2], "user": {"name": "Ada", "age": 36}}
"""The single input item of the table cases; expressions read it as ``$json``."""

PEOPLE = [{"name": "Bob", "age": 30}, {"name": "Al", "age": 20}, {"name": "Cy", "age": 30}]

# (node type, parameters, expected json of the one output item)
CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    # --- string
    ("string.concat", {"values": ["a", 1, None, True]}, {"result": "a1true"}),
    ("string.concat", {"strings": ["Hello", "World"], "separator": " "}, {"result": "Hello World"}),
    ("string.format", {"template": "{a}-{b}-{c}", "variables": {"a": 1, "b": "x"}}, {"result": "1-x-{c}"}),
    ("string.length", {"value": "Hello"}, {"result": 5}),
    ("string.length", {"text": "😀"}, {"result": 2}),
    ("string.length", {}, {"result": 0}),
    ("string.lower", {"value": "HeLLo"}, {"result": "hello"}),
    ("string.upper", {"value": "={{ $json.user.name }}"}, {"result": "ADA"}),
    ("string.trim", {"value": "  x  "}, {"result": "x"}),
    ("string.trim", {"value": "  x  ", "mode": "start"}, {"result": "x  "}),
    ("string.trim", {"value": "  x  ", "mode": "end"}, {"result": "  x"}),
    ("string.replace", {"value": "a-b-c", "search": "-"}, {"result": "ab-c"}),
    (
        "string.replace",
        {"value": "a-b-c", "search": "-", "replacement": "+", "all": True},
        {"result": "a+b+c"},
    ),
    ("string.replace", {"text": "aXa", "old": "a", "new": "b"}, {"result": "bXa"}),
    ("string.split", {"value": "a,b,c"}, {"result": ["a", "b", "c"]}),
    ("string.split", {"value": "a b c", "separator": " ", "limit": 2}, {"result": ["a", "b"]}),
    ("string.split", {"value": "abc", "separator": ""}, {"result": ["a", "b", "c"]}),
    ("string.join", {"values": ["a", "b"]}, {"result": "a,b"}),
    ("string.join", {"values": ["a", "b"], "separator": ""}, {"result": "ab"}),
    ("string.substring", {"value": "Hello"}, {"result": "Hello"}),
    ("string.substring", {"value": "Hello", "start": 1, "end": 3}, {"result": "el"}),
    ("string.substring", {"value": "Hello", "start": 3, "end": 1}, {"result": "el"}),
    ("string.substring", {"value": "Hello", "start": -2}, {"result": "Hello"}),
    ("string.includes", {"value": "Hello", "search": "ell"}, {"result": True}),
    ("string.includes", {"value": "Hello", "search": "x"}, {"result": False}),
    ("string.startsWith", {"value": "Hello", "prefix": "He"}, {"result": True}),
    ("string.endsWith", {"value": "Hello", "suffix": "He"}, {"result": False}),
    ("string.padStart", {"value": "5", "length": 3, "fillString": "0"}, {"result": "005"}),
    ("string.padStart", {"value": "abc", "length": 2}, {"result": "abc"}),
    ("string.padEnd", {"value": "ab", "length": 5}, {"result": "ab   "}),
    ("string.padEnd", {"value": "ab", "length": 7, "fillString": "xy"}, {"result": "abxyxyx"}),
    # --- math
    ("math.add", {"values": [1, 2, 3, 4, 5]}, {"result": 15}),
    ("math.add", {"numbers": [0.1, 0.2]}, {"result": 0.30000000000000004}),
    ("math.add", {"values": ["2", True, None]}, {"result": 3}),
    ("math.subtract", {"a": 10, "b": 3}, {"result": 7}),
    ("math.multiply", {"values": [2, 3, 4]}, {"result": 24}),
    ("math.multiply", {"values": []}, {"result": 1}),
    ("math.divide", {"a": 20, "b": 4}, {"result": 5}),
    ("math.divide", {"a": 1, "b": 4}, {"result": 0.25}),
    ("math.modulo", {"a": -7, "b": 3}, {"result": -1}),
    ("math.power", {"base": 2, "exponent": 10}, {"result": 1024}),
    ("math.power", {"a": 9, "b": 0.5}, {"result": 3}),
    ("math.sqrt", {"value": 16}, {"result": 4}),
    ("math.abs", {"value": -3.5}, {"result": 3.5}),
    ("math.round", {"value": 2.5}, {"result": 3}),
    ("math.round", {"value": -2.5}, {"result": -2}),
    ("math.round", {"value": 1.2345, "decimals": 2}, {"result": 1.23}),
    ("math.round", {"value": 1.2355, "precision": 3}, {"result": 1.236}),
    ("math.floor", {"value": -1.5}, {"result": -2}),
    ("math.ceil", {"value": 1.1}, {"result": 2}),
    ("math.min", {"values": [4, 1, 9]}, {"result": 1}),
    ("math.max", {"values": [4, 1, 9]}, {"result": 9}),
    ("math.max", {"values": []}, {"result": None}),
    ("math.sum", {"values": "={{ $json.xs }}"}, {"result": 6}),
    ("math.average", {"values": [1, 2, 3, 4]}, {"result": 2.5}),
    ("math.average", {"values": []}, {"result": 0}),
    ("math.random", {"min": 3, "max": 3, "integer": True}, {"result": 3}),
    ("math.clamp", {"value": 15, "min": 0, "max": 10}, {"result": 10}),
    ("math.clamp", {"value": -1, "min": 0, "max": 10}, {"result": 0}),
    ("math.subtract", {"a": "x", "b": 1}, {"result": None}),
    # --- logic
    ("logic.and", {"values": [True, 1, "a"]}, {"result": True}),
    ("logic.and", {"values": [True, False, True]}, {"result": False}),
    ("logic.and", {"values": []}, {"result": True}),
    ("logic.or", {"values": [False, False, True]}, {"result": True}),
    ("logic.or", {"values": [False, 0, ""]}, {"result": False}),
    ("logic.not", {"value": ""}, {"result": True}),
    ("logic.xor", {"a": True, "b": False}, {"result": True}),
    ("logic.xor", {"a": 1, "b": "x"}, {"result": False}),
    ("logic.equals", {"a": 42, "b": 42}, {"result": True}),
    ("logic.equals", {"a": 1, "b": "1"}, {"result": False}),
    ("logic.equals", {"a": 1, "b": "1", "strict": False}, {"result": True}),
    ("logic.equals", {"a": {"x": [1]}, "b": {"x": [1]}}, {"result": True}),
    ("logic.notEquals", {"a": 1, "b": 2}, {"result": True}),
    ("logic.gt", {"a": 10, "b": 5}, {"result": True}),
    ("logic.gt", {"a": "10", "b": "9"}, {"result": False}),
    ("logic.gte", {"a": 5, "b": 5}, {"result": True}),
    ("logic.lt", {"a": 3, "b": 7}, {"result": True}),
    ("logic.lte", {"a": 8, "b": 7}, {"result": False}),
    ("logic.in", {"value": 2, "array": [1, 2]}, {"result": True}),
    ("logic.in", {"value": "2", "collection": [1, 2]}, {"result": False}),
    ("logic.between", {"value": 5, "min": 5, "max": 10}, {"result": True}),
    ("logic.between", {"value": 5, "min": 5, "max": 10, "inclusive": False}, {"result": False}),
    ("logic.isNull", {"value": None}, {"result": True}),
    ("logic.isNull", {}, {"result": True}),
    ("logic.isNull", {"value": 0}, {"result": False}),
    ("logic.isEmpty", {"value": {}}, {"result": True}),
    ("logic.isEmpty", {"value": []}, {"result": True}),
    ("logic.isEmpty", {"value": ""}, {"result": True}),
    ("logic.isEmpty", {"value": 0}, {"result": False}),
    ("logic.typeOf", {"value": [1]}, {"result": "array"}),
    ("logic.typeOf", {"value": None}, {"result": "null"}),
    ("logic.typeOf", {}, {"result": "undefined"}),
    ("logic.typeOf", {"value": {"a": 1}}, {"result": "object"}),
    ("logic.typeOf", {"value": 1.5}, {"result": "number"}),
    ("logic.typeOf", {"value": "s"}, {"result": "string"}),
    ("logic.typeOf", {"value": False}, {"result": "boolean"}),
    ("logic.ternary", {"condition": "={{ $json.n > 3 }}", "then": "big", "else": "small"}, {"result": "big"}),
    ("logic.ternary", {"condition": 0, "then": "big", "else": "small"}, {"result": "small"}),
    ("logic.coalesce", {"values": [None, "={{ $json.missing }}", 0, 1]}, {"result": 0}),
    ("logic.coalesce", {"values": [None]}, {"result": None}),
    # --- list
    ("list.concat", {"arrays": [[1, 2], [3], 4, [[5]]]}, {"result": [1, 2, 3, 4, [5]]}),
    ("list.concat", {"lists": [[1], [2]]}, {"result": [1, 2]}),
    ("list.length", {"array": [1, 2, 3, 4, 5]}, {"result": 5}),
    ("list.length", {"items": ["a", "b", "c"]}, {"result": 3}),
    ("list.length", {"array": "abc"}, {"result": 0}),
    ("list.slice", {"array": [1, 2, 3, 4, 5], "start": 1, "end": 3}, {"result": [2, 3]}),
    ("list.slice", {"items": [1, 2, 3], "start": -2}, {"result": [2, 3]}),
    (
        "list.find",
        {"array": PEOPLE, "condition": "={{ item.age > 25 }}"},
        {"result": PEOPLE[0], "found": True},
    ),
    ("list.find", {"array": PEOPLE, "condition": "item.age > 99"}, {"result": None, "found": False}),
    ("list.find", {"items": PEOPLE, "key": "name", "value": "Al"}, {"result": PEOPLE[1], "found": True}),
    ("list.findIndex", {"array": PEOPLE, "condition": "{{ $item.name == 'Cy' }}"}, {"result": 2}),
    ("list.findIndex", {"array": PEOPLE, "condition": "={{ false }}"}, {"result": -1}),
    (
        "list.filter",
        {"array": PEOPLE, "condition": "={{ item.age === 30 }}"},
        {"result": [PEOPLE[0], PEOPLE[2]]},
    ),
    ("list.filter", {"array": [1, 2, 3, 4], "condition": "={{ index % 2 === 0 }}"}, {"result": [1, 3]}),
    ("list.filter", {"array": "={{ $json.xs }}", "condition": "={{ item > $json.n - 3 }}"}, {"result": [3]}),
    (
        "list.map",
        {"array": [1, 2], "transform": "={{ { v: $item * 10, i: $index } }}"},
        {"result": [{"v": 10, "i": 0}, {"v": 20, "i": 1}]},
    ),
    ("list.map", {"array": PEOPLE, "transform": "item.name"}, {"result": ["Bob", "Al", "Cy"]}),
    ("list.reduce", {"array": [1, 2, 3], "reducer": "={{ $acc + item }}", "initial": 10}, {"result": 16}),
    (
        "list.reduce",
        {"array": ["a", "b"], "reducer": "acc.concat([item])", "initial": []},
        {"result": ["a", "b"]},
    ),
    ("list.every", {"array": [2, 4], "condition": "={{ item % 2 === 0 }}"}, {"result": True}),
    ("list.every", {"array": "nope", "condition": "={{ false }}"}, {"result": True}),
    ("list.every", {"items": PEOPLE, "key": "age", "value": 30}, {"result": False}),
    ("list.some", {"array": [1, 3], "condition": "={{ item % 2 === 0 }}"}, {"result": False}),
    ("list.some", {"array": None, "condition": "={{ true }}"}, {"result": False}),
    ("list.sort", {"array": [3, 1, 2]}, {"result": [1, 2, 3]}),
    ("list.sort", {"array": PEOPLE, "key": "age"}, {"result": [PEOPLE[1], PEOPLE[0], PEOPLE[2]]}),
    (
        "list.sort",
        {"array": PEOPLE, "key": "age", "order": "desc"},
        {"result": [PEOPLE[0], PEOPLE[2], PEOPLE[1]]},
    ),
    (
        "list.sort",
        {"items": PEOPLE, "key": "={{ item.name.length }}"},
        {"result": [PEOPLE[1], PEOPLE[2], PEOPLE[0]]},
    ),
    ("list.sort", {"array": ["b", "a"], "reverse": True}, {"result": ["b", "a"]}),
    ("list.reverse", {"array": [1, 2, 3]}, {"result": [3, 2, 1]}),
    ("list.unique", {"array": [1, "1", 1, 2]}, {"result": [1, "1", 2]}),
    ("list.unique", {"array": PEOPLE, "key": "age"}, {"result": [PEOPLE[0], PEOPLE[1]]}),
    ("list.flatten", {"array": [1, [2, [3, [4]]]]}, {"result": [1, 2, [3, [4]]]}),
    ("list.flatten", {"array": [1, [2, [3, [4]]]], "depth": 2}, {"result": [1, 2, 3, [4]]}),
    ("list.push", {"array": [1], "value": 2}, {"result": [1, 2]}),
    ("list.pop", {"array": [1, 2, 3]}, {"result": [1, 2], "removed": 3}),
    ("list.pop", {"array": []}, {"result": [], "removed": None}),
    ("list.shift", {"array": [1, 2, 3]}, {"result": [2, 3], "removed": 1}),
    ("list.shift", {"array": []}, {"result": [], "removed": None}),
    ("list.unshift", {"array": [2], "value": 1}, {"result": [1, 2]}),
    ("list.includes", {"array": [1, 2], "value": 2}, {"result": True}),
    ("list.includes", {"array": [1, 2], "value": "2"}, {"result": False}),
    ("list.indexOf", {"array": ["a", "b"], "value": "b"}, {"result": 1}),
    ("list.indexOf", {"array": ["a", "b"], "value": "c"}, {"result": -1}),
    ("list.at", {"array": [1, 2, 3]}, {"result": 1}),
    ("list.at", {"array": [1, 2, 3], "index": -1}, {"result": 3}),
    ("list.at", {"array": [1, 2, 3], "index": 5}, {"result": None}),
    (
        "list.groupBy",
        {"array": [*PEOPLE, {"name": "Di"}], "key": "age"},
        {"result": {"30": [PEOPLE[0], PEOPLE[2]], "20": [PEOPLE[1]], "undefined": [{"name": "Di"}]}},
    ),
    # --- dict
    ("dict.get", {"object": {"a": {"b": 2}}, "path": "a.b"}, {"result": 2}),
    ("dict.get", {"object": {"a": None}, "path": "a", "default": "d"}, {"result": "d"}),
    ("dict.get", {"dict": {"name": "Alice"}, "key": "name"}, {"result": "Alice"}),
    ("dict.get", {"object": {}, "path": "x"}, {}),
    ("dict.set", {"object": {"a": 1}, "path": "b.c", "value": 2}, {"result": {"a": 1, "b": {"c": 2}}}),
    ("dict.set", {"object": {"a": 1}, "path": "a.c", "value": 2}, {"result": {"a": {"c": 2}}}),
    ("dict.set", {"dict": {"a": 1}, "key": "b", "value": 2}, {"result": {"a": 1, "b": 2}}),
    ("dict.delete", {"object": {"a": 1, "b": 2}, "key": "a"}, {"result": {"b": 2}}),
    ("dict.keys", {"object": {"a": 1, "b": 2, "c": 3}}, {"result": ["a", "b", "c"]}),
    ("dict.values", {"object": {"a": 1, "b": 2}}, {"result": [1, 2]}),
    ("dict.entries", {"object": {"a": 1}}, {"result": [["a", 1]]}),
    ("dict.items", {"dict": {"a": 1}}, {"result": [["a", 1]]}),
    ("dict.fromEntries", {"entries": [["a", 1], ["b", 2]]}, {"result": {"a": 1, "b": 2}}),
    (
        "dict.merge",
        {"objects": [{"a": 1, "n": {"x": 1}}, {"b": 2}, {"c": 3, "n": {"y": 2}}]},
        {"result": {"a": 1, "n": {"y": 2}, "b": 2, "c": 3}},
    ),
    (
        "dict.deepMerge",
        {"objects": [{"n": {"x": 1, "l": [1, 2]}}, {"n": {"y": 2, "l": [3]}}]},
        {"result": {"n": {"x": 1, "y": 2, "l": [3]}}},
    ),
    ("dict.pick", {"object": {"a": 1, "b": 2}, "keys": ["a", "z"]}, {"result": {"a": 1}}),
    ("dict.omit", {"object": {"a": 1, "b": 2}, "keys": ["a"]}, {"result": {"b": 2}}),
    ("dict.has", {"object": {"a": None}, "key": "a"}, {"result": True}),
    ("dict.has", {"object": {"a": None}, "key": "b"}, {"result": False}),
    ("dict.size", {"object": {"a": 1, "b": 2}}, {"result": 2}),
    ("dict.invert", {"object": {"a": 1, "b": "x"}}, {"result": {"1": "a", "x": "b"}}),
    (
        "dict.mapValues",
        {"object": {"a": 1, "b": 2}, "transform": "={{ $value * 10 }}"},
        {"result": {"a": 10, "b": 20}},
    ),
    ("dict.mapValues", {"object": {"a": 1}, "transform": "key + '=' + value"}, {"result": {"a": "a=1"}}),
    (
        "dict.filterEntries",
        {"object": {"a": 1, "b": 5}, "condition": "={{ value > $json.n - 2 }}"},
        {"result": {"b": 5}},
    ),
    ("dict.filterEntries", {"object": {"a": 1, "b": 5}, "condition": "$key === 'a'"}, {"result": {"a": 1}}),
    # --- convert
    ("convert.toString", {"value": None}, {"result": ""}),
    ("convert.toString", {"value": {"a": [1]}}, {"result": '{"a":[1]}'}),
    ("convert.toString", {"value": 1.5}, {"result": "1.5"}),
    ("convert.toNumber", {"value": " 42 "}, {"result": 42}),
    ("convert.toNumber", {"value": "abc"}, {"result": 0}),
    ("convert.toNumber", {"value": "abc", "default": -1}, {"result": -1}),
    ("convert.to_number", {"value": "1.5"}, {"result": 1.5}),
    ("convert.toInteger", {"value": "42.9px"}, {"result": 42}),
    ("convert.toInteger", {"value": "ff", "radix": 16}, {"result": 255}),
    ("convert.toInteger", {"value": "x", "default": 7}, {"result": 7}),
    ("convert.toFloat", {"value": "3.14abc"}, {"result": 3.14}),
    ("convert.toFloat", {"value": "abc"}, {"result": 0}),
    ("convert.toBoolean", {"value": " YES "}, {"result": True}),
    ("convert.toBoolean", {"value": "on"}, {"result": True}),
    ("convert.toBoolean", {"value": "false"}, {"result": False}),
    ("convert.toBoolean", {"value": 0}, {"result": False}),
    ("convert.toBoolean", {"value": {}}, {"result": True}),
    ("convert.to_boolean", {"value": "1"}, {"result": True}),
    ("convert.toArray", {"value": [1]}, {"result": [1]}),
    ("convert.toArray", {"value": "[1, 2]"}, {"result": [1, 2]}),
    ("convert.toArray", {"value": "5"}, {"result": [5]}),
    ("convert.toArray", {"value": "a, b ,c"}, {"result": ["a", "b", "c"]}),
    ("convert.toArray", {"value": "a|b", "separator": "|"}, {"result": ["a", "b"]}),
    ("convert.toArray", {"value": None}, {"result": []}),
    ("convert.toArray", {"value": {"a": 1, "b": 2}}, {"result": [1, 2]}),
    ("convert.toArray", {"value": 3}, {"result": [3]}),
    ("convert.toObject", {"value": {"a": 1}}, {"result": {"a": 1}}),
    ("convert.toObject", {"value": '{"a": 1}'}, {"result": {"a": 1}}),
    ("convert.toObject", {"value": "[1]"}, {"result": {"value": [1]}}),
    ("convert.toObject", {"value": "hi"}, {"result": {"value": "hi"}}),
    ("convert.toObject", {"value": ["x", "y"]}, {"result": {"0": "x", "1": "y"}}),
    ("convert.parseJson", {"value": '{"a": [1, 2.5]}'}, {"result": {"a": [1, 2.5]}}),
    ("convert.parseJson", {"value": "{bad"}, {"result": None}),
    ("convert.parseJson", {"value": "{bad", "default": {}}, {"result": {}}),
    ("convert.parseJson", {"value": [1]}, {"result": [1]}),
    ("convert.parse_json", {"text": "true"}, {"result": True}),
    ("convert.toJson", {"value": {"a": 1}}, {"result": '{"a":1}'}),
    ("convert.toJson", {"value": {"a": 1}, "pretty": True}, {"result": '{\n  "a": 1\n}'}),
    ("convert.toJson", {"value": [1], "pretty": True, "indent": 4}, {"result": "[\n    1\n]"}),
    ("convert.to_json", {"value": {"a": 1}, "indent": 1}, {"result": '{\n "a": 1\n}'}),
    (
        "convert.parseDate",
        {"value": "2024-01-15T10:30:00Z"},
        {"result": "2024-01-15T10:30:00.000Z", "timestamp": 1705314600000, "valid": True},
    ),
    (
        "convert.parseDate",
        {"value": 0},
        {"result": "1970-01-01T00:00:00.000Z", "timestamp": 0, "valid": True},
    ),
    ("convert.parseDate", {"value": "not a date"}, {"result": None, "valid": False}),
    ("convert.formatDate", {"value": "2024-01-15T14:30:05Z"}, {"result": "2024-01-15T14:30:05.000Z"}),
    ("convert.formatDate", {"value": "2024-01-15T14:30:05Z", "format": "date"}, {"result": "2024-01-15"}),
    ("convert.formatDate", {"value": "2024-01-15T14:30:05Z", "format": "time"}, {"result": "14:30:05"}),
    (
        "convert.formatDate",
        {"value": "2024-01-15T14:30:05Z", "format": "locale"},
        {"result": "1/15/2024, 2:30:05 PM"},
    ),
    (
        "convert.formatDate",
        {"value": "2024-01-15T14:30:05Z", "format": "localeDate"},
        {"result": "1/15/2024"},
    ),
    (
        "convert.formatDate",
        {"value": "2024-01-15T14:30:05Z", "format": "localeTime"},
        {"result": "2:30:05 PM"},
    ),
    (
        "convert.formatDate",
        {"value": "2024-01-15T14:30:05Z", "format": "timestamp"},
        {"result": 1705329005000},
    ),
    ("convert.formatDate", {"value": "2024-01-15T14:30:05Z", "format": "unix"}, {"result": 1705329005}),
    ("convert.base64Encode", {"value": "héllo"}, {"result": "aMOpbGxv"}),
    ("convert.base64Encode", {"value": {"a": 1}}, {"result": "eyJhIjoxfQ=="}),
    ("convert.base64Decode", {"value": "aMOpbGxv"}, {"result": "héllo"}),
    ("convert.urlEncode", {"value": "a b/c?d=é"}, {"result": "a%20b%2Fc%3Fd%3D%C3%A9"}),
    ("convert.urlEncode", {"value": "a b/c?d", "component": False}, {"result": "a%20b/c?d"}),
    ("convert.urlDecode", {"value": "a%20b%2Fc%C3%A9"}, {"result": "a b/cé"}),
    # --- var (each run starts with an empty variable scope)
    ("var.get", {"name": "x", "default": 3}, {"result": 3}),
    ("var.set", {"name": "x", "value": "={{ $json.n }}"}, {"result": 5, "name": "x"}),
    ("var.set", {"key": "k", "value": 1}, {"result": 1, "name": "k"}),
    ("var.setMultiple", {"variables": {"a": 1, "b": 2}}, {"result": {"a": 1, "b": 2}, "count": 2}),
    ("var.delete", {"name": "x"}, {"result": False, "previousValue": None}),
    ("var.exists", {"name": "x"}, {"result": False}),
    ("var.increment", {"name": "c"}, {"result": 1, "previous": 0}),
    ("var.increment", {"name": "c", "amount": 2.5}, {"result": 2.5, "previous": 0}),
    ("var.decrement", {"name": "c"}, {"result": -1, "previous": 0}),
    ("var.toggle", {"name": "t"}, {"result": True, "previous": None}),
    ("var.append", {"name": "l", "value": 1}, {"result": [1], "length": 1}),
    ("var.concat", {"name": "s", "value": "a", "separator": ","}, {"result": "a"}),
    ("var.list", {}, {"result": [], "count": 0}),
    ("var.getAll", {}, {"result": {}}),
    ("var.clear", {}, {"result": 0, "previous": {}}),
    ("var.merge", {"name": "m", "value": {"a": 1}}, {"result": {"a": 1}}),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("node_type", "parameters", "expected"), CASES)
async def test_operation(node_type: str, parameters: dict[str, Any], expected: dict[str, Any]) -> None:
    run = await run_node(node_type, parameters, [ITEM])
    assert run.json() == [[expected]]


def test_every_operation_has_a_case() -> None:
    """Aliases (``convert.to_number``) resolve to their operation, so they count for it."""
    types = [REGISTRY.get(node_type) for node_type, _, _ in CASES]
    covered = {node_type.type for node_type in types if node_type is not None}
    assert len(OPERATIONS) == len(NODE_TYPES) == 116
    assert {op.id for op in OPERATIONS} - covered == set()


@pytest.mark.anyio
async def test_runs_once_per_item_with_that_item() -> None:
    run = await run_node(
        "math.multiply", {"values": "={{ [$json.a, $json.b] }}"}, [{"a": 2, "b": 3}, {"a": 4, "b": 5}]
    )
    assert run.json() == [[{"result": 6}, {"result": 20}]]


ERRORS = [
    ("math.divide", {"a": 1, "b": 0}, "Division by zero", "DIVISION_BY_ZERO"),
    ("math.modulo", {"a": 1, "b": "0"}, "Modulo by zero", "DIVISION_BY_ZERO"),
    ("math.sqrt", {"value": -4}, "Cannot calculate square root of negative number", "NEGATIVE_SQRT"),
    (
        "dict.set",
        {"object": {}, "path": "a.__proto__.b", "value": 1},
        "Prototype-polluting key '__proto__'",
        None,
    ),
    ("dict.delete", {"object": {}, "key": "constructor"}, "Prototype-polluting key 'constructor'", None),
    ("dict.pick", {"object": {}, "keys": ["prototype"]}, "Prototype-polluting key 'prototype'", None),
    ("dict.invert", {"object": {"a": "__proto__"}}, "Prototype-polluting key '__proto__'", None),
    ("var.get", {}, "Variable name is required", "INVALID_PARAMETER"),
    ("math.add", {"values": "={{ 5 }}"}, "Parameter 'values' must be an array", "INVALID_PARAMETER"),
    ("list.filter", {"array": [1], "condition": "={{ item. }}"}, "", None),
    ("convert.formatDate", {"value": "nope"}, "Invalid date", "INVALID_PARAMETER"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("node_type", "parameters", "message", "code"), ERRORS)
async def test_errors(node_type: str, parameters: dict[str, Any], message: str, code: str | None) -> None:
    error = (await run_node(node_type, parameters, [ITEM])).error
    assert message in error["message"]
    assert code is None or error["code"] == code
    if message.startswith("Prototype"):
        assert error["code"] == "PROTOTYPE_POLLUTION"


@pytest.mark.parametrize(
    ("node_type", "parameters"),
    [
        ("math.add", {"values": "1,2"}),
        ("math.subtract", {"a": [1], "b": 1}),
        ("string.trim", {"value": "x", "mode": "middle"}),
        ("list.sort", {"array": [], "order": "up"}),
        ("logic.and", {"values": {"a": True}}),
        ("convert.formatDate", {"value": 0, "format": "rfc"}),
        ("var.increment", {"name": "c", "amount": "lots"}),
    ],
)
def test_validator_rejects_bad_parameters(node_type: str, parameters: dict[str, Any]) -> None:
    report = validate(workflow(node_type, parameters, [ITEM]), REGISTRY)
    assert not report.valid, parameters


@pytest.mark.parametrize(
    ("node_type", "parameters"),
    [
        ("math.add", {"values": "={{ $json.xs }}"}),
        ("math.subtract", {"a": "{{ $json.n }}", "b": "2"}),
        ("string.trim", {"value": "x", "mode": "={{ 'end' }}"}),
        ("convert.to_boolean", {"value": "yes"}),
        ("list.length", {"items": [1]}),
    ],
)
def test_validator_accepts_expressions_and_aliases(node_type: str, parameters: dict[str, Any]) -> None:
    report = validate(workflow(node_type, parameters, [ITEM]), REGISTRY)
    assert report.valid, report.errors


def _chain(*steps: tuple[str, str, dict[str, Any]]) -> dict[str, Any]:
    """manualTrigger → steps in order; each step is (name, type, parameters)."""
    nodes: list[dict[str, Any]] = [
        {"name": "Trigger", "type": "n8n-nodes-base.manualTrigger", "parameters": {}}
    ]
    connections: dict[str, Any] = {}
    previous = "Trigger"
    for name, node_type, parameters in steps:
        nodes.append({"name": name, "type": node_type, "typeVersion": 1, "parameters": parameters})
        connections[previous] = {"main": [[{"node": name, "type": "main", "index": 0}]]}
        previous = name
    return {"nodes": nodes, "connections": connections}


def _result(record: Any, name: str) -> Any:
    return record.state[name].output[0][0]["json"]


@pytest.mark.anyio
async def test_variables_are_shared_across_nodes() -> None:
    document = _chain(
        ("Set", "var.set", {"name": "total", "value": 10}),
        ("Add", "var.increment", {"name": "total", "amount": 5}),
        ("Append", "var.append", {"name": "log", "value": "={{ $vars.total }}"}),
        ("Merge", "var.merge", {"name": "cfg", "value": {"a": 1}}),
        ("Merge again", "var.merge", {"name": "cfg", "value": {"b": 2}}),
        ("Concat", "var.concat", {"name": "s", "value": "x"}),
        ("Concat again", "var.concat", {"name": "s", "value": "y", "separator": "-"}),
        ("Toggle", "var.toggle", {"name": "flag"}),
        ("Read", "var.getAll", {}),
        ("Delete", "var.delete", {"name": "log"}),
        ("Names", "var.list", {}),
        ("Clear", "var.clear", {}),
        ("Exists", "var.exists", {"name": "total"}),
    )
    record = await execute(document, registry=REGISTRY)
    assert record.status == "success", record.error
    assert _result(record, "Add") == {"result": 15, "previous": 10}
    assert _result(record, "Append") == {"result": [15], "length": 1}
    assert _result(record, "Merge again") == {"result": {"a": 1, "b": 2}}
    assert _result(record, "Concat again") == {"result": "x-y"}
    assert _result(record, "Read") == {
        "result": {"total": 15, "log": [15], "cfg": {"a": 1, "b": 2}, "s": "x-y", "flag": True}
    }
    assert _result(record, "Delete") == {"result": True, "previousValue": [15]}
    assert _result(record, "Names") == {"result": ["total", "cfg", "s", "flag"], "count": 4}
    assert _result(record, "Clear")["result"] == 4
    assert _result(record, "Exists") == {"result": False}


@pytest.mark.anyio
async def test_ops_chain_through_expressions() -> None:
    """One op per family, each reading the previous node's result."""
    document = _chain(
        ("Numbers", "convert.toArray", {"value": "3, 1, 2"}),
        ("Ints", "list.map", {"array": "={{ $json.result }}", "transform": "={{ Number(item) }}"}),
        ("Sum", "math.sum", {"values": "={{ $json.result }}"}),
        ("Big", "logic.gt", {"a": "={{ $json.result }}", "b": 5}),
        (
            "Text",
            "string.format",
            {
                "template": "sum={s} big={b}",
                "variables": "={{ {s: $('Sum').item.json.result, b: $json.result} }}",
            },
        ),
        ("Obj", "dict.set", {"object": {}, "path": "msg.text", "value": "={{ $json.result }}"}),
        ("Store", "var.set", {"name": "message", "value": "={{ $json.result.msg.text }}"}),
    )
    record = await execute(document, registry=REGISTRY)
    assert record.status == "success", record.error
    assert _result(record, "Ints") == {"result": [3, 1, 2]}
    assert _result(record, "Text") == {"result": "sum=6 big=true"}
    assert _result(record, "Store") == {"result": "sum=6 big=true", "name": "message"}
