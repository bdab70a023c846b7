"""Reading a local Delta table's transaction log directly (no Spark job): the one place that does.

:func:`read_delta_log` replays the last checkpoint and the JSON commits after it into the snapshot's
``metaData`` and its active ``add`` actions (the containment profile takes statistics from them);
:func:`local_version` is the newest committed version (the runner's and the ledger's cheap check);
:func:`commit_of` finds a run's commit by its ``userMetadata`` (the runner's check of its own writes).
"""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote


def commit_versions(log: Path) -> list[int]:
    """The versions of the JSON commit files in a ``_delta_log`` folder, oldest first."""
    return sorted(int(f.name.split(".")[0]) for f in log.iterdir()
                  if f.name.endswith(".json") and f.name.split(".")[0].isdigit())


def local_version(table: Path) -> int | None:
    """The newest version in ``table/_delta_log``, or None when it has no Delta log."""
    log = table / "_delta_log"
    if not log.is_dir():
        return None
    versions = commit_versions(log)
    return versions[-1] if versions else None


def commit_of(table: Path, user_metadata: str, *, newest: int = 50) -> tuple[int, dict] | None:
    """(version, operationMetrics) of the newest of the last ``newest`` commits whose ``commitInfo`` carries
    ``user_metadata``, read from the JSON commit files (what ``DESCRIBE HISTORY`` reports, without a Spark
    job); None when none of them does."""
    log = table / "_delta_log"
    if not log.is_dir():
        return None
    for v in reversed(commit_versions(log)[-newest:]):
        try:
            lines = (log / f"{v:020d}.json").read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:  # a log cleanup removed it meanwhile
            continue
        for line in lines:
            if '"commitInfo"' in line:
                info = json.loads(line).get("commitInfo") or {}
                if info.get("userMetadata") == user_metadata:
                    return v, _spark_metrics(dict(info.get("operationMetrics") or {}), lines)
                break
    return None


def _spark_metrics(metrics: dict, lines: list[str]) -> dict:
    """A commit's operation metrics under Spark's names: a delta-rs commit records ``num_added_rows`` where
    Spark records ``numOutputRows``, and no byte count, which is the sum of its ``add`` actions' sizes."""
    if "numOutputRows" in metrics or "num_added_rows" not in metrics:
        return metrics
    adds = [json.loads(line)["add"] for line in lines if '"add"' in line and line.startswith('{"add"')]
    return {**metrics, "numOutputRows": str(metrics["num_added_rows"]), "numFiles": str(len(adds)),
            "numOutputBytes": str(sum(int(a.get("size", 0)) for a in adds))}


def data_file(table: Path, add_path: str) -> Path:
    """The local file of an ``add`` action's (URL-encoded, table-relative) path."""
    return table / unquote(add_path)


def read_json_lines(path: Path) -> list[dict]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out


def read_delta_log(table: Path) -> tuple[int, dict, dict[str, dict]]:
    """(version, metaData action, active add actions by path) from a local Delta log."""
    version, meta, adds, _ = read_snapshot(table)
    return version, meta, adds


def read_snapshot(table: Path) -> tuple[int, dict, dict[str, dict], dict]:
    """(version, metaData action, active add actions by path, protocol action) from a local Delta log: the newest
    checkpoint, then the commits after it."""
    import pyarrow.parquet as pq

    log = table / "_delta_log"
    versions = commit_versions(log)
    start, meta, adds, protocol = -1, {}, {}, {}
    last = log / "_last_checkpoint"
    if last.is_file():
        cp = json.loads(last.read_text())
        start = int(cp["version"])
        parts = sorted(log.glob(f"{start:020d}.checkpoint*.parquet"))
        for part in parts:
            t = pq.read_table(part, columns=["add", "metaData", "protocol"]).to_pylist()
            for row in t:
                if row.get("metaData"):
                    meta = row["metaData"]
                if row.get("protocol"):
                    protocol = row["protocol"]
                if row.get("add"):
                    a = row["add"]
                    if isinstance(a.get("partitionValues"), list):
                        a["partitionValues"] = dict(a["partitionValues"])
                    adds[a["path"]] = a
    later = [v for v in versions if v > start]
    if not later and start < 0:
        raise ValueError("the Delta log has no commits")
    for v in later:
        actions = read_json_lines(log / f"{v:020d}.json")
        # a commit's removes before its adds: a deletion vector rewrites a file's entry as a remove and an add
        # of the same path in one commit, in either order
        for action in actions:
            if "remove" in action:
                adds.pop(action["remove"]["path"], None)
        for action in actions:
            if "metaData" in action:
                meta = action["metaData"]
            elif "protocol" in action:
                protocol = action["protocol"]
            elif "add" in action:
                adds[action["add"]["path"]] = action["add"]
    version = max([start] + later)
    if not meta:
        raise ValueError("the Delta log has no metaData action")
    return version, meta, adds, protocol
