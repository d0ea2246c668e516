"""Guarded pruning: remove what this pipeline created and the source no longer has, but never after an
incomplete read and never more than `prune.max_fraction` of the pipeline's items unless told so."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .adapters import Sink
from .errors import EtlError

if TYPE_CHECKING:
    from .engine import Run

log = logging.getLogger("etl")


class PruneRefused(EtlError):
    exit_code = 1


def run_prune(run: Run, sink: Sink) -> None:
    spec, report = run.spec, run.report
    action = spec.prune.action
    if action == "ignore":
        return
    if not report.source_complete:
        warning = "Pruning skipped: the source read was incomplete (or limited), so absence proves nothing"
        report.warnings.append(warning)
        log.warning(warning)
        return
    if run.keyless_failures:
        warning = f"Pruning skipped: {run.keyless_failures} records failed before their key was known"
        report.warnings.append(warning)
        log.warning(warning)
        return
    prunes = sink.prunes(run.seen)
    if run.options.on_prune is not None:
        run.options.on_prune(prunes)
    if not prunes:
        return
    owned = len(prunes) + len(run.seen)
    fraction = len(prunes) / owned if owned else 1.0
    if fraction > spec.prune.max_fraction and not run.options.allow_mass_prune:
        raise PruneRefused(
            f"refusing to prune {len(prunes)} of {owned} items ({fraction:.0%} > prune.max_fraction "
            f"{spec.prune.max_fraction:.0%}): check the source, or pass --allow-mass-prune")
    if run.options.dry_run:
        return
    outcomes = sink.prune(prunes, action)
    for outcome in outcomes:
        if outcome.result == "pruned":
            report.pruned += 1
        elif outcome.result == "failed":
            run._record_failed(outcome.key, outcome.message or "prune failed", "prune", None, None)
    log.info("Pruned %d %s (%s)", report.pruned, getattr(sink, "noun", "items"), action)
