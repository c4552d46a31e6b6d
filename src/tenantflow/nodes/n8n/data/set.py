"""The Set node (Edit Fields) and the lodash-compatible path helpers the other node families share.

n8n reads and writes item fields with lodash's ``get``/``set``/``unset``: ``a.b[0].c`` walks into objects
and lists, a missing level is created as a list when the next key is an index and as an object otherwise,
and a key that already exists verbatim (``"a.b"``) wins over its dotted reading. Workflows depend on those
rules (``list[3]`` pads a list, ``nested.x`` extends an existing object), so :func:`set_path`,
:func:`get_path` and :func:`unset_path` reproduce them rather than a simpler split on dots.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from tenantflow.engine.errors import NodeError
from tenantflow.engine.expressions import (
    UNDEFINED,
    format_json,
    int_result,
    js_num,
    js_string,
    js_truthy,
    js_typeof,
    to_json,
    to_number,
)
from tenantflow.engine.sdk import Item, Items, NodeContext, NodeType
from tenantflow.nodes.n8n.core import (
    BOOLEAN,
    NUMBER,
    STRING,
    first_input,
    object_schema,
    one_of,
    or_expression,
)
from tenantflow.nodes.n8n.pacing import Pacer, paced_map

# --- lodash paths ----------------------------------------------------------------------------------------

_PROP_NAME = re.compile(
    r"""[^.[\]]+|\[(?:([^"'][^[]*)|(["'])((?:(?!\2)[^\\]|\\.)*?)\2)\]|(?=(?:\.|\[\])(?:\.|\[\])*$)"""
)
_ESCAPE_CHAR = re.compile(r"\\(\\)?")
_DEEP_PROP = re.compile(r"""\.|\[(?:[^[\]]*|(["'])(?:(?!\1)[^\\]|\\.)*?\1)\]""")
_PLAIN_PROP = re.compile(r"\w*", re.ASCII)
_INDEX = re.compile(r"0|[1-9]\d*", re.ASCII)
_FORBIDDEN_KEYS = frozenset({"__proto__", "constructor", "prototype"})


def _has_key(container: Any, key: str) -> bool:
    """JS ``key in Object(container)`` for the JSON containers items hold."""
    if isinstance(container, dict):
        return key in container
    if isinstance(container, list):
        return key == "length" or (_is_index(key) and int(key) < len(container))
    return False


def _is_index(key: str) -> bool:
    return _INDEX.fullmatch(key) is not None


def parse_path(path: str, container: Any = None) -> list[str]:
    """lodash ``castPath``: a plain or already-present key stays whole, anything else is split."""
    if _PLAIN_PROP.fullmatch(path) or not _DEEP_PROP.search(path) or _has_key(container, path):
        return [path]
    keys = [""] if path.startswith(".") else []
    for match in _PROP_NAME.finditer(path):
        number, quote, quoted = match.group(1), match.group(2), match.group(3)
        keys.append(_ESCAPE_CHAR.sub(r"\1", quoted) if quote else (number or match.group(0)))
    return keys


def _child(container: Any, key: str) -> Any:
    """``container[key]`` with JS semantics; :data:`UNDEFINED` when absent."""
    if isinstance(container, dict):
        return container.get(key, UNDEFINED)
    if isinstance(container, list | str):
        if key == "length":
            return len(container)
        if _is_index(key) and int(key) < len(container):
            return container[int(key)]
    return UNDEFINED


def get_path(data: Any, path: str) -> Any:
    """lodash ``get``: the value at ``path`` or :data:`UNDEFINED`."""
    value = data
    for key in parse_path(path, data):
        if value is None or value is UNDEFINED:
            return UNDEFINED
        value = _child(value, key)
    return value


def _assign(container: dict[str, Any] | list[Any], key: str, value: Any) -> bool:
    """Store ``value``; False when a list gets a non-index key (JS keeps it, JSON drops it)."""
    if isinstance(container, dict):
        container[key] = value
        return True
    if not _is_index(key):
        return False
    index = int(key)
    if index >= len(container):
        container.extend([None] * (index + 1 - len(container)))
    container[index] = value
    return True


def set_path(data: dict[str, Any] | list[Any], path: str, value: Any) -> None:
    """lodash ``set``: write ``value`` at ``path``, creating missing objects and lists on the way."""
    keys = parse_path(path, data)
    node: Any = data
    for position, key in enumerate(keys):
        if key in _FORBIDDEN_KEYS:
            return
        if position == len(keys) - 1:
            _assign(node, key, value)
            return
        existing = _child(node, key)
        if not isinstance(existing, dict | list):
            existing = [] if _is_index(keys[position + 1]) else {}
            if not _assign(node, key, existing):
                return
        node = existing


def unset_path(data: Any, path: str) -> None:
    """lodash ``unset``: remove the value at ``path`` (a list slot becomes a hole, i.e. null)."""
    keys = parse_path(path, data)
    parent = data
    for key in keys[:-1]:
        parent = _child(parent, key)
    last = keys[-1]
    if isinstance(parent, dict):
        parent.pop(last, None)
    elif isinstance(parent, list) and _is_index(last) and int(last) < len(parent):
        parent[int(last)] = None


def _plain_key(container: dict[str, Any], key: str) -> str:
    """n8n's ``sanitizeDataPathKey``: with dot notation off, ``['a.b']`` may name the key ``a.b``."""
    if key not in container and len(key) >= 4 and key[:2] in ("['", '["') and key[-2:] in ("']", '"]'):
        inner = key[2:-2]
        if inner in container:
            return inner
    return key


class FieldAccess:
    """Get/set/unset item fields by dotted path (lodash) or, with dot notation off, by literal key."""

    def __init__(self, dot_notation: bool) -> None:
        self.dot_notation = dot_notation

    def get(self, data: dict[str, Any], key: str) -> Any:
        return get_path(data, key) if self.dot_notation else data.get(_plain_key(data, key), UNDEFINED)

    def set(self, data: dict[str, Any], key: str, value: Any) -> None:
        if self.dot_notation:
            set_path(data, key, value)
        else:
            data[_plain_key(data, key)] = value

    def unset(self, data: dict[str, Any], key: str) -> None:
        if self.dot_notation:
            unset_path(data, key)
        else:
            data.pop(_plain_key(data, key), None)


# --- JS-flavoured parsing and typing ----------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def js_json_parse(text: str) -> Any:
    """``JSON.parse``: strict JSON (no NaN/Infinity), numbers as JS numbers (``3.0`` is ``3``)."""
    return json.loads(
        text,
        parse_constant=_reject_constant,
        parse_float=lambda s: js_num(float(s)),
        parse_int=lambda s: int_result(int(s)),
    )


_KEY_QUOTES = re.compile(r"""(['"])?([a-zA-Z0-9_]+)(['"])?:""")
_TRAILING_COMMA = re.compile(r",\s*([\]}])")
_END_COMMAS = re.compile(r",+$")


def _loose_json_text(text: str) -> str:
    """n8n's repair of hand-written JSON: single quotes, bare keys and trailing commas."""
    text = _KEY_QUOTES.sub(r'"\2":', text.replace("'", '"'))
    return _END_COMMAS.sub("", _TRAILING_COMMA.sub(r"\1", text))


def js_stringify(value: Any) -> str:
    """``JSON.stringify`` of an expression result (dates serialise as their JSON form)."""
    return format_json(to_json(value))


def _is_js_object(value: Any) -> bool:
    """``typeof value === 'object'`` (null included, as in JS)."""
    return value is not UNDEFINED and js_typeof(value) == "object"


def _value_description(value: Any) -> str:
    """n8n's ``getValueDescription`` used in type-conversion messages."""
    if value is None:
        return "'null'"
    if isinstance(value, list):
        return "array"
    if _is_js_object(value):
        return "object"
    return f"'{js_string(value)}'"


class _Invalid(Exception):
    """A value that cannot be read as the requested type."""


def _parse_number(value: Any) -> Any:
    number = to_number(value)
    if number != number:
        raise _Invalid
    return number


def _parse_boolean(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not (isinstance(value, str) and value.strip() == ""):
        number = to_number(value)
        if number in (0, 1):
            return number == 1
    raise _Invalid


def _parse_array(value: Any) -> Any:
    if isinstance(value, list):
        return value
    text = js_string(value)
    try:
        parsed = js_json_parse(text)
    except ValueError:
        try:
            parsed = js_json_parse(text.replace("'", '"'))
        except ValueError:
            raise _Invalid from None
    if not isinstance(parsed, list):
        raise _Invalid
    return parsed


def _parse_object(value: Any) -> Any:
    if value is not None and _is_js_object(value) and not isinstance(value, list):
        return value
    text = js_string(value)
    try:
        parsed = js_json_parse(text)
    except ValueError:
        try:
            parsed = js_json_parse(_loose_json_text(text))
        except ValueError:
            raise _Invalid from None
    if isinstance(parsed, list) or not (parsed is None or isinstance(parsed, dict)):
        raise _Invalid  # JSON.parse("null") passes n8n's typeof-object check, so null is accepted
    return parsed


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "number": _parse_number,
    "boolean": _parse_boolean,
    "array": _parse_array,
    "object": _parse_object,
}


def convert_field_type(name: str, value: Any, field_type: str) -> Any:
    """n8n's ``validateFieldType`` (loose mode): the value as ``field_type``; ``_Invalid`` when it isn't one.

    null and undefined are valid for every type and come back as ``None``.
    """
    if value is None or value is UNDEFINED:
        return None
    parser = _PARSERS.get(field_type)
    return value if parser is None else parser(value)


# --- Set --------------------------------------------------------------------------------------------------

_CONVERSION_HINT = (
    'To fix the error try to change the type for the field "{name}" or activate the option '
    "“Ignore Type Conversion Errors” to apply a less strict type validation"
)


def _type_error(name: str, field_type: str, value: Any, item_index: int) -> NodeError:
    return NodeError(
        f"'{name}' expects a {field_type} but we got {_value_description(value)} [item {item_index}]",
        description=_CONVERSION_HINT.format(name=name),
        details={"itemIndex": item_index},
    )


def validate_entry(
    name: str, field_type: str, value: Any, item_index: int, ignore_errors: bool, version: float
) -> Any:
    """The value one Set field gets (n8n's ``validateEntry``), or a NodeError with n8n's message."""
    nullish = value is None or value is UNDEFINED
    if version >= 3.2 and nullish:
        return None
    if field_type == "string":
        if version > 3 and nullish:
            if ignore_errors:
                return None
            raise _type_error(name, field_type, value, item_index)
        value = js_stringify(value) if _is_js_object(value) else js_string(value)
    try:
        converted = convert_field_type(name, value, field_type)
    except _Invalid:
        if ignore_errors:
            return None if value is UNDEFINED else value
        raise _type_error(name, field_type, value, item_index) from None
    return converted


def parse_json_parameter(data: Any, item_index: int, entry_name: str | None = None) -> dict[str, Any]:
    """n8n's ``parseJsonParameter``: a JSON object from text (repairing loose JSON) or as given."""
    location = f"entry \"{entry_name}\" inside 'Fields to Set'" if entry_name else "'JSON Output'"
    parsed = data
    if isinstance(data, str):
        try:
            parsed = js_json_parse(data)
        except ValueError:
            repaired = _loose_json_text(data)
            try:
                parsed = js_json_parse(repaired)
            except ValueError:
                description = data if repaired == data else f"{repaired};\n Original input: {data}"
                raise NodeError(
                    f"The {location} in item {item_index} contains invalid JSON", description=description
                ) from None
    if not isinstance(parsed, dict):
        raise NodeError(f"The {location} in item {item_index} does not contain a valid JSON object")
    return parsed


_RESOLVABLE = re.compile(r"{{[\s\S]*?}}")


def resolve_raw_data(ctx: NodeContext, raw: str, item_index: int) -> str:
    """n8n's ``resolveRawData``: splice each ``{{ }}`` result into JSON text (objects as JSON).

    Set evaluates JSON-typed parameters this way so an object produced by an expression lands in the text
    as JSON rather than as ``[object Object]``.
    """
    text = raw
    for resolvable in _RESOLVABLE.findall(raw):
        value = ctx.evaluate("=" + resolvable, item_index)
        replacement = js_stringify(value) if value is not None and _is_js_object(value) else js_string(value)
        text = text.replace(resolvable, replacement, 1)
    return text


def _comma_list(value: Any) -> list[str]:
    """A "field1, field2" parameter as trimmed, non-empty names."""
    text = ",".join(map(js_string, value)) if isinstance(value, list) else js_string(value or "")
    return [part.strip() for part in text.split(",") if part.strip()]


class SetNode(NodeType):
    """Edit Fields (Set): add or overwrite fields on every item, optionally dropping the others.

    v1/v2 take typed ``values`` lists; v3-3.2 a ``fields.values`` list with ``<type>Value`` keys; v3.3+ an
    ``assignments`` collection. From v3, values are converted to the declared type with n8n's rules.
    """

    cpu_only = True

    type = "n8n-nodes-base.set"
    versions = (1, 2, 3, 3.1, 3.2, 3.3, 3.4)
    display_name = "Edit Fields (Set)"
    description = "Modify, add, or remove item fields"
    aliases = ("set", "editFields")

    def schema_for(self, version: float) -> Mapping[str, Any]:
        return _LEGACY_SCHEMA if version < 3 else _V3_SCHEMA

    async def run(self, ctx: NodeContext, inputs: list[Items]) -> list[Items]:
        items = first_input(inputs)
        if ctx.node.type_version < 3:
            return [await paced_map(partial(self._legacy_item, ctx), items)]
        return [await self._v3_items(ctx, items)]

    # v1 / v2 ---------------------------------------------------------------------------------------------

    def _legacy_item(self, ctx: NodeContext, i: int, item: Item) -> Item:
        options = ctx.param("options", i, {}) or {}
        fields = FieldAccess(options.get("dotNotation") is not False)
        new_item: Item = {"json": {}, "pairedItem": {"item": i}}
        if not js_truthy(ctx.param("keepOnlySet", i, False)):
            if item.get("binary") is not None:
                new_item["binary"] = dict(item["binary"])
            new_item["json"] = to_json(item.get("json", {}))  # a copy: dotted names set into nested objects
        for kind, default in (("boolean", False), ("number", 0), ("string", "")):
            for entry in ctx.param(f"values.{kind}", i, []) or []:
                name = js_string(entry.get("name", "propertyName"))
                value = to_json(self._legacy_value(ctx, kind, entry.get("value", default)))
                fields.set(new_item["json"], name, value)
        return new_item

    @staticmethod
    def _legacy_value(ctx: NodeContext, kind: str, value: Any) -> Any:
        """v1 stores numbers as given; v2 turns numeric strings into numbers; booleans are JS-truthy."""
        if kind == "boolean":
            return js_truthy(value)
        if kind == "number" and ctx.node.type_version >= 2 and isinstance(value, str):
            number = to_number(value)
            return value if number != number else number
        return value

    # v3+ -------------------------------------------------------------------------------------------------

    async def _v3_items(self, ctx: NodeContext, items: Items) -> Items:
        raw_mode = ctx.param("mode", 0, "manual") == "raw"
        raw_templates = self._raw_templates(ctx, raw_mode)
        copies = 1
        if js_truthy(ctx.param("duplicateItem", 0, False)):
            extra = to_number(ctx.param("duplicateCount", 0, 0))
            copies += int(extra) if extra == extra and extra > 0 else 0
        output: Items = []
        pacer = Pacer()
        for i, item in enumerate(items):
            if pacer.due():
                await pacer.pause()
            options = dict(ctx.param("options", i, {}) or {})
            options["include"] = self._include_mode(ctx, i)
            new_fields = (
                self._raw_fields(ctx, raw_templates, i)
                if raw_mode
                else self._manual_fields(ctx, raw_templates, item, i)
            )
            new_item = self._compose(ctx, i, item, new_fields, options)
            output.extend(copy.deepcopy(new_item) for _ in range(copies))
        return output

    @staticmethod
    def _include_mode(ctx: NodeContext, i: int) -> str:
        include = str(ctx.param("include", i, "all"))
        if ctx.node.type_version >= 3.3 and not js_truthy(ctx.param("includeOtherFields", i, False)):
            return "none"
        return include

    @staticmethod
    def _raw_templates(ctx: NodeContext, raw_mode: bool) -> dict[str, str]:
        """JSON-typed parameters written as expressions, kept as text for :func:`resolve_raw_data`."""
        if raw_mode:
            raw = ctx.raw_param("jsonOutput")
            return {"jsonOutput": raw.lstrip("=")} if isinstance(raw, str) and raw.startswith("=") else {}
        if ctx.node.type_version >= 3.3:
            return {}
        templates: dict[str, str] = {}
        for entry in ctx.raw_param("fields.values", []) or []:
            raw = entry.get("objectValue")
            if entry.get("type") == "objectValue" and isinstance(raw, str) and raw.startswith("="):
                templates[str(entry.get("name", ""))] = raw.lstrip("=")
        return templates

    @staticmethod
    def _raw_fields(ctx: NodeContext, templates: dict[str, str], i: int) -> dict[str, Any]:
        if "jsonOutput" in templates:
            return parse_json_parameter(resolve_raw_data(ctx, templates["jsonOutput"], i), i)
        return parse_json_parameter(ctx.param("jsonOutput", i, ""), i)

    def _manual_fields(
        self, ctx: NodeContext, templates: dict[str, str], item: Item, i: int
    ) -> dict[str, Any]:
        version = ctx.node.type_version
        ignore = js_truthy((ctx.param("options", i, {}) or {}).get("ignoreConversionErrors"))
        new_fields: dict[str, Any] = {}
        if version < 3.3:
            for entry in ctx.param("fields.values", i, []) or []:
                kind = str(entry.get("type") or "stringValue")
                name = js_string(entry.get("name", ""))
                value = entry.get(kind, _FIELD_DEFAULTS.get(kind))
                if (
                    kind == "objectValue"
                    and name in templates
                    and value is not None
                    and value is not UNDEFINED
                ):
                    value = parse_json_parameter(resolve_raw_data(ctx, templates[name], i), i, name)
                new_fields[name] = validate_entry(name, kind.removesuffix("Value"), value, i, ignore, version)
            return new_fields
        collection = ctx.param("assignments", i, {}) or {}
        for assignment in collection.get("assignments", []) or []:
            name = js_string(assignment.get("name", ""))
            kind = str(assignment.get("type") or "string")
            value = assignment.get("value", UNDEFINED)
            if kind == "binary":
                new_fields[name] = _BinaryRef(_binary_property(item, name, value))
            else:
                new_fields[name] = validate_entry(name, kind, value, i, ignore, version)
        return new_fields

    def _compose(
        self, ctx: NodeContext, i: int, item: Item, new_fields: dict[str, Any], options: dict[str, Any]
    ) -> Item:
        """n8n's ``composeReturnItem``: the kept input fields plus the new ones (binary by option)."""
        include = options["include"]
        new_item: Item = {"json": {}, "pairedItem": {"item": i}}
        if ctx.node.type_version >= 3.4:
            keep_binary = not js_truthy(options.get("stripBinary")) and include != "none"
        else:
            keep_binary = js_truthy(options.get("includeBinary"))
        binary = dict(item["binary"]) if keep_binary and item.get("binary") is not None else None
        fields = FieldAccess(options.get("dotNotation") is not False)
        new_item["json"] = self._kept_fields(ctx, i, item.get("json", {}), include, fields)
        for name, value in new_fields.items():
            if isinstance(value, _BinaryRef):
                binary = binary if binary is not None else {}
                binary[name] = value.data
            else:
                fields.set(new_item["json"], name, value)
        new_item["json"] = to_json(new_item["json"])
        if binary is not None:
            new_item["binary"] = binary
        return new_item

    @staticmethod
    def _kept_fields(
        ctx: NodeContext, i: int, source: dict[str, Any], include: str, fields: FieldAccess
    ) -> dict[str, Any]:
        if include == "all":
            return copy.deepcopy(source)
        if include == "none":
            return {}
        if include == "selected":
            kept: dict[str, Any] = {}
            for key in _comma_list(ctx.param("includeFields", i, "")):
                target = key.split(".")[-1] if fields.dot_notation and "." in key else key
                fields.set(kept, target, copy.deepcopy(fields.get(source, key)))
            return kept
        if include == "except":
            remaining = copy.deepcopy(source)
            for key in _comma_list(ctx.param("excludeFields", i, "")):
                fields.unset(remaining, key)
            return remaining
        raise NodeError(f'The include option "{include}" is not known!')


_FIELD_DEFAULTS: dict[str, Any] = {
    "stringValue": "",
    "numberValue": 0,
    "booleanValue": False,
    "arrayValue": "",
    "objectValue": {},
}


class _BinaryRef:
    """A v3.4 ``binary`` assignment: the input item's binary entry to copy under a new name."""

    def __init__(self, data: Any) -> None:
        self.data = data


def _binary_property(item: Item, name: str, property_name: Any) -> Any:
    binary = item.get("binary") or {}
    if not binary:
        raise NodeError("No binary data exists on item!")
    data = binary.get(js_string(property_name))
    if not isinstance(data, dict) or "data" not in data or "mimeType" not in data:
        raise NodeError(f"Could not find binary data specified in field {name}")
    return data


# --- schemas ---------------------------------------------------------------------------------------------

_ANY: dict[str, Any] = {}
_NAME_VALUE = object_schema({"name": STRING, "value": _ANY})

_LEGACY_SCHEMA = object_schema(
    {
        "keepOnlySet": BOOLEAN,
        "values": object_schema(
            {
                "string": {"type": "array", "items": _NAME_VALUE},
                "number": {"type": "array", "items": object_schema({"name": STRING, "value": NUMBER})},
                "boolean": {"type": "array", "items": object_schema({"name": STRING, "value": BOOLEAN})},
            }
        ),
        "options": object_schema({"dotNotation": BOOLEAN}),
    }
)

_FIELD_VALUE = object_schema(
    {
        "name": STRING,
        "type": one_of("stringValue", "numberValue", "booleanValue", "arrayValue", "objectValue"),
        "stringValue": _ANY,
        "numberValue": NUMBER,
        "booleanValue": or_expression({"type": ["boolean", "string"]}),
        "arrayValue": _ANY,
        "objectValue": _ANY,
    }
)

_ASSIGNMENT = object_schema(
    {
        "id": STRING,
        "name": STRING,
        "type": one_of("string", "number", "boolean", "array", "object", "binary"),
        "value": _ANY,
    }
)

_V3_SCHEMA = object_schema(
    {
        "mode": one_of("manual", "raw"),
        "duplicateItem": BOOLEAN,
        "duplicateCount": NUMBER,
        "include": one_of("all", "none", "selected", "except"),
        "includeOtherFields": BOOLEAN,
        "includeFields": {"type": ["string", "array"]},
        "excludeFields": {"type": ["string", "array"]},
        "jsonOutput": {"type": ["string", "object"]},
        "fields": object_schema({"values": {"type": "array", "items": _FIELD_VALUE}}),
        "assignments": object_schema({"assignments": {"type": "array", "items": _ASSIGNMENT}}),
        "options": object_schema(
            {
                "dotNotation": BOOLEAN,
                "ignoreConversionErrors": BOOLEAN,
                "includeBinary": BOOLEAN,
                "stripBinary": BOOLEAN,
            }
        ),
    }
)

NODE_TYPES: list[type[NodeType]] = [SetNode]
