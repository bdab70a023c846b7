"""``lakesieve report``: one static HTML page summarising the latest successful run of each stage.

The page needs no network to view: plots are inline SVG drawn here, styles are inline. For each
stage in the registry it shows the latest successful run from the ledger (``_lakesieve/runs``), its
outputs and metrics, the stage's own section and its recent run history (durations, rows written).

A stage's section is declared with the stage (``Stage.report`` in ``pipelines/<stage>/stage.py``):
it gets the outputs at the versions that run wrote, **restricted to their declared columns**, so a
section can only use what the stage declares. Everything is read without a JVM: the ledger and the
outputs with delta-rs, aggregated by polars (about a second on the demo lakehouse, against a Spark
session's 10-20 s start). Bounds: only aggregates and small summaries are read
(``pipelines.core.report_items``); no dataset is collected.
"""
from __future__ import annotations

import html
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

from pipelines.core.layout import SYSTEM_DIR, recorded_output, recorded_table
from pipelines.core.report_items import Bars, Graph, ReportContext, Table

HISTORY_RUNS = 10  # runs per stage in its history table


@dataclass
class Section:
    stage: str
    run: dict | None = None  # run_id, ended_at, output_versions, metrics, quality
    items: list = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    history: Table | None = None

    @property
    def anchor(self) -> str:
        return f"section-{self.stage}"


# ---------------------------------------------------------------------------------------------
# Reading (no JVM: the ledger and the outputs with delta-rs, aggregated by polars; small results only)

def scan(ref, version: int | None = None):
    """A polars LazyFrame over a table, read with delta-rs and polars (no Spark): a Delta table (at
    ``version`` when given), a Parquet or a CSV table, on the local disk or at a URI delta-rs opens with the
    environment's credentials. A catalog table cannot be read this way (:class:`InputNotFoundError`)."""
    import polars as pl

    from pipelines.core.errors import InputNotFoundError
    from pipelines.core.lakehouse import detect_format, is_local, spark_path

    fmt = detect_format(ref)
    if fmt == "catalog":
        raise InputNotFoundError(f"'{ref.name}' is a catalog table: the report reads tables by path (delta-rs)")
    path = spark_path(ref.path)
    if fmt == "delta":
        return pl.scan_delta(path, version=version)
    if version is not None:
        raise InputNotFoundError(f"'{ref.path}' is a {fmt} table: it has no version {version}")
    folder = is_local(path) and Path(path).is_dir()
    if fmt == "parquet":
        return pl.scan_parquet(f"{path}/**/*.parquet" if folder else path, hive_partitioning=folder)
    return pl.scan_csv(f"{path}/**/*.csv" if folder else path, infer_schema_length=10_000)


def ledger_rows(root: str, spark=None) -> list[dict]:
    """One dict per run (its newest state), newest first: read with delta-rs on a local lakehouse; with
    Spark (``spark`` given) where delta-rs cannot read the ledger (a lakehouse at a URI)."""
    from pipelines.core import ledger

    rows = ledger.latest_states_local(root)
    if rows is None:
        if spark is None:
            from pipelines.core.session import get_spark

            spark = get_spark("lakesieve-report")
        rows = [r.asDict() for r in ledger.latest_states(spark, root).collect()]
    return rows


def latest_successful_runs(rows: Sequence[dict], root: str) -> dict[str, dict]:
    """stage -> its newest successful run: run id, end time, inputs and outputs (label, version), metrics."""
    runs = {}
    for r in sorted((r for r in rows if r["status"] == "success"), key=lambda r: r["ended_at"] or datetime.min):
        config = json.loads(r["config_json"] or "{}")
        labels = config.get("outputs", {})
        versions = json.loads(r["output_versions"] or "{}")
        runs[r["stage"]] = {  # later ends overwrite earlier ones
            "run_id": r["run_id"], "ended_at": r["ended_at"], "quality": r["quality"] or "-",
            "metrics": json.loads(r["metrics"] or "{}"), "config": config,
            "params": config.get("params", {}),
            # (where the table is now, resolved against this root; the version the run wrote)
            "outputs": {name: (recorded_output(config, name, root).label if name in labels else "", version)
                        for name, version in versions.items()},
        }
    return runs


def declared_outputs(stage, run: dict) -> dict:
    """The run's outputs at the versions it wrote (polars LazyFrames), each restricted to its declared
    columns (in order); a table that lacks a declared column is a :class:`SchemaContractError`."""
    from pipelines.core.errors import SchemaContractError
    from pipelines.core.tables import TableRef

    frames = {}
    for out in stage.outputs:
        if out.name not in run["outputs"]:
            continue
        label, version = run["outputs"][out.name]
        df = scan(TableRef.parse(label), int(version))
        have = df.collect_schema().names()
        missing = [c for c in out.column_names if c not in have]
        if missing:  # a table an earlier version wrote (renamed columns, README "Migration")
            raise SchemaContractError(f"table '{stage.name}.{out.name} ({label} v{version})' has no column "
                                      f"'{missing[0]}'; it has: {', '.join(have)}")
        rest = [c for c in have if c not in out.column_names] if out.passthrough else []
        frames[out.name] = df.select(*out.column_names, *rest)
    return frames


class CurrentInputs(Mapping):
    """The run's input tables as they are now (polars LazyFrames), opened on first use; ``None`` when one
    cannot be read."""

    def __init__(self, config: Mapping, root: str):
        self._config, self._root, self._frames = config, root, {}
        self._labels = dict(config.get("inputs", {}))

    def __getitem__(self, name: str):
        if name not in self._frames:
            if name not in self._labels:
                raise KeyError(name)
            try:
                frame = scan(recorded_table(self._config, "inputs", name, self._root))
                frame.collect_schema()
                self._frames[name] = frame
            except Exception:  # noqa: BLE001 - an input moved or deleted since the run: the section shows less
                self._frames[name] = None
        return self._frames[name]

    def __iter__(self):
        return iter(self._labels)

    def __len__(self) -> int:
        return len(self._labels)


def summarise(root: str, spark=None, rows: Sequence[dict] | None = None) -> list[Section]:
    """One section per registry stage (plus stages the ledger knows that the registry does not).
    ``rows``: the ledger's runs (:func:`ledger_rows`), read here when not given."""
    from deltalake.exceptions import DeltaError
    from polars.exceptions import PolarsError

    from jobs import registry
    from pipelines.core.errors import LakesieveError, SchemaContractError, cause_line

    root = str(root)
    rows = ledger_rows(root, spark) if rows is None else rows
    runs = latest_successful_runs(rows, root)
    histories = run_history(rows)
    names = [e.name for e in registry.STAGES] + sorted(set(runs) - {e.name for e in registry.STAGES})
    sections = []
    for name in names:
        section = Section(name, runs.get(name), history=histories.get(name))
        if section.run is None:
            section.notes.append(f"No successful run of {name} in this lakehouse yet.")
        else:
            try:
                stage = registry.load_stage(name)
            except LakesieveError as exc:
                stage = None
                section.notes.append(f"stage {name} cannot be loaded here: {exc.one_line()}")
            if stage is not None and stage.report is not None:
                context = ReportContext(section.run["metrics"], section.run["params"],
                                        CurrentInputs(section.run["config"], root))
                try:
                    section.items = list(stage.report(declared_outputs(stage, section.run), context))
                except SchemaContractError as exc:  # e.g. written before a column was renamed: rerun the stage
                    section.notes.append(f"the latest run's outputs do not match the stage's declaration "
                                         f"({exc.one_line()}); rerun the stage to report on it")
                except (LakesieveError, PolarsError, DeltaError, OSError) as exc:  # deleted, vacuumed, a catalog table
                    section.notes.append(f"the latest run's outputs cannot be read here: {cause_line(exc)}")
        sections.append(section)
    return sections


def run_history(rows: Sequence[dict], per_stage: int = HISTORY_RUNS) -> dict[str, Table]:
    """stage -> its ``per_stage`` latest runs: when, status, how long, rows written per output."""
    by_stage: dict[str, list] = {}
    newest_first = sorted(rows, key=lambda r: (r["started_at"] or datetime.min, r["run_id"]), reverse=True)
    for r in newest_first:
        table_rows = by_stage.setdefault(r["stage"], [])
        if len(table_rows) >= per_stage:
            continue
        metrics = json.loads(r["metrics"] or "{}")
        written = ", ".join(f"{k[5:]} {v:,}" for k, v in sorted(metrics.items()) if k.startswith("rows."))
        took = (r["ended_at"] - r["started_at"]).total_seconds() if r["ended_at"] and r["started_at"] else None
        table_rows.append(
            [r["run_id"], r["status"], f"{r['started_at']:%Y-%m-%d %H:%M:%S}" if r["started_at"] else "", took, written])
    return {stage: Table(f"Run history (latest {per_stage})", ["run", "status", "started (UTC)", "took", "rows written"],
                         table_rows, units={"took": "seconds", "rows written": "text"})
            for stage, table_rows in by_stage.items()}


def recent_runs(rows: Sequence[dict], limit: int = 30) -> Table:
    return Table("Recent runs (newest first)", ["run", "stage", "status", "quality", "started (UTC)", "error"],
                 [[r["run_id"], r["stage"], r["status"], r["quality"] or "-",
                   f"{r['started_at']:%Y-%m-%d %H:%M:%S}" if r["started_at"] else "",
                   (r["error"] or "").split("\n")[0][:100]] for r in rows[:limit]], units={"error": "text"})


# ---------------------------------------------------------------------------------------------
# Rendering (pure: data -> HTML/SVG strings)

_PALETTE = {"keep": "#2b6cb0", "delete": "#c53030"}


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.4g}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return "" if v is None else str(v)


def format_bytes(n: float) -> str:
    """Bytes in decimal units: 950 B, 12.3 kB, 4.56 MB, 7.89 GB."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:,.3g} {unit}" if abs(n) < 1000 * scale or unit == "TB" else f"{n / scale:,.0f} {unit}"
    return f"{int(n):,} B"


def format_money(v: float, currency: str) -> str:
    """Money with its currency; amounts under one cent keep four significant digits (0.0004476 USD)."""
    return f"{v:,.2f} {currency}" if abs(v) >= 0.01 or v == 0 else f"{v:.4g} {currency}"


def format_cell(v: Any, unit: str | None, currency: str = "USD") -> str:
    """One table cell in its unit (``pipelines.core.report_items.UNITS``)."""
    if v is None:
        return ""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or unit in (None, "text"):
        return _fmt(v)
    if unit == "bytes":
        return format_bytes(float(v))
    if unit == "money":
        return format_money(float(v), currency)
    if unit == "fraction":
        return f"{100.0 * float(v):.1f} %"
    if unit == "seconds":
        return f"{float(v):,.1f} s"
    return _fmt(v)


def metric_unit(name: str) -> str | None:
    """The unit of a run metric, from its name (``plan.bytes_saved`` is bytes, ``kept_fraction`` a fraction)."""
    if "bytes" in name:
        return "bytes"
    if name.endswith("fraction"):
        return "fraction"
    if "saving" in name or "cost" in name:
        return "money"  # every price in lakesieve is in USD (pipelines.containment.stage.CURRENCY)
    return None


def svg_bars(chart: Bars, width: int = 720, height: int = 280) -> str:
    left, right, top, bottom = 60, 16, 28, 64
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max(chart.values, default=0.0) or 1.0
    n = max(len(chart.values), 1)
    slot = plot_w / n
    out = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(chart.title)}">',
           f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
           f'<text x="{width / 2:.0f}" y="18" text-anchor="middle" font-size="14" font-weight="bold">'
           f'{html.escape(chart.title)}</text>']
    for frac in (0.0, 0.5, 1.0):
        y = top + plot_h * (1 - frac)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#dddddd"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{_fmt(peak * frac)}</text>')
    for i, (label, value) in enumerate(zip(chart.labels, chart.values)):
        h = plot_h * (value / peak) if peak else 0
        x = left + i * slot + slot * 0.1
        out.append(f'<rect class="bar" x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{slot * 0.8:.1f}" '
                   f'height="{h:.1f}" fill="#2b6cb0"><title>{html.escape(label)}: {_fmt(value)}</title></rect>')
        if n <= 40:
            cx = left + i * slot + slot / 2
            out.append(f'<text x="{cx:.1f}" y="{top + plot_h + 14}" text-anchor="end" font-size="10" '
                       f'transform="rotate(-45 {cx:.1f} {top + plot_h + 14})">{html.escape(label[:14])}</text>')
    out.append(f'<text x="{left + plot_w / 2:.0f}" y="{height - 6}" text-anchor="middle" font-size="12">'
               f'{html.escape(chart.x_label)}</text>')
    out.append(f'<text x="14" y="{top + plot_h / 2:.0f}" text-anchor="middle" font-size="12" '
               f'transform="rotate(-90 14 {top + plot_h / 2:.0f})">{html.escape(chart.y_label)}</text>')
    out.append("</svg>")
    return "".join(out)


def svg_graph(graph: Graph, size: int = 520) -> str:
    import math

    names = sorted(graph.nodes)
    cx = cy = size / 2
    radius = size / 2 - 90
    pos = {n: (cx + radius * math.cos(2 * math.pi * i / max(len(names), 1) - math.pi / 2),
               cy + radius * math.sin(2 * math.pi * i / max(len(names), 1) - math.pi / 2)) for i, n in enumerate(names)}
    out = [f'<svg class="chart graph" xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
           f'viewBox="0 0 {size} {size}" role="img" aria-label="{html.escape(graph.title)}">',
           f'<rect x="0" y="0" width="{size}" height="{size}" fill="#ffffff"/>',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="18" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555555"/></marker></defs>',
           f'<text x="{size / 2:.0f}" y="18" text-anchor="middle" font-size="14" font-weight="bold">'
           f'{html.escape(graph.title)}</text>']
    for src, dst in graph.edges:
        (x1, y1), (x2, y2) = pos[src], pos[dst]
        out.append(f'<line class="edge" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#555555" '
                   f'stroke-width="1.5" marker-end="url(#arrow)"><title>{html.escape(src)} contains '
                   f'{html.escape(dst)}</title></line>')
    for name in names:
        x, y = pos[name]
        colour = _PALETTE.get(graph.nodes[name], "#718096")
        out.append(f'<circle class="node" cx="{x:.1f}" cy="{y:.1f}" r="9" fill="{colour}">'
                   f'<title>{html.escape(name)}: {html.escape(graph.nodes[name])}</title></circle>')
        anchor = "start" if x >= cx else "end"
        dx = 13 if x >= cx else -13
        out.append(f'<text x="{x + dx:.1f}" y="{y + 4:.1f}" text-anchor="{anchor}" font-size="11">'
                   f'{html.escape(name.rsplit("/", 1)[-1][:28])}</text>')
    out.append(f'<text x="10" y="{size - 10}" font-size="11"><tspan fill="{_PALETTE["keep"]}">● keep</tspan> '
               f'<tspan fill="{_PALETTE["delete"]}">● planned delete</tspan></text></svg>')
    return "".join(out)


def html_table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in table.headers)
    units = [table.units.get(h) for h in table.headers]
    body = "".join("<tr>" + "".join(f"<td>{html.escape(format_cell(c, u, table.currency))}</td>"
                                    for c, u in zip(row, units)) + "</tr>" for row in table.rows)
    note = f'<p class="note">{html.escape(table.note)}</p>' if table.note else ""
    return f'<h3>{html.escape(table.title)}</h3><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}'


def _render_item(item) -> str:
    if isinstance(item, Bars):
        note = f'<p class="note">{html.escape(item.note)}</p>' if item.note else ""
        if not item.values:
            return f'<h3>{html.escape(item.title)}</h3><p class="note">nothing to plot</p>'
        return f'<figure>{svg_bars(item)}{note}</figure>'
    if isinstance(item, Graph):
        note = f'<p class="note">{html.escape(item.note)}</p>' if item.note else ""
        return f'<figure>{svg_graph(item)}{note}</figure>'
    return html_table(item)


_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1100px;color:#1a202c;background:#f7fafc}
h1{margin-bottom:4px} section{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:12px 20px;margin:16px 0}
table{border-collapse:collapse;font-size:13px;margin:8px 0} th,td{border:1px solid #e2e8f0;padding:3px 8px;text-align:left}
th{background:#edf2f7} .note{color:#4a5568;font-size:13px} figure{margin:8px 0} nav a{margin-right:10px}
.empty{color:#718096;font-style:italic}
"""


def render(root: str, sections: Sequence[Section], runs: Table, data_docs: str | None) -> str:
    nav = "".join(f'<a href="#{s.anchor}">{html.escape(s.stage)}</a>' for s in sections)
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>lakesieve report</title>"
             f"<style>{_CSS}</style></head><body>",
             f"<h1>lakesieve report</h1><p class=\"note\">lakehouse <code>{html.escape(os.path.abspath(root))}</code>, "
             f"written {datetime.utcnow():%Y-%m-%d %H:%M} UTC</p><nav>{nav}</nav>"]
    docs = (f'<p>Great Expectations Data Docs: <a href="{html.escape(data_docs)}">{html.escape(data_docs)}</a></p>'
            if data_docs else '<p class="note">No Data Docs yet (runs with quality enabled publish them).</p>')
    parts.append(f'<section id="section-runs"><h2>Runs</h2>{docs}{html_table(runs)}</section>')
    for s in sections:
        body = []
        if s.run is not None:
            run = s.run
            body.append(f'<p>Latest successful run <code>{html.escape(run["run_id"])}</code>, ended '
                        f'{html.escape(str(run["ended_at"]))} UTC, quality: {html.escape(str(run["quality"]))}</p>')
            outputs = Table("Outputs", ["output", "version", "rows", "table"],
                            [[n, f"v{v}", run["metrics"].get(f"rows.{n}", ""), label]
                             for n, (label, v) in sorted(run["outputs"].items())])
            body.append(html_table(outputs))
            other = sorted((k, v) for k, v in run["metrics"].items() if not k.startswith("rows."))
            if other:
                body.append(html_table(Table("Metrics", ["metric", "value"],
                                             [[k, format_cell(v, metric_unit(k))] for k, v in other])))
        body += [_render_item(item) for item in s.items]
        if s.history is not None:
            body.append(html_table(s.history))
        body += [f'<p class="{"empty" if s.run is None else "note"}">{html.escape(n)}</p>' for n in s.notes]
        parts.append(f'<section id="{s.anchor}"><h2>{html.escape(s.stage)}</h2>{"".join(body)}</section>')
    parts.append("</body></html>")
    return "\n".join(parts)


def default_path(root: str | Path) -> Path:
    return Path(root) / SYSTEM_DIR / "report" / "index.html"


def write_report(root: str | Path, out: str | Path | None = None, spark=None) -> Path:
    """Write the report page (default ``<root>/_lakesieve/report/index.html``) and return its path. No JVM
    is needed: Spark (``spark``, or a session started here) only reads a ledger delta-rs cannot reach."""
    from pipelines.core.layout import data_docs_dir

    root = str(root)
    path = Path(out) if out else default_path(root)
    rows = ledger_rows(root, spark)
    sections = summarise(root, spark, rows)
    docs_index = data_docs_dir(root) / "index.html"
    data_docs = os.path.relpath(docs_index, path.parent.resolve()) if docs_index.is_file() else None
    page = render(root, sections, recent_runs(rows), data_docs)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path


def cmd_report(args) -> int:
    from pipelines.core.layout import default_lakehouse

    root = args.lakehouse or default_lakehouse()
    page = write_report(root, args.out)
    print(f"report: {page}")
    return 0


def register_command(subparsers) -> None:
    """Add ``lakesieve report [--lakehouse DIR] [--out FILE]`` to the CLI."""
    p = subparsers.add_parser("report", help="write the HTML report of the latest run of each stage",
                              description="Write one static HTML page (no network needed to view it) summarising "
                                          "the latest successful run of each stage.")
    p.add_argument("--lakehouse", help="lakehouse root (default ./lakehouse)")
    p.add_argument("--out", help="HTML file to write (default <lakehouse>/_lakesieve/report/index.html)")
    p.set_defaults(func=cmd_report)
