"""The durable intent behind ``containment apply`` and ``containment restore``: nothing is stranded.

Every apply or restore that moves tables first writes its intent — which table moves from where to
where, with the table's file listing and a SHA-256 of every byte — as one JSON file under
``<lake root>/_lakesieve_trash/journal/<op id>.json`` (written to a temporary name, fsynced, renamed:
the file is whole or absent). The operation then moves table by table, checking each table's listing
right before and right after its move (a commit that lands in between is caught and the move undone),
records the moves in the trash log (one Delta commit) and marks the journal ``done``.

A kill at any point leaves a ``pending`` journal. :func:`recover` — run first by every apply and
restore, and by ``lakesieve containment recover`` — decides from the journal and the trash log alone:

* the trash log has the operation's rows: the operation finished; the journal is marked ``done``;
* otherwise an **apply** is undone (each moved table, its bytes checked against the journal, goes
  back to where it was) and a **restore** is finished (the table is back at its place and its bytes
  match, so only the log row is missing) or, when nothing moved, marked ``undone``.

A table whose two places both exist, or neither, is never guessed about: recovery stops with a
:class:`SafetyError` that names both paths, and the journal stays ``pending``.

Fault injection: ``LAKESIEVE_KILL_AT_STEP=<n>`` SIGKILLs the process right before its n-th durable
step (every rename, folder creation, file write and log commit of this protocol counts one), so the
reliability suite can kill an apply and a restore at *every* step, not only at chosen points.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable

from pipelines.core.errors import SafetyError

TRASH = "_lakesieve_trash"
JOURNAL = "journal"
trace: list[str] = []  # the durable steps this process took, in order (the reliability suite reads it)


def step(what: str) -> None:
    """Count one durable step; the reliability suite's ``LAKESIEVE_KILL_AT_STEP=<n>`` kills before the n-th."""
    trace.append(what)
    if os.environ.get("LAKESIEVE_KILL_AT_STEP") == str(len(trace)):
        os.kill(os.getpid(), signal.SIGKILL)


# ---- real locations -------------------------------------------------------------------------------

def real_under(root: Path, path: Path, what: str) -> Path:
    """``path`` when it lies under ``root`` *by its own name*: no component between the root and it is
    a symlink (a table reached through a link is another table's alias, and renaming a link moves the
    link, not the data) and its real path is under the root's real path. Else :class:`SafetyError`."""
    root, path = Path(root), Path(path)
    if ".." in path.parts:
        raise SafetyError(f"{what} '{path}' contains '..'; paths must stay under the lake root '{root}'")
    try:
        rel = path.relative_to(root)
    except ValueError:
        raise SafetyError(f"{what} '{path}' is outside the lake root '{root}'") from None
    cur = root
    for part in rel.parts:
        cur = cur / part
        if cur.is_symlink():
            raise SafetyError(f"{what} '{path}' is reached through the symlink '{cur}' -> '{os.readlink(cur)}'; "
                              "lakesieve moves tables only under their real path")
    real_root = root.resolve()
    if not str(path.resolve()).startswith(str(real_root) + os.sep) and path.resolve() != real_root:
        raise SafetyError(f"{what} '{path}' resolves to '{path.resolve()}', outside the lake root '{real_root}'")
    return path


def trash_dir(root: Path, *parts: str) -> Path:
    """``<root>/_lakesieve_trash/<parts...>``, refused when any of it is a symlink or leaves the root."""
    return real_under(root, Path(root, TRASH, *parts), "trash folder")


# ---- what a table is, byte for byte ---------------------------------------------------------------

def walk(path: Path) -> tuple[list[Path], Path | None]:
    """(every file of a table folder, the first symlink found in it or None); the one walk that both the
    scan (a table with a symlinked file is skipped) and the journal (such a table never moves) use."""
    files = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            p = Path(dirpath, name)
            if p.is_symlink():
                return sorted(files), p
            if name in filenames:
                files.append(p)
    return sorted(files), None


def _files(path: Path) -> list[Path]:
    """Every file of a table (a file or a folder tree); a symlink anywhere in it is refused."""
    if path.is_symlink():
        raise SafetyError(f"'{path}' is a symlink; tables are moved only as their own files")
    if path.is_file():
        return [path]
    files, link = walk(path)
    if link is not None:
        raise SafetyError(f"'{link}' in table '{path}' is a symlink; tables are moved only as their own files")
    return files


def listing(path: Path) -> str:
    """A hash of the table's file names, sizes, mtimes and inodes: changes with any commit or rewrite,
    and survives a rename (which keeps inodes and mtimes)."""
    h = hashlib.sha256()
    for f in _files(path):
        st = f.stat()
        h.update(f"{f.relative_to(path) if f != path else ''}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}\n".encode())
    return h.hexdigest()


def digest(path: Path) -> str:
    """``sha256:<hex>`` over every file's relative name and bytes: equal only for bit-identical tables."""
    h = hashlib.sha256()
    for f in _files(path):
        h.update(f"{f.relative_to(path) if f != path else ''}\0{f.stat().st_size}\0".encode())
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return "sha256:" + h.hexdigest()


# ---- the journal ----------------------------------------------------------------------------------

@dataclass
class Move:
    """One table's move: ``src`` -> ``dst`` with what it is (digest) and how it looked (listing)."""

    table_id: str
    src: str
    dst: str
    format: str
    digest: str
    listing: str


def _write_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    step(f"write {tmp.name}")
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    step(f"rename {tmp.name}")
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _journal_path(root: Path, op_id: str) -> Path:
    return trash_dir(root, JOURNAL) / f"{op_id}.json"


def begin(root: Path, op: str, op_id: str, moves: list[Move], **extra) -> dict:
    """Write the intent of ``op`` (``apply`` / ``restore``) durably; return the journal entry."""
    folder = trash_dir(root, JOURNAL)
    if not folder.is_dir():
        step("mkdir journal")
        folder.mkdir(parents=True, exist_ok=True)
        trash_dir(root, JOURNAL)  # re-checked after creation: still no symlink on the way
    entry = {"op": op, "op_id": op_id, "state": "pending", "moves": [asdict(m) for m in moves], **extra}
    _write_atomic(_journal_path(root, op_id), entry)
    return entry


def finish(root: Path, entry: dict, state: str) -> None:
    _write_atomic(_journal_path(root, entry["op_id"]), {**entry, "state": state})


def read(root: Path, op_id: str) -> dict | None:
    p = _journal_path(root, op_id)
    return json.loads(p.read_text()) if p.is_file() else None


def pending(root: Path) -> list[dict]:
    folder = Path(root, TRASH, JOURNAL)
    if not folder.is_dir():
        return []
    trash_dir(root, JOURNAL)
    out = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    return [e for e in out if e.get("state") == "pending"]


def move(m: Move) -> None:
    """Move one table, checked: unchanged right before (listing), moved whole right after (its listing at
    the new place equal, nothing re-created at the old one); a change undoes the move."""
    src, dst = Path(m.src), Path(m.dst)
    if listing(src) != m.listing:
        raise SafetyError(f"table '{m.table_id}' changed while being moved (a commit after its verification); "
                          "nothing of it was moved")
    if not dst.parent.is_dir():
        step(f"mkdir {dst.parent.name}")
        dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists() or dst.is_symlink():
        raise SafetyError(f"'{dst}' exists already; refusing to move '{m.table_id}' onto it")
    step(f"rename {m.table_id}")
    os.rename(src, dst)  # same filesystem: atomic
    if src.exists():
        raise SafetyError(f"table '{m.table_id}' was re-created at {src} during its move; both {src} and {dst} "
                          "are kept for you to compare")
    if listing(dst) != m.listing:
        step(f"rename back {m.table_id}")
        os.rename(dst, src)
        raise SafetyError(f"table '{m.table_id}' changed during its move (a commit landed while it moved); "
                          f"it was put back at {src}")


def undo_moves(moves: Iterable[Move]) -> list[str]:
    """Put moved tables back (newest first), each only when its bytes are those of the journal."""
    back = []
    for m in reversed(list(moves)):
        src, dst = Path(m.src), Path(m.dst)
        if src.exists() and not dst.exists():
            continue  # never moved
        if src.exists() and dst.exists():
            raise SafetyError(f"table '{m.table_id}' exists both at {src} and at {dst}; recovery leaves both "
                              "for you to compare (the journal stays pending)")
        if not dst.exists():
            raise SafetyError(f"table '{m.table_id}' is at neither {src} nor {dst}; the journal stays pending")
        if digest(dst) != m.digest:
            raise SafetyError(f"table '{m.table_id}' at {dst} is not the bytes the journal recorded; not moved back")
        if not src.parent.is_dir():
            step(f"mkdir {src.parent.name}")
            src.parent.mkdir(parents=True, exist_ok=True)
        step(f"rename back {m.table_id}")
        os.rename(dst, src)
        back.append(m.table_id)
    return back


def recover(root: Path, logged: Callable[[str], bool], log_restore: Callable[[dict], None], out) -> list[str]:
    """Finish or undo every interrupted apply / restore under ``root`` (see the module docstring).
    ``logged(op_id)``: whether the trash log has the operation's rows; ``log_restore(entry)`` appends the
    missing ``restored`` rows of a restore whose tables are back. Returns what was done, one line each."""
    done = []
    for entry in pending(root):
        moves = [Move(**m) for m in entry["moves"]]
        if logged(entry["op_id"]):
            finish(root, entry, "done")
            done.append(f"{entry['op_id']}: finished earlier; journal closed")
        elif entry["op"] == "apply":
            back = undo_moves(moves)
            finish(root, entry, "undone")
            done.append(f"{entry['op_id']}: interrupted apply undone ({len(back)} table(s) put back: "
                        f"{', '.join(back) or 'none had moved'})")
        else:
            arrived = [m for m in moves if Path(m.dst).exists() and not Path(m.src).exists()]
            if arrived and len(arrived) == len(moves):
                for m in arrived:
                    if m.digest and digest(Path(m.dst)) != m.digest:
                        raise SafetyError(f"restored table '{m.table_id}' at {m.dst} is not the bytes the journal "
                                          "recorded; the journal stays pending")
                step("log restore")
                log_restore(entry)
                finish(root, entry, "done")
                done.append(f"{entry['op_id']}: interrupted restore finished ({', '.join(m.table_id for m in moves)})")
            else:
                undo_moves(arrived)
                finish(root, entry, "undone")
                done.append(f"{entry['op_id']}: interrupted restore undone (nothing restored)")
    for line in done:
        print(f"containment recover: {line}", file=out)
    return done
