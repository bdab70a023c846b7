"""Run leases: how one run knows whether another, on this host or any other, is still alive.

A run holds a lease file ``<lakehouse>/_lakesieve/leases/<run id>.json`` from its ``running`` row to
its final row, and a daemon thread renews it every ``lease / 5`` seconds. Another run decides:

* a run of **this host** is alive while its process is (a pid check: exact, no waiting) and its lease,
  if it has one, is fresh (a stale lease behind a live pid means the pid was reused); a run of this
  very process (a notebook) while the process is still inside it;
* a run of **another host** (an Airflow retry on a new worker, a Kubernetes pod, a Databricks job
  retry) is alive while its lease is fresh — renewed within its lease length
  (``LAKESIEVE_LEASE_SECONDS``, default 300 s, written into the lease by its owner). A run without a
  lease file (rows written before leases) counts from its start time.

An expired run is recovered (its outputs rolled back, marked ``aborted``) by the next run, from any
host; recovery first *revokes* the lease, and a run that finds its own lease revoked — it was only
partitioned away, not dead — stops before its next commit (:meth:`Lease.check`), so two hosts never
both commit a run. Clocks of the hosts must agree to well within the lease length.

Leases are files, so they work on local and mounted storage (NFS, DBFS and Unity Catalog volumes
through their FUSE mounts). A lakehouse named by a URI (``s3a://``, ``abfss://``) has none: a run of
another host is then assumed alive, as before leases, and a lost one must be marked by hand.

The host is ``LAKESIEVE_HOST_ID`` when set (for pods whose hostnames repeat, and for the reliability
suite, which runs a stage "on another host" this way), else the hostname.
"""
from __future__ import annotations

import errno
import json
import os
import socket
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from pipelines.core.errors import ConcurrentRunError, ConfigError
from pipelines.core.lakehouse import is_local

DEFAULT_LEASE_S = 300.0
_ACTIVE: set[str] = set()  # the runs this process is running now


def host_id() -> str:
    return os.environ.get("LAKESIEVE_HOST_ID") or socket.gethostname()


def host_pid() -> str:
    return f"{host_id()}:{os.getpid()}"


def lease_seconds() -> float:
    text = os.environ.get("LAKESIEVE_LEASE_SECONDS", "")
    if not text:
        return DEFAULT_LEASE_S
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ConfigError(f"LAKESIEVE_LEASE_SECONDS must be a positive number of seconds, not '{text}'")
    return value


def _path(root: str | Path, run_id: str) -> Path | None:
    """The lease file of a run; None for a lakehouse that is a URI (leases are files on local or mounted
    storage; see the module docstring)."""
    if not is_local(str(root)):
        return None
    root = str(root)[len("file:"):] if str(root).startswith("file:") else str(root)
    return Path(root) / "_lakesieve" / "leases" / f"{run_id}.json"


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write(path: Path, data: dict) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def _pid_alive(pid: str) -> bool:
    if not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def alive(root: str | Path, run_id: str, owner: str, started_at: datetime | None) -> bool:
    """Whether the run ``run_id`` of ``owner`` (``host:pid``) may still be running (module docstring)."""
    host, _, pid = owner.rpartition(":")
    if host == host_id():
        if pid == str(os.getpid()):  # this process (a notebook, a test): alive only while it runs it; a run
            return run_id in _ACTIVE  # whose final row could not be written (a full disk) is over
        if not _pid_alive(pid):
            return False
    if _path(root, run_id) is None:  # a URI lakehouse: no leases; another host's run is assumed alive
        return True
    if _revoked(root, run_id) is not None:
        return False
    lease = _read(_path(root, run_id))
    if lease is not None:  # a stale lease behind a live pid: the pid was reused (a reboot), the run is gone
        return time.time() - float(lease["renewed_at"]) <= float(lease.get("lease_s", DEFAULT_LEASE_S))
    if host == host_id():
        return True  # a run from before leases: its pid is all there is
    if started_at is None:
        return True
    started = started_at.replace(tzinfo=timezone.utc).timestamp()
    return time.time() - started <= lease_seconds()


def _revoked(root: str | Path, run_id: str) -> str | None:
    if _path(root, run_id) is None:
        return None
    data = _read(_path(root, run_id).with_suffix(".revoked"))
    return None if data is None else str(data.get("by", "another run"))


def revoke(root: str | Path, run_id: str, by: str) -> None:
    """Revoke a dead run's lease (before its outputs are rolled back), so it can never commit: a file of
    its own beside the lease, which the owner never writes, so no renewal can overwrite it."""
    if _path(root, run_id) is None:
        return
    path = _path(root, run_id).with_suffix(".revoked")
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(path, {"run_id": run_id, "by": by, "at": time.time()})


class Lease:
    """This run's lease, renewed by a daemon thread until :meth:`release`."""

    def __init__(self, root: str | Path, run_id: str):
        self.root, self.path, self.run_id = root, _path(root, run_id), run_id
        self.lease_s = lease_seconds()
        self._stop = threading.Event()
        _ACTIVE.add(run_id)
        self._thread = None
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._renew()
        self._thread = threading.Thread(target=self._loop, name=f"lease-{run_id}", daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        _write(self.path, {"run_id": self.run_id, "owner": host_pid(), "renewed_at": time.time(),
                           "lease_s": self.lease_s})

    def _loop(self) -> None:
        while not self._stop.wait(self.lease_s / 5):
            try:
                self._renew()
            except OSError:
                pass  # a full or unreachable disk: the lease lapses and check() stops the run

    def check(self) -> None:
        """Raise :class:`ConcurrentRunError` when another run has recovered (revoked) this one, or its
        lease lapsed (it could not be renewed): this run must not commit anything more."""
        if self.path is None:
            return
        by = _revoked(self.root, self.run_id)
        lease = _read(self.path)
        if by is not None or lease is None:
            by = by or "an unknown run"
            raise ConcurrentRunError(f"run {self.run_id} lost its lease (recovered by {by} as dead); "
                                     "it stops before writing anything more")
        if time.time() - float(lease["renewed_at"]) > self.lease_s:
            raise ConcurrentRunError(f"run {self.run_id} could not renew its lease for {self.lease_s:.0f} s; "
                                     "it stops before writing anything more")

    def release(self) -> None:
        _ACTIVE.discard(self.run_id)
        self._stop.set()
        if self._thread is None:
            return
        self._thread.join(timeout=5)
        try:
            self.path.unlink()
        except OSError:
            pass


class OutputLocks:
    """An exclusive lock on each local output, held for the whole run: ``<folder>/_lakesieve_locks/<table>.lock``
    beside the table, taken with ``flock`` (non-blocking). Unlike the ledger (one per lakehouse) it is seen
    by runs of *any* lakehouse that write the same table, and the kernel drops it the moment its process
    dies (a kill needs no recovery; on NFS the server's lock manager does the same for a lost host).
    ``locations``: canonical output locations (:func:`pipelines.core.lakehouse.canonical_location`); URIs
    and catalog tables are not locked here (their lakehouse's ledger still is)."""

    def __init__(self, locations: dict[str, str], run_id: str, lakehouse: str):
        import fcntl

        self._files = []
        try:
            for name, loc in sorted(locations.items()):
                if not loc.startswith("file:"):
                    continue
                table = Path(loc[len("file:"):])
                path = table.parent / "_lakesieve_locks" / f"{table.name}.lock"
                path.parent.mkdir(parents=True, exist_ok=True)
                fh = open(path, "a+")
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    fh.seek(0)
                    holder = fh.read().strip() or "another run"
                    fh.close()
                    raise ConcurrentRunError(f"{holder} is already writing {loc} (output '{name}'); "
                                             "this run wrote nothing - retry when it has finished") from None
                except OSError as exc:  # a file system without locks (some FUSE mounts): the ledger still claims
                    fh.close()
                    if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                        continue
                    raise
                fh.seek(0)
                fh.truncate()
                fh.write(f"run {run_id} ({host_pid()}, lakehouse {lakehouse})")
                fh.flush()
                self._files.append(fh)
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        for fh in self._files:
            fh.close()  # closing drops the flock; the file stays (removing it would race a new holder)
        self._files = []
