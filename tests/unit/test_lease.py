"""Leases decide whether another run is alive: a pid check on this host, a renewed lease on any other."""
from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta, timezone

import pytest

from pipelines.core import lease
from pipelines.core.errors import ConcurrentRunError, ConfigError


def _now_naive() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _lease_file(root, run_id, renewed_at, lease_s=10.0):
    path = root / "_lakesieve" / "leases" / f"{run_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"run_id": run_id, "owner": "worker-b:1", "renewed_at": renewed_at, "lease_s": lease_s}))


def test_this_host_is_a_pid_check_and_other_hosts_a_lease(tmp_path, monkeypatch):
    monkeypatch.delenv("LAKESIEVE_HOST_ID", raising=False)
    here = lease.host_id()
    assert lease.alive(tmp_path, "r", f"{here}:{os.getppid()}", None)  # a live process of this host
    assert not lease.alive(tmp_path, "r", f"{here}:999999999", None)  # its process is gone
    # this very process: alive only while it is running that run (a notebook whose run could not
    # record its end, on a full disk, must not block its next run)
    assert not lease.alive(tmp_path, "r", f"{here}:{os.getpid()}", None)
    _lease_file(tmp_path, "reused", time.time() - 30)  # a live pid behind a stale lease: the pid was reused
    assert not lease.alive(tmp_path, "reused", f"{here}:{os.getppid()}", None)
    _lease_file(tmp_path, "fresh", time.time() - 3)
    _lease_file(tmp_path, "stale", time.time() - 30)
    assert lease.alive(tmp_path, "fresh", "worker-b:1", None)
    assert not lease.alive(tmp_path, "stale", "worker-b:1", None)  # lost driver: recoverable from here
    # no lease file (a row from before leases): its start time counts as its last renewal
    monkeypatch.setenv("LAKESIEVE_LEASE_SECONDS", "60")
    assert lease.alive(tmp_path, "old", "worker-b:1", _now_naive() - timedelta(seconds=10))
    assert not lease.alive(tmp_path, "old", "worker-b:1", _now_naive() - timedelta(seconds=120))
    lease.revoke(tmp_path, "fresh", "me:1")
    assert not lease.alive(tmp_path, "fresh", "worker-b:1", None)


def test_an_injected_host_id_is_another_host(monkeypatch):
    monkeypatch.setenv("LAKESIEVE_HOST_ID", "pod-7")
    assert lease.host_pid() == f"pod-7:{os.getpid()}"


def test_a_held_lease_is_renewed_and_stops_its_run_once_revoked(tmp_path, monkeypatch):
    monkeypatch.setenv("LAKESIEVE_LEASE_SECONDS", "0.5")  # renewed every 0.1 s
    held = lease.Lease(tmp_path, "run-1")
    try:
        first = json.loads(held.path.read_text())["renewed_at"]
        time.sleep(1.0)  # two lease lengths: still alive because renewed
        assert json.loads(held.path.read_text())["renewed_at"] > first
        assert lease.alive(tmp_path, "run-1", "worker-b:1", None)
        held.check()
        lease.revoke(tmp_path, "run-1", "worker-c:9")  # another host recovered it as dead
        with pytest.raises(ConcurrentRunError, match="run-1 lost its lease \\(recovered by worker-c:9"):
            held.check()
        time.sleep(0.3)
        assert not lease.alive(tmp_path, "run-1", "worker-b:1", None)  # renewals never undo a revocation
    finally:
        held.release()
    assert not held.path.exists()


def test_a_bad_lease_length_names_the_variable(monkeypatch):
    monkeypatch.setenv("LAKESIEVE_LEASE_SECONDS", "soon")
    with pytest.raises(ConfigError, match="LAKESIEVE_LEASE_SECONDS .* not 'soon'"):
        lease.lease_seconds()


def test_an_output_is_locked_against_runs_of_any_lakehouse(tmp_path):
    """Two lakehouses whose runs write one table (named through a symlink by the second): the second
    refuses, naming the first; once the first ends (or dies: the kernel drops the lock), it may write."""
    table = tmp_path / "shared" / "kept"
    (tmp_path / "alias").symlink_to(tmp_path / "shared")
    first = lease.OutputLocks({"kept": f"file:{table}"}, "run-a", "/lh1")
    try:
        with pytest.raises(ConcurrentRunError, match=r"run run-a \(.*lakehouse /lh1\) is already writing file:.*kept"):
            lease.OutputLocks({"kept": f"file:{os.path.realpath(tmp_path / 'alias' / 'kept')}"}, "run-b", "/lh2")
        lease.OutputLocks({"other": f"file:{tmp_path / 'shared' / 'other'}"}, "run-c", "/lh2").release()
    finally:
        first.release()
    lease.OutputLocks({"kept": f"file:{table}"}, "run-b", "/lh2").release()
    assert not table.exists()  # the lock lives beside the table, never inside it


def test_a_uri_lakehouse_has_no_lease_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    held = lease.Lease("s3a://bucket/lakehouse", "run-9")
    held.check()
    assert lease.alive("s3a://bucket/lakehouse", "run-9", "worker-b:1", None)  # assumed alive, as before leases
    lease.revoke("s3a://bucket/lakehouse", "run-9", "me:1")
    held.release()
    assert list(tmp_path.iterdir()) == []  # nothing written locally under a path spelled like the URI
