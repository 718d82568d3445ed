"""Malformed query parameters are the caller's fault: a 422 that names the parameter, never a 500. Filters
and sorts are JSON, so they also have limits on nesting, number of clauses and length."""

from __future__ import annotations

import json

import pytest

from api.routes_records import MAX_FILTERS, MAX_NESTING, MAX_SORTS, json_depth


def _deep(levels: int, inner: str = "1") -> str:
    return "[" * levels + inner + "]" * levels


DEEP = [
    ("filter", _deep(1000)),
    ("filter", '{"a":' * 1000 + "1" + "}" * 1000),
    ("filter", '[{"column":"Points","op":"eq","value":' + _deep(990) + "}]"),
    ("sort", _deep(999, '{"column":"Points"}')),
    ("sort", '{"column":' * 400 + '"x"' + "}" * 400),
]


@pytest.mark.parametrize(("name", "raw"), DEEP, ids=["list", "object", "value", "sort-list", "sort-object"])
async def test_deeply_nested_filter_or_sort_is_422_naming_the_parameter(client, user, table, name, raw):
    r = await client.get(f"/tables/{table['id']}/records", params={name: raw}, headers=user.headers)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid"
    assert [d["field"] for d in error["details"]] == [f"query.{name}"]
    assert name in error["message"]


async def test_nesting_up_to_the_limit_is_still_a_filter(client, user, table, cols):
    await client.post(f"/tables/{table['id']}/records", json={"values": {"Title": "a", "Extra": {"k": [1]}}},
                      headers=user.headers)
    ok = [{"column": "Title", "op": "eq", "value": "a"}]
    r = await client.get(f"/tables/{table['id']}/records", params={"filter": json.dumps(ok)}, headers=user.headers)
    assert r.status_code == 200 and r.json()["total"] == 1
    assert json_depth(json.dumps([{"column": "Extra", "value": {"k": [[1]]}}])) <= MAX_NESTING


async def test_too_many_clauses_or_too_long_is_422(client, user, table):
    url = f"/tables/{table['id']}/records"
    many = json.dumps([{"column": "Title", "op": "not_empty"}] * (MAX_FILTERS + 1))
    sorts = json.dumps([{"column": "Title"}] * (MAX_SORTS + 1))
    for name, raw in (("filter", many), ("sort", sorts), ("filter", json.dumps([{"column": "x" * 9000}])),
                      ("sort", json.dumps([{"column": "x" * 3000}]))):
        r = await client.get(url, params={name: raw}, headers=user.headers)
        assert r.status_code == 422, (name, len(raw), r.text)
        assert r.json()["error"]["details"][0]["field"].startswith(f"query.{name}")
    fine = json.dumps([{"column": "Title", "op": "not_empty"}] * MAX_FILTERS)
    assert (await client.get(url, params={"filter": fine}, headers=user.headers)).status_code == 200


BAD_VALUES = ["abc", "-1", "1e400", "NaN", "99999999999999999999999999", "", "1.5", "0x10", "\u0000", "１"]


async def test_every_malformed_query_parameter_of_every_read_is_422_naming_it(client, user, table, cols):
    tid, cid = table["id"], cols["Title"]
    reads = {
        f"/tables/{tid}/records": ["limit", "offset", "filter", "sort"],
        f"/tables/{tid}/columns/{cid}/cells": ["limit", "offset"],
        f"/tables/{tid}/updates": ["cursor", "limit"],
        f"/tables/{tid}/export": ["format"],
    }
    for url, names in reads.items():
        for name in names:
            for bad in BAD_VALUES + ["[{", '{"column": 1}', "[" * 50]:
                if bad == "" and name in ("filter", "sort"):
                    continue  # an empty filter is no filter
                r = await client.get(url, params={name: bad}, headers=user.headers)
                if r.status_code == 200:
                    continue  # a value this parameter happens to accept ("" for an optional number)
                assert r.status_code == 422, (url, name, bad, r.status_code, r.text[:300])
                fields = [d["field"] for d in r.json()["error"]["details"]]
                assert fields and all(f.startswith(f"query.{name}") for f in fields), (url, name, bad, fields)


@pytest.mark.parametrize(("raw", "depth"), [
    ("[]", 1), ('[{"a":[1,{"b":2}]}]', 4), ('["[[[[", "]]]]", "\\\\\\"[["]', 1), ("1", 0), ('"{{{"', 0),
])
def test_depth_is_counted_outside_strings_only(raw, depth):
    assert json_depth(raw) == depth
