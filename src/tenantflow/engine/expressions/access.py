"""Member access, method dispatch and assignment: the only way an expression touches a value's insides.

Dicts expose only their own keys, lists their indexes and ``length``, host objects their ``get_member``;
everything else goes through the per-type allow-listed method tables. ``__proto__``, ``constructor`` and
``prototype`` never resolve to anything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .dates import DATE_METHODS, DATE_PROPERTIES, JSDate
from .errors import ExpressionError, NullishAccessError
from .extensions import (
    ARRAY_EXTENSIONS,
    BOOLEAN_EXTENSIONS,
    NUMBER_EXTENSIONS,
    OBJECT_EXTENSIONS,
    STRING_EXTENSIONS,
)
from .methods import (
    ARRAY_METHODS,
    BOOLEAN_METHODS,
    NUMBER_METHODS,
    OBJECT_METHODS,
    RETURNS_EXISTING,
    STRING_METHODS,
    Method,
)
from .regex import JSRegExp, match_array
from .runtime import Builtin, Context, arg, call_function
from .values import UNDEFINED, HostObject, NativeFunction, js_string, js_typeof, number_to_string

DENIED_MEMBERS = frozenset({"__proto__", "constructor", "prototype"})

_REGEX_METHODS: dict[str, Method] = {
    "test": lambda ctx, rx, a: rx.search(ctx, js_string(arg(a, 0))) is not None,
    "exec": lambda ctx, rx, a: (
        None if (m := rx.search(ctx, js_string(arg(a, 0)))) is None else match_array(m)
    ),
    "toString": lambda ctx, rx, a: rx.js_string(),
}
_REGEX_PROPERTIES: dict[str, Callable[[JSRegExp], Any]] = {
    "source": lambda rx: rx.source,
    "flags": lambda rx: rx.flags,
    "global": lambda rx: rx.is_global,
    "ignoreCase": lambda rx: "i" in rx.flags,
    "multiline": lambda rx: "m" in rx.flags,
}

# Native JS methods win over n8n extensions of the same name.
_OBJECT_TABLE = {**OBJECT_EXTENSIONS, **OBJECT_METHODS}
_TABLES: dict[type, dict[str, Method]] = {
    str: {**STRING_EXTENSIONS, **STRING_METHODS},
    list: {**ARRAY_EXTENSIONS, **ARRAY_METHODS},
    int: {**NUMBER_EXTENSIONS, **NUMBER_METHODS},
    float: {**NUMBER_EXTENSIONS, **NUMBER_METHODS},
    bool: {**BOOLEAN_EXTENSIONS, **BOOLEAN_METHODS},
    JSDate: DATE_METHODS,
    JSRegExp: _REGEX_METHODS,
}


def property_key(key: Any) -> str:
    """JS ``ToPropertyKey``."""
    t = type(key)
    if t is str:
        return key  # type: ignore[no-any-return]
    if t is int or t is float:
        return number_to_string(key)
    return js_string(key)


def array_index(key: Any) -> int | None:
    t = type(key)
    if t is int:
        return key if key >= 0 else None
    if t is float:
        return int(key) if key.is_integer() and key >= 0 else None
    if t is str and key.isascii() and key.isdigit() and (key == "0" or key[0] != "0"):
        return int(key)
    return None


def _nullish(obj: Any, key: Any, verb: str = "read") -> NullishAccessError:
    name = js_string(key) if type(key) in (str, int, float) else "?"
    return NullishAccessError(f"Cannot {verb} properties of {js_string(obj)} ({verb}ing '{name[:60]}')")


def _bind(obj: Any, name: str, method: Method) -> Builtin:
    return Builtin(name, lambda ctx, args: method(ctx, obj, args), fresh=name not in RETURNS_EXISTING)


def get_property(obj: Any, key: Any) -> Any:
    """``obj[key]`` / ``obj.key``."""
    t = type(obj)
    if t is dict:
        k = key if type(key) is str else property_key(key)
        return UNDEFINED if k in DENIED_MEMBERS else obj.get(k, UNDEFINED)
    if t is list or t is str:
        index = array_index(key)
        if index is not None:
            return obj[index] if index < len(obj) else UNDEFINED
        name = property_key(key)
        if name == "length":
            return len(obj)
        method = _TABLES[t].get(name)
        return UNDEFINED if method is None else _bind(obj, name, method)
    if obj is None or obj is UNDEFINED:
        raise _nullish(obj, key)
    name = property_key(key)
    if name in DENIED_MEMBERS:
        return UNDEFINED
    if isinstance(obj, HostObject):
        return obj.get_member(name)
    if isinstance(obj, NativeFunction):
        return obj.members.get(name, UNDEFINED)
    if t is JSDate and name in DATE_PROPERTIES:
        return DATE_PROPERTIES[name](obj)
    if t is JSRegExp and name in _REGEX_PROPERTIES:
        return _REGEX_PROPERTIES[name](obj)
    table = _TABLES.get(t)
    method = None if table is None else table.get(name)
    return UNDEFINED if method is None else _bind(obj, name, method)


_MISSING = object()


def invoke_method(ctx: Context, obj: Any, name: str, args: list[Any]) -> Any:
    """``obj.name(...args)``: own function members first, then the allow-listed methods of the type."""
    t = type(obj)
    method: Method | None
    if name in DENIED_MEMBERS:
        method = None
    elif t is dict:
        own = obj.get(name, _MISSING)
        if own is not _MISSING:
            return call_function(ctx, own, args, name)
        method = _OBJECT_TABLE.get(name)
    elif t in _TABLES:
        method = _TABLES[t].get(name)
    elif obj is None or obj is UNDEFINED:
        raise _nullish(obj, name)
    elif isinstance(obj, HostObject):
        member = obj.get_member(name)
        if member is UNDEFINED and name in _OBJECT_TABLE:
            return _OBJECT_TABLE[name](ctx, obj.to_json(), args)
        return call_function(ctx, member, args, name)
    elif isinstance(obj, NativeFunction):
        return call_function(ctx, obj.members.get(name, UNDEFINED), args, f"{obj.name}.{name}")
    else:
        method = None
    if method is None:
        raise ExpressionError(f"TypeError: {name} is not a function (on a {js_typeof(obj)} value)")
    result = method(ctx, obj, args)
    if type(result) in (list, dict) and result is not obj and name not in RETURNS_EXISTING:
        ctx.own(result)
    return result


def has_property(obj: Any, key: Any) -> bool:
    """The ``in`` operator."""
    t = type(obj)
    if t is dict:
        return property_key(key) in obj
    if t is list:
        index = array_index(key)
        return (index is not None and index < len(obj)) or property_key(key) == "length"
    if isinstance(obj, HostObject):
        name = property_key(key)
        return name not in DENIED_MEMBERS and obj.get_member(name) is not UNDEFINED
    raise ExpressionError(f"TypeError: Cannot use 'in' operator to search for '{property_key(key)[:60]}'")


def set_property(ctx: Context, obj: Any, key: Any, value: Any) -> None:
    """``obj[key] = value``; only containers created by this evaluation may be modified."""
    t = type(obj)
    if obj is None or obj is UNDEFINED:
        raise _nullish(obj, key, "set")
    if t is dict:
        name = property_key(key)
        if name in DENIED_MEMBERS:
            raise ExpressionError(f"Cannot assign to '{name}'")
        ctx.ensure_owned(obj)
        obj[name] = value
    elif t is list:
        ctx.ensure_owned(obj)
        index = array_index(key)
        if index is None:
            raise ExpressionError(f"Cannot assign to array property '{property_key(key)[:60]}'")
        if index >= len(obj):
            ctx.check_array(index + 1)
            obj.extend([UNDEFINED] * (index + 1 - len(obj)))
        obj[index] = value
    else:
        raise ExpressionError(f"Cannot assign properties on a {js_typeof(obj)} value")
