"""Nothing an expression writes may reach a Python object, a prototype or a code-execution primitive."""

from __future__ import annotations

import types
from typing import Any

import pytest

from tenantflow.engine.expressions import (
    UNDEFINED,
    ExpressionError,
    HostObject,
    NativeFunction,
    compile_template,
)

JSON_TYPES = (dict, list, str, int, float, bool, type(None))


class Secretive(HostObject):
    """A host object with Python attributes that must stay invisible."""

    secret = "python attribute"

    def get_member(self, key: str) -> Any:
        return {"visible": 1}.get(key, UNDEFINED)


VARIABLES = {
    "$json": {"a": 1, "list": [1, 2]},
    "$host": Secretive(),
    "$fn": NativeFunction("fn", lambda args: 1),
}


def evaluate(source: str) -> Any:
    """Render in both template dialects; an ExpressionError counts as blocked."""
    results = []
    for template in (f"={{{{ {source} }}}}", f"{{{{ {source} }}}}"):
        try:
            results.append(compile_template(template).render(VARIABLES))
        except ExpressionError:
            results.append(ExpressionError)
    return results


def assert_inert(value: Any) -> None:
    """Only sandbox values: JSON data, undefined, engine functions (never Python callables/modules/types)."""
    assert not isinstance(value, types.FunctionType | types.BuiltinFunctionType | types.ModuleType | type)
    if isinstance(value, dict):
        assert all(isinstance(k, str) for k in value)
        for v in value.values():
            assert_inert(v)
    elif isinstance(value, list):
        for v in value:
            assert_inert(v)


@pytest.mark.parametrize(
    "source",
    [
        "$json.__proto__",
        "$json.constructor",
        "$json['constructor']",
        "$json.prototype",
        "({}).constructor",
        "''.constructor",
        "''.constructor.constructor",
        "''.constructor.constructor('return process')()",
        "Date['constructor']('code')()",
        "Date.constructor",
        "Math.constructor",
        "[].constructor",
        "(x => x).constructor",
        "this",
        "this.constructor",
        "globalThis.process",
        "process.env",
        "require('fs')",
        "$json.__class__",
        "$json.__class__.__mro__",
        "'x'.__class__",
        "[].__len__",
        "(1).__class__",
        "Math.__dict__",
        "JSON.parse.__globals__",
        "$utils.flatten.__code__",
        "$fn.fn",
        "$fn.__call__",
        "$host.secret",
        "$host.get_member",
        "$host.__dict__",
        "$host.constructor",
        "[].map.__self__",
        "new Date().__class__",
        "/a/.pattern",
        "/a/.__class__",
        "$now.__class__",
        "Object.keys.call",
        "({}).__proto__.polluted = 1",
        "$json.__proto__.x",
    ],
)
def test_no_path_to_python_objects(source: str) -> None:
    for result in evaluate(source):
        if result is ExpressionError:
            continue
        assert result is UNDEFINED or result == {} or result == [] or result is None, (
            f"{source} -> {result!r}"
        )
        assert_inert(result)


@pytest.mark.parametrize(
    "name",
    [
        "document",
        "window",
        "globalThis",
        "self",
        "eval",
        "Function",
        "fetch",
        "Reflect",
        "Proxy",
        "setTimeout",
        "constructor",
        "process",
        "require",
        "global",
        "this",
        "Buffer",
        "module",
    ],
)
def test_denied_globals_are_empty_objects(name: str) -> None:
    assert compile_template(f"={{{{ {name} }}}}").render({}) == {}
    assert compile_template(f"={{{{ typeof {name} }}}}").render({}) == "object"


def test_denied_globals_cannot_be_supplied_or_shadowed_by_host() -> None:
    assert compile_template("={{ process }}").render({"process": {"env": {"SECRET": "x"}}}) == {}


def test_eval_and_function_are_not_callable() -> None:
    for source in ("={{ eval('1+1') }}", "={{ Function('return 1')() }}", "={{ setTimeout(x => x, 1) }}"):
        with pytest.raises(ExpressionError, match="not a function"):
            compile_template(source).render({})


def test_prototype_pollution_does_not_persist() -> None:
    with pytest.raises(ExpressionError):
        compile_template("={{ (() => { const o = {}; o.__proto__ = {x: 1}; return o; })() }}").render({})
    assert compile_template("={{ ({}).x }}").render({}) is UNDEFINED


def test_globals_cannot_be_modified() -> None:
    for source in ("={{ (() => { Math.PI = 3; })() }}", "={{ (() => { $utils.flatten = 1; })() }}"):
        with pytest.raises(ExpressionError):
            compile_template(source).render({})
    assert compile_template("={{ Math.PI }}").render({}) > 3.14


def test_assignment_only_to_declared_locals() -> None:
    for source in ("={{ x = 1 }}", "={{ $json = {} }}", "={{ Math = 1 }}"):
        with pytest.raises(ExpressionError):
            compile_template(source).render({"$json": {}})
