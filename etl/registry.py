"""One registry per adapter kind. Built-ins and third-party adapters alike arrive through entry points
(`etl.sources`, `etl.sinks`, `etl.paginators`), so a sink is added with a package, never a fork."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from .errors import EtlError


class UnknownAdapter(EtlError):
    exit_code = 2

    def __init__(self, kind: str, name: str, known: list[str]):
        self.kind, self.name, self.known = kind, name, known
        super().__init__(f"unknown {kind} {name!r} (known: {', '.join(known) or 'none'})")


class AdapterLoadError(EtlError):
    pass


class Registry:
    def __init__(self, kind: str, group: str):
        self.kind = kind
        self.group = group
        self._loaded: dict[str, Any] = {}
        self._eps: dict[str, Any] | None = None

    def _entry_points(self) -> dict[str, Any]:
        if self._eps is None:
            self._eps = {ep.name: ep for ep in entry_points(group=self.group)}
        return self._eps

    def register(self, name: str, obj: Any) -> None:
        """For tests and embedding; installed adapters use entry points."""
        self._loaded[name] = obj

    def names(self) -> list[str]:
        return sorted(set(self._loaded) | set(self._entry_points()))

    def get(self, name: str) -> Any:
        if name not in self._loaded:
            ep = self._entry_points().get(name)
            if ep is None:
                raise UnknownAdapter(self.kind, name, self.names())
            try:
                self._loaded[name] = ep.load()
            except Exception as exc:  # noqa: BLE001 - a broken plugin is reported, not a crash
                raise AdapterLoadError(f"{self.kind} {name!r} ({ep.value}) failed to load: "
                                       f"{type(exc).__name__}: {exc}") from exc
        return self._loaded[name]

    def origin(self, name: str) -> str:
        ep = self._entry_points().get(name)
        if ep is None:
            obj = self._loaded.get(name)
            return f"{obj.__module__}:{obj.__qualname__}" if obj is not None else "?"
        dist = getattr(ep, "dist", None)
        return f"{ep.value}" + (f" ({dist.name} {dist.version})" if dist else "")


sources = Registry("source", "etl.sources")
sinks = Registry("sink", "etl.sinks")
paginators = Registry("paginator", "etl.paginators")
