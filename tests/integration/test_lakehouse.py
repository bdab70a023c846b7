"""Lakehouse I/O on real files: Delta versions and run ids, Parquet and CSV, catalog names as data."""
from __future__ import annotations

import pytest

from pipelines.core import delta_log, lakehouse
from pipelines.core.errors import InputNotFoundError, OutputError
from pipelines.core.tables import TableRef

pytestmark = pytest.mark.spark


def test_delta_write_returns_versions_and_tags_run_id(spark, tmp_path):
    ref = TableRef(path=str(tmp_path / "t"))
    df = spark.createDataFrame([(1, "a"), (2, "b")], "id int, s string")
    assert lakehouse.write_table(df, ref, "run-1") == 0
    commit = lakehouse.write_commit(df.where("id = 1"), ref, "run-2")
    assert commit.version == 1
    assert lakehouse.table_version(spark, ref) == 1
    assert lakehouse.read_table(spark, ref).count() == 1
    assert lakehouse.read_version(spark, ref, 0).count() == 2
    assert commit.metrics["numOutputRows"] == "1"
    assert lakehouse.input_fingerprint(spark, ref) == "delta:v1"
    lakehouse.restore_table(spark, ref, 0)
    assert lakehouse.read_table(spark, ref).count() == 2


def test_an_empty_overwrite_of_an_empty_table_still_commits_for_its_run(spark, tmp_path):
    """Delta skips 'empty' commits by default; a rerun whose output has no rows (a stage's `rejected`)
    must still get a version carrying its run id (found by SIGKILL-and-rerun of embed)."""
    spark.conf.unset("spark.databricks.delta.skipRecordingEmptyCommits")
    ref = TableRef(path=str(tmp_path / "empty"))
    empty = spark.createDataFrame([], "id long, reason string")
    assert lakehouse.write_table(empty, ref, "run-1") == 0
    assert lakehouse.write_table(empty, ref, "run-2") == 1
    assert lakehouse.write_table(empty, ref, "run-3") == 2
    history = lakehouse.history(spark, ref, 1000).select("version", "userMetadata").collect()
    assert sorted((r["version"], r["userMetadata"]) for r in history) == [(0, "run-1"), (1, "run-2"), (2, "run-3")]


def test_log_table_appends_are_compacted_every_nth_version_with_rows_and_history_kept(spark, tmp_path):
    ref = TableRef(path=str(tmp_path / "log"))
    versions = [lakehouse.append_rows(spark.createDataFrame([(i, f"run-{i}")], "i int, run string").coalesce(1),
                                      ref, f"run-{i}", compact_every=2) for i in range(5)]
    # v0, v1 appends; v2 append + v3 compaction; v4 append + v5 compaction; v6 append + v7 compaction
    assert versions == [0, 1, 2, 4, 6]
    ops = {r["version"]: r["operation"] for r in lakehouse.history(spark, ref, 1000).collect()}
    assert [v for v, op in sorted(ops.items()) if op == "OPTIMIZE"] == [3, 5, 7]
    assert spark.sql("DESCRIBE DETAIL " + lakehouse.sql_identifier(ref)).collect()[0]["numFiles"] == 1
    assert sorted(r["i"] for r in lakehouse.read_table(spark, ref).collect()) == [0, 1, 2, 3, 4]
    assert sorted(r["i"] for r in lakehouse.read_version(spark, ref, 2).collect()) == [0, 1, 2]
    assert lakehouse.committed(spark, ref, "run-4").version == 6


def test_a_compaction_that_cannot_run_is_logged_and_never_raises(spark, tmp_path, caplog):
    ref = TableRef(path=str(tmp_path / "not-a-table"))
    with caplog.at_level("WARNING", logger="lakesieve.lakehouse"):
        assert lakehouse.compact(spark, ref) is False
    assert f"could not compact '{ref.label}'" in caplog.text


def test_parquet_and_csv_are_read_and_missing_paths_named(spark, tmp_path):
    df = spark.createDataFrame([(1, 2.5), (2, 3.5)], "id int, x double")
    df.write.parquet(str(tmp_path / "pq"))
    (tmp_path / "c.csv").write_text("id,x\n1,2.5\n2,3.5\n")
    for name, fmt in (("pq", "parquet"), ("c.csv", "csv")):
        ref = TableRef(path=str(tmp_path / name))
        assert lakehouse.detect_format(ref) == fmt
        got = lakehouse.read_table(spark, ref)
        assert sorted(r["id"] for r in got.collect()) == [1, 2]
        assert lakehouse.input_fingerprint(spark, ref).startswith(fmt + ":")
    with pytest.raises(InputNotFoundError, match="nope"):
        lakehouse.read_table(spark, TableRef(path=str(tmp_path / "nope")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputNotFoundError, match="no Delta log, Parquet or CSV"):
        lakehouse.read_table(spark, TableRef(path=str(tmp_path / "empty")))


def test_names_with_quotes_backticks_and_keywords_are_data(spark, tmp_path):
    # a column name full of SQL is stored and read back as a name (Delta column mapping)
    cols = "`my col; drop` int, `it's ``odd``` string, `select` int"
    df = spark.createDataFrame([(1, "x", 2)], cols)
    ref = TableRef(path=str(tmp_path / "odd names"))
    assert lakehouse.write_table(df, ref, "run-odd") == 0
    back = lakehouse.read_table(spark, ref)
    assert back.columns == ["my col; drop", "it's `odd`", "select"] and back.collect()[0][1] == "x"
    # a catalog table named by a keyword is quoted, not executed
    kw = TableRef.parse("default.`select`")
    assert lakehouse.write_table(df.select("select"), kw, "run-kw") == 0
    assert lakehouse.read_table(spark, kw).collect()[0][0] == 2
    # a name the catalog cannot hold is a clear error naming it, not SQL
    with pytest.raises(OutputError, match="drop table y"):
        lakehouse.write_table(df, TableRef.parse("default.`x; drop table y`"), "run-bad")
    with pytest.raises(InputNotFoundError, match="does not exist"):
        lakehouse.read_table(spark, TableRef(name="default.no_such_table"))


# --------------------------------------------------------------------------- small outputs committed by delta-rs
_MANY_TYPES = """
    SELECT CAST(id AS TINYINT) AS b, CAST(id AS SMALLINT) AS s, CAST(id AS INT) AS i, id AS l,
           CAST(id AS FLOAT) / 3 AS f, CAST(id AS DOUBLE) / 7 AS d, CAST(id AS DECIMAL(12, 3)) / 4 AS dec,
           id % 2 = 0 AS flag, CASE WHEN id = 1 THEN NULL ELSE concat('t', id) END AS txt, CAST(concat('b', id) AS BINARY) AS bin,
           date_add(DATE '2024-02-28', CAST(id AS INT)) AS day, TIMESTAMP '2024-03-31 01:30:00' + make_interval(0, 0, 0, 0, CAST(id AS INT)) AS ts,
           array(id, NULL) AS arr, named_struct('x', id, 'y', array(CAST(id AS STRING))) AS st, map('k', id) AS m
    FROM range(5)"""


def _delta_table(spark, path):
    df = spark.read.format("delta").load(str(path))
    return df.schema, sorted(map(tuple, df.orderBy("l").collect()), key=repr)


def test_a_small_local_overwrite_by_delta_rs_makes_the_table_sparks_writer_makes(spark, tmp_path):
    df = spark.sql(_MANY_TYPES).localCheckpoint(eager=True)
    by_spark = lakehouse.write_commit(df, TableRef(path=str(tmp_path / "spark")), "run-1")
    by_rs = lakehouse.write_commit(df, TableRef(path=str(tmp_path / "rs")), "run-1", driver_max_bytes=2**20)
    info = (tmp_path / "rs" / "_delta_log" / "00000000000000000000.json").read_text()
    assert '"engineInfo":"delta-rs' in info and '"userMetadata":"run-1"' in info  # delta-rs wrote it, for the run
    assert by_rs.version == by_spark.version == 0
    assert by_rs.metrics["numOutputRows"] == "5" and int(by_rs.metrics["numOutputBytes"]) > 0
    assert _delta_table(spark, tmp_path / "rs") == _delta_table(spark, tmp_path / "spark")
    # the next overwrite changes the schema and partitions the table; a table Spark wrote is overwritten too
    narrow = spark.sql("SELECT id, CAST(id % 2 AS STRING) AS part FROM range(3)")
    for name in ("spark", "rs"):
        commit = lakehouse.write_commit(narrow, TableRef(path=str(tmp_path / name)), "run-2", partition_by=["part"],
                                        driver_max_bytes=2**20)
        assert commit.version == 1 and commit.metrics["numOutputRows"] == "3"
        back = spark.read.format("delta").load(str(tmp_path / name))
        assert back.columns == ["id", "part"] and sorted(r.id for r in back.collect()) == [0, 1, 2]
        assert spark.sql(f"DESCRIBE DETAIL delta.`{tmp_path / name}`").first()["partitionColumns"] == ["part"]
    # an empty overwrite still commits, for its run
    empty = lakehouse.write_commit(narrow.limit(0), TableRef(path=str(tmp_path / "rs")), "run-3", driver_max_bytes=2**20)
    assert empty.version == 2 and spark.read.format("delta").load(str(tmp_path / "rs")).count() == 0


@pytest.mark.parametrize("case", ["too big", "timestamp_ntz", "column mapping", "turned off"])
def test_what_delta_rs_must_not_write_goes_through_sparks_writer(spark, tmp_path, monkeypatch, case):
    df = {"too big": spark.range(1000),
          "timestamp_ntz": spark.sql("SELECT 1 AS id, TIMESTAMP_NTZ '2024-01-01 00:00:00' AS t"),
          "column mapping": spark.sql("SELECT 1 AS `an id`"),
          "turned off": spark.range(3)}[case]
    if case == "turned off":
        monkeypatch.setenv("LAKESIEVE_DELTA_RS_APPENDS", "0")
    commit = lakehouse.write_commit(df, TableRef(path=str(tmp_path / "t")), "run-1",
                                    driver_max_bytes=100 if case == "too big" else 2**20)
    info = (tmp_path / "t" / "_delta_log" / "00000000000000000000.json").read_text()
    assert "delta-rs" not in info and '"userMetadata":"run-1"' in info and commit.version == 0
    assert spark.read.format("delta").load(str(tmp_path / "t")).schema == df.schema.__class__(
        [f.__class__(f.name, f.dataType, True) for f in df.schema.fields])


def test_a_join_of_small_checkpoints_is_written_by_delta_rs_though_spark_estimates_it_at_gigabytes(spark, tmp_path):
    from pipelines.core.partitions import estimated_bytes, leaf_bytes

    left = spark.sql("SELECT id, id % 10 AS k FROM range(1000)").localCheckpoint(eager=True)
    right = spark.sql("SELECT id AS k, repeat('x', id) AS pad FROM range(10)").localCheckpoint(eager=True)
    # 100 x 100 pairs per key, counted: 10 rows
    joined = (left.join(right, "k").join(left.withColumnRenamed("id", "other"), "k").groupBy("k").count()
              .join(left.groupBy("k").count().withColumnRenamed("count", "n"), "k"))
    limit = 4 * leaf_bytes(joined)  # the blocks' bytes: about 75 per row
    assert leaf_bytes(joined) < 2**20 and estimated_bytes(joined) > limit  # the plan's guess is far above them
    commit = lakehouse.write_commit(joined, TableRef(path=str(tmp_path / "t")), "run-1", driver_max_bytes=limit)
    assert "delta-rs" in (tmp_path / "t" / "_delta_log" / "00000000000000000000.json").read_text()
    assert commit.metrics["numOutputRows"] == "10"
    assert sorted(tuple(r) for r in spark.read.format("delta").load(str(tmp_path / "t")).collect()) == \
        [(k, 10000, 100) for k in range(10)]
    # the same rows over a tight limit go through Spark's writer
    lakehouse.write_commit(joined, TableRef(path=str(tmp_path / "u")), "run-1", driver_max_bytes=leaf_bytes(joined))
    assert "delta-rs" not in (tmp_path / "u" / "_delta_log" / "00000000000000000000.json").read_text()


def test_a_plain_scan_is_read_by_pyarrow_and_anything_else_is_left_to_spark(spark, tmp_path):
    rows = spark.sql("SELECT id, CAST(id % 3 AS STRING) AS part, array(CAST(id AS FLOAT), 1.5F) AS vector FROM range(50)")
    delta, parquet = TableRef(path=str(tmp_path / "delta")), str(tmp_path / "parquet")
    lakehouse.write_table(rows.repartition(3), delta, "setup")
    rows.write.parquet(parquet)
    want = sorted((r.id, list(r.vector)) for r in rows.collect())
    for df in (lakehouse.read_table(spark, delta), spark.read.parquet(parquet)):
        got = lakehouse.plain_scan_arrow(df, ["id", "vector"])
        assert got is not None and got.column_names == ["id", "vector"]
        assert sorted(zip(got.column("id").to_pylist(), got.column("vector").to_pylist())) == want
    table = lakehouse.read_table(spark, delta)
    assert lakehouse.plain_scan_arrow(table.where("id > 3"), ["id", "vector"]) is None  # a filter
    lakehouse.write_table(rows.where("id < 5"), delta, "setup-2")  # version 1; version 0 read by time travel
    assert lakehouse.plain_scan_arrow(lakehouse.read_version(spark, delta, 0), ["id", "vector"]) is None
    lakehouse.write_table(rows.repartition(3), delta, "setup-3")
    table = lakehouse.read_table(spark, delta)
    assert lakehouse.plain_scan_arrow(table.selectExpr("id + 1 AS id", "vector"), ["id", "vector"]) is None
    rows.write.partitionBy("part").parquet(str(tmp_path / "parted"))
    assert lakehouse.plain_scan_arrow(spark.read.parquet(str(tmp_path / "parted")), ["part", "id"]) is None
    rows.drop("vector").write.option("header", True).csv(str(tmp_path / "csv"))
    assert lakehouse.plain_scan_arrow(spark.read.option("header", True).csv(str(tmp_path / "csv")), ["id"]) is None
    # deletion vectors: the deleted rows are still in the files, so the scan is not plain
    spark.sql(f"ALTER TABLE delta.`{tmp_path / 'delta'}` SET TBLPROPERTIES ('delta.enableDeletionVectors' = true)")
    spark.sql(f"DELETE FROM delta.`{tmp_path / 'delta'}` WHERE id < 10")
    after = lakehouse.read_table(spark, delta)
    assert lakehouse.plain_scan_arrow(after, ["id", "vector"]) is None
    # the row count of a plain scan from its files' footers (the input-rows guard's), None where it is not one
    assert lakehouse.footer_row_count(spark.read.parquet(parquet)) == 50
    assert lakehouse.footer_row_count(spark.read.parquet(str(tmp_path / "parted"))) == 50
    assert lakehouse.footer_row_count(spark.read.parquet(parquet).where("id < 7")) is None
    assert lakehouse.footer_row_count(after) is None  # deletion vectors
    assert lakehouse.footer_row_count(spark.read.option("header", True).csv(str(tmp_path / "csv"))) is None
    # the log read without Spark sees the files with their deletion vectors (the DELETE wrote, in one commit, an
    # add and a remove of each file's path: the add first, which once left no file at all), so no row count
    _, _, adds = delta_log.read_delta_log(tmp_path / "delta")
    assert len(adds) == 3 and all(a.get("deletionVector") for a in adds.values())
    assert lakehouse.logged_row_count(delta) is None and after.count() == 40


def test_rows_handed_to_spark_from_arrow_are_committed_from_that_arrow(spark, tmp_path, monkeypatch):
    import pyarrow as pa
    from pyspark.sql import types as T

    from pipelines.core.local_frames import from_arrow, held_arrow, local_frame

    table = pa.table({"id": pa.array([3, 1, 2], pa.int64()), "d": pa.array([0.5, None, 1.5])})
    frame = from_arrow(spark, table, T.StructType([T.StructField("id", T.LongType()), T.StructField("d", T.DoubleType())]))
    assert held_arrow(frame) is not None and held_arrow(frame.select("id")) is None  # a derived frame holds none
    assert held_arrow(local_frame(spark, [(1, "a")], "id long, s string")) is not None
    monkeypatch.setattr(type(frame), "toArrow", lambda self: (_ for _ in ()).throw(AssertionError("collected")))
    commit = lakehouse.write_commit(frame, TableRef(path=str(tmp_path / "t")), "run-1", driver_max_bytes=2**20)
    assert commit.metrics["numOutputRows"] == "3"
    # committed by delta-rs from the held table (a collect would have failed, and Spark's writer taken over)
    assert "delta-rs" in (tmp_path / "t" / "_delta_log" / "00000000000000000000.json").read_text()
    monkeypatch.undo()
    back = [tuple(r) for r in spark.read.format("delta").load(str(tmp_path / "t")).collect()]
    assert sorted(back, key=repr) == sorted([(3, 0.5), (1, None), (2, 1.5)], key=repr)


def _reads_delta(df) -> bool:
    plan = df._jdf.queryExecution().analyzed()
    while plan.nodeName() in ("Project", "SubqueryAlias"):
        plan = plan.child()
    return plan.relation().fileFormat().getClass().getSimpleName() == "DeltaParquetFileFormat"


def test_a_plain_delta_input_is_read_as_its_files_and_any_other_by_deltas_reader(spark, tmp_path):
    """A stage's input (``lakehouse.read_input``): a plain Delta table is read as its newest version's files with its
    schema (the same rows, types and order of columns, without Delta's snapshot job); a table whose files do not
    hold its rows as they are (deletion vectors, partition columns, column mapping) is left to Delta's reader."""
    rows = spark.sql("SELECT id, CAST(id AS INT) AS small, CAST(id % 3 AS STRING) AS part, "
                     "array(CAST(id AS FLOAT)) AS vector, named_struct('a', id) AS s FROM range(40)")
    plain = TableRef(path=str(tmp_path / "plain"))
    lakehouse.write_table(rows.repartition(3), plain, "setup")
    lakehouse.write_table(rows.where("id < 10"), plain, "setup-2")  # the newest version: 10 rows
    got, print_ = lakehouse.read_input(spark, plain)
    assert not _reads_delta(got) and print_ == "delta:v1"
    assert got.schema.simpleString() == lakehouse.read_table(spark, plain).schema.simpleString()
    assert sorted(tuple(r) for r in got.collect()) == sorted(tuple(r) for r in rows.where("id < 10").collect())
    # Delta's reader for the others, with the same rows
    parted = TableRef(path=str(tmp_path / "parted"))
    rows.write.format("delta").partitionBy("part").save(str(tmp_path / "parted"))
    mapped = TableRef(path=str(tmp_path / "mapped"))
    rows.write.format("delta").option("delta.columnMapping.mode", "name").save(str(tmp_path / "mapped"))
    dv = TableRef(path=str(tmp_path / "dv"))
    rows.write.format("delta").option("delta.enableDeletionVectors", "true").save(str(tmp_path / "dv"))
    spark.sql(f"DELETE FROM delta.`{tmp_path / 'dv'}` WHERE id >= 30")
    for ref, n in ((parted, 40), (mapped, 40), (dv, 30)):
        df, _ = lakehouse.read_input(spark, ref)
        assert _reads_delta(df), ref.label
        assert df.count() == n
    assert lakehouse.plain_delta_files(TableRef(path=str(tmp_path / "missing"))) is None


def test_a_commit_after_the_input_is_read_changes_neither_its_rows_nor_its_fingerprint(spark, tmp_path):
    """A writer commits to the input between the read and the run's fingerprint (the race): the frame keeps the
    version it read and the fingerprint names that version, by either reader, so the ledger never records a
    version the run did not read (a rerun on the new version is then not skipped as already done)."""
    rows = spark.sql("SELECT id FROM range(20)")
    plain, dv = TableRef(path=str(tmp_path / "plain")), TableRef(path=str(tmp_path / "dv"))
    lakehouse.write_table(rows, plain, "setup")
    rows.write.format("delta").option("delta.enableDeletionVectors", "true").save(str(tmp_path / "dv"))
    for ref in (plain, dv):  # read as its files / by Delta's reader
        df, print_ = lakehouse.read_input(spark, ref)
        lakehouse.write_table(rows.where("id < 5"), ref, "the other writer")  # version 1
        assert print_ == "delta:v0", ref.label
        assert lakehouse.input_fingerprint(spark, ref) == "delta:v1"
        assert df.count() == 20, ref.label


def test_a_delta_log_pointing_outside_its_table_is_not_read_as_files(spark, tmp_path):
    """"Every file inside the table's folder": a log entry ``../x.parquet``, or a data file that is a symlink out of
    the folder, leaves the table to Delta's reader (never a read of files elsewhere by this shortcut)."""
    import shutil

    rows = spark.sql("SELECT id FROM range(8)")
    for name in ("dotdot", "linked"):
        lakehouse.write_table(rows.coalesce(1), TableRef(path=str(tmp_path / name)), "setup")
    assert lakehouse.plain_delta_files(TableRef(path=str(tmp_path / "linked"))) is not None
    # a data file moved out and linked back
    data = next((tmp_path / "linked").glob("*.parquet"))
    shutil.move(data, tmp_path / "elsewhere.parquet")
    data.symlink_to(tmp_path / "elsewhere.parquet")
    assert lakehouse.plain_delta_files(TableRef(path=str(tmp_path / "linked"))) is None
    # a log entry whose path climbs out of the table
    log0 = tmp_path / "dotdot" / "_delta_log" / "00000000000000000000.json"
    data = next((tmp_path / "dotdot").glob("*.parquet"))
    shutil.move(data, tmp_path / data.name)
    log0.write_text(log0.read_text().replace(f'"path":"{data.name}"', f'"path":"../{data.name}"'))
    assert f'"../{data.name}"' in log0.read_text()
    assert lakehouse.plain_delta_files(TableRef(path=str(tmp_path / "dotdot"))) is None


def test_a_parquet_file_written_while_spark_lists_the_input_is_read_again_by_the_next_run(spark, tmp_path,
                                                                                          monkeypatch):
    """Another writer adds a file to a Parquet input just as Spark lists it: the frame reads it, and the
    fingerprint, taken before the listing, does not name it, so the next run's fingerprint differs and the run is
    not skipped as done (the other order recorded a file the run may never have read)."""
    folder = tmp_path / "pq"
    spark.createDataFrame([(i,) for i in range(4)], "id long").coalesce(1).write.parquet(str(folder))
    written = next(folder.glob("*.parquet"))
    original = lakehouse.read_table

    def listing_with_a_writer(spark_, ref, *args, **kwargs):
        (folder / "part-late.parquet").write_bytes(written.read_bytes())
        return original(spark_, ref, *args, **kwargs)

    monkeypatch.setattr(lakehouse, "read_table", listing_with_a_writer)
    ref = TableRef.parse(str(folder))
    frame, fingerprint = lakehouse.read_input(spark, ref)
    assert frame.count() == 8
    assert fingerprint != lakehouse.input_fingerprint(spark, ref)


def test_output_schemas_are_parsed_in_python_as_spark_parses_them(spark):
    """local_frames.ddl_schema (no JVM call) gives Spark's own StructType for every output DDL of the stages;
    a text outside its grammar is refused, and local_frame then asks Spark."""
    from pipelines.containment.graph import EDGES_DDL
    from pipelines.containment.plan import PLAN_DDL
    from pipelines.containment.profile import PROFILE_DDL
    from pipelines.containment.recipes import RECIPES_DDL
    from pipelines.core.local_frames import ddl_schema, local_frame

    extra = "a decimal(10,2), m map<string,array<int>>, s struct<x:tinyint,y:timestamp_ntz>, d date"
    for ddl in (PROFILE_DDL, EDGES_DDL, PLAN_DDL, RECIPES_DDL, extra):
        assert ddl_schema(ddl) == spark.createDataFrame([], ddl).schema, ddl[:40]
    for odd in ("`a b` int", "a int not null", "a int comment 'x'"):
        with pytest.raises(ValueError):
            ddl_schema(odd)
    assert local_frame(spark, [(1,)], "`a b` int").collect()[0][0] == 1
