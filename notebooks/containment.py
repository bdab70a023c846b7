# Databricks notebook source
# MAGIC %md
# MAGIC # containment: tables contained in other tables (R2D2), a deletion plan and rebuild recipes
# MAGIC
# MAGIC
# MAGIC | widget | meaning |
# MAGIC |---|---|
# MAGIC | `config` | YAML config path (empty: the demo config `jobs/configs/<stage>.yaml` shipped in the wheel) |
# MAGIC | `lakehouse` | lakehouse root: relative table paths and the run ledger live under it |
# MAGIC | `overrides` | `key=value` overrides separated by `;` (a bare key is `params.key`), e.g. `semantics=set; quality.enabled=false` |
# MAGIC | `force` | `true` reruns even when the ledger already has a run with the same inputs and config |

# COMMAND ----------

from jobs import containment as stage_job
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

# COMMAND ----------

# MAGIC %md
# MAGIC ## Pairs removed by each step
# MAGIC The stage never deletes: run `lakesieve containment apply --plan <lakehouse>/containment/plan --confirm`
# MAGIC (re-verifies, then soft-deletes into the lake's `_lakesieve_trash`) and `lakesieve containment restore TABLE`.

# COMMAND ----------

from pyspark.sql import functions as F

edges = outputs["edges"]
display(edges.groupBy(F.coalesce("pruned_by", F.lit("verified")).alias("outcome")).count().orderBy("outcome"))
