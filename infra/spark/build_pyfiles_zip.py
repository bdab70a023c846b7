"""Build ``dist/lakesieve.zip`` for ``spark-submit --py-files``: the packages pipelines, jobs and udfs
(:mod:`pipelines.core.pyfiles` says what goes in; the same tree gives a byte-identical zip).

    python infra/spark/build_pyfiles_zip.py dist/lakesieve.zip
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pipelines.core import pyfiles  # noqa: E402


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: build_pyfiles_zip.py OUT.zip", file=sys.stderr)
        return 2
    repo_root = Path(__file__).resolve().parents[2]
    out = pyfiles.build(Path(argv[0]), repo_root)
    print(f"wrote {out} ({len(pyfiles.pyfiles(repo_root))} files)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
