"""Rows 1-121 of /work/shared/n8n-conformance/expressions.md (those not needing the host's data proxy).

``$json`` is passed as a plain dict (the first input item); "no input items" rows pass no ``$json``.
Expected values compare type-exactly: undefined vs null and int vs str matter.
"""

from __future__ import annotations

from typing import Any

import pytest

from tenantflow.engine.expressions import UNDEFINED, ExpressionError, NativeFunction, compile_template

NO_ITEMS = object()
SAME = "(same expression)"

E55 = (
    '={{$json["Find by ID"].json["id"] != "" && $json["Find by ID"].json["id"] != null'
    ' && $json["Find by ID"].json["id"] != undefined}}'
)
E45 = (
    '={{ $json["projectName"] == "" ? "Project Group " + ($json["projectsCount"] + 1)'
    ' : $json["projectName"] }}'
)
E59 = '={{ !!$json["different"]["name"] || !!$json["different"]["phone"] }}'
E64 = "={{ !$json?.data?.data?.issues?.pageInfo?.hasNextPage }}"
ROW16 = (
    '={\n\t"article": {\n\t\t"title": "{{$json["body"]["entry"]["Title"]}}",\n\t\t"published": true,\n'
    '\t\t"content": "{{$json["body"]["entry"]["PostContent"]}}",\n'
    '\t\t"tags":["{{$json["body"]["entry"]["Tag"]}}"]\n\t}\n}'
)
ROW16_EXPECTED = (
    '{\n\t"article": {\n\t\t"title": "title",\n\t\t"published": true,\n\t\t"content": "test contents",\n'
    '\t\t"tags":["testTag"]\n\t}\n}'
)
ZOOM = {
    "IF Zoom meeting": {
        "json": {
            "end": {"dateTime": "2023-02-09T13:32:54.187Z"},
            "start": {"dateTime": "2023-02-09T13:22:54.187Z"},
        }
    }
}

ROWS: list[tuple[int, str, Any, Any]] = [
    (1, '={{$json["contact"]["FirstName"]}}', {"contact": {"FirstName": "test"}}, "test"),
    (2, '={{$json["contact"]["FirstName"]}}', {"contact": None}, UNDEFINED),
    (3, '={{ $json["test"] }}', {"test": "value"}, "value"),
    (4, '={{ $json["test"] }}', {"test": 1}, 1),
    (5, '={{ $json["test"] }}', {"test": None}, None),
    (6, '={{ $json["test"] }}', {}, UNDEFINED),
    (
        7,
        '={{$json["test"].json["message"]["message_id"]}}',
        {"test": {"json": {"message": {"message_id": "value"}}}},
        "value",
    ),
    (
        8,
        '={{$json[$json["Set2"].json["apiKey"]]}}',
        {"Set2": {"json": {"apiKey": "testKey"}}, "testKey": "testValue"},
        "testValue",
    ),
    (
        9,
        '={{$json["get"].json["recipes"][0]["image"]}}',
        {"get": {"json": {"recipes": [{"image": "test"}]}}},
        "test",
    ),
    (
        10,
        '={{$json["\\u56fe\\u7247\\u6570\\u91cf\\u5224\\u65ad"].data["imgList"][0]}}',
        {"图片数量判断": {"data": {"imgList": ["test"]}}},
        "test",
    ),
    (
        11,
        '={{$json["GetTicket"].json["tickets"].length}}',
        {"GetTicket": {"json": {"tickets": [1, 2, 3, 4]}}},
        4,
    ),
    (
        12,
        '=https://example.com/api/v1/workspaces/{{$json["Clockify1"].parameter["workspaceId"]}}/projects/'
        '{{$json["Clockify1"].json["id"]}}',
        {"Clockify1": {"parameter": {"workspaceId": "test1"}, "json": {"id": "test2"}}},
        "https://example.com/api/v1/workspaces/test1/projects/test2",
    ),
    (
        13,
        '= {{$json["dig check CF"].data["stdout"]}}',
        {"dig check CF": {"data": {"stdout": "testout"}}},
        " testout",
    ),
    (
        14,
        '={{$item(0).$json["Set URL"].json["base_domain"]}}{{$json["link"]}}',
        {"Set URL": {"json": {"base_domain": "left"}}, "link": "right"},
        "leftright",
    ),
    (
        15,
        '=https://example.com/test?id={{$json["Crypto"].json["data"].substr(0,6)}}',
        {"Crypto": {"json": {"data": "testtest"}}},
        "https://example.com/test?id=testte",
    ),
    (
        16,
        ROW16,
        {"body": {"entry": {"Title": "title", "PostContent": "test contents", "Tag": "testTag"}}},
        ROW16_EXPECTED,
    ),
    (17, "=TRUE", NO_ITEMS, "TRUE"),
    (18, "={{200}}", NO_ITEMS, 200),
    (19, "={{ `test\nvalue\nmulti\nline` }}", NO_ITEMS, "test\nvalue\nmulti\nline"),
    (19, "={{ `test\\nvalue\\nmulti\\nline` }}", NO_ITEMS, "test\nvalue\nmulti\nline"),
    (20, '={{ { "data": $json.body.choices } }}', {"body": {"choices": "testValue"}}, {"data": "testValue"}),
    (
        21,
        "={{ [{'name': 'something', 'batch_size':1000, 'ignore_cols':['x']}] }}",
        NO_ITEMS,
        [{"name": "something", "batch_size": 1000, "ignore_cols": ["x"]}],
    ),
    (22, "={{$runIndex}}", NO_ITEMS, 0),
    (23, "={{asdas}}", NO_ITEMS, UNDEFINED),
    (23, "={{asdas}}", {"asdas": 1}, UNDEFINED),
    (24, "={{$json.assetValue * $json.value / 100}}", {"assetValue": 50, "value": 50}, 25),
    (
        25,
        '={{$json["Find by ID1"].json["fields"]["clicks"]+1}}',
        {"Find by ID1": {"json": {"fields": {"clicks": 8}}}},
        9,
    ),
    (26, "={{Math.floor(Math.min(1, 2) * 100);}}", NO_ITEMS, 100),
    (27, "={{Math.min(1, 2);}}", NO_ITEMS, 1),
    (
        28,
        '={{(Date.parse($json["IF Zoom meeting"].json["end"]["dateTime"])-Date.parse($json["IF Zoom meeting"]'
        '.json["start"]["dateTime"]))/(60*1000)}}',
        ZOOM,
        10,
    ),
    (
        29,
        '={{(new Date($json["end"]["date"]).getTime() - new Date($json["start"]["date"]).getTime())'
        " / (1000 * 3600 * 24)}}",
        {"start": {"date": "2023-02-09T13:22:54.187Z"}, "end": {"date": "2023-02-13T13:22:54.187Z"}},
        4,
    ),
    (
        30,
        '={{ (parseFloat($json["Bid"].replace(\',\', \'.\')) * parseFloat($json["Baserow"].json["Count"]))'
        ".toFixed(2) }}",
        {"Bid": "3,80", "Baserow": {"json": {"Count": "10"}}},
        "38.00",
    ),
    (31, "={{ new String().toString() }}", NO_ITEMS, ""),
    (32, "={{new String().toString();}}", NO_ITEMS, ""),
    (33, "={{ $json.toString() }}", {"test": 1}, "[object Object]"),
    (
        34,
        "={{$json['Webhook1'].json[\"headers\"][\"x-api-key\"] +'-'+ new String('test').toString()}}",
        {"Webhook1": {"json": {"headers": {"x-api-key": "left"}}}},
        "left-test",
    ),
    (
        35,
        "={{$json['Webhook1'].json[\"headers\"][\"x-api-key\"] +'-'+ parseInt($json.test)}}",
        {"Webhook1": {"json": {"headers": {"x-api-key": "left"}}}, "test": 3},
        "left-3",
    ),
    (
        36,
        '={{ $json["body"]["project"]["name"].match(/\\[(\\d+)]/)[1] }}',
        {"body": {"project": {"name": "test[1234]"}}},
        "1234",
    ),
    (37, '={{/^\\d+$/.test($json["search_term"])}}', {"search_term": "1234"}, True),
    (38, '={{/^\\d+$/.test($json["search_term"])}}', {"search_term": "asdf"}, False),
    (39, '={{ String("testing").length }}', NO_ITEMS, 7),
    (
        40,
        '={{new Date($json["created_at"]).toISOString()}}',
        {"created_at": "2023-02-09T13:22:54.187Z"},
        "2023-02-09T13:22:54.187Z",
    ),
    (
        41,
        '={{ [].concat($json["Create or update"].json["vid"]) }}',
        {"Create or update": {"json": {"vid": [1, 2, 3]}}},
        [1, 2, 3],
    ),
    (
        42,
        '={{ $json["data"]["errors"] && $json["data"]["errors"].length > 0 }}',
        {"data": {"errors": [1, 2, 3, 4]}},
        True,
    ),
    (
        43,
        '={{ $json["data"]["errors"] && $json["data"]["errors"].length > 0 }}',
        {"data": {"errors": []}},
        False,
    ),
    (44, '={{ $json["data"]["errors"] && $json["data"]["errors"].length > 0 }}', {"data": {}}, UNDEFINED),
    (
        45,
        E45,
        {"projectName": "", "projectsCount": 3},
        "Project Group 4",
    ),
    (
        46,
        E45,
        {"projectName": "Project Test", "projectsCount": 3},
        "Project Test",
    ),
    (
        47,
        '={{$json["HTTP Request"].json["paging"] ? true : false}}',
        {"HTTP Request": {"json": {"paging": "test"}}},
        True,
    ),
    (48, '={{$json["HTTP Request"].json["paging"] ? true : false}}', {"HTTP Request": {"json": {}}}, False),
    (49, "={{ $json?.data == undefined ? '' : $json.data }}", {"data": 1}, 1),
    (50, "={{ $json?.data == undefined ? '' : $json.data }}", {}, ""),
    (51, '={{ $json["phone"] ?? 0}}', {"phone": "test"}, "test"),
    (52, '={{ $json["phone"] ?? 0}}', {"phone": None}, 0),
    (53, '={{ $json["phone"] ?? 0}}', {}, 0),
    (55, E55, {"Find by ID": {"json": {"id": "test"}}}, True),
    (56, E55, {"Find by ID": {"json": {"id": ""}}}, False),
    (57, E55, {"Find by ID": {"json": {"id": None}}}, False),
    (58, E55, {"Find by ID": {"json": {}}}, False),
    (59, E59, {"different": {"name": "test"}}, True),
    (60, E59, {"different": {"phone": "test"}}, True),
    (61, E59, {"different": {}}, False),
    (62, '={{!!$json["data"]["errors"]}}', {"data": {"errors": []}}, True),
    (63, '={{!!$json["data"]["errors"]}}', {"data": {}}, False),
    (64, E64, {"data": {"data": {"issues": {"pageInfo": {"hasNextPage": True}}}}}, False),
    (65, E64, {"data": {"data": {"issues": {"pageInfo": {"hasNextPage": False}}}}}, True),
    (66, E64, {"data": {"data": {"issues": {"pageInfo": {}}}}}, True),
    (66, E64, {"data": {"data": {"issues": {}}}}, True),
    (66, E64, {"data": {"data": {}}}, True),
    (66, E64, {"data": {}}, True),
    (66, E64, {}, True),
    (
        67,
        '={{typeof $json["person"].json["name"] != "undefined"}}',
        {"person": {"json": {"name": "test"}}},
        True,
    ),
    (68, '={{typeof $json["person"].json["name"] != "undefined"}}', {"person": {"json": {}}}, False),
    (69, "={{ 'domain' in $json && $json.domain != null}}", {"domain": 1}, True),
    (70, "={{ 'domain' in $json && $json.domain != null}}", {"domain": None}, False),
    (71, "={{ 'domain' in $json && $json.domain != null}}", {}, False),
    *[
        (72, f"={{{{{name}}}}}", NO_ITEMS, {})
        for name in (
            "document",
            "window",
            "globalThis",
            "self",
            "alert",
            "eval",
            "setTimeout",
            "Function",
            "fetch",
            "XMLHttpRequest",
            "Promise",
            "Reflect",
            "Proxy",
            "WebAssembly",
            "constructor",
            "escape",
        )
    ],
    (73, '={{ $if("a"==="a", 1, 2) }}', NO_ITEMS, 1),
    (74, '={{ $if("a"==="b", 1) }}', NO_ITEMS, False),
    (75, "={{ $not(0) }}", NO_ITEMS, True),
    (76, '={{ $not("a") }}', NO_ITEMS, False),
    (77, '={{ $ifEmpty(0, "default") }}', NO_ITEMS, 0),
    *[
        (78, f'={{{{ $ifEmpty({v}, "default") }}}}', NO_ITEMS, "default")
        for v in ('""', "null", "undefined", "[]", "{}")
    ],
    (79, "={{ min(1, 2, 3, 4, 5, 6) }}", NO_ITEMS, 1),
    (79, "={{ max(1, 2, 3, 4, 5, 6) }}", NO_ITEMS, 6),
    (79, "={{ average(1, 2, 3, 4, 5, 6) }}", NO_ITEMS, 3.5),
    (80, "={{ numberList(1, 10) }}", NO_ITEMS, list(range(1, 11))),
    (80, "={{ numberList(1, -10) }}", NO_ITEMS, [1, 0, *range(-1, -11, -1)]),
    (
        81,
        '={{ zip(["test1", "test2", "test3"], [1, 2, 3]) }}',
        NO_ITEMS,
        {"test1": 1, "test2": 2, "test3": 3},
    ),
    (82, "={{ Math.floor([1, 2, 3, 4].length + 10) }}", NO_ITEMS, 14),
    (83, "={{ [1, 2, 3, 4]?.sum() }}", NO_ITEMS, 10),
    (84, "={{ [1, 2, 3, 4, 5, 6].sum() }}", NO_ITEMS, 21),
    (84, "={{ [1, 2, 3, 4, 5, 6].average() }}", NO_ITEMS, 3.5),
    (84, "={{ [1, 2, 3, 4, 5, 6].min() }}", NO_ITEMS, 1),
    (84, "={{ [1, 2, 3, 4, 5, 6].max() }}", NO_ITEMS, 6),
    (85, "={{ [].isEmpty() }}", NO_ITEMS, True),
    (85, "={{ [1].isEmpty() }}", NO_ITEMS, False),
    (86, '={{ ["repeat","repeat","a","b","c"].first() }}', NO_ITEMS, "repeat"),
    (86, '={{ ["repeat","repeat","a","b","c"].last() }}', NO_ITEMS, "c"),
    (
        87,
        '={{ [1, 2, 3, "as", {}, {}, 1, 2, [1,2], "[sad]", "[sad]", null].unique() }}',
        NO_ITEMS,
        [1, 2, 3, "as", {}, [1, 2], "[sad]", None],
    ),
    (
        88,
        "={{ [{'name':'Nathan', age:42}, {'name':'Jan', age:16}, {'name':'Nathan', age:21}]"
        ".unique('name') }}",
        NO_ITEMS,
        [{"name": "Nathan", "age": 42}, {"name": "Jan", "age": 16}],
    ),
    (
        89,
        '={{ [{ test1: 1, test2: undefined, test3: null }, null, undefined, 1, 2, 0, { test: "asdf" }]'
        ".compact() }}",
        NO_ITEMS,
        [{"test1": 1}, 1, 2, 0, {"test": "asdf"}],
    ),
    (
        90,
        "={{ numberList(1, 20).chunk(5) }}",
        NO_ITEMS,
        [list(range(1, 6)), list(range(6, 11)), list(range(11, 16)), list(range(16, 21))],
    ),
    (91, '={{ [1,2,3].append(4,5,"done") }}', NO_ITEMS, [1, 2, 3, 4, 5, "done"]),
    (
        92,
        "={{ [{ test1: 1, test2: 2 }, { test1: 1, test3: 3 }]"
        '.renameKeys("test1", "rename1", "test3", "rename3") }}',
        NO_ITEMS,
        [{"rename1": 1, "test2": 2}, {"rename1": 1, "rename3": 3}],
    ),
    (
        93,
        "={{ [{ test1: 1 }, { test2: 2 }].union([{ test1: 1, test3: 3 }, { test2: 2 }, { test4: 4 }]) }}",
        NO_ITEMS,
        [{"test1": 1}, {"test2": 2}, {"test1": 1, "test3": 3}, {"test4": 4}],
    ),
    (
        94,
        "={{ [{ test1: 1 }, { test2: 2 }]"
        ".difference([{ test1: 1, test3: 3 }, { test2: 2 }, { test4: 4 }]) }}",
        NO_ITEMS,
        [{"test1": 1}],
    ),
    (95, '={{ [true, 1, "one", {foo: "bar"}].toJsonString() }}', NO_ITEMS, '[true,1,"one",{"foo":"bar"}]'),
    (96, '={{ "TEST".toLowerCase() }}', NO_ITEMS, "test"),
    (97, '={{"".isEmpty()}}', NO_ITEMS, True),
    (97, '={{"NotBlank".isEmpty()}}', NO_ITEMS, False),
    (98, '={{"String".length()}}', NO_ITEMS, 6),
    (99, '={{ "I am a test!".toSnakeCase() }}', NO_ITEMS, "i_am_a_test"),
    (100, '={{ "1.1".toInt() }}', NO_ITEMS, 1),
    (100, '={{ "1.5".toInt() }}', NO_ITEMS, 1),
    (101, '={{ "1.1".toFloat() }}', NO_ITEMS, 1.1),
    (102, '={{ "test".quote() }}', NO_ITEMS, '"test"'),
    (103, '={{ "4e4".isNumeric() }}', NO_ITEMS, True),
    (103, '={{ "".isNumeric() }}', NO_ITEMS, False),
    (103, '={{ "asdf".isNumeric() }}', NO_ITEMS, False),
    *[(104, f'={{{{ "{s}".toBoolean() }}}}', NO_ITEMS, False) for s in ("False", "", "0", "no")],
    *[(104, f'={{{{ "{s}".toBoolean() }}}}', NO_ITEMS, True) for s in ("TRUE", "hello")],
    (105, '={{ "n8n test".base64Encode() }}', NO_ITEMS, "bjhuIHRlc3Q="),
    (106, '={{ "12345".hash("md5") }}', NO_ITEMS, "827ccb0eea8a706c4c34a16891f84e7b"),
    (
        106,
        '={{ "12345".hash("sha256") }}',
        NO_ITEMS,
        "5994471abb01112afcc18159f6cc74b4f511b99806da59b3caf5a9c173cacfc5",
    ),
    (107, '={{ "string with spaces".urlEncode(false) }}', NO_ITEMS, "string%20with%20spaces"),
    (108, '={{ "https://example.org/".extractDomain() }}', NO_ITEMS, "example.org"),
    (109, '={{ \'{"test1":1,"test2":"2"}\'.parseJson() }}', NO_ITEMS, {"test1": 1, "test2": "2"}),
    (110, '={{ "<html><head>test</head></html>".removeTags() }}', NO_ITEMS, "test"),
    (111, "={{ (1.3333333).round(3) }}", NO_ITEMS, 1.333),
    (112, "={{ (1.2).ceil() }}", NO_ITEMS, 2),
    (112, "={{ (1.9).floor() }}", NO_ITEMS, 1),
    (113, "={{ (9).isOdd() }}", NO_ITEMS, True),
    (113, "={{ (8).isEven() }}", NO_ITEMS, True),
    (114, "={{ (42144.545).toInt() }}", NO_ITEMS, 42145),
    (115, "={{ (0).toBoolean() }}", NO_ITEMS, False),
    (115, "={{ (-1.549).toBoolean() }}", NO_ITEMS, True),
    (116, "={{ ({}).isEmpty() }}", NO_ITEMS, True),
    (116, "={{ ({test1: null, test2: undefined}).isEmpty() }}", NO_ITEMS, False),
    (117, '={{ ({ test1: 1 }).hasField("test1") }}', NO_ITEMS, True),
    (
        118,
        '={{ ({ test1: 1, test2: 2, test3: 3 }).removeField("test2") }}',
        NO_ITEMS,
        {"test1": 1, "test3": 3},
    ),
    (119, "={{ ({ test1: 1, test2: 2 }).keys() }}", NO_ITEMS, ["test1", "test2"]),
    (120, '={{ ({ test1: 1, test2: "2" }).urlEncode() }}', NO_ITEMS, "test1=1&test2=2"),
    (121, "={{ (true).toInt() }}", NO_ITEMS, 1),
    (121, "={{ (false).toInt() }}", NO_ITEMS, 0),
]


def _variables(item: Any) -> dict[str, Any]:
    variables: dict[str, Any] = {"$runIndex": 0, "$itemIndex": 0}
    if item is not NO_ITEMS:
        variables["$json"] = item
        variables["$item"] = NativeFunction("$item", lambda args: {"$json": item})
    return variables


def _same(actual: Any, expected: Any) -> bool:
    """Type-exact deep equality (1 != 1.0 != True, undefined != null)."""
    if type(actual) is not type(expected):
        return False
    if isinstance(expected, dict):
        return actual.keys() == expected.keys() and all(_same(actual[k], expected[k]) for k in expected)
    if isinstance(expected, list):
        return len(actual) == len(expected) and all(
            _same(a, e) for a, e in zip(actual, expected, strict=True)
        )
    return bool(actual == expected)


@pytest.mark.parametrize(("row", "expression", "item", "expected"), ROWS, ids=[f"row{r[0]}" for r in ROWS])
def test_conformance_row(row: int, expression: str, item: Any, expected: Any) -> None:
    result = compile_template(expression).render(_variables(item))
    assert _same(result, expected), f"row {row}: {result!r} != {expected!r}"


def test_row_54_missing_execution_data_propagates_host_error() -> None:
    """Row 54: ``$json`` without input data is an error raised by the host's lazy variables."""

    class NoData(dict[str, Any]):
        def __missing__(self, key: str) -> Any:
            if key == "$json":
                raise ExpressionError("Node 'node' hasn't been executed")
            raise KeyError(key)

    with pytest.raises(ExpressionError, match="hasn't been executed"):
        compile_template('={{ $json["phone"] ?? 0}}').render(NoData())


@pytest.mark.parametrize(
    "expression",
    ["={{ (9.2).isOdd() }}", '={{ [1, "a"].sum() }}', "={{ Date['constructor']('code')() }}"],
)
def test_rows_that_throw(expression: str) -> None:
    with pytest.raises(ExpressionError):
        compile_template(expression).render({})
