"""``lakesieve report``: the numbers behind each section, the page's sections, and a headless Chromium
screenshot that shows the plots.

The lakehouse holds designed output tables of each summarised stage (the columns the stages document
in their ``Output`` docs) and ledger rows in the runner's format, so every plotted number is known in
advance. Real stage runs are summarised in tests/e2e/test_notebooks.py, on the demo data.
"""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from jobs import registry, report
from jobs.cli import main as cli_main
from pipelines.core import ledger
from pipelines.core.lakehouse import write_table
from pipelines.core.tables import TableRef

pytestmark = pytest.mark.spark

TABLES = {
    "containment": {
        "plan": ([("t/a", "keep", None, 4000, 0.0), ("t/b", "delete", "t/a", 1000, 2.5),
                  ("t/c", "delete", "t/a", 500, 1.0), ("t/d", "keep", None, 800, 0.0)],
                 "table_id string, action string, parent string, size_bytes long, net_saving_per_month double"),
        "edges": ([("t/a", "t/b", None), ("t/a", "t/c", None), ("t/d", "t/b", "minmax")],
                  "parent string, child string, pruned_by string"),
    },
    "minhash": {
        # kept 1 <- 2, 3 (a cluster of 3); 10 <- 11 and 20 <- 21 (two of 2); 30 <- 31, 32, 33 (one of 4)
        "duplicates": ([(2, 1), (3, 1), (11, 10), (21, 20), (31, 30), (32, 30), (33, 30)], "id long, duplicate_of long"),
        "source_stats": ([("web", 100, 93), ("books", 20, 20)], "source string, documents long, kept long"),
    },
    "cluster": {"centroids": ([(0, 5), (1, 3), (2, 8)], "cluster int, size long")},
    "tldr": {"selected": ([(1, 0, True), (2, 0, False), (3, 0, True), (4, 0, False),
                           (5, 1, True), (6, 1, False), (7, 1, False)], "id long, cluster int, selected boolean")},
    "semdedup": {"kept": ([(1, 0), (2, 0), (9, 1)], "id long, cluster int"),
                 "duplicates": ([(3, 1, 0), (4, 1, 0), (5, 2, 0)], "id long, duplicate_of long, cluster int")},
    "ct-reduce": {"volume_stats": ([("v1", 10, 4, 0.4), ("v2", 8, 8, 1.0), ("v3", 5, 1, 0.2)],
                                   "volume_id string, slices_in long, kept long, ratio double")},
    "paser": {"clusters": ([(0, 10, 0.7, 6), (1, 5, 0.1, 1), (2, 8, 0.2, 3)],
                           "cluster int, size long, cds double, budget long")},
}


def _record_run(spark, root: str, stage: str, run_id: str, status: str, tables: dict) -> None:
    versions, labels = {}, {}
    for name, (rows, schema) in tables.items():
        ref = TableRef.parse(f"{stage}/{name}", root)
        versions[name] = write_table(spark.createDataFrame(rows, schema), ref, run_id) if status == "success" else 0
        labels[name] = ref.label
    metrics = {f"rows.{n}": len(rows) for n, (rows, _) in tables.items()}
    ledger.append(spark, root, ledger.RunRecord(
        run_id=run_id, stage=stage, status=status, config_json=json.dumps({"stage": stage, "outputs": labels}),
        output_versions=versions if status == "success" else {}, metrics=metrics if status == "success" else {},
        quality="passed" if status == "success" else "", started_at=ledger.now(), ended_at=ledger.now(),
        error=None if status == "success" else "DataError: injected"))


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp("report") / "lakehouse")
    for stage, tables in TABLES.items():
        _record_run(spark, root, stage, f"{stage}-ok", "success", tables)
    # a later failed run does not replace the latest successful one
    _record_run(spark, root, "minhash", "minhash-later-failure", "failed", TABLES["minhash"])
    return root


@pytest.fixture(scope="module")
def sections(spark, lake) -> dict:
    return {s.stage: s for s in report.summarise(spark, lake)}


def _items(section, kind):
    return {item.title: item for item in section.items if isinstance(item, kind)}


def test_containment_graph_and_planned_savings(sections):
    s = sections["containment"]
    (graph,) = _items(s, report.Graph).values()
    assert graph.edges == [("t/a", "t/b"), ("t/a", "t/c")]  # the minmax-pruned t/d -> t/b is not drawn
    assert graph.nodes == {"t/a": "keep", "t/b": "delete", "t/c": "delete"}
    tables = _items(s, report.Table)
    assert tables["Planned savings"].rows == [[2, 1500, 3.5]]
    assert [r[0] for r in tables["Planned deletions"].rows] == ["t/b", "t/c"]


def test_minhash_cluster_sizes_and_source_table_from_the_latest_success(sections):
    s = sections["minhash"]
    assert s.run["run_id"] == "minhash-ok"
    (hist,) = _items(s, report.Bars).values()
    assert (hist.labels, hist.values) == (["2", "3", "4"], [2.0, 1.0, 1.0])
    table = _items(s, report.Table)["Per source (SlimPajama-style)"]
    assert table.headers == ["source", "documents", "kept"] and table.rows == [["books", 20, 20], ["web", 100, 93]]


def test_cluster_tldr_semdedup_sizes_and_kept_fractions(sections):
    (sizes,) = _items(sections["cluster"], report.Bars).values()
    assert (sizes.labels, sizes.values) == (["2", "0", "1"], [8.0, 5.0, 3.0])
    tldr = _items(sections["tldr"], report.Bars)
    assert tldr["TL;DR: cluster sizes"].values == [4.0, 3.0]
    assert tldr["TL;DR: kept fraction per cluster"].labels == ["0", "1"]
    assert tldr["TL;DR: kept fraction per cluster"].values == pytest.approx([0.5, 1 / 3])
    sem = _items(sections["semdedup"], report.Bars)
    assert sem["SemDeDup: cluster sizes"].labels == ["0", "1"] and sem["SemDeDup: cluster sizes"].values == [5.0, 1.0]
    assert sem["SemDeDup: kept fraction per cluster"].values == pytest.approx([0.4, 1.0])


def test_ct_reduce_ratios_and_paser_budgets(sections):
    (ratios,) = _items(sections["ct-reduce"], report.Bars).values()
    assert (ratios.labels, ratios.values) == (["v1", "v2", "v3"], [0.4, 1.0, 0.2])
    paser = _items(sections["paser"], report.Bars)
    assert paser["Budget per cluster (samples)"].values == [6.0, 1.0, 3.0]
    assert paser["Capability-degradation score (CDS) per cluster"].values == [0.7, 0.1, 0.2]


def test_stages_without_a_run_say_so(sections):
    for stage in ("embed", "paser-score"):
        assert sections[stage].run is None
        assert sections[stage].notes == [f"No successful run of {stage} in this lakehouse yet."]
    assert [s for s in sections] == [e.name for e in registry.STAGES]


def test_cli_writes_the_page_with_every_section(spark, lake, tmp_path, capsys):
    out = tmp_path / "page" / "report.html"
    assert cli_main(["report", "--lakehouse", lake, "--out", str(out)]) == 0
    assert f"report: {out}" in capsys.readouterr().out
    page = out.read_text()
    for anchor in ["section-runs", *(f"section-{e.name}" for e in registry.STAGES)]:
        assert f'id="{anchor}"' in page
    assert "minhash-later-failure" in page  # the runs table lists every run
    assert page.count("<svg") == 10  # containment graph + 9 bar charts
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page


def test_headless_chromium_screenshot_shows_the_plots(spark, lake, tmp_path):
    import numpy as np
    from PIL import Image, ImageStat

    browser = shutil.which("chromium")
    assert browser, "Chromium is missing: `make chromium` (make test does) installs the Debian package"
    page = report.write_report(spark, lake, tmp_path / "index.html")
    shot = tmp_path / "shot.png"
    proc = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                           "--no-first-run", "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}",
                           "--window-size=1200,2400", f"--screenshot={shot}", page.resolve().as_uri()],
                          capture_output=True, text=True, timeout=180)
    assert shot.is_file(), proc.stderr[-2000:]
    image = Image.open(shot).convert("RGB")
    assert image.size == (1200, 2400)
    assert max(ImageStat.Stat(image).var) > 100  # not a blank page
    # the bars are drawn in #2b6cb0: count pixels of that colour (the nav links are a different blue)
    pixels = np.asarray(image, dtype=np.int16)
    bar_pixels = int((np.abs(pixels - np.array([0x2B, 0x6C, 0xB0])).max(axis=2) < 8).sum())
    assert bar_pixels > 5000
