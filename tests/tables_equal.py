"""Comparing Delta tables in tests: equal as multisets of rows, floats within a tolerance."""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T


def _rounded(df: DataFrame, digits: int) -> DataFrame:
    cols = []
    for f in df.schema.fields:
        c = F.col(f"`{f.name}`")
        if isinstance(f.dataType, (T.FloatType, T.DoubleType)):
            c = F.round(c, digits)
        elif isinstance(f.dataType, T.ArrayType) and isinstance(f.dataType.elementType, (T.FloatType, T.DoubleType)):
            c = F.transform(c, lambda x: F.round(x, digits))
        elif isinstance(f.dataType, T.MapType):
            c = F.to_json(c)
        cols.append(c.alias(f.name))
    return df.select(cols)


def _rooted(df: DataFrame, root: str) -> DataFrame:
    """Each row as one JSON string with the lakehouse root's absolute path written ``<root>`` and file
    tables' fingerprints masked (tables that record where their inputs live and what they were,
    containment's profile and recipes, compare across lakehouses)."""
    row = F.replace(F.to_json(F.struct(*[F.col(f"`{c}`") for c in df.columns])), F.lit(root), F.lit("<root>"))
    # a Parquet/CSV table's fingerprint hashes its files' names, sizes and mtimes: another copy differs in mtime
    return df.select(F.regexp_replace(row, r"(parquet|csv):[0-9a-f]{16}", "$1:<files>").alias("row"))


def assert_tables_equal(left: DataFrame, right: DataFrame, *, digits: int = 5, what: str = "table",
                        roots: tuple[str, str] | None = None) -> None:
    """Same columns and the same multiset of rows (floats rounded to ``digits``); with ``roots`` (the two
    lakehouses' absolute paths), paths under each root count as equal."""
    assert sorted(left.columns) == sorted(right.columns), f"{what}: columns differ {left.columns} vs {right.columns}"
    left = _rounded(left.select(sorted(left.columns)), digits)
    right = _rounded(right.select(sorted(right.columns)), digits)
    if roots is not None:
        left, right = _rooted(left, roots[0]), _rooted(right, roots[1])
    only_left = left.exceptAll(right).limit(3).collect()
    only_right = right.exceptAll(left).limit(3).collect()
    assert not only_left and not only_right, f"{what}: rows differ; only left {only_left}; only right {only_right}"
