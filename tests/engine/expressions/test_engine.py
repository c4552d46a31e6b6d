"""Template semantics, JS semantics and host integration of the expression engine."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest

from tenantflow.engine.expressions import (
    UNDEFINED,
    ExpressionError,
    HostObject,
    NativeFunction,
    compile_template,
    is_template,
    js_loose_equals,
    js_strict_equals,
    js_string,
    js_truthy,
    make_date,
    resolve_value,
    to_json,
)

NOW = make_date(datetime(2024, 1, 31, 10, 0, 0, tzinfo=UTC))


def render(source: str, **variables: Any) -> Any:
    return compile_template(source).render({f"${k}": v for k, v in variables.items()})


# ---------------------------------------------------------------- template forms


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("={{ 1 }}", 1),
        ("={{ 'a' }}", "a"),
        ("={{ [1, 'x'] }}", [1, "x"]),
        ("={{ null }}", None),
        ("={{ undefined }}", UNDEFINED),
        ("={{}}", UNDEFINED),
        ("=n: {{ 1 }}", "n: 1"),
        ("=obj: {{ {a: [1, 2]} }}", 'obj: {"a":[1,2]}'),
        ("=arr: {{ [1, null] }}", "arr: [1,null]"),
        ("=[{{ null }}|{{ undefined }}]", "[|]"),
        ("={{ true }} ", "true "),
        ("=x{{ 0.1 + 0.2 }}", "x0.30000000000000004"),
        ("=A-{{ $runIndex }}-{{ $itemIndex }}", "A-0-0"),
        ("=TRUE", "TRUE"),
        ("=", ""),
        ("plain text", "plain text"),
        ("{{ 40 + 2 }}", 42),
        (" {{ 40 + 2 }}", " 42"),
        ("={{ {a: {b: 1}} }}", {"a": {"b": 1}}),
        ("={{ {a:1}}}", {"a": 1}),
        ("={{ '}}' }}", "}}"),
    ],
)
def test_type_keeping_and_mixed_rendering(source: str, expected: Any) -> None:
    assert compile_template(source).render({"$runIndex": 0, "$itemIndex": 0}) == expected


def test_is_template() -> None:
    assert is_template("=x")
    assert is_template("a {{ b }}")
    assert not is_template("a {{ b")
    assert not is_template("plain")
    assert not is_template("a }} {{ b")


def test_static_templates_and_cache() -> None:
    assert compile_template("=hello").is_static
    assert compile_template("hello").is_static
    assert not compile_template("={{ 1 }}").is_static
    assert compile_template("={{ 1 }}") is compile_template("={{ 1 }}")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ $context.user.level >= 3 }}", True),
        ("{{ Math.min($json.limit || 50, 500) }}", 50),
        ("{{ Math.min($json.big || 50, 500) }}", 500),
        ("{{ $steps['check-budget'].success && $steps['check-budget'].output.remaining > 0 }}", True),
        ("{{ JSON.stringify($nodes['x'].result, null, 2) }}", '{\n  "a": [\n    1,\n    2\n  ]\n}'),
        ("${{ $json.amount }}", "$12.5"),
        ("{{ ($steps.a.output.page - 1) * $steps.a.output.limit }}", 40),
        ("{{ $steps.fetch_user.output !== null }}", True),
        ("{{ 'user:' + $steps.fetch_user.output.id }}", "user:7"),
        ("{{ $nodes['check-postgres'].version }}", "16"),
        ("{{ $json.password || 'generated' }}", "generated"),
        ("{{ new Date($json.when).toISOString() }}", "2024-05-01T00:00:00.000Z"),
    ],
)
def test_metabuilder_forms(source: str, expected: Any) -> None:
    variables = {
        "$context": {"user": {"level": 3}},
        "$json": {"limit": None, "big": 1000, "amount": 12.5, "password": "", "when": "2024-05-01"},
        "$steps": {
            "check-budget": {"success": True, "output": {"remaining": 5}},
            "a": {"output": {"page": 3, "limit": 20}},
            "fetch_user": {"output": {"id": 7}},
        },
        "$nodes": {"x": {"result": {"a": [1, 2]}}, "check-postgres": {"version": "16"}},
    }
    assert compile_template(source).render(variables) == expected


# ---------------------------------------------------------------- JS semantics


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("10 / 2", 5),
        ("5 / 2", 2.5),
        ("7 % -3", 1),
        ("-7 % 3", -1),
        ("2 ** 10", 1024),
        ("2 ** 53 + 2", 9007199254740994.0),
        ("'5' * '2'", 10),
        ("'5' + 2", "52"),
        ("[1, 2] + ''", "1,2"),
        ("({}) + ''", "[object Object]"),
        ("null == undefined", True),
        ("null == 0", False),
        ("'1' == 1", True),
        ("[] == false", True),
        ("'1' === 1", False),
        ("1 === 1.0", True),
        ("'b' > 'a'", True),
        ("'10' < 9", False),
        ("undefined < 1", False),
        ("typeof null", "object"),
        ("typeof (x => x)", "function"),
        ("typeof undefinedThing", "undefined"),
        ("!!''", False),
        ("0 || 'x'", "x"),
        ("0 ?? 'x'", 0),
        ("void 0", UNDEFINED),
        ("(255).toString(16)", "ff"),
        ("(1.005).toFixed(2)", "1.00"),
        ("(2.5).toFixed(0)", "3"),
        ("(0.000001234).toPrecision(2)", "0.0000012"),
        ("String(1e21)", "1e+21"),
        ("String(1e-7)", "1e-7"),
        ("String(-0.5)", "-0.5"),
        ("Number('0x1f')", 31),
        ("Number(' 12 ')", 12),
        ("Number('12px')", None),
        ("parseInt('08')", 8),
        ("parseInt('ff', 16)", 255),
        ("parseFloat('3.14abc')", 3.14),
        ("Math.round(-2.5)", -2),
        ("Math.max()", -math.inf),
        ("Math.sqrt(-1)", None),
        ("Number.isInteger(5.0)", True),
        ("[10, 9, 1].sort()", [1, 10, 9]),
        ("[NaN].includes(NaN)", True),
        ("[NaN].indexOf(NaN)", -1),
        ("[1, [2, [3, [4]]]].flat(Infinity)", [1, 2, 3, 4]),
        ("'abc'.padStart(6, '12')", "121abc"),
        ("'a,b,,c'.split(',')", ["a", "b", "", "c"]),
        ("'Hello'.slice(-3)", "llo"),
        ("'abc'.at(-1)", "c"),
        ("'a-b-c'.replaceAll('-', '+')", "a+b+c"),
        ("'abc'.substring(2, 0)", "ab"),
        ("'  x '.trim()", "x"),
        ("`a${1 + 1}b${'c'}`", "a2bc"),
        ("'a' in {a: 1}", True),
        ("[...[1, 2], ...'ab']", [1, 2, "a", "b"]),
        ("{...{a: 1, b: 2}, b: 3}", {"a": 1, "b": 3}),
        ("{['k' + 1]: true}", {"k1": True}),
        ("encodeURIComponent('a b&c/d')", "a%20b%26c%2Fd"),
        ("decodeURIComponent('a%20b')", "a b"),
        ("JSON.parse('{\"a\": 1.0}')", {"a": 1}),
        ("JSON.stringify({a: undefined, b: [undefined, NaN], c: x => x})", '{"b":[null,null]}'),
        ("JSON.stringify([1e21, 0.5, -0])", "[1e+21,0.5,0]"),
        ("Object.keys({b: 1, a: 2})", ["b", "a"]),
        ("Object.entries({a: 1}).map(([k, v]) => k + '=' + v).join('&')", "a=1"),
        ("Object.assign({}, {a: 1}, {b: 2})", {"a": 1, "b": 2}),
        ("Object.fromEntries([['a', 1]])", {"a": 1}),
        ("Array.from({length: 3}, (_, i) => i * 2)", [0, 2, 4]),
        ("Array.isArray([]) && !Array.isArray({})", True),
        ("new Array(2)", [UNDEFINED, UNDEFINED]),
        ("new Object()", {}),
        ("function (a) { return a * 2 }(3)", 6),
    ],
)
def test_js_semantics(expression: str, expected: Any) -> None:
    result = render("={{ " + expression + " }}")
    if expected is None and isinstance(result, float):
        assert math.isnan(result)
    else:
        assert result == expected
        assert type(result) is type(expected)


def test_numbers_are_int_when_integral() -> None:
    assert type(render("={{ $json.a * 2 }}", json={"a": 2})) is int
    assert render("={{ 1 / 0 }}") == math.inf
    assert render("={{ -1 / 0 }}") == -math.inf
    assert math.isnan(render("={{ 0 / 0 }}"))


# ---------------------------------------------------------------- functions


def test_arrow_callbacks() -> None:
    data = {"items": [{"n": "b", "v": 2}, {"n": "a", "v": 1}, {"n": "c", "v": 3}]}
    assert render("={{ $json.items.map(x => x.v * 2) }}", json=data) == [4, 2, 6]
    assert render("={{ $json.items.filter(x => x.v > 1).map(x => x.n) }}", json=data) == ["b", "c"]
    assert render("={{ $json.items.reduce((sum, x) => sum + x.v, 0) }}", json=data) == 6
    assert render("={{ $json.items.find(x => x.n === 'c').v }}", json=data) == 3
    assert render("={{ $json.items.some(x => x.v > 2) && $json.items.every(x => x.v > 0) }}", json=data)
    assert render("={{ $json.items.findIndex(({n}) => n === 'a') }}", json=data) == 1
    assert render("={{ [1, 2].map((x, i, arr) => x + i + arr.length) }}") == [3, 5]
    assert render("={{ [[1, 2], [3]].flatMap(x => x) }}") == [1, 2, 3]


def test_block_bodied_sort_comparator() -> None:
    """The MetaBuilder data_table sorting workflow embeds a multi-statement arrow inside .sort()."""
    source = """={{ $json.rows.sort((a, b) => {
        const dir = $json.direction === 'desc' ? -1 : 1;
        let av = a[$json.column], bv = b[$json.column];
        if (av == null) return 1;
        if (bv == null) { return -1; }
        if (av < bv) return -1 * dir;
        else if (av > bv) return 1 * dir;
        return 0;
    }).map(r => r.name) }}"""
    rows = [{"name": "x", "age": 30}, {"name": "y", "age": None}, {"name": "z", "age": 20}]
    assert render(source, json={"rows": rows, "column": "age", "direction": "asc"}) == ["z", "x", "y"]
    assert render(source, json={"rows": rows, "column": "age", "direction": "desc"}) == ["x", "z", "y"]
    assert [r["name"] for r in rows] == ["x", "y", "z"]  # host data untouched


def test_closures_scopes_and_local_mutation() -> None:
    assert render("={{ [1, 2].map(x => [10, 20].map(y => x + y)) }}") == [[11, 21], [12, 22]]
    assert render("={{ ((a) => { let t = a; t += 5; t = t * 2; return t; })(1) }}") == 12
    assert render("={{ [3, 1].reduce((acc, x) => { acc['k' + x] = x; return acc; }, {}) }}") == {
        "k3": 3,
        "k1": 1,
    }
    assert render("={{ (() => { const a = []; a.push(1, 2); a.unshift(0); a.pop(); return a; })() }}") == [
        0,
        1,
    ]
    assert (
        render(
            "={{ (() => { const [a, , c] = [1, 2, 3]; const {x, y: z} = {x: 4, y: 5}; "
            "return a + c + x + z })() }}"
        )
        == 13
    )
    assert render("={{ (() => { const f = n => n <= 1 ? 1 : n * f(n - 1); return f(5); })() }}") == 120
    assert render("={{ (x => { if (x) { return 'yes' } })(0) }}") is UNDEFINED


def test_host_data_is_read_only() -> None:
    data = {"list": [3, 1, 2], "obj": {"a": 1}}
    assert render("={{ $json.list.sort() }}", json=data) == [1, 2, 3]
    assert render("={{ $json.list.reverse() }}", json=data) == [2, 1, 3]
    assert data["list"] == [3, 1, 2]
    for source in ("={{ $json.list.push(4) }}", "={{ Object.assign($json.obj, {b: 1}) }}"):
        with pytest.raises(ExpressionError, match="Cannot modify"):
            render(source, json=data)
    with pytest.raises(ExpressionError):
        render("={{ (() => { const o = $json.obj; o.a = 5; return o; })() }}", json=data)
    assert render("={{ (() => { const o = {...$json.obj}; o.a = 5; return o; })() }}", json=data) == {"a": 5}
    assert data == {"list": [3, 1, 2], "obj": {"a": 1}}
    with pytest.raises(ExpressionError):
        compile_template("={{ $json = 1 }}")


def test_optional_chaining_and_nullish_access() -> None:
    assert render("={{ $json.a?.b.c }}", json={}) is UNDEFINED
    assert render("={{ $json.a?.[0] }}", json={}) is UNDEFINED
    assert render("={{ $json.f?.() }}", json={}) is UNDEFINED
    assert render("={{ $json.a?.b }}", json={"a": {"b": 1}}) == 1
    with pytest.raises(ExpressionError, match=r"Cannot read properties of undefined \(reading 'b'\)"):
        render("{{ $json.a.b }}", json={})
    with pytest.raises(ExpressionError, match="null"):
        render("{{ $json.a.b }}", json={"a": None})
    # n8n (`=`) templates turn that TypeError into undefined for the block, like n8n does (row 2)
    assert render("={{ $json.a.b }}", json={}) is UNDEFINED
    assert render("=x{{ $json.a.b }}y", json={}) == "xy"


# ---------------------------------------------------------------- regex


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("'Hello World'.replace(/(\\w+) (\\w+)/, '$2 $1')", "World Hello"),
        ("'a1b22c333'.match(/\\d+/g)", ["1", "22", "333"]),
        ("'abc'.match(/x/)", None),
        ("'a1b2'.replace(/\\d/g, d => d * 2)", "a2b4"),
        ("'aaa'.replace(/a/, 'b')", "baa"),
        ("'a, b,c'.split(/\\s*,\\s*/)", ["a", "b", "c"]),
        ("'a1b'.split(/(\\d)/)", ["a", "1", "b"]),
        ("'abc'.split('')", ["a", "b", "c"]),
        ("'2024-01-05'.match(/(?<y>\\d{4})-(?<m>\\d\\d)/)[2]", "01"),
        ("/HELLO/i.test('say hello')", True),
        ("/^a.c$/.test('a\\nc')", False),
        ("/^a.c$/s.test('a\\nc')", True),
        ("/a$/.test('a\\n')", False),
        ("/[^]/.test('\\n')", True),
        ("'x-y_z'.replace(/[-_]/g, ' ')", "x y z"),
        ("'$1.50'.replace('$', 'USD ')", "USD 1.50"),
        ("'abc'.search(/c/)", 2),
        ("/a/g.source + /a/g.flags", "ag"),
        ("String(/a\\/b/i)", "/a\\/b/i"),
        ("'tel: 555-1234'.replace(/\\D/g, '')", "5551234"),
        ("'ÄB'.match(/\\w/g)", ["B"]),
    ],
)
def test_regex(expression: str, expected: Any) -> None:
    assert render("={{ " + expression + " }}") == expected


# ---------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("new Date('2023-02-09T13:22:54.187Z').getTime()", 1675948974187),
        ("new Date('2023-02-09T13:22:54.187Z').getMonth()", 1),
        ("new Date('2023-02-09T13:22:54.187Z').getDay()", 4),
        ("new Date(2023, 1, 9).toISOString()", "2023-02-09T00:00:00.000Z"),
        ("new Date(2023, 12, 1).toISOString()", "2024-01-01T00:00:00.000Z"),
        ("new Date(0).toJSON()", "1970-01-01T00:00:00.000Z"),
        ("String(new Date(0))", "Thu Jan 01 1970 00:00:00 GMT+0000 (Coordinated Universal Time)"),
        ("isNaN(new Date('garbage').getTime())", True),
        ("Date.parse('Thu, 09 Feb 2023 13:22:54 GMT')", 1675948974000),
        ("DateTime.fromISO('2024-01-31T10:00:00Z').plus({months: 1}).toISO()", "2024-02-29T10:00:00.000Z"),
        (
            "DateTime.fromISO('2024-01-31T10:00:00Z').toFormat('yyyy-MM-dd HH:mm:ss.SSS')",
            "2024-01-31 10:00:00.000",
        ),
        (
            "DateTime.fromISO('2024-01-31T10:00:00Z').toFormat(\"dd LLL yyyy 'at' h a\")",
            "31 Jan 2024 at 10 AM",
        ),
        ("DateTime.fromISO('2024-03-15T10:20:00Z').startOf('month').toISO()", "2024-03-01T00:00:00.000Z"),
        ("DateTime.fromISO('2024-03-15T10:20:00Z').endOf('month').toISO()", "2024-03-31T23:59:59.999Z"),
        ("DateTime.fromISO('2024-03-15T10:20:00Z').startOf('week').toISODate()", "2024-03-11"),
        (
            "DateTime.fromISO('2024-07-01T12:00:00', {zone: 'Europe/Berlin'}).toISO()",
            "2024-07-01T12:00:00.000+02:00",
        ),
        ("DateTime.fromISO('2024-07-01T12:00:00Z').setZone('Europe/Berlin').hour", 14),
        ("DateTime.fromMillis(86400000).toISO()", "1970-01-02T00:00:00.000Z"),
        ("$now.toISO()", "2024-01-31T10:00:00.000Z"),
        ("$now.toISOString()", "2024-01-31T10:00:00.000Z"),
        ("$now.minus({days: 1}).toISODate()", "2024-01-30"),
        ("$now.plus(2, 'hours').hour", 12),
        ("$now.toMillis() === $now.toJSDate().getTime()", True),
        ("[$now.year, $now.month, $now.day, $now.weekday]", [2024, 1, 31, 3]),
        ("$now > DateTime.fromISO('2020-01-01')", True),
        ("$now - DateTime.fromISO('2024-01-31T09:00:00Z')", 3600000),
        ("'Now: ' + $now", "Now: 1706695200000"),
    ],
)
def test_dates(expression: str, expected: Any) -> None:
    assert render("={{ " + expression + " }}", now=NOW) == expected


def test_date_rendering_and_json() -> None:
    assert render("=at {{ $now }}", now=NOW) == "at 2024-01-31T10:00:00.000Z"
    assert resolve_value({"d": "={{ $now }}", "j": "={{ new Date(0) }}"}, {"$now": NOW}) == {
        "d": "2024-01-31T10:00:00.000Z",
        "j": "1970-01-01T00:00:00.000Z",
    }
    assert isinstance(render("={{ DateTime.now().toMillis() }}"), int)
    assert isinstance(render("={{ Date.now() }}"), int)


# ---------------------------------------------------------------- globals


def test_utils_and_jmespath() -> None:
    assert render("={{ $utils.flatten({a: {b: 1, c: [1]}, d: 2}) }}") == {"a.b": 1, "a.c": [1], "d": 2}
    assert render("={{ $utils.groupBy([{t: 'x'}, {t: 'y'}, {}], 't') }}") == {
        "x": [{"t": "x"}],
        "y": [{"t": "y"}],
        "null": [{}],
    }
    assert render("={{ $utils.pick({a: 1, b: 2}, ['a']) }}") == {"a": 1}
    assert render("={{ $utils.omit({a: 1, b: 2}, ['a']) }}") == {"b": 2}
    assert render("={{ $utils.merge({a: 1}, {b: 2}) }}") == {"a": 1, "b": 2}
    assert render("={{ $utils.unique([1, 1, '1']) }}") == [1, "1"]
    assert render("={{ $utils.sort(['b', 'a', 'c']) }}") == ["a", "b", "c"]
    assert render("={{ $utils.reverse([1, 2]) }}") == [2, 1]
    assert render("={{ [$utils.first([1, 2]), $utils.last([1, 2]), $utils.length('abc')] }}") == [1, 2, 3]
    assert (
        render("={{ $utils.replace('a-a', '-', '+') + $utils.uppercase('x') + $utils.trim(' y ') }}")
        == "a+aXy"
    )
    assert render("={{ $utils.join($utils.split('a,b', ','), ';') }}") == "a;b"
    assert isinstance(render("={{ $utils.now() }}"), str)
    assert isinstance(render("={{ $utils.timestamp() }}"), int)
    assert render("={{ $jmespath($json, 'a[*].b') }}", json={"a": [{"b": 1}, {"b": 2}]}) == [1, 2]
    assert render("={{ $jmespath({a: [1, 3]}, 'avg(a)') }}") == 2
    with pytest.raises(ExpressionError, match="jmespath"):
        render("={{ $jmespath({}, '[[[') }}")


def test_unknown_method_and_non_function_calls() -> None:
    with pytest.raises(ExpressionError, match="is not a function"):
        render("={{ 'x'.nope() }}")
    with pytest.raises(ExpressionError, match="is not a function"):
        render("={{ $json.a() }}", json={"a": 1})
    with pytest.raises(ExpressionError, match="not a constructor"):
        render("={{ new Map() }}")


# ---------------------------------------------------------------- host integration


class FakeInput(HostObject):
    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items

    def get_member(self, key: str) -> Any:
        members = {
            "all": NativeFunction("all", lambda args: [dict(i) for i in self.items]),
            "first": NativeFunction("first", lambda args: self.items[0]),
            "item": self.items[0],
        }
        return members.get(key, UNDEFINED)

    def to_json(self) -> Any:
        return {"items": self.items}


def test_host_objects_and_native_functions() -> None:
    items = [{"json": {"data": 105}}, {"json": {"data": 160}}]
    variables = {
        "$input": FakeInput(items),
        "$": NativeFunction("$", lambda args: FakeInput(items) if args == ["Rename"] else {}),
    }
    assert compile_template("={{ $input.all()[1].json.data }}").render(variables) == 160
    assert compile_template("={{ $input.all().length }}").render(variables) == 2
    assert compile_template("={{ $input.first().json.data / 5 }}").render(variables) == 21
    assert compile_template("={{ $input.item.json.data }}").render(variables) == 105
    assert compile_template("={{ $('Rename').all().map(i => i.json.data) }}").render(variables) == [105, 160]
    assert compile_template("={{ 'item' in $input }}").render(variables) is True
    assert compile_template("={{ $input.missing }}").render(variables) is UNDEFINED
    assert compile_template("={{ JSON.stringify($input) }}").render(variables) == (
        '{"items":[{"json":{"data":105}},{"json":{"data":160}}]}'
    )
    assert resolve_value("={{ $input }}", variables) == {"items": items}


def test_host_errors_propagate_and_other_exceptions_are_wrapped() -> None:
    def boom(args: list[Any]) -> Any:
        raise ExpressionError("Referenced node doesn't exist")

    def bug(args: list[Any]) -> Any:
        raise KeyError("x")

    variables = {"$": NativeFunction("$", boom), "$bug": NativeFunction("bug", bug)}
    with pytest.raises(ExpressionError, match="Referenced node doesn't exist") as info:
        compile_template("={{ $('nope').item }}").render(variables)
    assert info.value.expression == "={{ $('nope').item }}"
    with pytest.raises(ExpressionError, match="Internal error"):
        compile_template("={{ $bug() }}").render(variables)


def test_lazy_variables_mapping_is_only_asked_for_used_names() -> None:
    asked: list[str] = []

    class Lazy(dict[str, Any]):
        def __missing__(self, key: str) -> Any:
            asked.append(key)
            if key == "$json":
                return {"a": 1}
            raise KeyError(key)

    assert compile_template("={{ $json.a + Math.max(1, 2) }}").render(Lazy()) == 3
    assert asked == ["$json", "Math"]


def test_resolve_value_is_deep_and_json_safe() -> None:
    params = {
        "url": "=https://x/{{ $json.id }}",
        "n": "={{ $json.id * 2 }}",
        "list": ["={{ $json.missing }}", "={{ 0 / 0 }}", "plain", 5, None],
        "nested": {"obj": "={{ {a: undefined, b: x => x, c: 1} }}"},
        "keep": True,
    }
    assert resolve_value(params, {"$json": {"id": 21}}) == {
        "url": "https://x/21",
        "n": 42,
        "list": [None, None, "plain", 5, None],
        "nested": {"obj": {"c": 1}},
        "keep": True,
    }


def test_public_helpers() -> None:
    assert js_string([1, None, [2, UNDEFINED]]) == "1,,2,"
    assert js_string(1.5e300) == "1.5e+300"
    assert js_string(UNDEFINED) == "undefined"
    assert js_truthy([]) and not js_truthy(0.0) and not js_truthy(math.nan) and not js_truthy(UNDEFINED)
    assert js_loose_equals("1", 1) and js_loose_equals(None, UNDEFINED) and not js_loose_equals(0, None)
    assert (
        js_strict_equals(1, 1.0)
        and not js_strict_equals(math.nan, math.nan)
        and not js_strict_equals(True, 1)
    )
    assert to_json({"a": UNDEFINED, "b": [UNDEFINED, math.inf], "d": NOW}) == {
        "b": [None, None],
        "d": "2024-01-31T10:00:00.000Z",
    }
    assert repr(UNDEFINED) == "undefined" and not UNDEFINED
