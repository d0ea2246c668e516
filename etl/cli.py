"""The `etl` command. Every EtlError becomes one line on stderr and an exit code, here and nowhere else:

    0  all good            2  spec or usage error       4  another run holds the lock
    1  the run failed      3  finished, but some records failed (cron can alert on it)
"""

from __future__ import annotations

import contextlib
import functools
import json
import sys
import traceback
from collections.abc import Callable
from itertools import islice
from pathlib import Path
from typing import Any

import click

from . import __version__, registry
from .errors import EtlError, RecordError, SpecError, UsageError
from .logs import setup_logging
from .redact import redact
from .spec import AdapterSpec, Spec, full_schema, load_spec

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PARTIAL, EXIT_LOCKED = 0, 1, 2, 3, 4


def _traceback(exc: BaseException) -> None:
    """--debug: the whole traceback, secrets masked like every other line."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    click.echo(redact(text.rstrip("\n")), err=True)


def _fail(exc: BaseException, debug: bool) -> int:
    if debug:
        _traceback(exc)
    if isinstance(exc, SpecError):
        for problem in exc.problems:
            click.echo(redact(str(problem)), err=True)
        n = len(exc.problems)
        click.echo(f"{n} problem{'s' if n != 1 else ''} found", err=True)
        return exc.exit_code
    if isinstance(exc, EtlError):
        click.echo(f"error: {redact(str(exc))}", err=True)
        return exc.exit_code
    click.echo(f"internal error: {type(exc).__name__}: {redact(str(exc))} (rerun with --debug for details)",
               err=True)
    return EXIT_FAILED


def common(fn: Callable[..., int | None]) -> Callable[..., None]:
    """Verbosity, log format and --debug on every command; errors turned into exit codes."""

    @click.option("-v", "--verbose", "verbose", count=True, help="More detail (debug logs).")
    @click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors.")
    @click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
    @click.option("--debug", is_flag=True, help="Show tracebacks.")
    @functools.wraps(fn)
    def wrapper(*args: Any, verbose: int, quiet: bool, log_format: str, debug: bool, **kwargs: Any) -> None:
        setup_logging(-1 if quiet else verbose, log_format)
        try:
            code = fn(*args, quiet=quiet, debug=debug, **kwargs) or EXIT_OK
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except (EtlError, Exception) as exc:  # noqa: BLE001 - the one place errors become exit codes
            code = _fail(exc, debug)
        sys.exit(code)

    return wrapper


def pipeline_arg(fn: Callable) -> Callable:
    fn = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                      help="Override a spec value, e.g. --set sink.batch_size=50 (repeatable).")(fn)
    return click.argument("pipeline", type=click.Path(dir_okay=False, path_type=Path))(fn)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="etl")
def main() -> None:
    """Declarative pipelines: a REST source, Jinja mappings, a store, in one YAML file."""
    # source text may hold what UTF-8 cannot encode (a lone surrogate: half an emoji cut by the API); it is
    # printed as its escape rather than ending the command with an encoding error
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError, OSError):
            stream.reconfigure(errors="backslashreplace")


@main.command()
@pipeline_arg
@click.option("--to", "to_file", metavar="FILE", help="Write the mapped records to this JSONL file instead of "
              "the pipeline's sink (a preview that writes nothing remote).")
@click.option("--limit", type=click.IntRange(min=1), help="Stop after N source records (no pruning then).")
@click.option("--report", "report_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the run's summary as JSON to FILE.")
@click.option("--full", is_flag=True, help="Write every item, even those whose content is unchanged.")
@click.option("--allow-mass-prune", is_flag=True, help="Prune even beyond prune.max_fraction.")
@click.option("--quarantine", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to keep failed records (default: a file in the state directory).")
@common
def run(pipeline: Path, overrides: tuple[str, ...], to_file: str | None, limit: int | None,
        report_file: Path | None, full: bool, allow_mass_prune: bool, quarantine: Path | None,
        quiet: bool, debug: bool) -> int:
    """Run PIPELINE: read the source, map every record, write the sink, print a summary."""
    from .engine import RunOptions
    from .engine import run as run_pipeline
    from .runner import guarded_run

    sink = AdapterSpec("jsonl", {"path": to_file}) if to_file else None
    spec = load_spec(pipeline, overrides=overrides, sink=sink)
    options = RunOptions(limit=limit, full=full, allow_mass_prune=allow_mass_prune, quarantine=quarantine)
    # a preview writes nothing shared, so it neither waits for the lock nor enters the journal
    report = run_pipeline(spec, options) if to_file else guarded_run(spec, options, command="run")
    if report_file is not None:
        report.write(report_file)
    if not quiet or report.exit_code:
        click.echo(report.summary())
    if report.exception is not None and debug:
        _traceback(report.exception)
    return report.exit_code


@main.command()
@pipeline_arg
@common
def validate(pipeline: Path, overrides: tuple[str, ...], quiet: bool, debug: bool) -> int:
    """Check PIPELINE against the schema, the adapters' schemas and the templates; list every problem."""
    spec = load_spec(pipeline, overrides=overrides)
    if not quiet:
        click.echo(f"{pipeline}: OK ({spec.name}: source {spec.source.type}, sink {spec.sink.type}, "
                   f"{len(spec.mapping.fields)} mapped fields)")
    return EXIT_OK


@main.command()
@pipeline_arg
@click.option("--index", type=click.IntRange(min=0), default=0, show_default=True,
              help="Which source record to render (0 = the first).")
@click.option("--record", "record_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Render this JSON record instead of fetching one from the source.")
@common
def render(pipeline: Path, overrides: tuple[str, ...], index: int, record_file: Path | None,
           quiet: bool, debug: bool) -> int:
    """Print the mapped output of one source record, for whoever edits a mapping."""
    from .engine import RunOptions, make_context, make_mapper, make_source

    spec = load_spec(pipeline, overrides=overrides, sink=AdapterSpec("jsonl", {"path": "-"}))
    mapper = make_mapper(spec)
    if record_file is not None:
        try:
            record = json.loads(record_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise UsageError(f"{record_file}: not JSON: {exc.msg} at line {exc.lineno}") from None
    else:
        source = make_source(spec, make_context(spec, RunOptions()))
        record = next(islice(source.read(), index, None), None)
        if record is None:
            raise UsageError(f"the source has no record at index {index} (it has {source.stats.fetched})")
    try:
        item = mapper.map(record)
    except RecordError as exc:
        raise RenderFailed(exc.message) from None
    click.echo(json.dumps({"key": item.key, "data": item.data}, indent=2, ensure_ascii=False))
    return EXIT_OK


class RenderFailed(EtlError):
    pass


@main.command()
@pipeline_arg
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path), help="Save the plan as JSON.")
@click.option("--full", is_flag=True, help="Plan updates even for unchanged items.")
@click.option("--allow-mass-prune", is_flag=True, help="Plan prunes even beyond prune.max_fraction.")
@common
def plan(pipeline: Path, overrides: tuple[str, ...], out_file: Path | None, full: bool, allow_mass_prune: bool,
         quiet: bool, debug: bool) -> int:
    """Show what a run would do (creates, updates with a field diff, unchanged, prunes); writes nothing."""
    from .engine import RunOptions, run
    from .plan import Plan

    spec = load_spec(pipeline, overrides=overrides)
    result = Plan(spec.name)
    options = RunOptions(dry_run=True, full=full, allow_mass_prune=allow_mass_prune,
                         on_change=result.add, on_prune=result.add_prunes, extra={"plan_notes": result.notes})
    report = run(spec, options)
    if report.error is not None:
        raise PlanFailed(report.error)
    if out_file is not None:
        result.write(out_file)
    click.echo(result.text())
    return EXIT_OK


class PlanFailed(EtlError):
    pass


@main.command()
@pipeline_arg
@click.option("-n", "count", type=click.IntRange(min=1), default=10, show_default=True, help="How many runs.")
@click.option("--json", "as_json", is_flag=True, help="Print the journal entries as JSON lines.")
def status(pipeline: Path, overrides: tuple[str, ...], count: int, as_json: bool) -> None:
    """Show the recent runs of PIPELINE from its journal, and whether one is running now."""
    from . import journal
    from .lock import RunLock

    try:
        spec = load_spec(pipeline, overrides=overrides, compile_mapping=False,
                         sink=AdapterSpec("jsonl", {"path": "-"}))
    except EtlError as exc:
        sys.exit(_fail(exc, False))
    entries = journal.recent(spec.state_dir, count)
    if as_json:
        for entry in entries:
            click.echo(json.dumps(entry))
        return
    lock = RunLock(spec.state_dir, spec.name)
    try:
        lock.acquire()
        lock.release()
        click.echo(f"{spec.name}: not running (state in {spec.state_dir})")
    except EtlError as exc:
        click.echo(f"{spec.name}: RUNNING - {exc}")
    if not entries:
        click.echo("no runs yet")
        return
    click.echo(f"{'start':<26}{'status':<9}{'exit':>4}{'fetched':>9}{'created':>9}{'updated':>9}"
               f"{'unchanged':>11}{'pruned':>8}{'failed':>8}{'seconds':>9}")
    for e in entries:
        row = {k: "-" if e.get(k) is None else e[k] for k in
               ("start", "status", "exit_code", "fetched", "created", "updated", "unchanged", "pruned", "failed")}
        seconds = e.get("duration_s")
        click.echo(f"{row['start']:<26}{row['status']:<9}{row['exit_code']:>4}{row['fetched']:>9}"
                   f"{row['created']:>9}{row['updated']:>9}{row['unchanged']:>11}{row['pruned']:>8}"
                   f"{row['failed']:>8}{'-' if seconds is None else f'{seconds:.1f}':>9}")
        if e.get("error"):
            click.echo(f"    error: {e['error']}")


@main.command()
@click.argument("quarantine_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--pipeline", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The pipeline to replay through (default: the one recorded in the file).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE")
@click.option("--report", "report_file", type=click.Path(dir_okay=False, path_type=Path))
@common
def retry(quarantine_file: Path, pipeline: Path | None, overrides: tuple[str, ...], report_file: Path | None,
          quiet: bool, debug: bool) -> int:
    """Replay the records of QUARANTINE_FILE through their pipeline, once their cause is fixed.

    Records are mapped again with the pipeline as it is now; what fails again goes to a new quarantine file.
    """
    from .engine import RunOptions
    from .quarantine import read_quarantine
    from .runner import guarded_run

    entries = list(read_quarantine(quarantine_file))
    if pipeline is None:
        recorded = {e.get("pipeline") for e in entries}
        if len(recorded) != 1 or None in recorded:
            raise UsageError(f"{quarantine_file}: cannot tell which pipeline to use: pass --pipeline FILE")
        pipeline = Path(recorded.pop())
    spec = load_spec(pipeline, overrides=overrides)
    records = [e["record"] for e in entries if e.get("record") is not None]
    report = guarded_run(spec, RunOptions(records=records), command=f"retry {quarantine_file}")
    if report_file is not None:
        report.write(report_file)
    if not quiet or report.exit_code:
        click.echo(report.summary())
    return report.exit_code


@main.command()
def schema() -> None:
    """Print the full JSON Schema of a pipeline file (core and every installed adapter), for editors."""
    try:
        click.echo(json.dumps(full_schema(), indent=2))
    except EtlError as exc:
        sys.exit(_fail(exc, False))


@main.command()
def plugins() -> None:
    """List the installed sources, sinks and paginators, and where each comes from."""
    for reg in (registry.sources, registry.sinks, registry.paginators):
        click.echo(f"{reg.kind}s ({reg.group}):")
        for name in reg.names():
            click.echo(f"  {name:<14} {reg.origin(name)}")


def load(path: Path, overrides: tuple[str, ...] = ()) -> Spec:
    return load_spec(path, overrides=overrides)


if __name__ == "__main__":
    main()
