# Databricks notebook source
# MAGIC %md
# MAGIC # minhash: one line on what the stage does
# MAGIC
# MAGIC TEMPLATE (see docs/notebooks.md): copy this file to `notebooks/<module>.py`, where `jobs/<module>.py` is
# MAGIC your stage's job, and replace `minhash` in the import below and in this title. Keep the three calls of
# MAGIC `jobs.notebook`: the four widgets -> the run -> the display of every output.
# MAGIC
# MAGIC | widget | meaning |
# MAGIC |---|---|
# MAGIC | `config` | YAML config path (empty: the demo config `jobs/configs/<stage>.yaml` shipped in the wheel) |
# MAGIC | `lakehouse` | lakehouse root: relative table paths and the run ledger live under it |
# MAGIC | `overrides` | `key=value` overrides separated by `;` (a bare key is `params.key`), e.g. `jaccard_threshold=0.8; quality.enabled=false` |
# MAGIC | `force` | `true` reruns even when the ledger already has a run with the same inputs and config |

# COMMAND ----------

from jobs import minhash as stage_job  # TEMPLATE: your stage's job module
from jobs import notebook

STAGE = stage_job.STAGE

# COMMAND ----------

args = notebook.widgets(dbutils, STAGE)

# COMMAND ----------

result = notebook.run(spark, stage_job, args)

# COMMAND ----------

# MAGIC %md
# MAGIC ## Outputs
# MAGIC Each output at the version this run wrote (or, for a skipped run, the version the earlier run wrote).

# COMMAND ----------

outputs = notebook.display_outputs(spark, STAGE, args, result, display)
