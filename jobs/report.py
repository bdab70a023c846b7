"""``lakesieve report``: one static HTML page summarising the latest successful run of each stage.

The page needs no network to view: plots are inline SVG drawn here, styles are inline. For each
stage in the registry it shows the latest successful run from the ledger (``_lakesieve/runs``), the
output tables at the versions that run wrote (``output_versions``; paths from ``config_json``) and
its metrics, plus the stage's own summary:

- containment: the surviving containment graph (parent -> child) and the planned savings (``plan``);
- minhash: the duplicate-cluster size distribution (``duplicates``) and the SlimPajama-style
  per-source table (``source_stats``, SlimPajama-DC 2023 Table 2 style);
- cluster: cluster sizes; tldr / semdedup: per-cluster size and kept fraction;
- ct-reduce: kept ratio per volume (``volume_stats``);
- paser: budget and capability-degradation score (CDS) per cluster (``clusters``, PASER §3.2-3.3).

Bounds: only aggregates and small summary tables are read (group-by counts, at most
``MAX_BARS`` bars, ``MAX_EDGES`` graph edges and ``MAX_TABLE_ROWS`` table rows); no dataset is collected.
"""
from __future__ import annotations

import html
import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

MAX_BARS = 40
MAX_EDGES = 120
MAX_TABLE_ROWS = 50


# ---------------------------------------------------------------------------------------------
# What a section holds (pure data: tests assert these numbers; rendering is separate)

@dataclass
class Bars:
    """A bar chart: one bar per label."""

    title: str
    labels: list[str]
    values: list[float]
    x_label: str = ""
    y_label: str = ""
    note: str = ""


@dataclass
class Graph:
    """A directed graph: nodes (name -> group) and edges (src -> dst)."""

    title: str
    nodes: dict[str, str]
    edges: list[tuple[str, str]]
    note: str = ""


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[Any]]
    note: str = ""


@dataclass
class Section:
    stage: str
    run: dict | None = None  # run_id, ended_at, output_versions, metrics, quality
    items: list = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return f"section-{self.stage}"


# ---------------------------------------------------------------------------------------------
# Reading (small aggregates only)

def latest_successful_runs(spark, root: str) -> dict[str, dict]:
    """stage -> its newest successful run: run id, end time, outputs (label, version), metrics, quality."""
    from pyspark.sql import Window, functions as F

    from pipelines.core import ledger

    w = Window.partitionBy("stage").orderBy(F.col("ended_at").desc())
    rows = (ledger.read_all(spark, root).where(F.col("status") == "success")
            .withColumn("_rank", F.row_number().over(w)).where("_rank = 1").drop("_rank").collect())
    runs = {}
    for r in rows:
        labels = json.loads(r["config_json"] or "{}").get("outputs", {})
        versions = json.loads(r["output_versions"] or "{}")
        runs[r["stage"]] = {
            "run_id": r["run_id"], "ended_at": r["ended_at"], "quality": r["quality"] or "-",
            "metrics": json.loads(r["metrics"] or "{}"),
            "outputs": {name: (labels.get(name, ""), version) for name, version in versions.items()},
        }
    return runs


def _output(spark, run: dict, name: str):
    """The output table ``name`` at the version the run wrote, or None when the run has no such output."""
    from pipelines.core import lakehouse
    from pipelines.core.tables import TableRef

    if name not in run["outputs"]:
        return None
    label, version = run["outputs"][name]
    return lakehouse.read_version(spark, TableRef.parse(label), int(version))


def _pick(df, *candidates: str) -> str | None:
    lower = {c.lower(): c for c in df.columns}
    for cand in candidates:
        if cand.lower() in lower:
            return lower[cand.lower()]
    return None


def _missing(table: str, df, *candidates: str) -> str:
    return f"table '{table}' has none of the columns {', '.join(candidates)} (it has: {', '.join(df.columns)})"


def _per_key_bars(df, key: str, value_col, title: str, x_label: str, y_label: str, *, order_by_value: bool) -> Bars:
    """One bar per key (at most MAX_BARS: the largest values, or the first keys in order)."""
    from pyspark.sql import functions as F

    agg = df.groupBy(key).agg(value_col.alias("value"))
    total = agg.count()
    ordered = agg.orderBy(F.col("value").desc(), F.col(key)) if order_by_value else agg.orderBy(F.col(key))
    rows = ordered.limit(MAX_BARS).collect()
    note = f"{MAX_BARS} of {total} shown ({'largest' if order_by_value else 'first'})" if total > MAX_BARS else ""
    return Bars(title, [str(r[key]) for r in rows], [float(r["value"] or 0) for r in rows], x_label, y_label, note)


def _size_histogram(df, key: str, title: str, x_label: str, *, extra: int = 0) -> Bars:
    """How many groups have each size (group size = rows per key + ``extra``)."""
    from pyspark.sql import functions as F

    sizes = df.groupBy(key).agg((F.count("*") + F.lit(extra)).alias("size"))
    hist = sizes.groupBy("size").agg(F.count("*").alias("groups")).orderBy("size").limit(MAX_BARS + 1).collect()
    note = f"first {MAX_BARS} sizes shown" if len(hist) > MAX_BARS else ""
    hist = hist[:MAX_BARS]
    return Bars(title, [str(r["size"]) for r in hist], [float(r["groups"]) for r in hist], x_label, "groups", note)


def _small_table(df, title: str) -> Table:
    total = df.count()
    orderable = [f.name for f in df.schema.fields if f.dataType.typeName() not in ("map", "struct", "array", "binary")]
    rows = df.orderBy(*orderable[:3]).limit(MAX_TABLE_ROWS).collect() if orderable else df.limit(MAX_TABLE_ROWS).collect()
    note = f"{MAX_TABLE_ROWS} of {total} rows shown" if total > MAX_TABLE_ROWS else ""
    return Table(title, list(df.columns), [[r[c] for c in df.columns] for r in rows], note)


def _containment(spark, run, section: Section) -> None:
    from pyspark.sql import functions as F

    plan = _output(spark, run, "plan")
    actions: dict[str, str] = {}
    if plan is not None:
        table, action = _pick(plan, "table_id", "table"), _pick(plan, "action")
        if table and action:
            deleted = plan.where(F.col(action) == "delete")
            size = _pick(plan, "size_bytes")
            saving = _pick(plan, "net_saving_per_month")
            agg = deleted.agg(F.count("*").alias("n"),
                              (F.sum(size) if size else F.lit(None)).alias("bytes"),
                              (F.sum(saving) if saving else F.lit(None)).alias("saving")).collect()[0]
            section.items.append(Table("Planned savings", ["tables to delete", "bytes freed", "net saving per month"],
                                       [[agg["n"], agg["bytes"], agg["saving"]]]))
            cols = [c for c in (table, _pick(plan, "parent"), size, saving, _pick(plan, "reason")) if c]
            section.items.append(_small_table(deleted.select(*cols).orderBy(table), "Planned deletions"))
            actions = {r[table]: r[action] for r in plan.select(table, action).limit(MAX_EDGES * 2).collect()}
        else:
            section.notes.append(_missing("plan", plan, "table_id", "action"))
    edges = _output(spark, run, "edges")
    if edges is not None:
        parent, child = _pick(edges, "parent"), _pick(edges, "child")
        if parent and child:
            pruned = _pick(edges, "pruned_by")
            alive = edges.where(F.col(pruned).isNull()) if pruned else edges
            rows = alive.select(parent, child).orderBy(parent, child).limit(MAX_EDGES + 1).collect()
            pairs = [(r[parent], r[child]) for r in rows[:MAX_EDGES]]
            nodes = {n: actions.get(n, "keep") for pair in pairs for n in pair}
            total = edges.count()
            note = (f"{len(pairs)} containment edge(s) survive pruning out of {total} schema candidates"
                    + (f"; first {MAX_EDGES} drawn" if len(rows) > MAX_EDGES else ""))
            section.items.insert(0, Graph("Containment graph (parent -> contained child)", nodes, pairs, note))
        else:
            section.notes.append(_missing("edges", edges, "parent", "child"))


def _minhash(spark, run, section: Section) -> None:
    dups = _output(spark, run, "duplicates")
    if dups is not None:
        key = _pick(dups, "duplicate_of", "kept_id", "representative", "cluster_id", "component")
        if key:
            section.items.append(_size_histogram(
                dups, key, "Duplicate-cluster size distribution (kept document + its duplicates)",
                "cluster size (documents)", extra=1))
        else:
            section.notes.append(_missing("duplicates", dups, "duplicate_of", "kept_id", "cluster_id"))
    stats = _output(spark, run, "source_stats")
    if stats is not None:
        section.items.append(_small_table(stats, "Per source (SlimPajama-style)"))


def _cluster(spark, run, section: Section) -> None:
    from pyspark.sql import functions as F

    centroids = _output(spark, run, "centroids")
    if centroids is not None and _pick(centroids, "cluster") and _pick(centroids, "size"):
        section.items.append(_per_key_bars(centroids, "cluster", F.sum("size"), "Cluster sizes", "cluster", "members",
                                           order_by_value=True))
        return
    assignments = _output(spark, run, "assignments")
    if assignments is not None and _pick(assignments, "cluster"):
        section.items.append(_per_key_bars(assignments, "cluster", F.count("*"), "Cluster sizes", "cluster",
                                           "members", order_by_value=True))


def _kept_fraction(section: Section, per_cluster, title_stage: str) -> None:
    """per_cluster: cluster, members, kept -> size bars and kept-fraction bars on the same clusters."""
    from pyspark.sql import functions as F

    total = per_cluster.count()
    rows = per_cluster.orderBy(F.col("members").desc(), F.col("cluster")).limit(MAX_BARS).collect()
    note = f"{MAX_BARS} largest of {total} clusters shown" if total > MAX_BARS else ""
    labels = [str(r["cluster"]) for r in rows]
    section.items.append(Bars(f"{title_stage}: cluster sizes", labels, [float(r["members"]) for r in rows],
                              "cluster", "members", note))
    section.items.append(Bars(f"{title_stage}: kept fraction per cluster", labels,
                              [float(r["kept"]) / float(r["members"]) if r["members"] else 0.0 for r in rows],
                              "cluster", "kept / members", note))


def _tldr(spark, run, section: Section) -> None:
    from pyspark.sql import functions as F

    selected = _output(spark, run, "selected")
    if selected is None:
        return
    if not (_pick(selected, "cluster") and _pick(selected, "selected")):
        section.notes.append(_missing("selected", selected, "cluster", "selected"))
        return
    per_cluster = selected.groupBy("cluster").agg(F.count("*").alias("members"),
                                                  F.sum(F.col("selected").cast("int")).alias("kept"))
    _kept_fraction(section, per_cluster, "TL;DR")


def _semdedup(spark, run, section: Section) -> None:
    from pyspark.sql import functions as F

    kept, dups = _output(spark, run, "kept"), _output(spark, run, "duplicates")
    if kept is None or dups is None:
        return
    if not (_pick(kept, "cluster") and _pick(dups, "cluster")):
        section.notes.append(_missing("kept/duplicates", kept, "cluster"))
        return
    members = (kept.select("cluster", F.lit(1).alias("is_kept"))
               .unionByName(dups.select("cluster", F.lit(0).alias("is_kept"))))
    per_cluster = members.groupBy("cluster").agg(F.count("*").alias("members"), F.sum("is_kept").alias("kept"))
    _kept_fraction(section, per_cluster, "SemDeDup")


def _ct_reduce(spark, run, section: Section) -> None:
    from pyspark.sql import functions as F

    stats = _output(spark, run, "volume_stats")
    if stats is None:
        return
    volume, ratio = _pick(stats, "volume_id"), _pick(stats, "ratio")
    if not (volume and ratio):
        section.notes.append(_missing("volume_stats", stats, "volume_id", "ratio"))
        return
    section.items.append(_per_key_bars(stats, volume, F.max(ratio), "Kept ratio per volume (kept / slices)",
                                       "volume", "kept ratio", order_by_value=False))


def _paser(spark, run, section: Section) -> None:
    from pyspark.sql import functions as F

    clusters = _output(spark, run, "clusters")
    if clusters is None:
        return
    key = _pick(clusters, "cluster", "cluster_id")
    budget = _pick(clusters, "budget", "allocated", "budget_count", "selected")
    cds = _pick(clusters, "cds", "degradation", "capability_degradation")
    if not key:
        section.notes.append(_missing("clusters", clusters, "cluster"))
        return
    if budget:
        section.items.append(_per_key_bars(clusters, key, F.sum(budget), "Budget per cluster (samples)", "cluster",
                                           "budget", order_by_value=False))
    if cds:
        section.items.append(_per_key_bars(clusters, key, F.max(cds), "Capability-degradation score (CDS) per cluster",
                                           "cluster", "CDS", order_by_value=False))
    if not (budget or cds):
        section.notes.append(_missing("clusters", clusters, "budget", "cds"))


SUMMARISERS = {"containment": _containment, "minhash": _minhash, "cluster": _cluster, "tldr": _tldr,
               "semdedup": _semdedup, "ct-reduce": _ct_reduce, "paser": _paser}


def summarise(spark, root: str) -> list[Section]:
    """One section per registry stage (plus stages the ledger knows that the registry does not)."""
    from jobs import registry

    runs = latest_successful_runs(spark, root)
    names = [e.name for e in registry.STAGES] + sorted(set(runs) - {e.name for e in registry.STAGES})
    sections = []
    for name in names:
        section = Section(name, runs.get(name))
        if section.run is None:
            section.notes.append(f"No successful run of {name} in this lakehouse yet.")
        elif name in SUMMARISERS:
            SUMMARISERS[name](spark, section.run, section)
        sections.append(section)
    return sections


def recent_runs(spark, root: str, limit: int = 30) -> Table:
    from pipelines.core import ledger

    rows = ledger.latest_states(spark, root).limit(limit).collect()
    return Table("Recent runs (newest first)", ["run", "stage", "status", "quality", "started (UTC)", "error"],
                 [[r["run_id"], r["stage"], r["status"], r["quality"] or "-",
                   f"{r['started_at']:%Y-%m-%d %H:%M:%S}" if r["started_at"] else "",
                   (r["error"] or "").split("\n")[0][:100]] for r in rows])


# ---------------------------------------------------------------------------------------------
# Rendering (pure: data -> HTML/SVG strings)

_PALETTE = {"keep": "#2b6cb0", "delete": "#c53030"}


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.4g}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return "" if v is None else str(v)


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
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in row) + "</tr>" for row in table.rows)
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
                body.append(html_table(Table("Metrics", ["metric", "value"], [list(kv) for kv in other])))
        body += [_render_item(item) for item in s.items]
        body += [f'<p class="{"empty" if s.run is None else "note"}">{html.escape(n)}</p>' for n in s.notes]
        parts.append(f'<section id="{s.anchor}"><h2>{html.escape(s.stage)}</h2>{"".join(body)}</section>')
    parts.append("</body></html>")
    return "\n".join(parts)


def default_path(root: str | Path) -> Path:
    return Path(root) / "_lakesieve" / "report" / "index.html"


def write_report(spark, root: str | Path, out: str | Path | None = None) -> Path:
    """Write the report page (default ``<root>/_lakesieve/report/index.html``) and return its path."""
    from jobs.runner import data_docs_dir

    root = str(root)
    path = Path(out) if out else default_path(root)
    sections = summarise(spark, root)
    docs_index = data_docs_dir(root) / "index.html"
    data_docs = os.path.relpath(docs_index, path.parent.resolve()) if docs_index.is_file() else None
    page = render(root, sections, recent_runs(spark, root), data_docs)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path


def cmd_report(args) -> int:
    from jobs.runner import default_lakehouse
    from pipelines.core.session import get_spark

    root = args.lakehouse or default_lakehouse()
    page = write_report(get_spark("lakesieve-report"), root, args.out)
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
