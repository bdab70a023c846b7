# Databricks notebook source
# MAGIC %md
# MAGIC # minhash: SlimPajama MinHash LSH near-duplicate removal
# MAGIC
# MAGIC Character 13-grams, 128 permutations, 9 bands x 13 rows, connected components, one document kept per
# MAGIC cluster (SlimPajama-DC §2.3). Scopes: `global`, `local`, `local-then-global`; set
# MAGIC `inputs.previous_index=<an earlier run's index>` for an incremental run. See docs/minhash.md.
# MAGIC
# MAGIC | widget | meaning |
# MAGIC |---|---|
# MAGIC | `config` | YAML config path (empty: the demo config `jobs/configs/<stage>.yaml` shipped in the wheel) |
# MAGIC | `lakehouse` | lakehouse root: relative table paths and the run ledger live under it |
# MAGIC | `overrides` | `key=value` overrides separated by `;` (a bare key is `params.key`), e.g. `scope=local; verify=true; quality.enabled=false` |
# MAGIC | `force` | `true` reruns even when the ledger already has a run with the same inputs and config |

# COMMAND ----------

from jobs import minhash as stage_job
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
