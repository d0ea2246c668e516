"""Cron safety against a real Medusa: two `etl run` processes of the same pipeline at once, as when a night's
run is still going when the next one starts. One runs; the other exits 4 at once, without a request.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tests.sinks.medusa.harness import PIPELINE
from tests.sinks.medusa.proxy import MedusaProxy
from tests.support.dummyjson import serve_dummyjson

pytestmark = pytest.mark.live

ETL = str(Path(sys.executable).with_name("etl"))


def wait_for_lock(lock: Path, pid: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if json.loads(lock.read_text() or "{}").get("pid") == pid:
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"the first run never took the lock {lock}")


def test_two_runs_at_once_one_runs_and_the_other_is_refused(live_medusa, live_store, tmp_path):
    state = tmp_path / "state"
    with serve_dummyjson() as dummyjson, MedusaProxy(live_medusa.url) as watched:
        env = {"PATH": "/usr/bin:/bin", "ETL_STATE_DIR": str(state), "DUMMYJSON_URL": dummyjson}
        first = subprocess.Popen([ETL, "run", str(PIPELINE), "--report", str(tmp_path / "first.json")],
                                 env={**env, **live_medusa.env()}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
        try:
            wait_for_lock(state / "dummyjson-to-medusa" / "run.lock", first.pid)
            started = time.monotonic()
            second = subprocess.run([ETL, "run", str(PIPELINE)], env={**env, **replace(live_medusa,
                                    url=watched.url).env()}, capture_output=True, text=True, timeout=60)
            refused_in = time.monotonic() - started
            assert first.poll() is None, "the first run was still going when the second was refused"
        finally:
            out, err = first.communicate(timeout=600)

    assert second.returncode == 4
    assert second.stderr.startswith(f"error: another run of dummyjson-to-medusa is in progress (pid {first.pid}, ")
    assert refused_in < 10 and watched.seen == [], "refused at once, before any request to Medusa"
    assert first.returncode == 0, err
    assert json.loads((tmp_path / "first.json").read_text())["created"] == 194
    assert len(live_store.products("id")) == 194

    status = subprocess.run([ETL, "status", str(PIPELINE)], env=env, capture_output=True, text=True, timeout=60)
    first_line, _header, *runs = status.stdout.splitlines()
    assert first_line.startswith("dummyjson-to-medusa: not running")
    refused, error, ran = runs
    assert refused.split()[1:3] == ["refused", "4"] and error.strip().startswith("error: another run of")
    assert ran.split()[1:5] == ["ok", "0", "194", "194"], "the refused run, then the run that ran, in the journal"
