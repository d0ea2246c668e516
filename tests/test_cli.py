"""The command line as cron and a person use it: exit codes, one-line errors, the summary, the report."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from etl.cli import main

SPEC = """\
version: 1
name: things
source: {type: fake}
mapping:
  key: "{{ record.id }}"
  fields:
    name: "{{ record.name }}"
sink: {type: fake, batch_size: 2}
"""


@pytest.fixture
def cli():
    def invoke(*args: str):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return invoke


def test_run_prints_the_summary_and_writes_the_report(fakes, write_spec, cli, tmp_path):
    source, _ = fakes
    source.records = [{"id": i, "name": f"n{i}"} for i in range(3)]
    result = cli("run", str(write_spec(SPEC)), "--report", str(tmp_path / "r.json"))
    assert result.exit_code == 0, result.output
    assert "Sync completed: things" in result.output
    assert "Created:    3" in result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert {k: report[k] for k in ("status", "fetched", "created", "updated", "unchanged", "failed")} == {
        "status": "ok", "fetched": 3, "created": 3, "updated": 0, "unchanged": 0, "failed": 0}
    assert isinstance(report["duration_s"], float) and report["failures"] == []


def test_some_records_failing_exits_3(fakes, write_spec, cli, tmp_path):
    source, sink = fakes
    source.records = [{"id": i, "name": f"n{i}"} for i in range(3)]
    sink.fail_keys = {"1"}
    result = cli("run", str(write_spec(SPEC)), "--report", str(tmp_path / "r.json"))
    assert result.exit_code == 3
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["status"] == "partial"
    assert report["failures"] == [{"key": "1", "stage": "sink", "message": "thing 1 rejected"}]
    assert "etl retry" in result.output


def test_a_failed_run_exits_1_with_one_line_and_no_traceback(fakes, write_spec, cli):
    source, _ = fakes
    source.records = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    result = cli("run", str(write_spec(SPEC.replace("{type: fake}", "{type: fake, fail_after: 1}"))))
    assert result.exit_code == 1
    assert "fake source failed after 1 records" in result.output
    assert "Traceback" not in result.output


def test_spec_errors_exit_2_and_list_every_problem(write_spec, cli):
    bad = SPEC.replace("name: things", "nmae: things").replace("batch_size: 2", "batch_size: 2, bogus: 1")
    result = cli("validate", str(write_spec(bad)))
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert "unknown key 'nmae' (did you mean 'name'?)" in lines[0]
    assert lines[-1] == "2 problems found" or len(lines) >= 3
    assert "Traceback" not in result.output


def test_validate_ok(fakes, write_spec, cli):
    result = cli("validate", str(write_spec(SPEC)))
    assert result.exit_code == 0 and "OK" in result.output


def test_to_file_previews_without_the_sink(fakes, write_spec, cli, tmp_path):
    source, sink = fakes
    source.records = [{"id": i, "name": f"n{i}"} for i in range(4)]
    out = tmp_path / "out.jsonl"
    result = cli("run", str(write_spec(SPEC)), "--to", str(out))
    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in out.read_text().splitlines()] == [{"name": f"n{i}"} for i in range(4)]
    assert sink.store == {}


def test_render_prints_one_mapped_record(fakes, write_spec, cli):
    source, _ = fakes
    source.records = [{"id": i, "name": f"n{i}"} for i in range(4)]
    result = cli("render", str(write_spec(SPEC)), "--index", "2")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"key": "2", "data": {"name": "n2"}}


def test_schema_is_json(cli):
    result = cli("schema")
    assert json.loads(result.output)["title"] == "etl pipeline"


def test_plugins_lists_builtins(cli):
    result = cli("plugins")
    assert "rest" in result.output and "medusa" in result.output and "offset" in result.output
