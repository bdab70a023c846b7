"""The lakesieve code as one zip: for ``spark-submit --py-files`` and for Spark Connect's ``addArtifacts``.

The packages pipelines, jobs and udfs: Python sources and the package data the code reads at run time
(``jobs/configs/*.yaml`` and any ``*.yml``/``*.json`` beside the code); caches and compiled files stay
out. Entries are written in sorted order with a fixed timestamp, so the same tree gives a byte-identical
zip (and the same content hash: a Connect session ships a given code version once).
"""
from __future__ import annotations

import hashlib
import os
import stat
import tempfile
import zipfile
from pathlib import Path

PACKAGES = ("pipelines", "jobs", "udfs")
SUFFIXES = (".py", ".yaml", ".yml", ".json")
_FIXED_TIME = (2020, 1, 1, 0, 0, 0)


def package_root() -> Path:
    """The directory holding the installed ``pipelines``, ``jobs`` and ``udfs`` packages (the source tree
    for an editable install, site-packages for a wheel)."""
    return Path(__file__).resolve().parents[2]


def pyfiles(root: Path) -> list[Path]:
    """The files that go into the zip, relative to ``root``, sorted."""
    files = []
    for package in PACKAGES:
        for path in (root / package).rglob("*"):
            rel = path.relative_to(root)
            if path.is_file() and path.suffix in SUFFIXES and "__pycache__" not in rel.parts:
                files.append(rel)
    return sorted(files)


def build(out: Path, root: Path | None = None) -> Path:
    """Write the zip to ``out`` (atomically: a temporary file renamed into place)."""
    root = root or package_root()
    out.parent.mkdir(parents=True, exist_ok=True)
    # a temporary name of its own: two processes building the same zip never write into one file
    fd, tmp_name = tempfile.mkstemp(prefix=out.name + ".", suffix=".tmp", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel in pyfiles(root):
            info = zipfile.ZipInfo(rel.as_posix(), date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, (root / rel).read_bytes())
    tmp.replace(out)
    return out


def session_zip() -> Path:
    """The installed code's zip in the temporary directory, named by its content hash (built once per
    code version; Spark Connect refuses a second artifact of one name with other bytes)."""
    root = package_root()
    h = hashlib.sha256()
    for rel in pyfiles(root):
        h.update(rel.as_posix().encode() + b"\0" + (root / rel).read_bytes())
    out = private_dir() / f"lakesieve-{h.hexdigest()[:16]}.zip"
    return out if out.is_file() else build(out, root)


def private_dir() -> Path:
    """``<tmp>/lakesieve-<uid>``, this user's own folder (mode 0700). The zip becomes the executors' code, so
    a file another user could plant under a predictable name in a shared ``/tmp`` must never be used: a
    folder owned by someone else, or open to others, is refused."""
    from pipelines.core.errors import EnvironmentSetupError

    where = Path(tempfile.gettempdir()) / f"lakesieve-{os.getuid()}"
    where.mkdir(mode=0o700, exist_ok=True)
    st = os.lstat(where)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise EnvironmentSetupError(f"'{where}' (where lakesieve keeps the code it ships to executors) is not a "
                                    f"private folder of this user (mode 0700, owned by uid {os.getuid()}): remove it")
    return where
