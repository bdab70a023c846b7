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

from jobs import notebook, registry
from jobs import paser as stage_job
from jobs import paser_score as score_job

STAGE = stage_job.STAGE

# COMMAND ----------

args = notebook.widgets(dbutils, STAGE)
dbutils.widgets.text("score_config", "", "paser-score config YAML (empty: the demo config)")
dbutils.widgets.text("score_overrides", "", "paser-score overrides: key=value; key=value")
dbutils.widgets.dropdown("run_score", "true", ["false", "true"], "run paser-score first")
score_args = notebook.NotebookArgs(
    config=dbutils.widgets.get("score_config") or str(registry.config_path(registry.entry(score_job.STAGE.name))),
    lakehouse_root=args.lakehouse_root, force=args.force,
    overrides=notebook.parse_overrides(dbutils.widgets.get("score_overrides")))

# COMMAND ----------

if dbutils.widgets.get("run_score") == "true":
    scored = notebook.run(spark, score_job, score_args)
result = notebook.run(spark, stage_job, args)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Outputs
# MAGIC Each output at the version this run wrote (or, for a skipped run, the version the earlier run wrote).

# COMMAND ----------

outputs = notebook.display_outputs(spark, STAGE, args, result, display)
