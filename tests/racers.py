"""Processes racing each other (the ledger's hostile tests): start them together, collect what each printed."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def race(code: str, argvs: list[list[str]], timeout: int = 300) -> list[tuple]:
    """Run ``python -c code`` once per argument list, all at once, with the repository on PYTHONPATH; each must
    exit 0 and print a JSON list as its last line. Returns the tuples of every process's list, in order."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", code, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for argv in argvs]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=timeout)
        assert p.returncode == 0, err[-2000:]
        results += [tuple(x) for x in json.loads(out.strip().splitlines()[-1])]
    return results
