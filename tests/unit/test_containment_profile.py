"""Profiles from a hand-written Delta log (no Spark): bounds, truncation, partitions, removes, safety."""
import json
from pathlib import Path

import pytest

from jobs.containment_journal import digest, real_under, trash_dir
from jobs.containment_lake import profile_delta, scan
from pipelines.containment.profile import TableProfile
from pipelines.core.delta_log import read_delta_log
from pipelines.core.errors import SafetyError

SCHEMA = {"type": "struct", "fields": [
    {"name": "id", "type": "long", "nullable": True, "metadata": {}},
    {"name": "name", "type": "string", "nullable": True, "metadata": {}},
    {"name": "score", "type": "float", "nullable": True, "metadata": {}},
    {"name": "ts", "type": "timestamp", "nullable": True, "metadata": {}},
    {"name": "region", "type": "string", "nullable": True, "metadata": {}},
]}
LONG = "x" * 32


def _add(path, rows, lo, hi, nulls, region):
    stats = {"numRecords": rows, "minValues": lo, "maxValues": hi, "nullCount": nulls}
    return {"add": {"path": path, "size": 10, "partitionValues": {"region": region}, "dataChange": True,
                    "stats": json.dumps(stats)}}


def _table(tmp_path: Path) -> Path:
    t = tmp_path / "lake" / "t"
    (t / "_delta_log").mkdir(parents=True)
    for _i, name in enumerate(["region=EU/a.parquet", "region=US/b.parquet", "region=US/c.parquet"]):
        (t / name).parent.mkdir(parents=True, exist_ok=True)
        (t / name).write_bytes(b"0123456789")
    commit0 = [{"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}},
               {"metaData": {"id": "x", "format": {"provider": "parquet"}, "schemaString": json.dumps(SCHEMA),
                             "partitionColumns": ["region"], "configuration": {}}},
               _add("region=EU/a.parquet", 3, {"id": 5, "name": "b", "score": 1.1, "ts": "2024-01-01T00:00:00.000Z"},
                    {"id": 9, "name": LONG, "score": 2.5, "ts": "2024-01-02T00:00:00.123Z"},
                    {"id": 0, "name": 1, "score": 0, "ts": 0}, "EU"),
               _add("region=US/b.parquet", 2, {"id": 1, "name": "a", "score": 0.5, "ts": "2024-01-01T00:00:00.000Z"},
                    {"id": 4, "name": "c", "score": 0.75, "ts": "2024-01-01T00:00:00.000Z"},
                    {"id": 0, "name": 0, "score": 0, "ts": 0}, "US")]
    commit1 = [_add("region=US/c.parquet", 1, {"id": 100}, {"id": 100}, {"id": 0, "name": 1, "score": 1, "ts": 1}, "US"),
               {"remove": {"path": "region=US/b.parquet", "dataChange": True}}]
    for v, actions in enumerate([commit0, commit1]):
        (t / "_delta_log" / f"{v:020d}.json").write_text("\n".join(json.dumps(a) for a in actions))
    return t


def test_delta_log_replay_and_bounds(tmp_path):
    t = _table(tmp_path)
    version, meta, adds = read_delta_log(t)
    assert version == 1 and sorted(adds) == ["region=EU/a.parquet", "region=US/c.parquet"]
    prof = TableProfile("t", str(t), "delta")
    profile_delta(None, t, prof)  # every column has statistics: no Spark needed
    assert prof.ok and prof.num_rows == 4 and prof.delta_version == 1 and prof.size_bytes == 20
    assert prof.stats_source == "delta_log" and prof.partition_columns == ("region",)
    cols = {c.name: c for c in prof.columns}
    assert (cols["id"].min_num, cols["id"].max_num, cols["id"].null_count) == (5.0, 100.0, 0)
    # a 32-character string statistic is a truncated prefix: a bound, not exact
    assert cols["name"].min_str == "b" and cols["name"].min_exact and not cols["name"].max_exact
    assert cols["name"].null_count == 2
    # float statistics are read as float32 values (1.1f as a double), never the decimal text
    assert cols["score"].min_num == pytest.approx(1.100000023841858, abs=0) and cols["score"].null_count == 1
    # millisecond timestamps: the max is widened to the end of its millisecond and flagged inexact
    assert not cols["ts"].min_exact and cols["ts"].max_num == 1704153600123000.0 + 999.0
    assert (cols["region"].min_str, cols["region"].max_str, cols["region"].null_count) == ("EU", "US", 0)


def test_missing_or_resized_data_file_marks_the_table_unreadable(tmp_path):
    t = _table(tmp_path)
    (t / "region=US" / "c.parquet").write_bytes(b"short")
    prof = TableProfile("t", str(t), "delta")
    profile_delta(None, t, prof)
    assert prof.status == "skipped" and "5 bytes" in prof.reason


def test_scan_and_path_safety(tmp_path):
    t = _table(tmp_path)
    root = t.parent
    (root / "csvs").mkdir()
    (root / "csvs" / "a.csv").write_text("x\n1\n")
    (root / "_lakesieve_trash").mkdir()
    (root / "_lakesieve_trash" / "b.csv").write_text("x\n1\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "escape").symlink_to(outside)
    found = {p.name: (fmt, why) for p, fmt, why in scan(root)}
    assert found["t"] == ("delta", None) and found["a.csv"] == ("csv", None)
    assert "b.csv" not in found and found["escape"][0] is None and "outside" in found["escape"][1]
    with pytest.raises(SafetyError, match="through the symlink"):
        real_under(root, root / "escape" / "x", "table")
    with pytest.raises(SafetyError, match=r"'\.\.'"):
        real_under(root, root / ".." / "lake" / "t", "table")
    with pytest.raises(SafetyError, match="outside the lake root"):
        real_under(root, outside / "x", "table")
    assert real_under(root, root / "t", "table") == root / "t"


def test_an_aliased_table_is_profiled_once_under_its_real_path(tmp_path):
    """A symlink to a table of the lake is the same table: listed as refused, never a second table
    (which the plan could delete 'in favour of' its own alias); a table with a symlinked data file too."""
    t = _table(tmp_path)
    root = t.parent
    (root / "marts").mkdir()
    (root / "marts" / "t_alias").symlink_to(t)
    (root / "real.csv").write_text("x\n1\n")
    (root / "alias.csv").symlink_to(root / "real.csv")
    leaky = root / "leaky"
    (leaky / "_delta_log").mkdir(parents=True)
    outside = tmp_path / "secret.parquet"
    outside.write_bytes(b"PAR1")
    (leaky / "part-0.parquet").symlink_to(outside)
    found = {p.relative_to(root).as_posix(): (fmt, why) for p, fmt, why in scan(root)}
    assert found["t"] == ("delta", None) and found["real.csv"] == ("csv", None)
    assert found["marts/t_alias"][0] is None and "symlink to 't' inside the lake" in found["marts/t_alias"][1]
    assert found["alias.csv"][0] is None and "symlink to 'real.csv'" in found["alias.csv"][1]
    assert found["leaky"][0] == "delta" and "'part-0.parquet' in it is a symlink" in found["leaky"][1]


def test_the_trash_must_be_a_real_folder_of_the_lake(tmp_path):
    root = tmp_path / "lake"
    root.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / "_lakesieve_trash").symlink_to(elsewhere)
    with pytest.raises(SafetyError, match="trash folder .* through the symlink"):
        trash_dir(root, "apply-1", "t")


def test_digest_sees_every_bit(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d, payload in ((a, b"\x00\x00\x00\x00\x00\x00\x00\x00"), (b, b"\x00\x00\x00\x00\x00\x00\x00\x80")):
        d.mkdir()
        (d / "f.bin").write_bytes(payload)  # 0.0 and -0.0 as little-endian doubles
    assert digest(a) != digest(b) and digest(a) == digest(a)
    (b / "f.bin").write_bytes(b"\x00" * 8)
    assert digest(a) == digest(b)


def test_discovery_rules_a_user_can_predict(tmp_path):
    """A folder of Parquet files is one table only when its files share a schema; otherwise each file
    is a table. Hive-partitioned folders are one table; include/exclude globs select by table id."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from jobs.containment_lake import selection_reason

    root = tmp_path / "lake"
    raw = root / "raw"
    raw.mkdir(parents=True)
    pq.write_table(pa.table({"order_id": [1, 2]}), raw / "orders.parquet")
    pq.write_table(pa.table({"customer": ["a"]}), raw / "customers.parquet")
    same = root / "events"
    same.mkdir()
    for i in range(2):
        pq.write_table(pa.table({"x": [i]}), same / f"part-{i}.parquet")
    hive = root / "sales"
    for day in ("day=1", "day=2"):
        (hive / day).mkdir(parents=True)
        pq.write_table(pa.table({"v": [1.0]}), hive / day / "part-0.parquet")
    found = {p.relative_to(root).as_posix(): fmt for p, fmt, why in scan(root)}
    assert found == {"raw/orders.parquet": "parquet", "raw/customers.parquet": "parquet",
                     "events": "parquet", "sales": "parquet"}
    assert selection_reason("raw/orders.parquet", (), ("raw/*",)) == "excluded by params.exclude 'raw/*'"
    assert selection_reason("events", ("raw/*",), ()) == "not matched by params.include"
    assert selection_reason("raw/orders.parquet", ("raw/*",), ("sales",)) is None


def test_a_folder_mixing_parquet_and_csv_is_one_table_per_file(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = tmp_path / "lake"
    (root / "drop").mkdir(parents=True)
    pq.write_table(pa.table({"x": [1]}), root / "drop" / "a.parquet")
    (root / "drop" / "b.csv").write_text("x\n1\n")
    (root / "drop" / "_SUCCESS").write_text("")
    found = {p.relative_to(root).as_posix(): fmt for p, fmt, why in scan(root)}
    assert found == {"drop/a.parquet": "parquet", "drop/b.csv": "csv"}
