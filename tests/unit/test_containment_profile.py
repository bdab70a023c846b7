"""Profiles from a hand-written Delta log (no Spark): bounds, truncation, partitions, removes, safety."""
import json
from pathlib import Path

import pytest

from jobs.containment_lake import check_inside, profile_delta, scan
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
    with pytest.raises(SafetyError, match="outside the lake root"):
        check_inside(root, root / "escape" / "x", "table")
    with pytest.raises(SafetyError, match=r"'\.\.'"):
        check_inside(root, root / ".." / "lake" / "t", "table")
    assert check_inside(root, root / "t", "table") == root / "t"
