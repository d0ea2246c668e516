"""The engine on in-memory adapters: what a run does with good records, bad records and a bad source."""

from __future__ import annotations

import json

import pytest

from etl.engine import RunOptions, run
from etl.spec import load_spec

SPEC = """\
version: 1
name: things
source: {{type: fake{source}}}
mapping:
  key: "{{{{ record.id }}}}"
  fields:
    name: "{{{{ record.name }}}}"
    price: "{{{{ record.price }}}}"
sink: {{type: fake, batch_size: {batch}{sink}}}
{extra}
"""


def spec_for(write_spec, batch=2, source="", sink="", extra=""):
    return load_spec(write_spec(SPEC.format(batch=batch, source=source, sink=sink, extra=extra)))


def records(n, **over):
    return [{"id": i, "name": f"thing {i}", "price": i * 1.5, **over} for i in range(1, n + 1)]


def test_first_run_creates_everything_in_batches(fakes, write_spec):
    source, sink = fakes
    source.records = records(5)
    report = run(spec_for(write_spec))
    assert (report.status, report.exit_code) == ("ok", 0)
    assert (report.fetched, report.created, report.updated, report.unchanged, report.failed) == (5, 5, 0, 0, 0)
    assert sink.batches == [["1", "2"], ["3", "4"], ["5"]]
    assert sink.prepared == 5
    assert sink.store["3"] == {"name": "thing 3", "price": 4.5}


def test_second_run_writes_nothing_and_counts_unchanged(fakes, write_spec):
    source, sink = fakes
    source.records = records(4)
    spec = spec_for(write_spec)
    run(spec)
    sink.batches.clear()
    report = run(spec)
    assert (report.created, report.updated, report.unchanged) == (0, 0, 4)
    assert sink.batches == []


def test_full_forces_updates(fakes, write_spec):
    source, sink = fakes
    source.records = records(3)
    spec = spec_for(write_spec)
    run(spec)
    report = run(spec, RunOptions(full=True))
    assert (report.updated, report.unchanged) == (3, 0)


@pytest.mark.parametrize("two_pass", [True, False])
def test_a_rejected_item_is_quarantined_and_the_rest_lands(fakes, write_spec, tmp_path, two_pass):
    source, sink = fakes
    source.records = records(5)
    sink.fail_keys = {"2"}
    quarantine = tmp_path / "q.jsonl"
    spec = spec_for(write_spec, sink=f", two_pass: {str(two_pass).lower()}")
    report = run(spec, RunOptions(quarantine=quarantine))
    assert (report.status, report.exit_code) == ("partial", 3)
    assert (report.created, report.failed) == (4, 1)
    assert sorted(sink.store) == ["1", "3", "4", "5"]
    assert report.failures == [{"key": "2", "stage": "sink", "message": "thing 2 rejected"}]
    lines = [json.loads(line) for line in quarantine.read_text().splitlines()]
    assert [(e["key"], e["stage"], e["record"]["id"]) for e in lines] == [("2", "sink", 2)]


def test_a_record_that_fails_to_map_is_counted_and_the_run_goes_on(fakes, write_spec, tmp_path):
    source, sink = fakes
    source.records = records(3)
    del source.records[1]["price"]
    report = run(spec_for(write_spec), RunOptions(quarantine=tmp_path / "q.jsonl"))
    assert (report.created, report.failed, report.exit_code) == (2, 1, 3)
    assert report.failures[0]["key"] == "2" and "price" in report.failures[0]["message"]
    assert report.failures[0]["stage"] == "mapping"
    assert json.loads((tmp_path / "q.jsonl").read_text())["record"] == {"id": 2, "name": "thing 2"}


def test_duplicate_keys_keep_the_first_record_with_a_warning(fakes, write_spec, caplog):
    source, sink = fakes
    source.records = records(3) + [{"id": 2, "name": "again", "price": 0}]
    report = run(spec_for(write_spec))
    assert (report.fetched, report.created, report.duplicates) == (4, 3, 1)
    assert sink.store["2"]["name"] == "thing 2"
    assert "Duplicate key '2'" in caplog.text


def test_a_source_failure_fails_the_run_before_any_write(fakes, write_spec):
    source, sink = fakes
    source.records = records(5)
    report = run(spec_for(write_spec, source=", fail_after: 3"))
    assert (report.status, report.exit_code) == ("failed", 1)
    assert "fake source failed after 3 records" in report.error
    assert sink.store == {} and sink.batches == []


def test_limit_stops_early_and_never_prunes(fakes, write_spec):
    source, sink = fakes
    source.records = records(5)
    spec = spec_for(write_spec, extra="prune: {action: delete, max_fraction: 1}")
    run(spec)
    report = run(spec, RunOptions(limit=2))
    assert (report.fetched, report.unchanged, report.pruned) == (2, 2, 0)
    assert sorted(sink.store) == ["1", "2", "3", "4", "5"]


def test_prune_removes_what_the_source_dropped(fakes, write_spec):
    source, sink = fakes
    source.records = records(10)
    spec = spec_for(write_spec, extra="prune: {action: draft, max_fraction: 0.2}")
    run(spec)
    source.records = records(9)
    report = run(spec)
    assert report.pruned == 1 and sink.pruned == [("10", "draft")]


def test_mass_prune_is_refused_unless_allowed(fakes, write_spec):
    source, sink = fakes
    source.records = records(10)
    spec = spec_for(write_spec, extra="prune: {action: delete, max_fraction: 0.1}")
    run(spec)
    source.records = records(5)
    report = run(spec)
    assert report.exit_code == 1 and "refusing to prune 5 of 10 items" in report.error
    assert sink.pruned == []
    report = run(spec, RunOptions(allow_mass_prune=True))
    assert report.pruned == 5


def test_prune_is_skipped_after_an_incomplete_read(fakes, write_spec):
    source, sink = fakes
    source.records = records(4)
    run(spec_for(write_spec, extra="prune: {action: delete, max_fraction: 1}"))
    source.records = records(3)
    report = run(spec_for(write_spec, source=", total: 4", extra="prune: {action: delete, max_fraction: 1}"))
    assert (report.pruned, sink.pruned) == (0, [])
    assert any("Pruning skipped: the source read was incomplete" in w for w in report.warnings)


def test_a_bug_in_a_sink_fails_the_run_with_a_report_not_a_crash(fakes, write_spec, monkeypatch):
    source, sink = fakes
    source.records = records(2)

    def broken(self, batch):
        raise KeyError("oops")

    monkeypatch.setattr(sink, "write", broken)
    report = run(spec_for(write_spec))
    assert (report.status, report.exit_code) == ("failed", 1)
    assert report.error == "internal error: KeyError: 'oops' (rerun with --debug)"
    assert isinstance(report.exception, KeyError)


@pytest.mark.parametrize("limit", [10_000, 3], ids=["in-memory", "on-disk"])
def test_keys_and_unique_values_hold_when_kept_on_disk(fakes, write_spec, monkeypatch, limit):
    """Past MEMORY_LIMIT records a run keeps its keys and handles on disk: no answer may change."""
    monkeypatch.setattr("etl.keyset.MEMORY_LIMIT", limit)
    source, sink = fakes
    source.records = [{"id": i, "name": "same" if i % 3 else f"n{i}", "price": 1} for i in range(1, 13)]
    source.records += [{"id": 5, "name": "again", "price": 0}, {"id": 12, "name": "again", "price": 0}]
    text = SPEC.format(batch=4, source="", sink="", extra="prune: {action: draft, max_fraction: 0.5}")
    spec = load_spec(write_spec(text.replace("  fields:", "  unique: [name]\n  fields:")))
    report = run(spec)
    assert (report.fetched, report.created, report.duplicates) == (14, 12, 2)
    names = [sink.store[str(i)]["name"] for i in range(1, 13)]
    assert names == ["same", "same-1", "n3", "same-2", "same-3", "n6", "same-4", "same-5", "n9", "same-6",
                     "same-7", "n12"]
    source.records = source.records[:11]
    report = run(spec)
    assert (report.unchanged, report.pruned, sink.pruned) == (11, 1, [("12", "draft")])
