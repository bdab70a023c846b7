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


@pytest.mark.parametrize(("java_home", "path", "message"), [
    ("/nonexistent/jdk", None, "JAVA_HOME=/nonexistent/jdk has no bin/java"),
    (None, "/nonexistent/bin", "no Java runtime found (Spark needs Java 17)"),
])
def test_no_usable_java_is_one_line_and_exit_2_with_nothing_written(tmp_path, java_home, path, message):
    import os
    import sys
    from pathlib import Path

    env = {"JAVA_HOME": java_home} if java_home else {}
    if path:  # no java on PATH and no JAVA_HOME (the interpreter's folder stays: its console scripts)
        env["PATH"] = f"{Path(sys.executable).parent}:{path}"
    saved = os.environ.pop("JAVA_HOME", None) if not java_home else None
    try:
        out = cli("run", "minhash", "--lakehouse", str(tmp_path / "lh"), env=env)
    finally:
        if saved is not None:
            os.environ["JAVA_HOME"] = saved
    assert out.returncode == 2, out.stderr[-2000:]
    assert out.stderr.strip().startswith(f"lakesieve: EnvironmentSetupError: {message}"), out.stderr[-2000:]
    assert "Traceback" not in out.stderr and not (tmp_path / "lh").exists()


@pytest.mark.spark
def test_runs_on_an_empty_lakehouse(tmp_path):
    out = cli("runs", "--lakehouse", str(tmp_path))
    assert out.returncode == 0 and "no runs recorded" in out.stdout


def test_a_stage_that_cannot_load_breaks_only_its_own_commands(monkeypatch, capsys):
    """A missing package of one stage (here: containment's) leaves the parser, `stages` and the other
    stages' commands working; the broken stage's own commands fail with one line naming the module."""
    import importlib

    from jobs import cli, registry

    real_import = importlib.import_module

    def import_module(name, *args):
        if name == "jobs.containment":
            raise ImportError("No module named 'no_such_package'", name="no_such_package")
        return real_import(name, *args)

    monkeypatch.setattr(registry.importlib, "import_module", import_module)
    args = cli.build_parser(["run", "minhash"]).parse_args(["run", "minhash", "--set", "scope=local"])
    assert (args.command, args.stage, args.set) == ("run", "minhash", ["scope=local"])
    assert cli.main(["stages"]) == 0
    listed = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[2:]}
    assert "cannot load" in listed["containment"] and "no_such_package" in listed["containment"]
    assert registry.load_stage("minhash").description in listed["minhash"]
    for argv in (["containment", "apply"], ["run", "containment"]):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("lakesieve: MissingDependencyError: stage 'containment' cannot be loaded"), err
        assert "jobs.containment" in err and "no_such_package" in err and len(err.splitlines()) == 1
