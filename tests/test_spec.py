"""Every way a pipeline file can be wrong gets one line naming the file, line:column, key and the fix."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from etl.cli import main
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


# Every way we know a pipeline file can be wrong, each with the exact lines `etl validate` prints (F is the file).
MEDUSA = GOOD.replace("type: jsonl\n  path: out.jsonl",
                      "type: medusa\n  url: http://127.0.0.1:9000\n  api_key: sk_test")
FIELDS = '  fields:\n    title: "{{ record.title }}"\n    handle: "{{ record.title | slug }}"\n'
BOMB = "version: 1\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 7))

CASES = [
    # YAML
    ("yaml syntax error", GOOD.replace("  records: products", "  records: [products"),
     ["F:7:13: YAML syntax error: expected ',' or ']', but got ':' (while parsing a flow sequence that starts at "
      "line 6)"]),
    ("tab indentation", GOOD.replace("  records: products", "\trecords: products"),
     ["F:6:1: YAML syntax error: found character '\\t' that cannot start any token (indent with spaces, not tabs)"]),
    ("duplicate key", GOOD.replace("name: demo", "name: demo\nname: other"),
     ["F:3:1: name: duplicate key 'name': keep one"]),
    ("duplicate nested key", GOOD.replace("  records: products", "  records: products\n  records: items"),
     ["F:7:3: source.records: duplicate key 'records': keep one"]),
    ("control character", GOOD.replace("name: demo", "name: de\x07mo"),
     ['F:2:9: YAML syntax error: the character U+0007 is not allowed: remove it, or write it as \\x07 in double '
      'quotes']),
    ("empty file", "",
     ['F:1:1: the file is empty: a pipeline needs version, source, mapping and sink']),
    ("only comments", "# a pipeline, one day\n",
     ['F:1:1: the file is empty: a pipeline needs version, source, mapping and sink']),
    ("a list instead of a mapping", "- version: 1\n- name: demo\n",
     ['F:1:1: a pipeline file must be a mapping with version, source, mapping and sink']),
    ("a string instead of a mapping", "demo\n",
     ['F:1:1: a pipeline file must be a mapping with version, source, mapping and sink']),
    ("a key that is not text", GOOD.replace("name: demo", "name: demo\n? [a, b]\n: c"),
     ['F:3:3: a key must be a plain string']),
    ("aliases that expand a million times", BOMB,
     ['F:2:34: the file expands to over 100,000 values: are YAML aliases (*name) repeating each other?']),
    # the core schema
    ("version missing", GOOD.replace("version: 1\n", ""),
     ["F:1:1: missing required key 'version'"]),
    ("wrong version", GOOD.replace("version: 1", "version: 2"),
     ['F:1:1: version: must be one of 1; got 2']),
    ("version as a word", GOOD.replace("version: 1", "version: one"),
     ["F:1:1: version: must be one of 1; got 'one'"]),
    ("missing required sections", "version: 1\nsource: {type: rest, url: x}\n",
     ["F:1:1: missing required key 'mapping'",
      "F:1:1: missing required key 'sink'"]),
    ("unknown top-level key", GOOD.replace("name: demo", "nmae: demo"),
     ["F:2:1: nmae: unknown key 'nmae' (did you mean 'name'?)"]),
    ("unknown key in mapping", GOOD.replace("  fields:", "  feilds:"),
     ["F:10:1: mapping: missing required key 'fields'",
      "F:12:3: mapping.feilds: unknown key 'feilds' (did you mean 'fields'?)"]),
    ("name with a space", GOOD.replace("name: demo", "name: my demo"),
     ["F:2:1: name: must be letters, digits, '.', '_' or '-' (it names the state files), e.g. dummyjson-to-medusa; "
      "got 'my demo'"]),
    ("mapping.key missing", GOOD.replace('  key: "{{ record.id }}"\n', ""),
     ["F:10:1: mapping: missing required key 'key'"]),
    ("mapping.key empty", GOOD.replace('key: "{{ record.id }}"', 'key: ""'),
     ['F:11:3: mapping.key: must not be empty']),
    ("mapping.key null", GOOD.replace('key: "{{ record.id }}"', "key:"),
     ['F:11:3: mapping.key: expected a string, got null']),
    ("mapping.fields empty", GOOD.replace(FIELDS, "  fields: {}\n"),
     ['F:12:3: mapping.fields: must not be empty']),
    ("mapping.fields a list", GOOD.replace(FIELDS, "  fields: [title, handle]\n"),
     ['F:12:3: mapping.fields: expected an object, got a list ["title", "handle"]']),
    ("mapping.unique names no field", GOOD.replace("  fields:", "  unique: [slug]\n  fields:"),
     ["F:12:12: mapping.unique.0: 'slug' is not a mapped field (fields: title, handle)"]),
    ("prune.max_fraction 2", GOOD + "prune: {action: delete, max_fraction: 2}\n",
     ['F:18:25: prune.max_fraction: must be <= 1, got 2']),
    ("prune.action unknown", GOOD + "prune: {action: remove}\n",
     ["F:18:9: prune.action: must be one of 'ignore', 'draft', 'delete'; got 'remove'"]),
    ("state_dir empty", GOOD + 'state_dir: ""\n',
     ['F:18:1: state_dir: must not be empty']),
    ("source not a mapping", GOOD.replace("source:\n  type: rest", "source: rest\nrest:\n  type: rest"),
     ["F:3:1: source: expected an object, got a string 'rest'",
      "F:4:1: rest: unknown key 'rest' (known keys: version, name, description, source, mapping, sink, prune, "
      "state_dir)"]),
    ("infinity", GOOD.replace("factor: 2", "factor: .inf"),
     ['F:9:47: source.retry.backoff.factor: must be a finite number, got inf']),
    # the source block
    ("unknown source type", GOOD.replace("type: rest", "type: rets"),
     ["F:4:3: source.type: unknown source 'rets' (known: rest)"]),
    ("unknown source key", GOOD.replace("  records: products", "  record: products"),
     ["F:6:3: source.record: unknown key 'record' (did you mean 'records'?)"]),
    ("unknown paginator", GOOD.replace("type: offset", "type: offest"),
     ["F:7:16: source.pagination.type: unknown paginator 'offest' (known: cursor, link_header, next_url, offset, "
      "page_number, single_page)"]),
    ("unknown pagination key", GOOD.replace("offset_param: skip", "offest_param: skip"),
     ["F:7:61: source.pagination.offest_param: unknown key 'offest_param' (did you mean 'offset_param'?)"]),
    ("unknown backoff key", GOOD.replace("initial: 1s", "intial: 1s"),
     ["F:9:34: source.retry.backoff.intial: unknown key 'intial' (did you mean 'initial'?)"]),
    ("url a number", GOOD.replace("url: ${BASE_URL:-http://127.0.0.1:8000}/products", "url: 8000"),
     ['F:5:3: source.url: expected a string, got an integer 8000']),
    ("attempts a word", GOOD.replace("attempts: 4", "attempts: four"),
     ["F:9:11: source.retry.attempts: expected an integer, got a string 'four'"]),
    ("attempts 0", GOOD.replace("attempts: 4", "attempts: 0"),
     ['F:9:11: source.retry.attempts: must be >= 1, got 0']),
    ("retry status 600", GOOD.replace("[429, 500, 503]", "[429, 600]"),
     ['F:9:85: source.retry.retry_on.1: must be <= 599, got 600']),
    ("retry status abc", GOOD.replace("[429, 500, 503]", "[429, abc]"),
     ["F:9:85: source.retry.retry_on.1: expected an integer, got a string 'abc'"]),
    ("retry status 200", GOOD.replace("[429, 500, 503]", "[200, 503]"),
     ['F:9:80: source.retry.retry_on.0: must be >= 400, got 200']),
    ("negative timeout", GOOD.replace("timeout: 15s", "timeout: -5s"),
     ["F:8:3: source.timeout: expected a duration such as 250ms, 15s, 2m, 1h or a number of seconds; got '-5s'"]),
    ("zero timeout", GOOD.replace("timeout: 15s", "timeout: 0s"),
     ["F:8:3: source.timeout: must be more than 0s: every request needs a time limit; got '0s'"]),
    ("duration in words", GOOD.replace("timeout: 15s", "timeout: 15 seconds"),
     ["F:8:3: source.timeout: expected a duration such as 250ms, 15s, 2m, 1h or a number of seconds; "
      "got '15 seconds'"]),
    ("page size 0", GOOD.replace("type: offset, limit: 30, limit_param: limit, offset_param: skip, total: total",
                                 "type: page_number, size: 0"),
                                  ['F:7:35: source.pagination.size: must be >= 1, got 0']),
    ("negative limit", GOOD.replace("limit: 30", "limit: -1"),
     ['F:7:30: source.pagination.limit: must be >= 0, got -1']),
    ("max_pages 0", GOOD.replace("  timeout: 15s", "  timeout: 15s\n  max_pages: 0"),
     ['F:9:3: source.max_pages: must be >= 1, got 0']),
    ("backoff factor below 1", GOOD.replace("factor: 2", "factor: 0.5"),
     ['F:9:47: source.retry.backoff.factor: must be >= 1, got 0.5']),
    # the sink block
    ("unknown sink type", GOOD.replace("type: jsonl", "type: jsnl"),
     ["F:16:3: sink.type: unknown sink 'jsnl' (known: jsonl, medusa)"]),
    ("unknown sink key", GOOD.replace("path: out.jsonl", "pth: out.jsonl"),
     ["F:15:1: sink: missing required key 'path'",
      "F:17:3: sink.pth: unknown key 'pth' (did you mean 'path'?)"]),
    ("jsonl batch_size 0", GOOD + "  batch_size: 0\n",
     ['F:18:3: sink.batch_size: must be >= 1, got 0']),
    ("medusa batch_size 0", MEDUSA + "  batch_size: 0\n",
     ['F:19:3: sink.batch_size: must be >= 1, got 0']),
    ("medusa without credentials", MEDUSA.replace("  api_key: sk_test\n", ""),
     ['F:15:1: sink: needs credentials: api_key (a secret API key), or email and password (an admin user); keys '
      'present: url']),
    ("medusa url without a scheme", MEDUSA.replace("url: http://127.0.0.1:9000", "url: 127.0.0.1:9000"),
     ["F:17:3: sink.url: expected Medusa's base URL, e.g. http://127.0.0.1:9000 (no /admin suffix); got "
      "'127.0.0.1:9000'"]),
    # templates
    ("template syntax error", GOOD.replace('"{{ record.title }}"', '"{{ record.title }"'),
     ["F:13:5: mapping.fields.title: template syntax error: unexpected '}' (in '{{ record.title }')"]),
    ("key template syntax error", GOOD.replace('key: "{{ record.id }}"', 'key: "{{ record.id"'),
     ["F:11:3: mapping.key: template syntax error: unexpected end of template, expected 'end of print statement'. "
      "(in '{{ record.id')"]),
    ("undefined variable", GOOD.replace('"{{ record.title }}"', '"{{ recrod.title }}"'),
     ["F:13:5: mapping.fields.title: unknown name 'recrod' (did you mean 'record'?) (in '{{ recrod.title }}')"]),
    ("a name templates cannot see", GOOD.replace('"{{ record.title }}"', '"{{ os.environ }}"'),
     ["F:13:5: mapping.fields.title: unknown name 'os' (templates see record) (in '{{ os.environ }}')"]),
    ("unknown filter", GOOD.replace("slug }}", "slugg }}"),
     ["F:14:5: mapping.fields.handle: unknown filter 'slugg' (did you mean 'slug'?) "
      "(in '{{ record.title | slugg }}')"]),
    ("a tag mappings do not have", GOOD.replace('"{{ record.title }}"', '"{% set x = 1 %}{{ x }}"'),
     ["F:13:5: mapping.fields.title: the {% set %} tag is not available in a mapping (in '{% set x = 1 %}{{ x }}')"]),
    # the environment
    ("missing env var", GOOD.replace("${BASE_URL:-http://127.0.0.1:8000}", "${BASE_URL}"),
     ['F:5:3: source.url: environment variable BASE_URL is not set (used in source.url): export it, or give a '
      'default with ${BASE_URL:-value}']),
    ("malformed env reference", GOOD.replace("${BASE_URL:-http://127.0.0.1:8000}", "${BASE URL}"),
     ["F:5:3: source.url: malformed reference in '${BASE URL}/products': write ${NAME} or ${NAME:-default}"]),
    ("every problem, sorted by line",
     GOOD.replace("name: demo", "nmae: demo").replace("type: jsonl", "type: nope").replace("limit: 30", "limit: x"),
     ["F:2:1: nmae: unknown key 'nmae' (did you mean 'name'?)",
      "F:7:30: source.pagination.limit: expected an integer, got a string 'x'",
      "F:16:3: sink.type: unknown sink 'nope' (known: jsonl, medusa)"]),
]


@pytest.mark.parametrize("text,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_spec_errors(write_spec, text, expected):
    assert problems(write_spec, text) == expected


@pytest.mark.parametrize("text,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_validate_prints_every_problem_and_exits_2(write_spec, text, expected):
    path = write_spec(text)
    result = CliRunner().invoke(main, ["validate", str(path)], env={"BASE_URL": None})
    count = f"{len(expected)} problem{'s' if len(expected) != 1 else ''} found"
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [line.replace("F:", f"{path}:", 1) for line in expected] + [count]
    assert result.stdout == ""
    assert "Traceback" not in result.output


BAD_INVOCATIONS = [
    ("a file that does not exist", ["nope.yaml"], "error: {tmp}/nope.yaml: no such pipeline file"),
    ("a directory", ["adir"], "Error: Invalid value for 'PIPELINE': File '{tmp}/adir' is a directory."),
    ("a file that is not UTF-8", ["latin1.yaml"],
     "{tmp}/latin1.yaml:2:10: the file is not UTF-8 text (byte 0xe9 here): save it as UTF-8"),
    ("--set without =", ["pipeline.yaml", "--set", "sink.batch_size"],
     "error: --set 'sink.batch_size': expected dotted.key=value, e.g. --set sink.batch_size=50"),
    ("--set without a key", ["pipeline.yaml", "--set", "=50"],
     "error: --set '=50': expected dotted.key=value, e.g. --set sink.batch_size=50"),
    ("--set inside a value", ["pipeline.yaml", "--set", "name.first=x"],
     "error: --set 'name.first=x': name is not a mapping"),
    ("--set a wrong type", ["pipeline.yaml", "--set", "sink.batch_size=[50"],
     "{tmp}/pipeline.yaml: sink.batch_size: expected an integer, got a string '[50' (from --set sink.batch_size=[50)"),
    ("--set a bad template", ["pipeline.yaml", "--set", "mapping.fields.title={{ recrod.title }}"],
     "{tmp}/pipeline.yaml: mapping.fields.title: unknown name 'recrod' (did you mean 'record'?) "
     "(in '{{{{ recrod.title }}}}') (from --set mapping.fields.title={{{{ recrod.title }}}})"),
]


@pytest.mark.parametrize("args,message", [c[1:] for c in BAD_INVOCATIONS], ids=[c[0] for c in BAD_INVOCATIONS])
def test_a_bad_command_line_exits_2_with_one_line(write_spec, tmp_path, args, message):
    write_spec(GOOD)
    (tmp_path / "adir").mkdir()
    (tmp_path / "latin1.yaml").write_bytes("version: 1\nname: caf\u00e9\n".encode("latin-1"))
    result = CliRunner().invoke(main, ["validate", *(str(tmp_path / a) if i == 0 else a for i, a in enumerate(args))])
    assert result.exit_code == 2
    assert message.format(tmp=tmp_path) in result.stderr.splitlines()
    assert result.stdout == ""
    assert "Traceback" not in result.output


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
