"""A run as cron sees it: under the pipeline's lock, and written to its journal whatever happens."""

from __future__ import annotations

import logging

from . import journal
from .engine import RunOptions, run
from .lock import RunLock
from .report import RunReport
from .spec import Spec


def guarded_run(spec: Spec, options: RunOptions, command: str) -> RunReport:
    with RunLock(spec.state_dir, spec.name) as lock:
        if lock.stale is not None:
            logging.getLogger("etl").warning("Previous run: %s", journal.append_crashed(spec.state_dir, lock.stale))
        report = run(spec, options)
        journal.append(spec.state_dir, report, command, options)
    return report
