"""One run per pipeline at a time, for cron: an flock on a file in the state directory.

The kernel drops an flock when its process dies (even by kill -9), so a lock left by a dead run is simply
taken over; the pid and start time written into the file only serve the message of the refused run.
"""

from __future__ import annotations

import fcntl
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType

from .errors import LockedError


class RunLock:
    def __init__(self, state_dir: Path, pipeline: str):
        self.path = state_dir / "run.lock"
        self.pipeline = pipeline
        self._fd: int | None = None
        self.stale: dict | None = None
        """The holder a dead run left in the file (a clean release empties it): that run never finished."""

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise LockedError(f"another run of {self.pipeline} is in progress{holder}: not starting a second "
                              f"one (lock: {self.path})") from None
        self.stale = _read_info(fd)
        os.ftruncate(fd, 0)
        info = {"pid": os.getpid(), "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def _read_info(fd: int) -> dict | None:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) and "pid" in info else None


def _read_holder(fd: int) -> str:
    info = _read_info(fd)
    return f" (pid {info['pid']}, started {info.get('started_at', '?')})" if info else ""
