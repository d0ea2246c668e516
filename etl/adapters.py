"""The two tiny protocols an adapter implements, and the values that cross them.

Sources yield plain dicts. Sinks see `Item`s (a mapped record with its source key and the record it came
from, so a failure can be quarantined and replayed) and answer with `Outcome`s, one per item, so a failure in
one item never hides the others. The engine knows nothing else of an adapter.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

Action = Literal["create", "update", "unchanged", "skip", "fail"]
Result = Literal["created", "updated", "unchanged", "failed", "pruned"]


@dataclass
class Item:
    key: str
    data: dict[str, Any]
    record: dict[str, Any] | None = None


@dataclass
class Change:
    """What a sink would do with one item.

    `payload` is what the sink will send (handles made unique, references resolved), so a plan shows exactly
    what a run does; `diff` is field -> [old, new] for updates, when known. Changes are spooled to disk as
    JSON between planning and writing, so every value here must be JSON-serialisable.
    """

    action: Action
    item: Item
    target_id: str | None = None
    payload: dict[str, Any] | None = None
    diff: dict[str, list[Any]] = field(default_factory=dict)
    message: str | None = None
    """Why, for `fail`: the sink refuses the item at planning (e.g. a conflict); it is counted and quarantined."""


@dataclass
class Outcome:
    key: str
    result: Result
    id: str | None = None
    message: str | None = None
    item: Item | None = None


@dataclass
class Prune:
    """An item in the sink that this pipeline created and the source no longer has."""

    key: str
    id: str
    label: str = ""


@dataclass
class Context:
    """What every adapter may use: names for messages, where to keep state, switches from the CLI."""

    pipeline: str
    spec_path: Path
    state_dir: Path
    log: logging.Logger
    options: Mapping[str, Any] = field(default_factory=dict)
    """full, dry_run, allow_mass_prune (CLI switches), prune_action (the spec's, so a sink can tell what
    is already pruned), plan_notes (a list a sink appends lines to, in `etl plan`)."""
    secrets: tuple[str, ...] = ()
    warn: Callable[[str], None] | None = None
    """Report a warning in the run's summary and report (and the log); None outside a run."""

    def warning(self, message: str) -> None:
        if self.warn is not None:
            self.warn(message)
        else:
            self.log.warning(message)


@dataclass
class SourceStats:
    fetched: int = 0
    expected: int | None = None
    pages: int = 0
    complete: bool = False
    duplicates: int = 0


@runtime_checkable
class Source(Protocol):
    config_schema: ClassVar[dict[str, Any]]

    def __init__(self, config: Mapping[str, Any], context: Context) -> None: ...

    def read(self) -> Iterator[dict[str, Any]]:
        """Yield records; set `stats.complete` only once every record was read."""

    @property
    def stats(self) -> SourceStats: ...


@runtime_checkable
class Sink(Protocol):
    config_schema: ClassVar[dict[str, Any]]
    two_pass: ClassVar[bool]
    """True when the sink must see every item before its first write (the engine spools items to disk)."""

    def __init__(self, config: Mapping[str, Any], context: Context) -> None: ...

    @property
    def batch_size(self) -> int: ...

    def open(self) -> None:
        """Connect and check credentials; fail before anything is read or written."""

    def prepare(self, items: Iterable[Item]) -> None:
        """First pass over every item (two-pass sinks): e.g. sync categories, read what exists."""

    def plan(self, item: Item) -> Change: ...

    def write(self, batch: Sequence[Change]) -> list[Outcome]:
        """Apply a batch; one outcome per change, failures included, never raise for one bad item."""

    def prunes(self, seen_keys: Collection[str]) -> list[Prune]:
        """Items this pipeline created that the source no longer has. `seen_keys` may live on disk: ask it
        `key in seen_keys` for each item rather than copy it."""

    def prune(self, prunes: Sequence[Prune], action: str) -> list[Outcome]:
        """Apply the spec's prune action (draft, delete) to items the guard let through."""

    def close(self) -> None: ...
