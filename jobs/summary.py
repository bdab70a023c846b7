"""What a run prints when it ends: the CLI, spark-submit and the notebooks share it."""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:  # the runner imports pyspark; read-only commands print tables without it
    from jobs.runner import RunResult


def format_table(rows: list[Sequence[object]], headers: Sequence[str]) -> str:
    """A plain-text table with left-aligned columns."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(r: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()

    return "\n".join([line(cells[0]), line(["-" * w for w in widths])] + [line(r) for r in cells[1:]])


def format_value(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def print_summary(result: RunResult, out=None) -> None:
    """The short table a run ends with, to ``out`` (default: the current ``sys.stdout``, looked up at
    call time so a replaced stdout, as in a notebook or under pytest, is honoured)."""
    out = out if out is not None else sys.stdout
    head = f"{result.stage}: {result.status} (run {result.run_id}, {result.seconds:.1f}s)"
    if result.status == "skipped":
        head += " - same inputs and config as an earlier successful run; use --force to rerun"
    print(head, file=out)
    rows = []
    for name, version in sorted(result.output_versions.items()):
        rows.append((name, f"v{version}", result.metrics.get(f"rows.{name}", ""), result.outputs.get(name, "")))
    if rows:
        print(format_table(rows, ("output", "version", "rows", "table")), file=out)
    other = {k: v for k, v in result.metrics.items() if not k.startswith("rows.")}
    if other:
        print(format_table([(k, format_value(v)) for k, v in sorted(other.items())], ("metric", "value")), file=out)
    if result.quality_failures:
        print(f"quality: {len(result.quality_failures)} expectation(s) failed", file=out)
    elif result.status == "success":
        print("quality: all expectations passed", file=out)
