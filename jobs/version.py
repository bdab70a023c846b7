"""The installed lakesieve version (recorded in every ledger row; ``lakesieve --version``)."""
from __future__ import annotations


def installed_version() -> str:
    try:
        from importlib.metadata import version

        return version("lakesieve")
    except Exception:  # noqa: BLE001 - not installed (a source checkout on sys.path)
        return "0+unknown"
