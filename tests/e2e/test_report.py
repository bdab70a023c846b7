"""``lakesieve report`` on real stage outputs: every stage run on the demo data (the session's demo
lakehouse, which the notebook tests fill first), each section's numbers checked against the demo
data's designed truth or recomputed independently from the written tables with pandas, the page's
units and history, and a headless Chromium screenshot that shows the plots.
"""
from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from jobs import registry, report
from jobs.cli import main as cli_main
from pipelines.core import lakehouse, ledger
from pipelines.core.report_items import Bars, Graph, Table, excerpt
from pipelines.core.tables import TableRef
from tests.demo_runs import run_every_stage

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def demo(spark, demo_lake):
    run_every_stage(spark, demo_lake)
    return demo_lake


@pytest.fixture(scope="module")
def sections(spark, demo) -> dict:
    return {s.stage: s for s in report.summarise(demo)}


def _written(spark, root: str, section, name: str) -> pd.DataFrame:
    """An output at the version the section's run wrote, as pandas (demo outputs are small)."""
    label, version = section.run["outputs"][name]
    return lakehouse.read_version(spark, TableRef.parse(label), int(version)).toPandas()


def _demo_table(spark, root: str, path: str) -> pd.DataFrame:
    return lakehouse.read_table(spark, TableRef.parse(f"demo/{path}", root)).toPandas()


def _items(section, kind) -> dict:
    return {item.title: item for item in section.items if isinstance(item, kind)}


def test_containment_graph_is_the_designed_containments_and_savings_add_up(spark, demo, sections):
    s = sections["containment"]
    (graph,) = _items(s, Graph).values()
    truth = _demo_table(spark, demo, "lake/_ground_truth")
    designed = set(map(tuple, truth[truth.kind == "contained"][["parent", "child"]].values))
    assert len(designed) == 72 and set(graph.edges) == designed
    plan = _written(spark, demo, s, "plan")
    deleted = plan[plan.action == "delete"]
    assert {n for n, g in graph.nodes.items() if g == "delete"} == set(deleted.table_id) & set(graph.nodes)
    tables = _items(s, Table)
    savings = tables["Planned savings"]
    assert savings.rows == [[len(deleted), int(deleted.size_bytes.sum()), pytest.approx(deleted.net_saving_per_month.sum())]]
    assert savings.units == {"storage freed": "bytes", "net saving per month": "money"} and savings.currency == "USD"
    assert [r[0] for r in tables["Planned deletions"].rows] == sorted(deleted.table_id)
    # the largest verified contained tables with their parent, recomputed from edges and profile
    edges, profile = _written(spark, demo, s, "edges"), _written(spark, demo, s, "profile")
    verified = edges[edges.reached == "verified"].merge(profile[["table_id", "size_bytes"]],
                                                        left_on="child", right_on="table_id")
    top = verified.sort_values(["size_bytes", "child", "parent"], ascending=[False, True, True]).head(5)
    largest = tables["Largest contained tables (verified)"]
    assert [(r[0], r[1], r[4]) for r in largest.rows] == list(zip(top.child, top.parent, top.size_bytes))


def test_minhash_sections_match_the_outputs_and_the_designed_corpus(spark, demo, sections):
    s = sections["minhash"]
    (hist,) = _items(s, Bars).values()
    dups = _written(spark, demo, s, "duplicates")
    sizes = Counter((dups.groupby("cluster_id").size() + 1).tolist())
    assert dict(zip(hist.labels, hist.values)) == {str(k): float(v) for k, v in sorted(sizes.items())}
    docs = _demo_table(spark, demo, "corpus/documents")
    per_source = _items(s, Table)["Per source (SlimPajama-DC Table 2 style)"]
    by_source = {r[0]: r for r in per_source.rows}
    assert sorted(by_source) == ["books", "code", "web", "wiki"]
    assert {k: r[per_source.headers.index("documents_in")] for k, r in by_source.items()} == \
        docs.groupby("source").size().to_dict()
    assert per_source.units["bytes_in"] == "bytes" and per_source.units["duplicate_rate_documents"] == "fraction"
    # example pairs: designed duplicate pairs, above the threshold, with both texts' excerpts
    examples = _items(s, Table)["Example duplicates (highest similarity first)"]
    truth = _demo_table(spark, demo, "corpus/truth")
    designed = {(a, b): rel for a, b, rel in truth[["id_a", "id_b", "relation"]].itertuples(index=False)}
    text = dict(zip(docs.id, docs.text))
    assert len(examples.rows) == 5
    for dup_id, kept_id, estimated, _exact, dup_text, kept_text in examples.rows:
        pair = (min(dup_id, kept_id), max(dup_id, kept_id))
        assert designed.get(pair) in ("exact_duplicate", "near_duplicate", "transitive"), pair
        assert estimated >= 0.8
        assert (dup_text, kept_text) == (excerpt(text[dup_id]), excerpt(text[kept_id])) and dup_text and kept_text
    assert [r[2] for r in examples.rows] == sorted((r[2] for r in examples.rows), reverse=True)


def test_cluster_sizes_once_and_kept_fractions_from_the_outputs(spark, demo, sections):
    (sizes,) = _items(sections["cluster"], Bars).values()
    assignments = _written(spark, demo, sections["cluster"], "assignments")
    counts = assignments.groupby("cluster").size().sort_values(ascending=False)
    assert sum(sizes.values) == len(assignments) and max(sizes.values) == counts.iloc[0]
    selected = _written(spark, demo, sections["tldr"], "selected")
    (tldr,) = _items(sections["tldr"], Bars).values()
    frac = selected.groupby("cluster").selected.mean()
    assert tldr.values == pytest.approx([frac[int(label)] for label in tldr.labels])
    kept, dups = (_written(spark, demo, sections["semdedup"], n) for n in ("kept", "duplicates"))
    (sem,) = _items(sections["semdedup"], Bars).values()
    members = pd.concat([kept.assign(k=1), dups.assign(k=0)]).groupby("cluster").k.mean()
    assert sem.values == pytest.approx([members[int(label)] for label in sem.labels])
    # no chart is repeated across sections
    titles = [item.title for s in sections.values() for item in s.items]
    assert len(titles) == len(set(titles)), titles


def test_ct_reduce_ratios_are_the_designed_runs_and_paser_budgets_add_up(spark, demo, sections):
    (ratios,) = _items(sections["ct-reduce"], Bars).values()
    truth = _demo_table(spark, demo, "volumes/truth")
    designed = truth.groupby("volume_id").distinct.sum() / truth.groupby("volume_id").size()
    assert dict(zip(ratios.labels, ratios.values)) == pytest.approx(designed.to_dict())
    paser = _items(sections["paser"], Bars)
    clusters = _written(spark, demo, sections["paser"], "clusters").sort_values("cluster")
    assert paser["Budget per cluster (samples)"].values == [float(b) for b in clusters.budget]
    assert sum(paser["Budget per cluster (samples)"].values) == sections["paser"].run["metrics"]["budget_total"]
    assert paser["Capability-degradation score (CDS) per cluster"].values == pytest.approx(list(clusters.cds))


def test_each_stage_has_its_run_history(spark, demo, sections):
    for e in registry.STAGES:
        history = sections[e.name].history
        assert history is not None and history.rows, e.name
        run_ids = [r[0] for r in history.rows]
        assert sections[e.name].run["run_id"] in run_ids
        latest = next(r for r in history.rows if r[0] == sections[e.name].run["run_id"])
        assert latest[1] == "success" and latest[3] > 0
        assert all(f"{o.name} " in latest[4] for o in registry.load_stage(e.name).outputs)


def test_units_are_rendered():
    assert [report.format_bytes(n) for n in (950, 12_300, 4_560_000, 7_890_000_000)] == \
        ["950 B", "12.3 kB", "4.56 MB", "7.89 GB"]
    assert report.format_money(4.476e-06, "USD") == "4.476e-06 USD" and report.format_money(12.5, "EUR") == "12.50 EUR"
    assert report.format_cell(0.125, "fraction") == "12.5 %" and report.format_cell(None, "bytes") == ""
    html = report.html_table(Table("t", ["size", "cost"], [[2_500_000, 3.0]], units={"size": "bytes", "cost": "money"}))
    assert "<td>2.5 MB</td><td>3.00 USD</td>" in html


def test_a_lakehouse_without_runs_says_so(spark, tmp_path):
    sections = report.summarise(str(tmp_path / "empty"))
    assert [s.stage for s in sections] == [e.name for e in registry.STAGES]
    for s in sections:
        assert s.run is None and s.notes == [f"No successful run of {s.stage} in this lakehouse yet."]


def test_cli_writes_the_page_with_every_section_and_no_network(spark, demo, tmp_path, capsys):
    out = tmp_path / "page" / "report.html"
    assert cli_main(["report", "--lakehouse", demo, "--out", str(out)]) == 0
    assert f"report: {out}" in capsys.readouterr().out
    page = out.read_text()
    for anchor in ["section-runs", *(f"section-{e.name}" for e in registry.STAGES)]:
        assert f'id="{anchor}"' in page
    runs = ledger.latest_states(spark, demo).count()
    assert page.count("<tr>") >= runs  # every run is listed
    containment = page[page.index('id="section-containment"'):page.index('id="section-minhash"')]
    assert " kB</td>" in containment and " USD</td>" in containment
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page


def test_the_report_needs_no_jvm(demo, tmp_path):
    """``lakesieve report`` reads the ledger and the outputs with delta-rs and polars: in a process that
    cannot start Java (no java on PATH, JAVA_HOME pointing nowhere) it still writes every section, and
    pyspark never creates a session."""
    import os
    import sys

    out = tmp_path / "nojvm.html"
    code = ("import sys; from jobs.cli import main; rc = main(['report', '--lakehouse', sys.argv[1], '--out', sys.argv[2]]);"
            " from pyspark import SparkContext; assert SparkContext._active_spark_context is None; sys.exit(rc)")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "PYSPARK_"))}
    env.update(JAVA_HOME=str(tmp_path / "no-java"), PATH=str(Path(sys.executable).parent) + ":/usr/bin/none")
    proc = subprocess.run([sys.executable, "-c", code, demo, str(out)], capture_output=True, text=True, env=env,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    page = out.read_text()
    for e in registry.STAGES:
        assert f'id="section-{e.name}"' in page
    assert "Containment graph" in page and "Example duplicates" in page and "Kept ratio per volume" in page


def test_outputs_deleted_since_the_run_leave_a_note_not_a_failure(demo, tmp_path):
    """A deleted output table and Delta data files missing behind their log: those sections say what cannot be
    read, in one line; every other section is still built."""
    copy = tmp_path / "lh"
    shutil.copytree(demo, copy, ignore=shutil.ignore_patterns("_lakesieve_locks"))
    shutil.rmtree(copy / "minhash" / "kept")
    for data in (copy / "containment" / "plan").glob("*.parquet"):
        data.unlink()
    sections = {s.stage: s for s in report.summarise(str(copy))}
    (minhash_note,) = sections["minhash"].notes
    assert minhash_note.startswith("the latest run's outputs cannot be read here:") and "minhash/kept" in minhash_note
    (containment_note,) = sections["containment"].notes
    assert "No such file or directory" in containment_note and sections["containment"].items == []
    assert _items(sections["cluster"], Bars) and _items(sections["ct-reduce"], Bars)


def test_headless_chromium_screenshot_shows_the_plots(spark, demo, tmp_path):
    import numpy as np
    from PIL import Image, ImageStat

    browser = shutil.which("chromium")
    assert browser, "Chromium is missing: `make chromium` (make test does) installs the Debian package"
    page = report.write_report(demo, tmp_path / "index.html")
    shot = tmp_path / "shot.png"
    proc = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                           "--no-first-run", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
                           "--window-size=1200,6000", f"--screenshot={shot}", Path(page).resolve().as_uri()],
                          capture_output=True, text=True, timeout=180)
    assert shot.is_file(), proc.stderr[-2000:]
    image = Image.open(shot).convert("RGB")
    assert image.size == (1200, 6000)
    assert max(ImageStat.Stat(image).var) > 100  # not a blank page
    # the bars are drawn in #2b6cb0: count pixels of that colour (the nav links are a different blue)
    pixels = np.asarray(image, dtype=np.int16)
    bar_pixels = int((np.abs(pixels - np.array([0x2B, 0x6C, 0xB0])).max(axis=2) < 8).sum())
    assert bar_pixels > 5000


def test_a_moved_lakehouse_is_reported_from_another_directory(spark, tmp_path, monkeypatch, capsys):
    """The ledger records outputs relative to the lakehouse root: a lakehouse written under a relative
    root, then moved, is listed and reported on from a third working directory, reading the moved tables."""
    import shutil as sh

    from jobs import demo, runner
    from tests.demo_runs import NO_QUALITY

    (tmp_path / "first").mkdir()
    monkeypatch.chdir(tmp_path / "first")
    demo.write_dataset(spark, "lh", "volumes")
    entry = registry.entry("ct-reduce")
    result = runner.run(spark, registry.load_stage(entry.name), registry.config_path(entry), overrides=[NO_QUALITY],
                        lakehouse_root="lh")
    assert result.status == "success"
    sh.move(str(tmp_path / "first" / "lh"), str(tmp_path / "moved"))
    (tmp_path / "third").mkdir()
    monkeypatch.chdir(tmp_path / "third")
    capsys.readouterr()
    assert cli_main(["runs", "--lakehouse", str(tmp_path / "moved")]) == 0
    assert result.run_id in capsys.readouterr().out
    assert cli_main(["report", "--lakehouse", "../moved"]) == 0
    page = (tmp_path / "moved" / "_lakesieve" / "report" / "index.html").read_text()
    section = page[page.index('id="section-ct-reduce"'):page.index('id="section-paser-score"')]
    assert "Kept ratio per volume" in section and "../moved/ct-reduce/selected" in section
    assert not (tmp_path / "first" / "lh").exists()
