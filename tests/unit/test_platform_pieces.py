"""The pieces that let a stage run over Spark Connect and on a cluster, without Spark: Delta operations
as SQL identifiers, the shipped code zip, and worker errors brought back as lakesieve's own."""
from __future__ import annotations

import zipfile

from pipelines.core import pyfiles
from pipelines.core.errors import DataError, ModelLoadError, worker_error
from pipelines.core.lakehouse import sql_identifier
from pipelines.core.tables import TableRef


def test_a_path_is_a_delta_identifier_with_backticks_doubled(tmp_path):
    assert sql_identifier(TableRef(path="/lake/a`b")) == "delta.`/lake/a``b`"
    assert sql_identifier(TableRef(path="rel/t")).startswith("delta.`/") and sql_identifier(
        TableRef(path="rel/t")).endswith("/rel/t`")
    assert sql_identifier(TableRef(name="main.s.t")) == "`main`.`s`.`t`"
    assert sql_identifier(TableRef(path="s3://b/k")) == "delta.`s3://b/k`"


def test_the_session_zip_holds_the_packages_and_is_named_by_its_content():
    first, second = pyfiles.session_zip(), pyfiles.session_zip()
    assert first == second and first.is_file()
    names = set(zipfile.ZipFile(first).namelist())
    assert {"pipelines/core/session.py", "udfs/minhash.py", "jobs/configs/minhash.yaml"} <= names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)


def test_a_lakesieve_error_raised_in_a_python_worker_comes_back_as_itself():
    spark_text = ("An exception was thrown from the Python worker. Please see the stack trace below.\n"
                  "Traceback (most recent call last):\n  File \"udfs/causal_lm.py\", line 41\n"
                  "pipelines.core.errors.ModelLoadError: input 'original_model' '/m' is not a local folder\n")
    err = worker_error(RuntimeError(spark_text))
    assert isinstance(err, ModelLoadError) and str(err) == "input 'original_model' '/m' is not a local folder"
    assert isinstance(worker_error(RuntimeError("pipelines.core.errors.DataError: column 'text' is null")), DataError)
    assert worker_error(RuntimeError("ValueError: boom")) is None
    assert worker_error(RuntimeError("pipelines.core.errors.NotAnError: x")) is None
