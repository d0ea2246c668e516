"""Known credentials never show: every command, at every verbosity, against servers that fail and echo them back.

The source takes a token in a header and a key in the URL; the sink (Medusa) an API key, or an admin password.
The source retries a 500 (so messages carry the URL) and, in the "echo" runs, answers a page with a 400 whose
body quotes the query string and the headers it received, as many APIs do; the Medusa stand-in refuses the
credentials with a 401 that quotes them too. None of the values, in any form a URL, a repr or a server gives
them, may appear on stdout, on stderr, in the report, the quarantine file, the journal, the preview or a cassette.
"""

from __future__ import annotations

import base64
import itertools
import json
from pathlib import Path
from urllib.parse import quote, quote_plus, unquote_plus

import pytest
from click.testing import CliRunner

from etl.cli import main
from etl.engine import run
from etl.spec import AdapterSpec, load_spec
from tests.conftest import CASSETTES, make_vcr
from tests.support.faulty_server import FaultyServer, Reply, Request, catalogue

SECRETS = {
    "SOURCE_TOKEN": "tok-3f9a8b7c6d5e",               # a secret-looking name
    "SOURCE_KEY": "key+1a2b/3c4d=5e6f",               # characters a URL encodes, and a server reads back changed
    "UPSTREAM": "neutral-5e5e5e5e",                   # a plain name in a secret-looking header (Authorization)
    "UPSTREAM_SIG": "sig-0f0f0f0f0f",                 # a plain name in a secret-looking query parameter (sig)
    "MEDUSA_API_KEY": "sk_live_9z8y7x6w5v",
    "MEDUSA_ADMIN_PASSWORD": 'hunter2 "correct" horse',
}
FORMS = {value: {value, quote(value, safe=""), quote_plus(value), unquote_plus(value), json.dumps(value)[1:-1]}
         for value in SECRETS.values()}
FORMS["basic"] = {base64.b64encode(f"{SECRETS['MEDUSA_API_KEY']}:".encode()).decode()}

PIPELINE = """\
version: 1
name: secrets
source:
  type: rest
  url: {source}/products?api_key=${{SOURCE_KEY}}&sig=${{UPSTREAM_SIG}}
  headers: {{Authorization: "Bearer ${{UPSTREAM}}", X-Source-Token: "${{SOURCE_TOKEN}}"}}
  records: products
  pagination: {{type: offset, limit: 10, offset_param: skip, total: total}}
  timeout: 1s
  retry: {{attempts: 2, backoff: {{initial: 1ms}}}}
mapping:
  key: "{{{{ record.id }}}}"
  fields:
    title: "{{{{ record.title }}}}"
    handle: "{{{{ record.title | slug }}}}"
sink:
  type: medusa
  url: {medusa}
  {credentials}
  timeout: 1s
  retry: {{attempts: 1}}
"""
CREDENTIALS = {"api key": "api_key: ${MEDUSA_API_KEY}",
               "password": "email: admin@example.com\n  password: ${MEDUSA_ADMIN_PASSWORD}"}
PRODUCTS = [{"id": i, "title": f"Product {i}" if i != 4 else None} for i in range(1, 26)]


def echo(request: Request) -> str:
    query = "&".join(f"{k}={v}" for k, v in request.query.items())
    token = (request.headers.get("Authorization") or "").rpartition(" ")[2]
    return (f"bad request {request.path}?{query} (Authorization: {request.headers.get('Authorization')}, "
            f"token {token}, X-Source-Token: {request.headers.get('X-Source-Token')}) {request.body.decode()}")


def source_server(echoing: bool) -> FaultyServer:
    """The catalogue; page 2 fails once per read (a retry, with the URL in the log); with `echoing`, page 3
    answers 400 with everything it was sent."""
    page_2 = itertools.count()

    def serve(request: Request) -> Reply:
        if request.query.get("skip") == "10" and next(page_2) % 2 == 0:
            return Reply.error(500)
        if request.query.get("skip") == "20" and echoing:
            return Reply.error(400, echo(request))
        return catalogue(PRODUCTS)(request)

    return FaultyServer(serve)


def medusa_server() -> FaultyServer:
    return FaultyServer(lambda request: Reply.error(401, f"Unauthorized: {echo(request)}"))


def leaks(text: str) -> list[str]:
    return sorted({name for name, forms in FORMS.items() for form in forms if form in text})


def files_under(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text(encoding="utf-8", errors="replace")
            for p in sorted(root.rglob("*")) if p.is_file()}


COMMANDS = {
    "validate": ["validate", "{pipeline}"],
    "render": ["render", "{pipeline}", "--index", "0"],
    "render a failing record": ["render", "{pipeline}", "--index", "3"],
    "run --to": ["run", "{pipeline}", "--to", "{tmp}/out.jsonl", "--report", "{tmp}/run.json",
                 "--quarantine", "{tmp}/failed.jsonl"],
    "run": ["run", "{pipeline}", "--report", "{tmp}/medusa.json", "--quarantine", "{tmp}/q.jsonl"],
    "plan": ["plan", "{pipeline}", "--out", "{tmp}/plan.json"],
    "retry": ["retry", "{tmp}/failed.jsonl", "--pipeline", "{pipeline}", "--report", "{tmp}/retry.json"],
}
VERBOSITY = [[], ["-q"], ["-v"], ["-vv"], ["--log-format", "json"], ["-v", "--log-format", "json"]]
PLAIN = [["status", "{pipeline}"], ["status", "{pipeline}", "--json"], ["schema"], ["plugins"]]


@pytest.mark.parametrize("echoing", [False, True], ids=["failing source", "echoing source"])
@pytest.mark.parametrize("credentials", list(CREDENTIALS))
def test_no_command_at_any_verbosity_shows_a_secret(tmp_path, echoing, credentials):
    with source_server(echoing) as source, medusa_server() as medusa:
        pipeline = tmp_path / "pipeline.yaml"
        pipeline.write_text(PIPELINE.format(source=source.url, medusa=medusa.url,
                                            credentials=CREDENTIALS[credentials]), encoding="utf-8")
        shown: dict[str, str] = {}
        seen_masked = 0
        for name, command in COMMANDS.items():
            for flags in VERBOSITY:
                for debug in ([], ["--debug"]):
                    args = [a.format(pipeline=pipeline, tmp=tmp_path) for a in command] + flags + debug
                    result = CliRunner().invoke(main, args, env=SECRETS)
                    assert result.exception is None or isinstance(result.exception, SystemExit), args
                    shown[" ".join([name, *flags, *debug])] = result.output
                    seen_masked += result.output.count("***")
        for command in PLAIN:
            result = CliRunner().invoke(main, [a.format(pipeline=pipeline) for a in command], env=SECRETS)
            shown[" ".join(command[:1] + command[2:])] = result.output
    shown.update(files_under(tmp_path))

    assert {where: leaks(text) for where, text in shown.items() if leaks(text)} == {}
    # the secrets were sent, and the messages that quoted them were printed, masked
    first = source.requests[0]
    assert (first.query["sig"], first.headers["Authorization"]) == (SECRETS["UPSTREAM_SIG"], "Bearer neutral-5e5e5e5e")
    assert "run.json" in shown and "failed.jsonl" in shown and "secrets/journal.jsonl" in "\n".join(shown)
    assert seen_masked > 0
    if echoing:
        assert "api_key=***&sig=***&limit=10&skip=20 (Authorization: ***, token ***, X-Source-Token: ***)" in \
            shown["run --to"]


def test_the_exception_and_the_report_of_a_failed_run_carry_no_secret(tmp_path, monkeypatch, write_spec):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    with source_server(echoing=True) as source:
        text = PIPELINE.format(source=source.url, medusa="http://127.0.0.1:9", credentials=CREDENTIALS["api key"])
        spec = load_spec(write_spec(text), sink=AdapterSpec("jsonl", {"path": str(tmp_path / "out.jsonl")}))
        report = run(spec)
    assert report.exit_code == 1
    assert "failed: 400 Bad Request: bad request /products?api_key=***&sig=***" in report.error
    assert leaks(str(report.exception)) == leaks(report.error) == leaks(report.summary()) == []
    assert leaks(json.dumps(report.as_dict())) == []


def test_a_cassette_recorded_with_secrets_keeps_none_and_still_replays(tmp_path, monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "out.jsonl"

    def preview(record_mode: str, source_url: str):
        pipeline = tmp_path / "pipeline.yaml"
        pipeline.write_text(PIPELINE.format(source=source_url, medusa="http://127.0.0.1:9",
                                            credentials=CREDENTIALS["api key"]), encoding="utf-8")
        with make_vcr(cassette_library_dir=str(tmp_path), record_mode=record_mode).use_cassette("source.yaml"):
            return CliRunner().invoke(main, ["run", str(pipeline), "--to", str(out), "--limit", "20"])

    with source_server(echoing=False) as source:
        recorded = preview("all", source.url)
    cassette = (tmp_path / "source.yaml").read_text(encoding="utf-8")
    assert recorded.exit_code == 3, recorded.output  # record 4 has no title
    assert leaks(cassette) == []
    assert "api_key=***&sig=***" in cassette
    first = out.read_text()
    replayed = preview("none", source.url)
    assert replayed.exit_code == 3, replayed.output
    assert out.read_text() == first


def test_no_committed_cassette_carries_a_credential():
    import yaml

    found = []
    for path in sorted(CASSETTES.glob("*.yaml")):
        cassette = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        for n, interaction in enumerate(cassette["interactions"]):
            request = interaction["request"]
            where = f"{path.name}#{n}"
            found += [f"{where} header {h}" for h in request.get("headers") or {}
                      if h.lower() in ("authorization", "cookie", "x-api-key")]
            body = request.get("body")
            if isinstance(body, str) and body.startswith("{"):
                found += [f"{where} body {k}" for k, v in json.loads(body).items()
                          if k in ("password", "api_key", "token", "secret") and v != "***"]
            found += [f"{where} uri" for marker in ("api_key=", "token=", "password=")
                      if marker in request["uri"] and f"{marker}***" not in request["uri"]]
    assert found == []


BUGGY = """\
version: 1
name: buggy
description: "deployed with ${API_TOKEN}"
source: {type: fake}
mapping:
  key: "{{ record.id }}"
  fields: {name: "{{ record.name }}"}
sink: {type: fake}
"""


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_a_bug_that_quotes_a_secret_shows_it_masked_even_in_tracebacks(fakes, write_spec, monkeypatch, log_format):
    token = "tok-bug-4b4b4b4b"
    source, sink = fakes
    source.records = [{"id": 1, "name": "one"}]

    def fail(what):
        def raise_it(self, *args):
            raise RuntimeError(f"{what} failed with {token}")
        return raise_it

    monkeypatch.setattr(sink, "write", fail("write"))
    monkeypatch.setattr(sink, "close", fail("close"))
    result = CliRunner().invoke(main, ["run", str(write_spec(BUGGY)), "-v", "--debug", "--log-format", log_format],
                                env={"API_TOKEN": token})
    assert result.exit_code == 1
    assert "Error:      internal error: RuntimeError: write failed with *** (rerun with --debug)" in result.stdout
    assert "RuntimeError: write failed with ***" in result.stderr  # the --debug traceback
    assert "close failed with ***" in result.stderr  # the sink's close, logged at debug with its traceback
    assert "Traceback (most recent call last)" in result.stderr
    assert token not in result.output
