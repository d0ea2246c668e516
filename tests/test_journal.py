"""The run journal and `etl status`: what ran, when, with what result."""

from __future__ import annotations

import json

from click.testing import CliRunner

from etl.cli import main

from .test_cli import SPEC


def test_each_run_appends_a_journal_line_and_status_shows_them(fakes, write_spec, tmp_path):
    source, sink = fakes
    source.records = [{"id": i, "name": f"n{i}"} for i in range(3)]
    spec = str(write_spec(SPEC))
    runner = CliRunner()
    assert runner.invoke(main, ["run", spec]).exit_code == 0
    sink.fail_keys = {"1"}
    source.records[1]["name"] = "changed"
    assert runner.invoke(main, ["run", spec]).exit_code == 3
    lines = (tmp_path / "state" / "things" / "journal.jsonl").read_text().splitlines()
    first, second = (json.loads(line) for line in lines)
    assert (first["status"], first["exit_code"], first["created"], first["failed"]) == ("ok", 0, 3, 0)
    assert (second["status"], second["exit_code"], second["unchanged"], second["failed"]) == ("partial", 3, 2, 1)
    assert second["command"] == "run" and second["quarantine"].endswith(".jsonl")

    result = runner.invoke(main, ["status", spec])
    assert result.exit_code == 0
    out = result.output.splitlines()
    assert out[0].startswith("things: not running")
    assert "partial" in out[-1] and "ok" in out[-2]


def test_a_preview_is_not_journaled(fakes, write_spec, tmp_path):
    source, _ = fakes
    source.records = [{"id": 1, "name": "a"}]
    CliRunner().invoke(main, ["run", str(write_spec(SPEC)), "--to", str(tmp_path / "o.jsonl")])
    assert not (tmp_path / "state" / "things" / "journal.jsonl").exists()


def test_status_with_no_runs(write_spec, fakes):
    result = CliRunner().invoke(main, ["status", str(write_spec(SPEC))])
    assert result.exit_code == 0 and "no runs yet" in result.output


def test_retry_replays_the_quarantined_records_once_fixed(fakes, write_spec, tmp_path):
    source, sink = fakes
    source.records = [{"id": i, "name": f"n{i}"} for i in range(4)]
    sink.fail_keys = {"1", "3"}
    spec = str(write_spec(SPEC))
    quarantine = tmp_path / "q.jsonl"
    runner = CliRunner()
    assert runner.invoke(main, ["run", spec, "--quarantine", str(quarantine)]).exit_code == 3
    assert sorted(sink.store) == ["0", "2"]
    sink.fail_keys = set()
    source.records = []
    result = runner.invoke(main, ["retry", str(quarantine), "--report", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert (report["fetched"], report["created"], report["failed"]) == (2, 2, 0)
    assert sorted(sink.store) == ["0", "1", "2", "3"]


def test_retry_of_a_file_that_is_not_a_quarantine_file(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    result = CliRunner().invoke(main, ["retry", str(bad)])
    assert result.exit_code == 2 and "bad.jsonl:1: not a quarantine line" in result.output
