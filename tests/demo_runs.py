"""Running the stages on the demo data in a test lakehouse, upstream stages first (the ledger skips a
stage that already ran on the same inputs and config). Shared by the notebook and report tests, which
use one session-wide demo lakehouse (tests/e2e/conftest.py)."""
from __future__ import annotations

from jobs import demo, registry, runner
from pipelines import demo_data
from pipelines.core.config import load_yaml
from pipelines.core.stage import Stage

NO_QUALITY = "quality.enabled=false"  # GX is slow; these tests are about wiring, the stages' tests check quality


def upstream_chain(entry: registry.StageEntry) -> list[registry.StageEntry]:
    """The stages that must have run before ``entry``, in registry (dependency) order."""
    needed: set[str] = set()
    todo = list(entry.upstream)
    while todo:
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            todo.extend(registry.entry(name).upstream)
    return [e for e in registry.STAGES if e.name in needed]


def demo_datasets(stage: Stage, entry: registry.StageEntry | None = None) -> list[str]:
    """The demo datasets (``demo/<dataset>/...``) named by the stage's default inputs and its demo config."""
    refs = [spec.default or "" for spec in stage.inputs.values()]
    config = registry.config_path(entry) if entry is not None else None
    if config is not None and config.is_file():
        refs += [str(v) for v in (load_yaml(config).get("inputs") or {}).values()]
    found = []
    for ref in refs:
        parts = ref.split("/")
        # only datasets pipelines.demo_data generates; a stage builds its other demo inputs itself (a tiny model)
        if len(parts) >= 2 and parts[0] == "demo" and parts[1] in demo_data.DATASETS and parts[1] not in found:
            found.append(parts[1])
    return found


def prepare(spark, root: str, entry: registry.StageEntry, *, including_itself: bool = False) -> None:
    """Write the demo data ``entry`` and its upstream stages read, and run those stages (and ``entry``
    itself when asked) with their demo configs, quality off."""
    chain = [*upstream_chain(entry), entry]
    for e in chain:
        stage = registry.load_stage(e.name)
        for dataset in demo_datasets(stage, e):
            demo.write_dataset(spark, root, dataset)
        if e is not entry or including_itself:
            result = runner.run(spark, stage, registry.config_path(e), overrides=[NO_QUALITY], lakehouse_root=root)
            assert result.status in ("success", "skipped"), e.name


def run_every_stage(spark, root: str) -> None:
    """Every registered stage on the demo data (a no-op for the stages that already ran here)."""
    for e in registry.STAGES:
        prepare(spark, root, e, including_itself=True)
