"""A few calls to Medusa at a time, with the outcome a one-at-a-time loop would have had.

Medusa has no batch route for categories and tags, so a first night creates them one request each, and
waiting for each answer before sending the next costs most of a small sync. Sending a few at once is only
worth it if nothing else changes: what is sent, what the run reports, and what the log says must not depend
on which thread answered first. So `in_order`:

- starts call i only once every call up to i - workers has succeeded: after the first failure (at f), calls
  f+1 .. f+workers-1 still run (some may be under way already, and whether they are depends on timing) and
  nothing after them starts. Which requests a run sends is thus a function of Medusa's answers, never of the
  threads' timing, which is what lets a recorded cassette replay it exactly;
- returns, once every call it started has ended (no thread outlives it), the results a loop would have had
  when it stopped: those of the calls before the failure of the lowest index, and that failure;
- holds what the calls log (through `HeldLog`) and lets it out in call order, so a night's log reads as if
  the calls had been made one after the other.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
Held = tuple[logging.Logger, logging.LogRecord]
_held = threading.local()


class HeldLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """For the HTTP client's retry warnings: logged from calls running side by side they would interleave
    differently in every run, so within a call `in_order` runs they wait for the calls before it (each keeps
    the time it happened at); anywhere else they are logged at once."""

    def __init__(self, logger: logging.Logger):
        super().__init__(logger, {})

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        records: list[Held] | None = getattr(_held, "records", None)
        if records is None:
            kwargs.setdefault("stacklevel", 2)
            self.logger.log(level, msg, *args, **kwargs)
        elif self.isEnabledFor(level):
            exc_info = kwargs.get("exc_info")
            if exc_info and not isinstance(exc_info, tuple):
                exc_info = sys.exc_info()
            records.append((self.logger, self.logger.makeRecord(self.logger.name, level, "(held)", 0, msg, args,
                                                                exc_info or None, extra=kwargs.get("extra"))))


def in_order(calls: Sequence[Callable[[], T]], workers: int, *,
             name: str = "etl-medusa") -> tuple[list[T], BaseException | None]:
    """The results of the calls, in order, up to the first (lowest-indexed) one that raised, and what it
    raised; all of them and None when none did. That is what a loop would have had when it stopped, so the
    caller counts, links and reports exactly as it did when it made the calls itself."""
    workers = max(1, min(workers, len(calls)))
    if workers == 1:
        results: list[T] = []
        for call in calls:
            try:
                results.append(call())
            except Exception as exc:  # noqa: BLE001 - returned to the caller, who raises it
                return results, exc
        return results, None
    return _Window(calls, workers).run(name)


class _Window:
    """The state the workers share, all of it read and written under `lock`."""

    def __init__(self, calls: Sequence[Callable[[], Any]], workers: int):
        self.calls = calls
        self.workers = workers
        self.lock = threading.Condition()
        self.results: list[Any] = [None] * len(calls)
        self.errors: dict[int, BaseException] = {}
        self.finished = [False] * len(calls)
        self.logs: list[list[Held]] = [[] for _ in calls]
        self.next = 0
        self.succeeded = 0
        """How many calls from the first one on have all succeeded: call i may start once i < succeeded + workers."""
        self.released = 0
        """How many calls from the first one on have ended and had their records logged."""
        self.abandoned = False

    def run(self, name: str) -> tuple[list[Any], BaseException | None]:
        threads = [threading.Thread(target=self._work, name=f"{name}-{n + 1}") for n in range(self.workers)]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            # Reached early only when the main thread itself is interrupted (Ctrl-C): start nothing more, let
            # the requests under way end, so no thread is left writing to Medusa behind the caller's back.
            with self.lock:
                self.abandoned = True
                self.lock.notify_all()
            for thread in threads:
                if thread.ident is not None:
                    thread.join()
        if self.errors:
            first = min(self.errors)
            return self.results[:first], self.errors[first]
        return self.results, None

    def _work(self) -> None:
        while True:
            with self.lock:
                while not self._can_start() and not self._never():
                    self.lock.wait()
                if not self._can_start():
                    return
                index = self.next
                self.next += 1
            records: list[Held] = []
            _held.records = records
            try:
                result, error = self.calls[index](), None
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread, which raises it
                result, error = None, exc
            finally:
                _held.records = None
            with self.lock:
                self.results[index] = result
                self.logs[index] = records
                self.finished[index] = True
                if error is not None:
                    self.errors[index] = error
                while self.succeeded < len(self.calls) and self.finished[self.succeeded] \
                        and self.succeeded not in self.errors:
                    self.succeeded += 1
                self._release()
                self.lock.notify_all()

    def _can_start(self) -> bool:
        return not self.abandoned and self.next < len(self.calls) and self.next < self.succeeded + self.workers

    def _never(self) -> bool:
        """Nothing more will start: the end, an abandoned run, or a failure that pins the window."""
        return (self.abandoned or self.next >= len(self.calls)
                or (self.finished[self.succeeded] and self.succeeded in self.errors))

    def _release(self) -> None:
        while self.released < self.next and self.finished[self.released]:
            for logger, record in self.logs[self.released]:
                logger.handle(record)
            self.logs[self.released] = []
            self.released += 1
