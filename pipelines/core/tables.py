"""Table references: a path (Delta, Parquet or CSV) or a catalog name ``catalog.schema.table``.

Only references live here; reading and writing are in :mod:`pipelines.core.lakehouse`, which only
the jobs call (stage transformations never touch storage).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pipelines.core.errors import ConfigError

_NAME_PART = r"(?:`(?:[^`]|``)+`|[A-Za-z_][A-Za-z0-9_]*)"
_CATALOG_NAME = re.compile(rf"^{_NAME_PART}(?:\.{_NAME_PART}){{1,2}}$")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:/")


@dataclass(frozen=True)
class TableRef:
    """Where a table lives. Exactly one of ``path`` and ``name`` is set."""

    path: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if (self.path is None) == (self.name is None):
            raise ConfigError("a table reference needs exactly one of a path or a catalog name")

    @staticmethod
    def parse(text: str, root: str | Path | None = None) -> "TableRef":
        """Parse a config string.

        ``table:cat.sch.tbl`` or a dotted name without ``/`` is a catalog table; ``path:...``, a
        URI (``s3://``, ``dbfs:/``), an absolute path or anything with ``/`` is a path. A relative
        path is resolved under the lakehouse ``root``.
        """
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(f"table reference {text!r} is empty")
        text = text.strip()
        if text.startswith("table:"):
            name = text[len("table:"):]
            if not _CATALOG_NAME.match(name):
                raise ConfigError(f"'{name}' is not a catalog name like catalog.schema.table")
            return TableRef(name=name)
        if text.startswith("path:"):
            text = text[len("path:"):]
        elif _CATALOG_NAME.match(text) and "/" not in text:
            return TableRef(name=text)
        if _SCHEME.match(text) or Path(text).is_absolute() or root is None:
            return TableRef(path=text)
        return TableRef(path=str(Path(root) / text))

    @property
    def label(self) -> str:
        return self.path if self.path is not None else f"table:{self.name}"

    def quoted_name(self) -> str:
        """The catalog name with each part quoted in backticks (names are data, never SQL)."""
        assert self.name is not None
        parts = re.findall(r"`(?:[^`]|``)+`|[^.`]+", self.name)
        return ".".join(p if p.startswith("`") else "`" + p.replace("`", "``") + "`" for p in parts)

    def __str__(self) -> str:
        return self.label
