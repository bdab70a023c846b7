"""Table profiles (R2D2 §4.1): schema, row count, size and per-column min, max and null count.

A profile is a bounded summary of one table (one row per table, one entry per column). Min and max
are *bounds*: ``min_num``/``min_str`` is never above the column's true minimum and ``max_*`` never
below its true maximum; ``min_exact``/``max_exact`` say whether the bound is also the exact value
(Delta's log truncates long strings and timestamps, so those are bounds only). Numbers of every
numeric family, dates (days) and timestamps (microseconds) are stored as doubles: rounding to a
double is monotone, so a strict order between doubles still implies it between the values.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Sequence

COLUMN_STATS_DDL = ("struct<name:string,data_type:string,null_count:bigint,min_num:double,max_num:double,"
                    "min_str:string,max_str:string,min_exact:boolean,max_exact:boolean,stats_source:string>")

PROFILE_DDL = (
    "table_id string, path string, format string, delta_version bigint, fingerprint string, status string, "
    "reason string, num_rows bigint, size_bytes bigint, num_columns int, partition_columns array<string>, "
    f"stats_source string, columns array<{COLUMN_STATS_DDL}>, schema_parents int, schema_children int"
)


@dataclass
class ColumnProfile:
    """Statistics of one column; see the module docstring for the meaning of the bounds."""

    name: str
    data_type: str
    null_count: int | None = None
    min_num: float | None = None
    max_num: float | None = None
    min_str: str | None = None
    max_str: str | None = None
    min_exact: bool = False
    max_exact: bool = False
    stats_source: str = "none"

    @property
    def key(self) -> str:
        return self.name.lower()

    def has_bounds(self) -> bool:
        return self.min_num is not None or self.min_str is not None


@dataclass
class TableProfile:
    """One table of the lake: where it is, what it holds, and whether the stage could use it."""

    table_id: str
    path: str
    format: str
    fingerprint: str = ""
    delta_version: int | None = None
    status: str = "ok"                # ok | skipped
    reason: str | None = None         # why skipped (unreadable, empty, unsupported type, ...)
    num_rows: int | None = None
    size_bytes: int | None = None
    partition_columns: tuple[str, ...] = ()
    stats_source: str = "none"        # delta_log | parquet_footer | aggregate | mixed
    columns: list[ColumnProfile] = field(default_factory=list)
    # Delta: the snapshot's data files (read directly as Parquet); not part of the profile output
    data_files: list[str] = field(default_factory=list, repr=False)
    # symlinks in the lake that point at this table: it is never deleted (the links would dangle)
    aliases: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def column(self, key: str) -> ColumnProfile:
        return self._by_key()[key.lower()]

    def column_keys(self) -> list[str]:
        return list(self._by_key())

    def _by_key(self) -> dict[str, ColumnProfile]:
        """key -> column, rebuilt when the column list changed (the schema graph asks for columns by name
        once per candidate pair: a linear search was quadratic in the columns)."""
        cached = self.__dict__.get("_index")
        if cached is None or cached[0] is not self.columns or cached[1] != len(self.columns):
            cached = (self.columns, len(self.columns), {c.key: c for c in self.columns})
            self.__dict__["_index"] = cached
        return cached[2]

    def skip(self, reason: str) -> "TableProfile":
        self.status, self.reason = "skipped", reason
        return self


def profile_rows(profiles: Sequence[TableProfile], parents: dict[str, int], children: dict[str, int]) -> list[tuple]:
    """Rows of the ``profile`` output (see :data:`PROFILE_DDL`)."""
    rows = []
    for p in sorted(profiles, key=lambda x: x.table_id):
        cols = [tuple(dataclasses.astuple(c)) for c in p.columns]
        rows.append((p.table_id, p.path, p.format, p.delta_version, p.fingerprint, p.status, p.reason,
                     p.num_rows, p.size_bytes, len(p.columns), list(p.partition_columns), p.stats_source, cols,
                     parents.get(p.table_id, 0) if p.ok else None, children.get(p.table_id, 0) if p.ok else None))
    return rows

