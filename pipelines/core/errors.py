"""The one error hierarchy of lakesieve.

Every error a user can cause (a bad config, a missing table, a missing column, a missing optional
dependency, an unsafe deletion request) is a :class:`LakesieveError`. The CLI turns these into a
one-line message and exit code 2; any other exception is a bug and keeps its traceback.
"""
from __future__ import annotations

import re


class LakesieveError(Exception):
    """Base of all user-facing errors. ``exit_code`` is what the CLI exits with."""

    exit_code = 2

    def one_line(self) -> str:
        text = " ".join(str(self).split())
        return f"{type(self).__name__}: {text}"


class ConfigError(LakesieveError):
    """A config file or ``--set`` override is invalid: unknown key, bad type or value out of range."""


class SchemaContractError(LakesieveError):
    """An input table lacks a column a stage needs, or the column has the wrong type."""


class InputNotFoundError(LakesieveError):
    """A table path or catalog name does not exist or cannot be read."""


class OutputError(LakesieveError):
    """An output table cannot be written: an invalid catalog name, a path that is not a Delta table."""


class DataError(LakesieveError):
    """The data violates a table-level rule (duplicate ids, an empty input where rows are needed, ...)."""


class MissingDependencyError(LakesieveError):
    """An optional package (torch, open_clip, faiss-gpu, ...) is needed but not installed."""


class EnvironmentSetupError(LakesieveError):
    """The local runtime is incomplete: no Java, no Delta jars. The message says which command fixes it."""


class ModelLoadError(LakesieveError):
    """A model path does not exist or does not hold a loadable model."""


class QualityCheckError(LakesieveError):
    """An output failed its expectation suite and the stage is configured to fail on that."""


class ConcurrentRunError(LakesieveError):
    """Another run committed to the same output table first; nothing of this run was kept."""


class EnvironmentFault(LakesieveError):
    """A fault of the machine or the files (a full disk, a read-only folder, a data file missing behind
    a Delta log): see :func:`environment_fault`."""


class SafetyError(LakesieveError):
    """A destructive request (containment apply / restore) was refused because it is not provably safe."""


def require(module: str, extra: str):
    """Import an optional heavy dependency lazily, with an install hint when it is missing."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise MissingDependencyError(
            f"the optional package '{module}' is not installed ({exc}); "
            f"install it with: pip install 'lakesieve[{extra}]'"
        ) from exc


def cause_line(exc: BaseException, limit: int = 300) -> str:
    """The real cause of an exception in one line: for a Java error raised through Py4J (Spark, Delta),
    the innermost Java exception's class and message, not ``Py4JJavaError: An error occurred while
    calling o752.load``; otherwise the exception's first line."""
    java = getattr(exc, "java_exception", None)
    if java is not None:
        try:
            root = java
            while root.getCause() is not None and root.getCause() != root:
                root = root.getCause()
            text = f"{root.getClass().getSimpleName()}: {root.getMessage() or ''}"
        except Exception:  # noqa: BLE001 - the JVM is gone: fall back to the Python text
            text = str(exc)
    else:
        text = str(exc)
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), type(exc).__name__)
    return line[:limit]



# (what the innermost cause says, what lakesieve says about it): faults of the machine or of the
# files, not of lakesieve, reported in one line with exit code 2 instead of a traceback
_ENVIRONMENT_FAULTS = (
    (("No space left on device", "ENOSPC", "Disk quota exceeded"), "the disk is full"),
    (("Read-only file system", "EROFS"), "the lakehouse is on a read-only file system"),
    (("Permission denied", "AccessDeniedException", "EACCES"), "permission denied"),
    (("FileNotFoundException", "DELTA_FILE_NOT_FOUND", "FAILED_READ_FILE.FILE_NOT_EXIST", "[FILE_NOT_EXIST"),
     "a data file is missing (deleted behind its table's log?)"),
    (("PARQUET_COLUMN_DATA_TYPE_MISMATCH", "Parquet column cannot be converted", "SchemaColumnConvertNotSupported",
      "CANNOT_MERGE_SCHEMAS", "Failed to merge incompatible data types"),
     "the table's files disagree on a column's type"),
    (("MALFORMED_RECORD_IN_PARSING", "Malformed records are detected"), "a malformed record (FAILFAST read)"),
    (("Not a directory", "ENOTDIR", "is not a directory"), "a path that should be a folder is a file"),
)


_WORKER_ERROR = re.compile(r"pipelines\.core\.errors\.(\w+): (.+)")


def worker_error(exc: BaseException) -> LakesieveError | None:
    """The lakesieve error a Python worker raised (a model that will not load, a bad value in a UDF), when
    ``exc`` is Spark's ``PythonException`` carrying one (classic and Spark Connect sessions alike): the
    same one-line error the driver would have raised, instead of the worker's traceback."""
    m = _WORKER_ERROR.search(str(exc))
    cls = globals().get(m.group(1)) if m else None
    if isinstance(cls, type) and issubclass(cls, LakesieveError):
        try:
            return cls(m.group(2).strip())
        except TypeError:  # an error class that takes more than a message: keep Spark's exception
            return None
    return None


def environment_fault(exc: BaseException) -> str | None:
    """``"<what happened>: <the real cause>"`` when ``exc`` (or what caused it, Java included) is a fault of
    the machine or the files — a full disk, a read-only or forbidden folder, a data file missing behind a
    Delta log, files disagreeing on a column's type — else None (a bug: let its traceback show)."""
    seen: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and e not in seen:
        seen.append(e)
        e = e.__cause__ or e.__context__
    for e in seen:
        text = f"{type(e).__name__}: {e} {cause_line(e, 2000)}"
        for needles, what in _ENVIRONMENT_FAULTS:
            if any(n in text for n in needles):
                return f"{what}: {cause_line(e)}"
    return None
