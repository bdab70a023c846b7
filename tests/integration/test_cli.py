"""The `lakesieve` command as a user meets it: help, version, one-line errors with exit code 2."""
from __future__ import annotations

import pytest

from tests.run_cli import cli


def test_version_and_help():
    out = cli("--version")
    assert out.returncode == 0 and out.stdout.startswith("lakesieve ")
    helped = cli("--help")
    assert helped.returncode == 0
    for command in ("run", "demo", "runs", "stages"):
        assert command in helped.stdout


def test_unknown_stage_is_one_line_and_exit_2():
    out = cli("run", "no-such-stage")
    assert out.returncode == 2
    assert out.stderr.strip().startswith("lakesieve: ConfigError: unknown stage 'no-such-stage'")
    assert len(out.stderr.strip().splitlines()) == 1


@pytest.mark.spark
def test_runs_on_an_empty_lakehouse(tmp_path):
    out = cli("runs", "--lakehouse", str(tmp_path))
    assert out.returncode == 0 and "no runs recorded" in out.stdout
