"""Cron safety: one run per pipeline at a time; a lock left by a dead run is taken over."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from etl.cli import main
from etl.errors import LockedError
from etl.lock import RunLock

from .test_cli import SPEC


def test_a_second_lock_is_refused_with_the_holder_named(tmp_path):
    expected = rf"another run of things is in progress \(pid {os.getpid()}, started "
    with RunLock(tmp_path, "things"), pytest.raises(LockedError, match=expected):
        RunLock(tmp_path, "things").acquire()
    RunLock(tmp_path, "things").acquire()


def test_a_run_while_another_holds_the_lock_exits_4_and_writes_nothing(fakes, write_spec, tmp_path):
    source, sink = fakes
    source.records = [{"id": 1, "name": "a"}]
    spec = write_spec(SPEC)
    with RunLock(tmp_path / "state" / "things", "things"):
        result = CliRunner().invoke(main, ["run", str(spec)])
    assert result.exit_code == 4
    assert "another run of things is in progress" in result.output
    assert sink.store == {}
    refused = json.loads((tmp_path / "state" / "things" / "journal.jsonl").read_text())
    assert (refused["status"], refused["exit_code"], refused["command"]) == ("refused", 4, "run")
    assert "another run of things is in progress" in refused["error"]
    status = CliRunner().invoke(main, ["status", str(spec)])
    assert "refused" in status.output.splitlines()[2] and "another run of things" in status.output


def test_a_lock_left_by_a_killed_process_is_taken_over(fakes, write_spec, tmp_path):
    source, sink = fakes
    source.records = [{"id": 1, "name": "a"}]
    state = tmp_path / "state" / "things"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from etl.lock import RunLock; "
        f"RunLock(Path({str(state)!r}), 'things').acquire(); print('locked', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        refused = CliRunner().invoke(main, ["run", str(write_spec(SPEC))])
        assert refused.exit_code == 4 and f"pid {holder.pid}" in refused.output
    finally:
        holder.kill()
        holder.wait()
    assert json.loads((state / "run.lock").read_text())["pid"] == holder.pid
    result = CliRunner().invoke(main, ["run", str(write_spec(SPEC))])
    assert result.exit_code == 0, result.output
    assert sink.store == {"1": {"name": "a"}}
    refused, crashed, finished = (json.loads(line) for line in (state / "journal.jsonl").read_text().splitlines())
    assert (refused["status"], crashed["status"], finished["status"]) == ("refused", "crashed", "ok")
    assert f"(pid {holder.pid}) never finished: it was killed or crashed" in crashed["error"]
    status = CliRunner().invoke(main, ["status", str(write_spec(SPEC))])
    rows = [line for line in status.output.splitlines() if not line.startswith("    ")]
    assert [row.split()[1] for row in rows[2:]] == ["refused", "crashed", "ok"]
