"""Build ``dist/lakesieve.zip`` for ``spark-submit --py-files``: the packages pipelines, jobs and udfs.

Python sources and the package data the code reads at run time (``jobs/configs/*.yaml`` and any
``*.yml``/``*.json`` beside the code) go in; caches and compiled files stay out. Entries are written
in sorted order with a fixed timestamp, so the same tree gives a byte-identical zip.

    python infra/spark/build_pyfiles_zip.py dist/lakesieve.zip
"""
from __future__ import annotations

import sys
import zipfile
from pathlib import Path

PACKAGES = ("pipelines", "jobs", "udfs")
SUFFIXES = (".py", ".yaml", ".yml", ".json")
_FIXED_TIME = (2020, 1, 1, 0, 0, 0)


def pyfiles(repo_root: Path) -> list[Path]:
    """The files that go into the zip, relative to ``repo_root``, sorted."""
    files = []
    for package in PACKAGES:
        for path in (repo_root / package).rglob("*"):
            rel = path.relative_to(repo_root)
            if path.is_file() and path.suffix in SUFFIXES and "__pycache__" not in rel.parts:
                files.append(rel)
    return sorted(files)


def build(out: Path, repo_root: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel in pyfiles(repo_root):
            info = zipfile.ZipInfo(rel.as_posix(), date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, (repo_root / rel).read_bytes())
    tmp.replace(out)
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: build_pyfiles_zip.py OUT.zip", file=sys.stderr)
        return 2
    repo_root = Path(__file__).resolve().parents[2]
    out = build(Path(argv[0]), repo_root)
    print(f"wrote {out} ({len(pyfiles(repo_root))} files)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
