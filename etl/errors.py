"""The exception tree. The CLI maps each branch to one exit code, in one place.

    EtlError                      exit 1: the run failed
    ├── SpecError                 exit 2: the pipeline file is wrong (carries every SpecProblem)
    ├── UsageError                exit 2: the command line is wrong
    ├── LockedError               exit 4: another run of the same pipeline holds the lock
    ├── SourceError               the source could not be read completely
    │   ├── HttpError             a request failed for good (status, or a transport error after retries)
    │   ├── ResponseError         a response was not what the spec says (bad JSON, records missing)
    │   └── PaginationError       pagination would loop, truncate or lose records
    └── SinkError                 the sink could not be written
        └── AuthError             the sink rejected the credentials (stops at once)

    RecordError                   one record failed (mapping, or rejected by the sink);
    └── MappingError              it is counted, reported and quarantined; the run goes on

Every message is one line a user can act on, and never carries a secret: adapters pass URLs through
`etl.redact` before they build a message.
"""

from __future__ import annotations

from dataclasses import dataclass


class EtlError(Exception):
    """Base of every error the CLI reports as one line."""

    exit_code = 1


@dataclass(frozen=True)
class SpecProblem:
    """One problem in a pipeline file, located for an editor."""

    file: str
    line: int | None
    column: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        key = f" {self.path}:" if self.path else ""
        return f"{where}:{key} {self.message}"


class SpecError(EtlError):
    exit_code = 2

    def __init__(self, problems: list[SpecProblem] | SpecProblem):
        self.problems = [problems] if isinstance(problems, SpecProblem) else list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class UsageError(EtlError):
    exit_code = 2


class LockedError(EtlError):
    exit_code = 4


class SourceError(EtlError):
    pass


class HttpError(SourceError):
    """Raised by the HTTP client; sinks re-raise it as their own kind where it matters."""

    def __init__(self, message: str, status: int | None = None, body: str | None = None):
        super().__init__(message)
        self.status = status
        self.body = body


class ResponseError(SourceError):
    pass


class PaginationError(SourceError):
    pass


class SinkError(EtlError):
    pass


class AuthError(SinkError):
    pass


class RecordError(Exception):
    """One record failed; never stops the run."""

    def __init__(self, key: str | None, message: str):
        super().__init__(message)
        self.key = key
        self.message = message


class MappingError(RecordError):
    def __init__(self, key: str | None, field: str, template: str, message: str):
        who = f"record {key!r}" if key is not None else "a record whose key is unknown"
        super().__init__(key, f"{who}: field {field!r}: {message} (template: {template})")
        self.field = field
        self.template = template
