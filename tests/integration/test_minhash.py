"""The minhash stage on real Delta tables, against answers known from the demo corpus's design.

The demo corpus (pipelines/demo_data/corpus.py) records every designed pair with its exact
char-13-gram Jaccard; unrelated documents share no shingle. With exact verification at 0.8 and 32
bands x 4 rows (candidate probability > 0.999 at Jaccard 0.84, so every designed duplicate is a
candidate), the clusters are exactly the connected components of the designed pairs with
Jaccard >= 0.8, and the smallest id of each is kept. Each expectation below is computed from the
design, by a plain union-find, never from the stage's output.
"""
from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from jobs import minhash as job
from jobs.cli import main as cli_main
from pipelines.core import lakehouse as lh
from pipelines.core.errors import DataError, SchemaContractError
from pipelines.core.tables import TableRef
from pipelines.demo_data.corpus import generate
from pipelines.minhash.components import connected_components
from pipelines.minhash.config import MinhashParams
from pipelines.minhash.transform import transform as minhash_transform

pytestmark = pytest.mark.spark

VERIFIED = {"num_bands": 32, "rows_per_band": 4, "verify": True, "jaccard_threshold": 0.8}


# --------------------------------------------------------------------------- expectations from the design
def _components(nodes, pairs):
    parent = {n: n for n in nodes}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {n: find(n) for n in nodes}


class Design:
    def __init__(self, seed=0, base_per_source=12):
        docs, truth = generate(seed=seed, base_per_source=base_per_source)
        self.docs, self.truth = docs, truth
        frame = docs.frame
        self.source = dict(zip(frame.id, frame.source))
        self.filtered = {}
        for i, title, text in zip(frame.id, frame.title, frame.text):
            if not isinstance(text, str):
                self.filtered[int(i)] = "null_text"
            elif not text.strip():
                self.filtered[int(i)] = "empty_text"
            elif "short" in title:
                self.filtered[int(i)] = "too_short"
        self.hashed = sorted(int(i) for i in frame.id if int(i) not in self.filtered)
        t = truth.frame
        self.dup_pairs = [(int(a), int(b)) for a, b, j in zip(t.id_a, t.id_b, t.char13_jaccard) if j >= 0.8]

    def global_result(self, ids=None):
        nodes = self.hashed if ids is None else sorted(ids)
        pairs = [(a, b) for a, b in self.dup_pairs if a in nodes and b in nodes]
        comp = _components(nodes, pairs)
        return {n for n in nodes if comp[n] == n}, {n: comp[n] for n in nodes if comp[n] != n}

    def local_result(self, ids=None):
        nodes = self.hashed if ids is None else sorted(ids)
        pairs = [(a, b) for a, b in self.dup_pairs if a in nodes and b in nodes and self.source[a] == self.source[b]]
        comp = _components(nodes, pairs)
        return {n for n in nodes if comp[n] == n}, {n: comp[n] for n in nodes if comp[n] != n}


@pytest.fixture(scope="module")
def design():
    return Design()


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory, design):
    root = str(tmp_path_factory.mktemp("minhash_lake"))
    df = spark.createDataFrame(design.docs.frame, design.docs.schema)
    lh.write_table(df, TableRef.parse("in/documents", root), "setup")
    return root


@pytest.fixture(scope="module")
def verified_run(spark, lake):
    """One full run through the runner: verified, global, quality suite on."""
    result = job.run(spark, {"inputs": {"documents": "in/documents"}, "params": VERIFIED}, lakehouse_root=lake)
    tables = {name: lh.read_table(spark, TableRef.parse(f"minhash/{name}", lake)) for name in
              ("kept", "duplicates", "rejected", "source_stats", "index")}
    return result, tables


# --------------------------------------------------------------------------- the main run
def test_verified_global_run_keeps_exactly_the_smallest_id_of_each_designed_cluster(verified_run, design):
    result, t = verified_run
    kept_expected, reps_expected = design.global_result()
    assert result.status == "success" and result.quality_failures == []
    assert {r.id for r in t["kept"].collect()} == kept_expected
    dups = {r.id: r for r in t["duplicates"].collect()}
    assert {i: r.representative_id for i, r in dups.items()} == reps_expected
    assert all(r.cluster_id == r.representative_id and r.scope == "global" and not r.from_previous_batch
               for r in dups.values())
    assert all(r.exact_jaccard is not None and 0.0 < r.estimated_jaccard <= 1.0 for r in dups.values())
    assert {r.id: r.reason for r in t["rejected"].collect()} == design.filtered
    # each removal is explained by a designed pair at or above the threshold (unrelated documents share no
    # shingle, so a match outside the designed pairs would be wrong), whatever the distance to the kept one
    designed = {tuple(sorted(p)) for p in design.dup_pairs}
    assert all(tuple(sorted((i, r.matched_id))) in designed and r.matched_exact_jaccard >= 0.8
               and 0.0 < r.matched_estimated_jaccard <= 1.0 for i, r in dups.items())
    # the input columns survive in kept
    assert t["kept"].columns == ["id", "source", "title", "text"]


def test_source_stats_account_for_every_document(verified_run, design):
    _, t = verified_run
    _, reps = design.global_result()
    stats = {r.source: r for r in t["source_stats"].collect()}
    for source in ("web", "wiki", "code", "books"):
        ids = [i for i, s in design.source.items() if s == source]
        row = stats[source]
        assert row.documents_in == len(ids)
        assert row.duplicates_removed == sum(1 for i in ids if i in reps)
        assert row.rejected_too_short == sum(1 for i in ids if design.filtered.get(i) == "too_short")
        assert row.kept + row.duplicates_removed + row.rejected_too_short + row.rejected_null_or_empty == len(ids)
        assert row.duplicate_rate_documents == pytest.approx(row.duplicates_removed / len(ids))


def test_index_has_a_row_per_document_and_band_and_metrics_check_the_suite(verified_run, design):
    result, t = verified_run
    assert t["index"].count() == 32 * len(design.hashed)
    assert result.metrics["representatives_not_kept"] == 0
    assert result.metrics["num_bands"] == 32 and result.metrics["rows_per_band"] == 4
    # the stage's own step seconds (verification's shingle sets among them), for the CLI summary and the bench
    steps = {k for k in result.metrics if k.startswith("seconds.")}
    assert {"seconds.signatures", "seconds.shingle_sets", "seconds.candidates_and_clusters"} <= steps
    assert all(result.metrics[k] >= 0 for k in steps)
    sizes = {}
    for rep in design.global_result()[1].values():
        sizes[rep] = sizes.get(rep, 1) + 1
    assert result.metrics["max_cluster_size"] == max(sizes.values())


def test_rerun_is_skipped_by_the_ledger(spark, verified_run, lake):
    result, _ = verified_run
    again = job.run(spark, {"inputs": {"documents": "in/documents"}, "params": VERIFIED}, lakehouse_root=lake)
    assert again.status == "skipped" and again.reused_run == result.run_id


# --------------------------------------------------------------------------- scopes and survivors
@pytest.fixture(scope="module")
def small(spark):
    d = Design(seed=1, base_per_source=6)
    return d, spark.createDataFrame(d.docs.frame, d.docs.schema)


def _collect(out):
    kept = {r.id for r in out.kept.select("id").collect()}
    dups = {r.id: r for r in out.duplicates.collect()}
    return kept, dups


def test_local_scope_never_crosses_sources(small):
    d, docs = small
    kept, dups = _collect(minhash_transform({"documents": docs}, MinhashParams(scope="local", **VERIFIED)))
    kept_expected, reps_expected = d.local_result()
    assert kept == kept_expected
    assert {i: r.representative_id for i, r in dups.items()} == reps_expected
    assert all(r.source == r.representative_source and r.scope == "local" for r in dups.values())


def test_local_then_global_removes_local_then_cross_source_duplicates(small):
    d, docs = small
    kept, dups = _collect(minhash_transform({"documents": docs},
                                            MinhashParams(scope="local-then-global", **VERIFIED)))
    local_kept, local_reps = d.local_result()
    global_kept, global_reps = d.global_result(local_kept)
    assert kept == global_kept
    assert {i for i, r in dups.items() if r.scope == "local"} == set(local_reps)
    assert {i for i, r in dups.items() if r.scope == "global"} == set(global_reps)
    # every representative is a kept document
    assert {r.representative_id for r in dups.values()} <= kept


def test_incremental_batches_equal_one_run_on_the_union(spark, small):
    """Batch 1 = even ids, batch 2 = odd ids (the SlimPajama recipe, no verification): batch 2 holds
    smaller ids that take over clusters of batch 1, which the second run reports with
    from_previous_batch = true. Kept and representatives equal one run over the union."""
    d, docs = small
    params = MinhashParams()
    first = minhash_transform({"documents": docs.where(F.col("id") % 2 == 0)}, params)
    kept1, dups1 = _collect(first)
    second = minhash_transform({"documents": docs.where(F.col("id") % 2 == 1),
                                "previous_index": first.index.localCheckpoint(eager=True)}, params)
    kept2, dups2 = _collect(second)
    union_kept, union_dups = _collect(minhash_transform({"documents": docs}, params))
    retracted = {i for i, r in dups2.items() if r.from_previous_batch}
    assert retracted and retracted <= kept1 | set(dups1), "the design must exercise a cluster taken over later"
    assert (kept1 - retracted) | kept2 == union_kept
    latest = {**{i: r.representative_id for i, r in dups1.items()}, **{i: r.representative_id for i, r in dups2.items()}}
    assert latest == {i: r.representative_id for i, r in union_dups.items()}
    assert second.index.select("id").distinct().count() == len(d.hashed)
    # the designed duplicates at Jaccard >= 0.9 are found (candidate probability >= 0.93 each)
    t = d.truth.frame
    strong = [(int(a), int(b)) for a, b, j in zip(t.id_a, t.id_b, t.char13_jaccard) if j >= 0.9]
    assert sum(1 for a, b in strong if b in union_dups) >= len(strong) - 1


def test_source_priority_survivor_keeps_the_preferred_source(small):
    d, docs = small
    _, reps_expected = d.global_result()
    clusters = {}
    for i, rep in reps_expected.items():
        clusters.setdefault(rep, {rep}).add(i)
    priority = ("books", "code", "wiki", "web")
    out = minhash_transform({"documents": docs},
                            MinhashParams(survivor="source_priority", source_priority=priority, **VERIFIED))
    kept, _ = _collect(out)
    rank = {s: k for k, s in enumerate(priority)}
    for members in clusters.values():
        best = min(members, key=lambda i: (rank[d.source[i]], i))
        assert best in kept and not (members - {best}) & kept


# --------------------------------------------------------------------------- components
@pytest.mark.parametrize("driver_max_edges", [0, 3, 100], ids=["spark", "over-the-driver-limit", "driver"])
def test_components_are_labelled_with_their_smallest_node(spark, driver_max_edges):
    """The same labels from large-star/small-star on Spark and from the driver's union-find (and from Spark
    again when the graph has more edges than the driver may take)."""
    edges = [(i, i + 1) for i in range(1, 9)] + [(20, 25), (25, 23), (23, 21), (40, 41), (50, 44), (44, 47),
                                                  (47, 50), (9, 3), (60, 60)]
    got = {r.node: r.component for r in connected_components(
        spark.createDataFrame(edges, "src long, dst long"), driver_max_edges=driver_max_edges).collect()}
    nodes = sorted({n for e in edges[:-1] for n in e})  # a self-loop alone makes no component
    assert got == _components(nodes, edges[:-1]) and 60 not in got
    # byte order, not locale order: "B" < "a" < "b" < "é" in UTF-8
    strings = connected_components(spark.createDataFrame(
        [("b", "a"), ("c", "b"), ("x", "y"), ("é", "b"), ("B", "x")], "src string, dst string"),
        driver_max_edges=driver_max_edges)
    assert {r.node: r.component for r in strings.collect()} == {
        "a": "a", "b": "a", "c": "a", "é": "a", "x": "B", "y": "B", "B": "B"}
    assert connected_components(spark.createDataFrame([], "src long, dst long"),
                                driver_max_edges=driver_max_edges).count() == 0
    # ids the driver does not order as Spark does (doubles) always take the Spark rounds
    doubles = connected_components(spark.createDataFrame([(1.5, 0.5), (2.5, 1.5)], "src double, dst double"),
                                   driver_max_edges=driver_max_edges)
    assert {r.node: r.component for r in doubles.collect()} == {0.5: 0.5, 1.5: 0.5, 2.5: 0.5}


# --------------------------------------------------------------------------- bad input
def _no_output(lake):
    return all(lh.table_version(None, TableRef.parse(f"bad/{n}", lake)) is None
               for n in ("kept", "duplicates", "rejected", "source_stats", "index"))


def _bad_run(spark, lake, table):
    outputs = {n: f"bad/{n}" for n in ("kept", "duplicates", "rejected", "source_stats", "index")}
    return job.run(spark, {"inputs": {"documents": table}, "outputs": outputs,
                           "quality": {"enabled": False}}, lakehouse_root=lake)


def test_duplicate_ids_fail_before_any_write_showing_examples(spark, lake):
    rows = [(1, "web", "a" * 300), (2, "web", "b" * 300), (2, "wiki", "c" * 300), (7, "web", "d" * 300),
            (7, "web", "e" * 300)]
    lh.write_table(spark.createDataFrame(rows, "id long, source string, text string"),
                   TableRef.parse("in/dup_ids", lake), "setup")
    with pytest.raises(DataError, match=r"column 'id' has duplicate values, e\.g\. 2 \(x2\), 7 \(x2\)"):
        _bad_run(spark, lake, "in/dup_ids")
    assert _no_output(lake)


def test_wrong_or_missing_columns_are_contract_errors_with_exit_code_2(spark, lake):
    lh.write_table(spark.createDataFrame([(1, 5)], "id long, text int"), TableRef.parse("in/int_text", lake), "setup")
    with pytest.raises(SchemaContractError, match="in/int_text.*column 'text' has type int"):
        _bad_run(spark, lake, "in/int_text")
    lh.write_table(spark.createDataFrame([("x",)], "body string"), TableRef.parse("in/no_id", lake), "setup")
    with pytest.raises(SchemaContractError, match="no column 'id'"):
        _bad_run(spark, lake, "in/no_id")
    lh.write_table(spark.createDataFrame([(1, "t", 3)], "id long, text string, source int"),
                   TableRef.parse("in/int_source", lake), "setup")
    with pytest.raises(SchemaContractError, match="column 'source' has type int"):
        _bad_run(spark, lake, "in/int_source")
    code = cli_main(["run", "minhash", "--lakehouse", lake, "--set", "inputs.documents=in/int_text",
                     "--set", "quality.enabled=false"])
    assert code == 2 and _no_output(lake)


@pytest.mark.slow
def test_a_single_50_mb_document_does_not_crash_the_job(spark):
    body = " ".join(f"token{i % 9973}x{i % 101}" for i in range(4_000_000))[:50_000_000]
    small = "a near duplicate pair of ordinary documents " * 10
    docs = spark.createDataFrame([(1, "web", body), (2, "web", small), (3, "wiki", small + " extra")],
                                 "id long, source string, text string")
    out = minhash_transform({"documents": docs}, MinhashParams())
    assert {r.id for r in out.kept.select("id").collect()} == {1, 2}
    assert [(r.id, r.representative_id) for r in out.duplicates.collect()] == [(3, 2)]


# --------------------------------------------------------------------------- match evidence on a chain
def _normalised_shingles(text: str, n: int = 13) -> set:
    return {text[i:i + n] for i in range(len(text) - n + 1)}


def _jaccard(a: str, b: str) -> float:
    x, y = _normalised_shingles(a), _normalised_shingles(b)
    return len(x & y) / len(x | y)


def _chain_texts():
    import random

    rng = random.Random(7)
    words = ["lake", "sieve", "table", "delta", "spark", "minhash", "band", "row", "copy", "shingle", "hash",
             "bucket", "document", "cluster", "graph", "edge", "kept", "removed"]
    b = " ".join(rng.choice(words) for _ in range(90))
    other = random.Random(8)  # 42 letters the base never uses at each end: no 13-gram shared with it
    head, tail = ("".join(other.choice("qxzjvw") for _ in range(42)) for _ in range(2))
    a = head + b[len(head):]
    c = b[:-len(tail)] + tail
    return a, b, c


def test_a_chain_of_near_duplicates_names_the_pair_that_explains_each_removal(spark, tmp_path):
    # A ~ B and B ~ C at >= 0.8, A vs C below: C is removed for B, not for the kept A
    a, b, c = _chain_texts()
    jab, jbc, jac = _jaccard(a, b), _jaccard(b, c), _jaccard(a, c)
    assert jab >= 0.8 and jbc >= 0.8 and jac < 0.8, (jab, jbc, jac)
    root = str(tmp_path)
    docs = spark.createDataFrame([(1, a), (2, b), (3, c)], "id long, text string")
    lh.write_table(docs, TableRef.parse("in/chain", root), "setup")
    result = job.run(spark, {"inputs": {"documents": "in/chain"}, "params": VERIFIED}, lakehouse_root=root)
    assert result.status == "success" and result.quality_failures == []
    dups = {r.id: r for r in lh.read_table(spark, TableRef.parse("minhash/duplicates", root)).collect()}
    assert set(dups) == {2, 3} and {r.representative_id for r in dups.values()} == {1}
    assert dups[3].exact_jaccard == pytest.approx(jac)            # to the kept document: below the threshold
    assert dups[3].matched_id == 2 and dups[3].matched_exact_jaccard == pytest.approx(jbc)
    expected_b = 1 if jab >= jbc else 3                          # B's best neighbour (ties: the smaller id)
    assert dups[2].matched_id == expected_b and dups[2].matched_exact_jaccard == pytest.approx(max(jab, jbc))


def test_string_ids_cluster_under_their_smallest_id(spark, tmp_path):
    """Ids are often strings (file names, URLs): the cluster id is the component's smallest id, so it has the
    id's type (a string here), and the run passes its own output contract. Found on real documents whose
    ids were 'doc<N>': the duplicates table was declared with an integer cluster id and the run failed."""
    a, b, c = _chain_texts()
    root = str(tmp_path)
    docs = spark.createDataFrame([("doc-b", a), ("doc-a", b), ("doc-c", c), ("doc-z", "unrelated " * 40)],
                                 "id string, text string")
    lh.write_table(docs, TableRef.parse("in/named", root), "setup")
    result = job.run(spark, {"inputs": {"documents": "in/named"}, "params": VERIFIED}, lakehouse_root=root)
    assert result.status == "success" and result.quality_failures == []
    dups = lh.read_table(spark, TableRef.parse("minhash/duplicates", root))
    assert dict(dups.dtypes)["cluster_id"] == "string"
    assert {(r.id, r.cluster_id, r.representative_id) for r in dups.collect()} == {
        ("doc-b", "doc-a", "doc-a"), ("doc-c", "doc-a", "doc-a")}
    kept = {r.id for r in lh.read_table(spark, TableRef.parse("minhash/kept", root)).collect()}
    assert kept == {"doc-a", "doc-z"}


def test_the_match_expectation_fails_when_a_removal_has_no_pair_above_the_threshold(spark):
    from pipelines.core.quality import validate_outputs
    from pipelines.minhash.stage import expectations

    dups = spark.createDataFrame(
        [(2, 1, 0.9, False), (3, 2, 0.7, False), (4, None, None, False), (5, None, None, True)],
        "id long, matched_id long, matched_exact_jaccard double, from_previous_batch boolean")
    suites = expectations(MinhashParams(verify=True), {"duplicates": dups},
                          {"input_documents": 0, "duplicates_current_batch": 0, "representatives_not_kept": 0})
    unmatched, checks = suites["duplicates.unmatched"]
    assert [r.id for r in unmatched.collect()] == [4]           # 5 is from an earlier batch
    between = [e for e in suites["duplicates"] if type(e).__name__ == "ExpectColumnValuesToBeBetween"]
    results = validate_outputs({"duplicates": (dups, between), "duplicates.unmatched": (unmatched, checks)},
                               stage="minhash", docs_dir=None)
    assert [(r.table, r.success) for r in results] == [("duplicates", False), ("duplicates.unmatched", False)]
    assert "unexpected_count=1" in results[0].observed                 # the 0.7 pair
