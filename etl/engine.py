"""run(spec) -> RunReport: read, map, plan, batch, write, prune. Knows no HTTP and no store.

Streaming: records flow one by one; a two-pass sink gets them spooled to disk first (so it can sync
categories and read what exists before its first write), never held in memory. One failing record or batch
never stops the others: it is counted, reported and quarantined. A failure of the run itself (source
unreadable, sink unreachable, credentials rejected) ends the run with the error in the report.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import islice
from pathlib import Path
from typing import Any

from . import registry
from .adapters import Change, Context, Item, Outcome, Sink, Source
from .batching import chunked
from .errors import EtlError, RecordError
from .keyset import KeySet
from .mapping import Mapper, UniqueValues
from .quarantine import Quarantine
from .report import RunReport
from .spec import Spec
from .spool import Spool

log = logging.getLogger("etl")
YOUNG_COLLECTION_THRESHOLD = 10_000


@dataclass
class RunOptions:
    limit: int | None = None
    full: bool = False
    dry_run: bool = False
    allow_mass_prune: bool = False
    quarantine: Path | None = None
    records: Iterable[dict[str, Any]] | None = None
    """Replay these records instead of reading the source (etl retry); pruning is then off."""
    on_change: Callable[[Change], None] | None = None
    on_prune: Callable[[list], None] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def make_context(spec: Spec, options: RunOptions, warn: Callable[[str], None] | None = None) -> Context:
    return Context(
        pipeline=spec.name,
        spec_path=spec.path,
        state_dir=spec.state_dir,
        log=log,
        options={"full": options.full, "dry_run": options.dry_run, "prune_action": spec.prune.action,
                 "allow_mass_prune": options.allow_mass_prune, **options.extra},
        warn=warn,
    )


def make_source(spec: Spec, context: Context) -> Source:
    return registry.sources.get(spec.source.type)(spec.source.config, context)


def make_sink(spec: Spec, context: Context) -> Sink:
    return registry.sinks.get(spec.sink.type)(spec.sink.config, context)


def make_mapper(spec: Spec) -> Mapper:
    return Mapper(spec.mapping.key, spec.mapping.fields, file=str(spec.path), locate=spec.locate)


class InternalError(EtlError):
    """An unexpected exception inside an adapter or the engine: reported like any failed run."""


def run(spec: Spec, options: RunOptions | None = None) -> RunReport:
    return Run(spec, options or RunOptions()).execute()


class Run:
    def __init__(self, spec: Spec, options: RunOptions):
        self.spec = spec
        self.options = options
        self.report = RunReport(pipeline=spec.name)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        self.quarantine = Quarantine(options.quarantine or spec.state_dir / f"quarantine-{stamp}.jsonl", spec.path)
        self.seen = KeySet()
        self.unique = UniqueValues(spec.mapping.unique)
        self.keyless_failures = 0

    def execute(self) -> RunReport:
        with _fewer_young_collections():
            return self._execute()

    def _execute(self) -> RunReport:
        report = self.report
        started = time.monotonic()
        report.started_at = _now()
        context = make_context(self.spec, self.options, self._warn)
        sink: Sink | None = None
        finished = False
        try:
            mapper = make_mapper(self.spec)
            source = make_source(self.spec, context) if self.options.records is None else None
            sink = make_sink(self.spec, context)
            log.info("Starting %s", self.spec.name)
            sink.open()
            items = self._items(source, mapper)
            if sink.two_pass:
                self._two_pass(sink, items)
            else:
                self._stream(sink, items)
            report.source_complete = self._complete(source)
            self._prune(sink)
            finished = True
        except EtlError as exc:
            self._failed(exc)
        except Exception as exc:  # noqa: BLE001 - a bug still ends in a report, a journal line and exit 1
            self._failed(InternalError(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug)"), exc)
        finally:
            if sink is not None:
                self._close(sink, finished)
            self.quarantine.close()
            self.seen.close()
            self.unique.close()
            if self.quarantine.count:
                report.quarantine = str(self.quarantine.path)
            report.duration_s = time.monotonic() - started
            report.finished_at = _now()
            report.finish()
        return report

    def _failed(self, exc: EtlError, cause: BaseException | None = None) -> None:
        self.report.error = str(exc)
        self.report.exit_code = exc.exit_code
        self.report.exception = cause or exc
        log.error("%s failed: %s", self.spec.name, exc)

    def _close(self, sink: Sink, finished: bool) -> None:
        """A finished run closes its sink, and a sink that cannot finish its output fails the run. A failed run
        aborts the sink when it can (`abort() -> note | None`, optional): the jsonl preview then leaves no
        partial file, which would look complete; its note goes to the warnings and the summary."""
        abort = getattr(sink, "abort", None)
        try:
            if finished or abort is None:
                sink.close()
                return
            note = abort()
        except EtlError as exc:
            if finished:
                self._failed(exc)
            else:
                log.debug("closing the sink failed", exc_info=True)
            return
        except Exception:  # noqa: BLE001 - closing must not hide the run's own error
            log.debug("closing the sink failed", exc_info=True)
            return
        if note:
            self.report.warnings.append(note)
            log.warning(note)

    def _complete(self, source: Source | None) -> bool:
        if source is None or self.options.limit is not None:
            return False
        return bool(source.stats.complete)

    def _items(self, source: Source | None, mapper: Mapper) -> Iterator[Item]:
        records: Iterable[dict[str, Any]] = source.read() if source is not None else self.options.records or []
        unique = self.unique
        if self.options.limit is not None:
            records = islice(records, self.options.limit)
        for record in records:
            self.report.fetched += 1
            try:
                item = mapper.map(record)
            except RecordError as exc:
                self._record_failed(exc.key, exc.message, "mapping", record, None)
                continue
            if not self.seen.add(item.key):
                self.report.duplicates += 1
                warning = f"Duplicate key {item.key!r} in the source: kept the first record, skipped this one"
                self.report.warnings.append(warning)
                log.warning(warning)
                continue
            unique.apply(item)
            yield item
        if source is not None:
            stats = source.stats
            if stats.expected is not None and stats.fetched != stats.expected and self.options.limit is None:
                warning = f"Fetched {stats.fetched} records but the source reported total {stats.expected}"
                if warning not in self.report.warnings:
                    self.report.warnings.append(warning)

    def _record_failed(self, key: str | None, message: str, stage: str, record: Any, data: Any) -> None:
        if key is None:
            self.keyless_failures += 1
        else:
            self.seen.add(key)
        self.report.fail(key, message, stage)
        log.error("Record %s failed (%s): %s", key if key is not None else "?", stage, message)
        self.quarantine.add(key, stage, message, record, data)

    def _two_pass(self, sink: Sink, items: Iterator[Item]) -> None:
        with Spool(_item_to_json, _item_from_json) as spooled, Spool(_change_to_json, _change_from_json) as todo:
            for item in items:
                spooled.add(item)
            self._log_fetched()
            sink.prepare(spooled)
            counts = {"create": 0, "update": 0, "unchanged": 0}
            for item in spooled:
                change = self._planned(sink, item)
                counts[change.action] = counts.get(change.action, 0) + 1
                if change.action in ("create", "update"):
                    todo.add(change)
            noun = getattr(sink, "noun", "items")
            log.info("%d %s to create, %d to update, %d unchanged", counts["create"], noun,
                     counts["update"], counts["unchanged"])
            if not self.options.dry_run:
                self._write(sink, todo, len(todo))

    def _stream(self, sink: Sink, items: Iterator[Item]) -> None:
        def changes() -> Iterator[Change]:
            for item in items:
                change = self._planned(sink, item)
                if change.action in ("create", "update"):
                    yield change

        if self.options.dry_run:
            for _ in changes():
                pass
        else:
            self._write(sink, changes(), None)
        self._log_fetched()

    def _warn(self, message: str) -> None:
        """Adapters' warnings reach the log, the report and the summary, not just the log."""
        self.report.warnings.append(message)
        log.warning(message)

    def _planned(self, sink: Sink, item: Item) -> Change:
        """Ask the sink, count what needs no write (unchanged, or refused at planning: a conflict), show it."""
        change = sink.plan(item)
        if self.options.on_change is not None:
            self.options.on_change(change)
        if change.action == "unchanged":
            self.report.unchanged += 1
        elif change.action == "fail":
            self._record_failed(item.key, change.message or "refused by the sink", "plan", item.record, item.data)
        return change

    def _log_fetched(self) -> None:
        log.info("Fetched %d records (%d failed to map)", self.report.fetched, self.report.failed)

    def _write(self, sink: Sink, changes: Iterable[Change], total: int | None) -> None:
        noun = getattr(sink, "noun", "items")
        done = 0
        for number, batch in enumerate(chunked(changes, sink.batch_size), 1):
            outcomes = sink.write(batch)
            tally = self._tally(batch, outcomes)
            done += len(batch)
            parts = [f"{verb} {n}" for verb, n in tally.items() if n and verb != "failed"]
            text = f"{', '.join(parts) or 'wrote 0'} {noun}"
            if tally["failed"]:
                text += f", {tally['failed']} failed"
            progress = f"{done}/{total}" if total is not None else f"{done}"
            log.info("Batch %d: %s (%s)", number, text, progress)

    def _tally(self, batch: list[Change], outcomes: list[Outcome]) -> dict[str, int]:
        tally = {"created": 0, "updated": 0, "unchanged": 0, "failed": 0}
        answered = set()
        by_key = {c.item.key: c for c in batch}
        for outcome in outcomes:
            answered.add(outcome.key)
            if outcome.result == "failed":
                change = by_key.get(outcome.key)
                item = change.item if change else outcome.item
                self._record_failed(outcome.key, outcome.message or "failed", "sink",
                                    item.record if item else None, item.data if item else None)
            else:
                setattr(self.report, outcome.result, getattr(self.report, outcome.result) + 1)
            tally[outcome.result] = tally.get(outcome.result, 0) + 1
        for change in batch:
            if change.item.key not in answered:
                self._record_failed(change.item.key, "the sink returned no outcome for this item", "sink",
                                    change.item.record, change.item.data)
                tally["failed"] += 1
        return tally

    def _prune(self, sink: Sink) -> None:
        from .pruning import run_prune

        run_prune(self, sink)


@contextmanager
def _fewer_young_collections() -> Iterator[None]:
    """Each record makes dozens of short-lived containers, all freed by reference counting; at Python's
    default threshold (700) the cycle collector runs every few records for nothing, about a tenth of the
    time of a large run. A collection threshold of 0 (collector off) is left alone."""
    saved = gc.get_threshold()
    if saved[0]:
        gc.set_threshold(max(saved[0], YOUNG_COLLECTION_THRESHOLD), *saved[1:])
    try:
        yield
    finally:
        gc.set_threshold(*saved)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _item_to_json(item: Item) -> list[Any]:
    return [item.key, item.data, item.record]


def _item_from_json(raw: list[Any]) -> Item:
    return Item(raw[0], raw[1], raw[2])


def _change_to_json(change: Change) -> list[Any]:
    return [change.action, _item_to_json(change.item), change.target_id, change.payload, change.diff]


def _change_from_json(raw: list[Any]) -> Change:
    return Change(raw[0], _item_from_json(raw[1]), raw[2], raw[3], raw[4])
