"""A run as cron sees it: under the pipeline's lock, and written to its journal whatever happens."""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from . import journal
from .engine import RunOptions, run
from .errors import LockedError
from .lock import RunLock
from .report import RunReport
from .spec import Spec


def guarded_run(spec: Spec, options: RunOptions, command: str) -> RunReport:
    lock = RunLock(spec.state_dir, spec.name)
    try:
        lock.acquire()
    except LockedError as exc:
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        journal.append_refused(spec.state_dir, started, str(exc), exc.exit_code, command)
        raise
    try:
        if lock.stale is not None:
            logging.getLogger("etl").warning("Previous run: %s", journal.append_crashed(spec.state_dir, lock.stale))
        report = run(spec, options)
        journal.append(spec.state_dir, report, command, options)
    finally:
        lock.release()
    return report
