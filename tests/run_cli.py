"""Run the real `lakesieve` command in a subprocess (its own Spark driver), for e2e and reliability tests."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CLI = str(Path(sys.executable).with_name("lakesieve"))


def cli(*args: str, env: dict | None = None, timeout: int = 900, exe: str = CLI) -> subprocess.CompletedProcess:
    """``exe``: another installation's ``lakesieve`` (the Spark 4.0 venv of the platform tests)."""
    full_env = {**os.environ, "LAKESIEVE_PROGRESS": "false", "LAKESIEVE_DRIVER_MEMORY": "1g", **(env or {})}
    return subprocess.run([exe, *args], capture_output=True, text=True, env=full_env, timeout=timeout)


def popen(*args: str, env: dict | None = None) -> subprocess.Popen:
    full_env = {**os.environ, "LAKESIEVE_PROGRESS": "false", "LAKESIEVE_DRIVER_MEMORY": "1g", **(env or {})}
    return subprocess.Popen([CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env)
