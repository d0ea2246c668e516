"""Every way a pipeline file can be wrong gets one line naming the file, line:column, key and the fix."""

from __future__ import annotations

import json

import pytest

from etl.errors import SpecError, UsageError
from etl.spec import full_schema, load_spec

GOOD = """\
version: 1
name: demo
source:
  type: rest
  url: ${BASE_URL:-http://127.0.0.1:8000}/products
  records: products
  pagination: {type: offset, limit: 30, limit_param: limit, offset_param: skip, total: total}
  timeout: 15s
  retry: {attempts: 4, backoff: {initial: 1s, factor: 2, max: 30s}, retry_on: [429, 500, 503]}
mapping:
  key: "{{ record.id }}"
  fields:
    title: "{{ record.title }}"
    handle: "{{ record.title | slug }}"
sink:
  type: jsonl
  path: out.jsonl
"""


def problems(write_spec, text, env=None, **kw):
    path = write_spec(text)
    with pytest.raises(SpecError) as info:
        load_spec(path, env=env or {}, **kw)
    return [str(p).replace(str(path), "F") for p in info.value.problems]


def test_the_good_spec_loads(write_spec):
    spec = load_spec(write_spec(GOOD), env={})
    assert spec.name == "demo"
    assert spec.source.type == "rest"
    assert spec.source.config["url"] == "http://127.0.0.1:8000/products"
    assert spec.sink.config == {"path": "out.jsonl"}


def test_env_interpolation(write_spec):
    spec = load_spec(write_spec(GOOD), env={"BASE_URL": "http://127.0.0.1:9999"})
    assert spec.source.config["url"] == "http://127.0.0.1:9999/products"


def test_set_overrides_are_typed(write_spec):
    spec = load_spec(write_spec(GOOD), env={}, overrides=["source.pagination.limit=100", "name=other"])
    assert spec.source.config["pagination"]["limit"] == 100
    assert spec.name == "other"


CASES = [
    ("unknown top-level key",
     GOOD.replace("name: demo", "nmae: demo"),
     ["F:2:1: nmae: unknown key 'nmae' (did you mean 'name'?)"]),
    ("unknown source key",
     GOOD.replace("  records: products", "  record: products"),
     ["F:6:3: source.record: unknown key 'record' (did you mean 'records'?)"]),
    ("unknown sink type lists the known ones",
     GOOD.replace("type: jsonl", "type: jsnl"),
     ["F:16:3: sink.type: unknown sink 'jsnl' (known: jsonl, medusa)"]),
    ("unknown paginator",
     GOOD.replace("type: offset", "type: offest"),
     ["F:7:16: source.pagination.type: unknown paginator 'offest' (known: cursor, link_header, next_url, "
      "offset, page_number, single_page)"]),
    ("missing env var names the variable and the key",
     GOOD.replace("${BASE_URL:-http://127.0.0.1:8000}", "${BASE_URL}"),
     ["F:5:3: source.url: environment variable BASE_URL is not set (used in source.url): export it, "
      "or give a default with ${BASE_URL:-value}"]),
    ("missing required sections",
     "version: 1\nsource: {type: rest, url: x}\n",
     ["F:1:1: missing required key 'mapping'", "F:1:1: missing required key 'sink'"]),
    ("wrong version",
     GOOD.replace("version: 1", "version: 2"),
     ["F:1:1: version: must be one of 1; got 2"]),
    ("yaml syntax error",
     GOOD.replace("  records: products", "  records: [products"),
     None),
    ("tab indentation",
     GOOD.replace("  records: products", "\trecords: products"),
     None),
    ("every problem is listed, sorted by line",
     GOOD.replace("nmae", "x").replace("name: demo", "nmae: demo").replace("type: jsonl", "type: nope"),
     ["F:2:1: nmae: unknown key 'nmae' (did you mean 'name'?)",
      "F:16:3: sink.type: unknown sink 'nope' (known: jsonl, medusa)"]),
    ("template syntax error",
     GOOD.replace('"{{ record.title }}"', '"{{ record.title }"'),
     None),
]


@pytest.mark.parametrize("text,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_spec_errors(write_spec, text, expected):
    found = problems(write_spec, text)
    if expected is not None:
        assert found == expected
    else:
        assert len(found) == 1 and found[0].startswith("F:"), found


def test_yaml_syntax_error_names_the_line(write_spec):
    (line,) = problems(write_spec, GOOD.replace("  records: products", "  records: [products"))
    assert line.startswith("F:7:") and "YAML syntax error" in line


def test_tabs_get_a_hint(write_spec):
    (line,) = problems(write_spec, GOOD.replace("  records: products", "\trecords: products"))
    assert line.startswith("F:6:") and "not tabs" in line


def test_template_syntax_error_names_the_field_and_line(write_spec):
    (line,) = problems(write_spec, GOOD.replace('"{{ record.title }}"', '"{{ record.title }"'))
    assert line.startswith("F:13:") and "mapping.fields.title" in line


def test_a_preview_does_not_need_the_sinks_secrets(write_spec):
    from etl.spec import AdapterSpec

    text = GOOD.replace("type: jsonl\n  path: out.jsonl", "type: medusa\n  url: x\n  api_key: ${MEDUSA_API_KEY}")
    spec = load_spec(write_spec(text), env={}, sink=AdapterSpec("jsonl", {"path": "o.jsonl"}))
    assert spec.sink.type == "jsonl"


def test_missing_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="no such pipeline file"):
        load_spec(tmp_path / "nope.yaml")


def test_full_schema_has_every_adapter_branch():
    schema = full_schema()
    json.dumps(schema)
    sink_types = schema["properties"]["sink"]["properties"]["type"]["enum"]
    assert {"jsonl", "medusa"} <= set(sink_types)
    branches = schema["properties"]["source"]["allOf"]
    branch = next(b for b in branches if b["if"]["properties"]["type"]["const"] == "rest")
    assert "url" in branch["then"]["properties"]
