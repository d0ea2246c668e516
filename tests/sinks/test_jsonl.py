"""The preview sink (`etl run --to FILE`): the file is a whole preview, or it is not there."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from etl.cli import main

SPEC = """\
version: 1
name: preview
source: {type: fake}
mapping:
  key: "{{ record.id }}"
  fields: {name: "{{ record.name }}"}
sink: {type: fake}
"""
RECORDS = [{"id": i, "name": f"n{i}"} for i in range(1, 6)]


@pytest.mark.parametrize("source,target,exit_code,lines,message", [
    ("{type: fake}", "out.jsonl", 0, [{"name": f"n{i}"} for i in range(1, 6)], None),
    ("{type: fake, fail_after: 3}", "out.jsonl", 1, None,
     "Warning:    {target} was not written: the run failed, and a partial preview would look complete"),
    ("{type: fake}", "a-directory", 1, None, "Error:      cannot write {target}: Is a directory"),
], ids=["a whole run", "a run that fails halfway", "a target that cannot be replaced"])
def test_the_preview_is_whole_or_absent(fakes, write_spec, tmp_path, source, target, exit_code, lines, message):
    fake_source, _ = fakes
    fake_source.records = RECORDS
    (tmp_path / "a-directory").mkdir()
    out = tmp_path / target
    result = CliRunner().invoke(main, ["run", str(write_spec(SPEC.replace("{type: fake}", source, 1))),
                                       "--to", str(out)])
    assert result.exit_code == exit_code, result.output
    if lines is None:
        assert not out.is_file()
        assert message.format(target=out) in result.stdout.splitlines()
    else:
        assert [json.loads(line) for line in out.read_text().splitlines()] == lines
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
