# Databricks notebook source
# MAGIC %md
# MAGIC # paser: PASER data selection for recovering a pruned LLM (He et al., 2025)
# MAGIC
# MAGIC Runs `paser-score` (per-sample mean token JSD between the original and the pruned model; GPU when the
# MAGIC cluster has one) and then `paser` (spectral clusters -> CDS -> budgets -> efficiency order -> concept
# MAGIC consistency). See docs/paser.md.
# MAGIC
# MAGIC | widget | meaning |
# MAGIC |---|---|
# MAGIC | `config` | paser YAML config path (empty: the demo config `jobs/configs/paser.yaml` shipped in the wheel) |
# MAGIC | `score_config` | paser-score YAML config path (empty: `jobs/configs/paser_score.yaml`) |
# MAGIC | `lakehouse` | lakehouse root: relative table paths and the run ledger live under it |
# MAGIC | `overrides` | `key=value` overrides of paser separated by `;`, e.g. `budget_fraction=0.1; num_clusters=8` |
# MAGIC | `score_overrides` | the same for paser-score, e.g. `prune_ratio=0.5; inputs.pruned_model=/Volumes/.../pruned` |
# MAGIC | `run_score` | `true` runs paser-score first (skipped by the ledger when nothing changed) |
# MAGIC | `force` | `true` reruns even when the ledger already has a run with the same inputs and config |

# COMMAND ----------

from jobs import paser as stage_job
from jobs import paser_score as score_job
from jobs import registry, runner
from pipelines.core import lakehouse

STAGE = stage_job.STAGE

# COMMAND ----------

dbutils.widgets.text("config", "", "paser config YAML (empty: the demo config)")
dbutils.widgets.text("score_config", "", "paser-score config YAML (empty: the demo config)")
dbutils.widgets.text("lakehouse", "/Volumes/main/lakesieve/lakehouse", "lakehouse root")
dbutils.widgets.text("overrides", "", "paser overrides: key=value; key=value")
dbutils.widgets.text("score_overrides", "", "paser-score overrides: key=value; key=value")
dbutils.widgets.dropdown("run_score", "true", ["false", "true"], "run paser-score first")
dbutils.widgets.dropdown("force", "false", ["false", "true"], "rerun even if the ledger has this run")

config = dbutils.widgets.get("config") or str(registry.config_path(registry.entry("paser")))
score_config = dbutils.widgets.get("score_config") or str(registry.config_path(registry.entry("paser-score")))
lakehouse_root = dbutils.widgets.get("lakehouse")
overrides = [item.strip() for item in dbutils.widgets.get("overrides").split(";") if item.strip()]
score_overrides = [item.strip() for item in dbutils.widgets.get("score_overrides").split(";") if item.strip()]
force = dbutils.widgets.get("force") == "true"

# COMMAND ----------

if dbutils.widgets.get("run_score") == "true":
    scored = score_job.run(spark, score_config, overrides=score_overrides, lakehouse_root=lakehouse_root, force=force)
    print(f"{scored.stage}: {scored.status} (run {scored.run_id}, {scored.seconds:.1f}s)")

result = stage_job.run(spark, config, overrides=overrides, lakehouse_root=lakehouse_root, force=force)
print(f"{result.stage}: {result.status} (run {result.run_id}, {result.seconds:.1f}s)")
for name, value in sorted(result.metrics.items()):
    print(f"  {name} = {value}")

# COMMAND ----------

# MAGIC %md
# MAGIC ## Outputs
# MAGIC Each output at the version this run wrote (or, for a skipped run, the version the earlier run wrote).

# COMMAND ----------

spec = runner.build_spec(STAGE, config, overrides=overrides, lakehouse_root=lakehouse_root)
for output in STAGE.outputs:
    ref, version = spec.outputs[output.name], result.output_versions[output.name]
    print(f"{output.name}: {ref.label} v{version}  {output.doc}")
    display(lakehouse.read_version(spark, ref, version))
