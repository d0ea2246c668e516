"""`etl plan`: what a run would do, with nothing written."""

from __future__ import annotations

import json

from click.testing import CliRunner

from etl.cli import main

from .test_engine import SPEC as ENGINE_SPEC


def spec_text(extra=""):
    return ENGINE_SPEC.format(batch=2, source="", sink="", extra=extra)


def test_plan_lists_creates_updates_unchanged_and_prunes_and_writes_nothing(fakes, write_spec, tmp_path):
    source, sink = fakes
    source.records = [{"id": i, "name": f"thing {i}", "price": float(i)} for i in range(1, 11)]
    spec = str(write_spec(spec_text("prune: {action: draft, max_fraction: 0.2}")))
    runner = CliRunner()
    assert runner.invoke(main, ["run", spec]).exit_code == 0
    before = dict(sink.store)
    source.records = source.records[:9] + [{"id": 11, "name": "new", "price": 1.0}]
    source.records[0]["price"] = 99.0
    result = runner.invoke(main, ["plan", spec, "--out", str(tmp_path / "plan.json")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[-1] == "Plan: 1 to create, 1 to update, 8 unchanged, 1 to prune"
    assert "+ create      11  new" in lines
    assert "      price: 1.0 -> 99.0" in lines
    assert "- prune       10  10" in lines
    assert sink.store == before and sink.pruned == []
    saved = json.loads((tmp_path / "plan.json").read_text())
    assert saved["summary"] == {"create": 1, "update": 1, "unchanged": 8, "prune": 1, "refused": 0}
    assert saved["updates"][0]["diff"] == {"price": [1.0, 99.0]}


def test_plan_refuses_a_mass_prune_like_a_run_would(fakes, write_spec):
    source, sink = fakes
    source.records = [{"id": i, "name": "x", "price": 1} for i in range(10)]
    spec = str(write_spec(spec_text("prune: {action: delete, max_fraction: 0.1}")))
    CliRunner().invoke(main, ["run", spec])
    source.records = source.records[:5]
    result = CliRunner().invoke(main, ["plan", spec])
    assert result.exit_code == 1 and "refusing to prune 5 of 10 items" in result.output
