"""Enough partitions for the CPU-bound steps: an input of one big file is one task otherwise.

A Delta table written by one writer is often one Parquet file of one row group (delta-rs, pandas,
``coalesce(1)``); Spark splits the file by byte range, but the one task whose range holds the row group
reads all of it, so a Python kernel applied to it (``mapInArrow``: MinHash signatures, shingle sets) runs
on one core while the others idle. Measured on 5,811 real documents (60 M characters, one file) on 2 cores:
signatures 11.9 s in one task, 7.9 s spread (warm, the shuffle included).
"""
from __future__ import annotations

import logging

log = logging.getLogger("lakesieve.partitions")

TASKS_PER_CORE = 2  # documents differ in length by 500x: a few tasks per core even out a long one
MIN_BYTES = 4 * 2**20  # below this (the plan's size estimate: compressed files), the shuffle costs more than it saves


def estimated_bytes(df) -> int | None:
    """Spark's size estimate of ``df``'s optimised plan (the files' bytes for a scan, the rows' for a
    checkpoint), with no job; None where there is none to read (Spark Connect has no ``_jdf``)."""
    try:
        return int(str(df._jdf.queryExecution().optimizedPlan().stats().sizeInBytes()))
    except Exception as exc:  # noqa: BLE001 - Spark Connect, or a plan without statistics
        log.debug("no size estimate (%s)", exc)
        return None


def leaf_bytes(df) -> int | None:
    """The sum of the sizes of the relations ``df`` reads, with no job: files and local rows by Spark's
    estimate, a checkpoint by the bytes its blocks hold (its estimate is the plan's before it was computed:
    gigabytes for a join of a few thousand rows); None where one of them has no size (rows Spark took as an
    uncached RDD) or there is no plan to read (Spark Connect)."""
    try:
        leaves = df._jdf.queryExecution().optimizedPlan().collectLeaves().iterator()
        cached = {int(i.id()): int(i.memSize()) + int(i.diskSize())
                  for i in df.sparkSession.sparkContext._jsc.sc().getRDDStorageInfo()}
        total = 0
        while leaves.hasNext():
            leaf = leaves.next()
            size = cached.get(int(leaf.rdd().id())) if leaf.nodeName() == "LogicalRDD" else None
            size = int(str(leaf.stats().sizeInBytes())) if size is None else size
            if size >= 2**63 - 1:
                return None
            total += size
        return total
    except Exception as exc:  # noqa: BLE001 - Spark Connect, or a plan without statistics
        log.debug("no leaf sizes (%s)", exc)
        return None


def spread(df, *keys: str, tasks_per_core: int = TASKS_PER_CORE, min_bytes: int = MIN_BYTES):
    """``df`` hash-partitioned by ``keys`` into ``tasks_per_core`` tasks per core of the session when it is
    read from fewer files than cores and Spark's size estimate of it is at least ``min_bytes``, else ``df``
    as it is (a shuffle of the rows costs less than leaving cores idle under a kernel, but nothing where the
    input already spans the cores, and more than it saves on a small input: the demo's 200 documents).
    Spark Connect (no partition count on the client) and any failure to count leave it as it is."""
    size = estimated_bytes(df)
    if size is None or size < min_bytes:
        return df
    try:
        # files, not partitions: Spark splits one file into a partition per core by byte range, but a
        # Parquet row group is read whole by one of them, so the others are empty (measured: 4 partitions,
        # one task doing all the work)
        files = len(df.inputFiles())  # the scan's files, from the Delta snapshot or the listing; no job
        cores = df.sparkSession.sparkContext.defaultParallelism
    except Exception as exc:  # noqa: BLE001 - Spark Connect has no _jdf / sparkContext
        log.debug("input files not counted (%s); the input keeps its partitioning", exc)
        return df
    if files >= cores:
        return df
    return df.repartition(cores * tasks_per_core, *keys)
