# Databricks notebook source
# MAGIC %md
# MAGIC # ct-reduce: "Less is More" slice reduction of CT volumes (Wolf et al., 2024)
# MAGIC
# MAGIC Keeps one slice per run of near-identical slices in each volume: dHash with Hamming distance <= 6 ("Hash-6",
# MAGIC the paper's best) by default, or every-n, SSIM, normalised mutual information or embedding similarity; with
# MAGIC `scope=dataset` a slice is compared with all kept slices of the dataset. See docs/ct_reduce.md.
# MAGIC
# MAGIC | widget | meaning |
# MAGIC |---|---|
# MAGIC | `config` | YAML config path (empty: the demo config `jobs/configs/<stage>.yaml` shipped in the wheel) |
# MAGIC | `lakehouse` | lakehouse root: relative table paths and the run ledger live under it |
# MAGIC | `overrides` | `key=value` overrides separated by `;` (a bare key is `params.key`), e.g. `strategy=ssim; ssim_threshold=0.85` or `scope=dataset` |
# MAGIC | `force` | `true` reruns even when the ledger already has a run with the same inputs and config |

# COMMAND ----------

from jobs import ct_reduce as stage_job
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
