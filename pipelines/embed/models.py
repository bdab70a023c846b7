"""The rows of one embedding model, for the stages that read embeddings (cluster, semdedup, tldr).

Vectors of two models live in different spaces, even at one dimension (two 512-d CLIPs): clustering
them together or comparing one with the other means nothing. The ``embeddings`` contract carries the
model in a ``model`` column (``pipelines.embed``), so a stage reads the rows of the model its config key
names, or, with none named, a table that holds one model only.
"""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pipelines.core.errors import ConfigError, DataError

SHOWN = 5


def _models(df: DataFrame) -> list[str]:
    """Up to ``SHOWN + 1`` distinct values of ``model``, sorted (one small aggregate)."""
    return sorted(str(r["model"]) for r in df.select("model").distinct().limit(SHOWN + 1).collect())


def _listed(models: list[str]) -> str:
    return ", ".join(models[:SHOWN]) + (", ..." if len(models) > SHOWN else "")


def one_model(df: DataFrame, model: str | None, *, table: str, key: str) -> DataFrame:
    """``df``'s rows of one embedding model.

    ``model`` given (the value of config key ``key``): the rows whose ``model`` equals it; a table
    without a ``model`` column is a :class:`ConfigError`, and no matching row a :class:`DataError`
    listing the models the table holds. ``model`` None: ``df`` as it is, unless its ``model`` column
    holds several models (a :class:`DataError` saying to set ``key``). A table without a ``model``
    column is taken as one model's.
    """
    if "model" not in df.columns:
        if model is not None:
            raise ConfigError(f"config key '{key}' is set but table '{table}' has no column 'model'")
        return df
    if model is None:
        models = _models(df)
        if len(models) > 1:
            raise DataError(f"table '{table}' column 'model' holds several models ({_listed(models)}); "
                            f"set '{key}' to the one to use")
        return df
    picked = df.where(F.col("model") == F.lit(model))
    if not picked.limit(1).collect():
        raise DataError(f"no row of table '{table}' has model {model!r} (config key '{key}'); "
                        f"its column 'model' holds: {_listed(_models(df)) or '(no rows)'}")
    return picked
