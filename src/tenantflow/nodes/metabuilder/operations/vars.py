"""MetaBuilder's ``var.*`` (14) operations on the execution's variable scope.

The scope is ``ctx.variables``: one dict per execution, shared by every node, and what expressions read as
``$vars``, so a value one node sets is visible to the nodes after it.
"""

from __future__ import annotations

import copy
from typing import Any

from tenantflow.engine.expressions import UNDEFINED, js_truthy

from .core import (
    ANY,
    NUM,
    OBJECT,
    STR,
    TEXT,
    Args,
    Op,
    fail,
    is_nullish,
    js_number,
    num,
    p,
    require_dict,
    text,
)


def _name(a: Args) -> str:
    name = a["name"]
    if is_nullish(name) or name == "":
        raise fail("Variable name is required")
    return text(name)


def _current(a: Args) -> tuple[str, Any]:
    """The variable's name and value (``UNDEFINED`` when it is not set)."""
    name = _name(a)
    return name, a.variables.get(name, UNDEFINED)


def var_get(a: Args) -> dict[str, Any]:
    _, value = _current(a)
    return {"result": a["default"] if is_nullish(value) else value}


def var_set(a: Args) -> dict[str, Any]:
    """Stores a copy: a literal value is the node's own parameter, which must stay unchanged."""
    name = _name(a)
    a.variables[name] = copy.deepcopy(a["value"])
    return {"result": a["value"], "name": name}


def var_set_multiple(a: Args) -> dict[str, Any]:
    values = require_dict(a["variables"], "variables")
    a.variables.update(copy.deepcopy(values))
    return {"result": values, "count": len(values)}


def var_delete(a: Args) -> dict[str, Any]:
    name = _name(a)
    existed = name in a.variables
    return {"result": existed, "previousValue": a.variables.pop(name, None)}


def var_exists(a: Args) -> dict[str, Any]:
    return {"result": _name(a) in a.variables}


def _step(a: Args, sign: int) -> dict[str, Any]:
    """Add ``sign * amount``; a missing variable counts as 0."""
    name, previous = _current(a)
    start = 0 if previous is UNDEFINED else num(previous)
    result = js_number(start + sign * num(a["amount"]))
    a.variables[name] = result
    return {"result": result, "previous": 0 if previous is UNDEFINED else previous}


def var_increment(a: Args) -> dict[str, Any]:
    return _step(a, 1)


def var_decrement(a: Args) -> dict[str, Any]:
    return _step(a, -1)


def var_toggle(a: Args) -> dict[str, Any]:
    name, previous = _current(a)
    a.variables[name] = not js_truthy(previous)
    return {"result": a.variables[name], "previous": None if previous is UNDEFINED else previous}


def var_append(a: Args) -> dict[str, Any]:
    """Append to a list variable; a missing one starts empty, a scalar becomes the list's first element."""
    name, current = _current(a)
    items = list(current) if isinstance(current, list) else [] if is_nullish(current) else [current]
    items.append(a["value"])
    a.variables[name] = items
    return {"result": items, "length": len(items)}


def var_concat(a: Args) -> dict[str, Any]:
    name, current = _current(a)
    value = text(a["value"])
    result = value if is_nullish(current) or current == "" else text(current) + text(a["separator"]) + value
    a.variables[name] = result
    return {"result": result}


def var_list(a: Args) -> dict[str, Any]:
    names = list(a.variables)
    return {"result": names, "count": len(names)}


def var_get_all(a: Args) -> dict[str, Any]:
    return {"result": copy.deepcopy(a.variables)}


def var_clear(a: Args) -> dict[str, Any]:
    previous = copy.deepcopy(a.variables)
    a.variables.clear()
    return {"result": len(previous), "previous": previous}


def var_merge(a: Args) -> dict[str, Any]:
    """Shallow merge when both the variable and ``value`` are objects, else replace."""
    name, current = _current(a)
    value = a["value"]
    result = {**current, **value} if isinstance(current, dict) and isinstance(value, dict) else value
    a.variables[name] = result
    return {"result": result}


_NAME = p("name", STR, UNDEFINED, "key")
_VALUE = p("value", ANY, None)

VAR_OPS = (
    Op("var.get", var_get, (_NAME, p("default", ANY, None))),
    Op("var.set", var_set, (_NAME, _VALUE)),
    Op("var.setMultiple", var_set_multiple, (p("variables", OBJECT, {}),), ("var.set_multiple",)),
    Op("var.delete", var_delete, (_NAME,)),
    Op("var.exists", var_exists, (_NAME,)),
    Op("var.increment", var_increment, (_NAME, p("amount", NUM, 1))),
    Op("var.decrement", var_decrement, (_NAME, p("amount", NUM, 1))),
    Op("var.toggle", var_toggle, (_NAME,)),
    Op("var.append", var_append, (_NAME, _VALUE)),
    Op("var.concat", var_concat, (_NAME, _VALUE, p("separator", TEXT, ""))),
    Op("var.list", var_list),
    Op("var.getAll", var_get_all, (), ("var.get_all",)),
    Op("var.clear", var_clear),
    Op("var.merge", var_merge, (_NAME, _VALUE)),
)
