"""The Databricks bundle, validated offline: every job against Databricks' own typed bundle model
(``databricks-bundles``, generated from the bundle JSON schema: unknown keys, wrong types and invalid
enum values are errors), structure, references, task keys, the wheel's entry point, one job per registry
stage, parameters the real CLI parser accepts, and no drift from the generator. (A workspace is the one
thing not used: `databricks bundle validate` needs one.)"""
from __future__ import annotations

import copy
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib
import yaml
from databricks.bundles.jobs import DataSecurityMode, Job

from jobs import registry
from jobs.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
BUNDLE_DIR = REPO / "infra" / "databricks"
# The top-level mappings a bundle configuration may have (Databricks asset bundle configuration reference).
BUNDLE_TOP_KEYS = {"bundle", "variables", "artifacts", "resources", "targets", "include", "workspace", "sync",
                   "permissions", "run_as", "presets", "experimental", "scripts"}
TASK_KEY = re.compile(r"^[\w-]{1,100}$")
RESOURCE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
VAR_REF = re.compile(r"\$\{var\.([A-Za-z0-9_-]+)\}")


@pytest.fixture(scope="module")
def bundle() -> dict:
    return yaml.safe_load((BUNDLE_DIR / "databricks.yml").read_text())


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _strings(node):
    if isinstance(node, dict):
        for v in node.values():
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)
    elif isinstance(node, str):
        yield node


def _resolved(node, variables: dict):
    """``node`` with each ``${var.x}`` replaced by the variable's default (a whole-string reference keeps the
    default's type, as the bundle's interpolation does)."""
    if isinstance(node, dict):
        return {k: _resolved(v, variables) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolved(v, variables) for v in node]
    if isinstance(node, str):
        whole = VAR_REF.fullmatch(node)
        if whole:
            return variables[whole.group(1)]["default"]
        return VAR_REF.sub(lambda m: str(variables[m.group(1)]["default"]), node)
    return node


def test_every_job_is_a_valid_bundle_job_as_written_and_with_the_defaults(bundle):
    for key, raw in bundle["resources"]["jobs"].items():
        Job.from_dict(copy.deepcopy(raw))  # ${var.x} references are allowed wherever the schema takes them
        job = Job.from_dict(_resolved(raw, bundle["variables"]))
        (cluster,) = job.job_clusters
        assert cluster.new_cluster.data_security_mode == DataSecurityMode.USER_ISOLATION, key
        assert cluster.new_cluster.num_workers == 2 and job.max_concurrent_runs == 1
        (task,) = job.tasks
        assert task.python_wheel_task.entry_point == "lakesieve" and task.libraries[0].whl == "../../dist/*.whl"


@pytest.mark.parametrize(("path", "value", "message"), [
    (("max_concurent_runs",), 1, "Unexpected field 'max_concurent_runs'"),
    (("job_clusters", 0, "new_cluster", "data_security_mode"), "SHARED_X", "'SHARED_X' is not a valid DataSecurityMode"),
    (("tasks", 0, "python_wheel_task", "parameters"), "run minhash", "Unexpected type"),
    (("tasks", 0, "python_wheel_task", "entrypoint"), "lakesieve", "Unexpected field 'entrypoint'"),
])
def test_the_bundle_model_refuses_what_a_workspace_would(bundle, path, value, message):
    """The check above can fail: a misspelled key, an access mode that does not exist, a wrong type."""
    job = copy.deepcopy(bundle["resources"]["jobs"]["lakesieve_minhash"])
    node = job
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    with pytest.raises(ValueError, match=re.escape(message)):
        Job.from_dict(_resolved(job, bundle["variables"]))


def test_checked_in_bundle_is_what_the_generator_writes():
    proc = subprocess.run([sys.executable, str(BUNDLE_DIR / "generate_bundle.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_structure_and_variable_references(bundle):
    assert set(bundle) <= BUNDLE_TOP_KEYS
    assert bundle["bundle"]["name"] == "lakesieve"
    defined = set(bundle["variables"])
    used = {m for s in _strings(bundle) for m in VAR_REF.findall(s)}
    assert used and used <= defined, f"undefined variables: {used - defined}"
    assert all("default" in v and "description" in v for v in bundle["variables"].values())
    assert [k for k, t in bundle["targets"].items() if t.get("default")] == ["dev"]
    (artifact,) = bundle["artifacts"].values()
    assert artifact["type"] == "whl" and (BUNDLE_DIR / artifact["path"] / "pyproject.toml").is_file()


def test_one_job_per_registry_stage_each_one_wheel_task(bundle, pyproject):
    jobs = bundle["resources"]["jobs"]
    assert set(bundle["resources"]) == {"jobs"}
    stages_seen = []
    scripts = pyproject["project"]["scripts"]
    entry_points = {name for group in pyproject["project"].get("entry-points", {}).values() for name in group}
    for key, job in jobs.items():
        assert RESOURCE_KEY.match(key), key
        clusters = {c["job_cluster_key"] for c in job["job_clusters"]}
        assert all(c["new_cluster"]["data_security_mode"] == "${var.data_security_mode}" for c in job["job_clusters"])
        task_keys = [t["task_key"] for t in job["tasks"]]
        assert len(task_keys) == len(set(task_keys)) == 1
        (task,) = job["tasks"]
        assert TASK_KEY.match(task["task_key"])
        assert task["job_cluster_key"] in clusters
        wheel_task = task["python_wheel_task"]
        assert wheel_task["package_name"] == pyproject["project"]["name"]
        assert wheel_task["entry_point"] in scripts or wheel_task["entry_point"] in entry_points
        params = wheel_task["parameters"]
        assert params[:1] == ["run"] and all(isinstance(p, str) for p in params)
        stage = params[1]
        assert task["task_key"] == stage and job["name"] == f"lakesieve-{stage}"
        entry = registry.entry(stage)
        assert key == "lakesieve_" + entry.module.rsplit(".", 1)[-1]
        if entry.demo_config:
            assert params[params.index("--config") + 1] == "${var.config_dir}/" + entry.demo_config
        assert params[params.index("--lakehouse") + 1] == "${var.lakehouse}"
        assert [lib["whl"] for lib in task["libraries"]] == ["../../dist/*.whl"]
        stages_seen.append(stage)
    assert sorted(stages_seen) == sorted(e.name for e in registry.STAGES)


def test_access_mode_is_one_unity_catalog_serves_and_pyspark_is_not_a_hard_dependency(bundle, pyproject):
    """Unity Catalog volumes need an access mode; the wheel must not pull PyPI pyspark over the runtime's."""
    assert bundle["variables"]["data_security_mode"]["default"] in ("USER_ISOLATION", "SINGLE_USER")
    deps = " ".join(pyproject["project"]["dependencies"])
    assert "pyspark" not in deps and "delta-spark" not in deps
    assert any(d.startswith("pyspark") for d in pyproject["project"]["optional-dependencies"]["spark"])


def test_parameters_are_accepted_by_the_lakesieve_command(bundle):
    parser = build_parser()
    for job in bundle["resources"]["jobs"].values():
        params = job["tasks"][0]["python_wheel_task"]["parameters"]
        concrete = [VAR_REF.sub(lambda m: f"/v/{m.group(1)}", p) for p in params]
        args = parser.parse_args(concrete)
        assert args.command == "run" and args.stage == params[1] and args.lakehouse == "/v/lakehouse"


def test_the_wheel_ships_the_entry_point_and_the_configs(tmp_path, pyproject):
    """The wheel `make dist` builds: the bundle's entry point resolves in it to jobs.cli:main."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp_path), str(REPO)], check=True, capture_output=True, cwd=tmp_path)
    (wheel,) = tmp_path.glob("lakesieve-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        eps = zf.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "[console_scripts]" in eps and "lakesieve = jobs.cli:main" in eps
    assert "jobs/cli.py" in names and "jobs/registry.py" in names and "pipelines/core/session.py" in names
    for config in (REPO / "jobs" / "configs").glob("*.yaml"):
        assert f"jobs/configs/{config.name}" in names
