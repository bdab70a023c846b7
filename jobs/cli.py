"""The ``lakesieve`` command.

    lakesieve run STAGE [--config FILE] [--set key=value ...] [--lakehouse DIR] [--force]
    lakesieve demo [--lakehouse DIR] [--stages a,b] [--data-only] [--regenerate]
    lakesieve runs [--lakehouse DIR] [--stage STAGE] [--limit N]
    lakesieve stages [STAGE]          (stages, or one stage's inputs, outputs and config keys)
    lakesieve <stage> <command> ...   (stage commands, e.g. lakesieve containment apply)

User errors print one line and exit 2; a traceback means a bug.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Sequence

from jobs import summary
from jobs.summary import format_table
from pipelines.core.errors import LakesieveError
from pipelines.core.layout import default_lakehouse


def _version() -> str:
    from jobs.version import installed_version

    return installed_version()


def _spark(app: str):
    from pipelines.core.session import get_spark

    return get_spark(app)


def cmd_run(args) -> int:
    from jobs import registry, runner

    stage = registry.load_stage(args.stage)
    spec = runner.build_spec(stage, args.config, overrides=args.set, lakehouse_root=args.lakehouse, force=args.force)
    from pipelines.core.session import deferred_session, not_started

    spark = deferred_session(f"lakesieve-{stage.name}")  # started only if something in the run needs Spark
    result = runner.run_stage(spark, stage, spec)
    summary.print_summary(result)
    if not_started(spark):
        print("the run stayed in this process: Spark was not started")
    return 0


def cmd_demo(args) -> int:
    from jobs import demo, registry, runner

    root = args.lakehouse or default_lakehouse()
    spark = _spark("lakesieve-demo")
    t0 = time.time()
    written = demo.write_all(spark, root, regenerate=args.regenerate)
    for name, tables in written.items():
        print(f"demo data '{name}': {len(tables)} table(s) under {demo.dataset_root(root, name)}")
    if args.data_only:
        return 0
    wanted = set(args.stages.split(",")) if args.stages else None
    results = []
    for e in registry.STAGES:
        if wanted is not None and e.name not in wanted:
            continue
        stage = registry.load_stage(e.name)
        print(f"\n== {e.name}: {stage.description}")
        result = runner.run(spark, stage, registry.config_path(e), lakehouse_root=root, force=args.force)
        summary.print_summary(result)
        results.append(result)
    from jobs import report

    page = report.write_report(root, spark=spark)
    print(f"\nreport: {page}")
    print(f"\ndemo finished in {time.time() - t0:.0f}s; lakehouse at {os.path.abspath(root)}; "
          f"`lakesieve runs --lakehouse {root}` lists the runs")
    return 0


def cmd_runs(args) -> int:
    """The ledger's runs, newest first. A local lakehouse is read with delta-rs: no JVM, about a second."""
    from pipelines.core import ledger

    root = args.lakehouse or default_lakehouse()
    rows = ledger.latest_states_local(root, stage=args.stage, limit=args.limit)
    if rows is None:  # not on the local disk (s3://, dbfs:/, ...): Spark reads it
        from pyspark.sql import functions as F

        df = ledger.latest_states(_spark("lakesieve-runs"), root)
        if args.stage:
            df = df.where(F.col("stage") == args.stage)
        rows = [r.asDict() for r in df.limit(args.limit).collect()]
    if not rows:
        print(f"no runs recorded under {root}")
        return 0
    table = []
    for r in rows:
        secs = (r["ended_at"] - r["started_at"]).total_seconds() if r["ended_at"] and r["started_at"] else ""
        table.append((r["run_id"], r["stage"], r["status"], r["quality"] or "-",
                      f"{r['started_at']:%Y-%m-%d %H:%M:%S}" if r["started_at"] else "",
                      f"{secs:.1f}s" if secs != "" else "", (r["error"] or "").split("\n")[0][:80]))
    print(format_table(table, ("run_id", "stage", "status", "quality", "started (UTC)", "took", "error")))
    return 0


def cmd_stages(args) -> int:
    from jobs import registry
    from pipelines.core.config import describe_config

    if not args.stage:
        rows = []
        for e in registry.STAGES:
            try:
                desc = registry.load_stage(e.name).description
            except LakesieveError as exc:  # one broken stage must not hide the others
                desc = f"(cannot load: {exc.one_line()})"
            rows.append((e.name, ",".join(e.upstream) or "-", e.schedule, desc))
        print(format_table(rows, ("stage", "after", "schedule", "what it does")))
        return 0
    stage = registry.load_stage(args.stage)
    print(f"{stage.name}: {stage.description}\n")
    print(format_table([(n, s.default or ("(optional)" if s.optional else "(required)"), ", ".join(f"{c.name}:{c.kind}" for c in s.columns))
                  for n, s in stage.inputs.items()], ("input", "default", "columns")))
    print()
    print(format_table([(o.name, f"{stage.name}/{o.name}", ", ".join(f"{c.name}:{c.kind}" for c in o.columns)
                         + (", <input columns>" if o.passthrough else ""), o.doc) for o in stage.outputs],
                       ("output", "default", "columns", "what")))
    print()
    print(format_table(describe_config(stage.params_cls), ("params.key", "default", "meaning")))
    return 0


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``lakesieve`` parser. Stage modules are imported only for the command being run: a stage's
    extra commands (``StageEntry.commands``) get their real sub-parser when ``argv`` asks for them and a
    placeholder otherwise, so one stage that cannot load breaks only its own commands."""
    parser = argparse.ArgumentParser(
        prog="lakesieve",
        description="Find and remove redundancy in a lakehouse with Spark + Delta Lake. "
                    "Start with `lakesieve demo`, then `lakesieve runs`.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Examples:\n  lakesieve demo\n  lakesieve stages minhash\n"
               "  lakesieve run minhash --config jobs/configs/minhash.yaml --set jaccard_threshold=0.8\n"
               "  lakesieve runs --stage minhash",
    )
    parser.add_argument("--version", action="version", version=f"lakesieve {_version()}")
    parser.add_argument("--remote", metavar="sc://HOST:PORT",
                        help="run on a Spark Connect server (as $SPARK_REMOTE does); default: the local session")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("run", help="run one stage", description="Run one stage with a YAML config and overrides.")
    p.add_argument("stage", help="stage name (see `lakesieve stages`)")
    p.add_argument("--config", help="YAML file with inputs, outputs, params and quality sections")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key; a bare key means params.KEY (repeatable)")
    p.add_argument("--lakehouse", help="lakehouse root for relative table paths and the ledger (default ./lakehouse)")
    p.add_argument("--force", action="store_true", help="rerun even if the ledger has this run already")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("demo", help="write the demo data and run every finished stage on it")
    p.add_argument("--lakehouse", help="where to write (default ./lakehouse)")
    p.add_argument("--stages", help="comma-separated stages to run (default: all)")
    p.add_argument("--data-only", action="store_true", help="only write the demo datasets")
    p.add_argument("--regenerate", action="store_true", help="rewrite the demo datasets")
    p.add_argument("--force", action="store_true", help="rerun stages the ledger would skip")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("runs", help="list the run ledger")
    p.add_argument("--lakehouse")
    p.add_argument("--stage")
    p.add_argument("--limit", type=int, default=30)
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("stages", help="list stages, or show one stage's inputs, outputs and config keys")
    p.add_argument("stage", nargs="?")
    p.set_defaults(func=cmd_stages)

    from jobs import report

    report.register_command(sub)

    from jobs import registry

    requested = next((a for a in argv or () if not a.startswith("-")), None)
    for e in registry.STAGES:
        for command in e.commands:
            if command == requested:
                registry.register_commands(e, sub)
            else:
                sub.add_parser(command, help=f"{e.name} commands (see `lakesieve {command} -h`)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        argv = list(sys.argv[1:] if argv is None else argv)
        parser = build_parser(argv)
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 0
        if args.remote:
            os.environ["SPARK_REMOTE"] = args.remote
        return int(args.func(args) or 0)
    except LakesieveError as exc:
        print(f"lakesieve: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("lakesieve: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a full disk, a missing data file: one line, exit 2; anything else is a bug
        from pipelines.core.errors import environment_fault

        line = environment_fault(exc)
        if line is None:
            raise
        print(f"lakesieve: EnvironmentFault: {line}", file=sys.stderr)  # as EnvironmentFault.one_line()
        return 2
