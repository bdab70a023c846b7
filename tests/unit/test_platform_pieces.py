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


def test_package_data_loads_from_inside_the_shipped_zip():
    """An executor imports lakesieve from the zip: the bundled open_clip config (package data) must load from
    inside it, not from a file path (found by the embed stage on the two-worker cluster)."""
    import subprocess
    import sys
    import sysconfig

    code = ("import sys; sys.path[:0] = sys.argv[1:]; import udfs.encoders as e; assert '.zip' in e.__file__, e.__file__;"
            " print(e._open_clip_config('tiny-clip-32')['embed_dim'])")
    # -S: no .pth files, so the editable install's finder is not there and only the zip can provide udfs
    proc = subprocess.run([sys.executable, "-S", "-c", code, str(pyfiles.session_zip()),
                           sysconfig.get_paths()["purelib"]], capture_output=True, text=True, cwd="/")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert int(proc.stdout.strip()) > 0


def test_a_lakesieve_error_raised_in_a_python_worker_comes_back_as_itself():
    spark_text = ("An exception was thrown from the Python worker. Please see the stack trace below.\n"
                  "Traceback (most recent call last):\n  File \"udfs/causal_lm.py\", line 41\n"
                  "pipelines.core.errors.ModelLoadError: input 'original_model' '/m' is not a local folder\n")
    err = worker_error(RuntimeError(spark_text))
    assert isinstance(err, ModelLoadError) and str(err) == "input 'original_model' '/m' is not a local folder"
    assert isinstance(worker_error(RuntimeError("pipelines.core.errors.DataError: column 'text' is null")), DataError)
    assert worker_error(RuntimeError("ValueError: boom")) is None
    assert worker_error(RuntimeError("pipelines.core.errors.NotAnError: x")) is None


def test_concurrent_builds_of_one_zip_never_leave_a_torn_file(tmp_path):
    """Eight threads build the same zip at once (two CLI runs starting together): each ends with a whole,
    valid zip and no temporary file is left behind."""
    from concurrent.futures import ThreadPoolExecutor

    out = tmp_path / "lakesieve.zip"
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: pyfiles.build(out), range(8)))
    with zipfile.ZipFile(out) as zf:
        assert zf.testzip() is None and "pipelines/core/session.py" in zf.namelist()
    assert [p.name for p in tmp_path.iterdir()] == ["lakesieve.zip"]


def test_a_shipped_code_folder_open_to_others_is_refused(tmp_path, monkeypatch):
    """The zip becomes the executors' code: a folder another user could write to (a planted zip under the
    predictable name) is refused with the folder named, not used."""
    import os

    import pytest

    from pipelines.core.errors import EnvironmentSetupError

    monkeypatch.setattr("tempfile.gettempdir", lambda: str(tmp_path))
    assert pyfiles.private_dir() == tmp_path / f"lakesieve-{os.getuid()}"
    assert pyfiles.session_zip().parent == tmp_path / f"lakesieve-{os.getuid()}"
    os.chmod(tmp_path / f"lakesieve-{os.getuid()}", 0o777)
    with pytest.raises(EnvironmentSetupError, match="is not a private folder"):
        pyfiles.session_zip()
    (tmp_path / f"lakesieve-{os.getuid()}").chmod(0o700)
    planted = tmp_path / "elsewhere"
    planted.mkdir()
    import shutil

    shutil.rmtree(tmp_path / f"lakesieve-{os.getuid()}")
    (tmp_path / f"lakesieve-{os.getuid()}").symlink_to(planted)
    with pytest.raises(EnvironmentSetupError, match="is not a private folder"):
        pyfiles.session_zip()
